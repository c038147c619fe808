import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialsStore } from './credentials.js';
import { parseEnv } from './env.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fx-cli-creds-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('credentials', () => {
  it('are saved 0600 in a 0700 FX_HOME and read back', async () => {
    const home = join(dir, 'home');
    const store = new CredentialsStore(parseEnv({ FX_HOME: home }));
    await store.save({ url: 'http://x:1', token: 't0k' });
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(store.path, 'utf8'))).toEqual({ url: 'http://x:1', token: 't0k' });
    expect(await store.resolve()).toEqual({ url: 'http://x:1', token: 't0k' });
  });

  it('FX_URL and FX_TOKEN override the file, each on its own', async () => {
    await new CredentialsStore(parseEnv({ FX_HOME: dir })).save({ url: 'http://saved', token: 'saved' });
    expect(await new CredentialsStore(parseEnv({ FX_HOME: dir, FX_TOKEN: 'env' })).resolve()).toEqual({ url: 'http://saved', token: 'env' });
    expect(await new CredentialsStore(parseEnv({ FX_HOME: dir, FX_URL: 'http://env' })).resolve()).toEqual({ url: 'http://env', token: 'saved' });
  });

  it('say how to log in when nothing is saved, and that a damaged file is damaged', async () => {
    await expect(new CredentialsStore(parseEnv({ FX_HOME: dir })).resolve()).rejects.toThrow(/not logged in: run "fx login/);
    await writeFile(join(dir, 'credentials.json'), '{oops');
    await expect(new CredentialsStore(parseEnv({ FX_HOME: dir })).resolve()).rejects.toThrow(/not valid JSON/);
  });
});
