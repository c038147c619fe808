import { chown, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config.errors.js';
import { EndpointConfig, writeEndpointFiles } from './endpoint.config.js';
import { endpointPaths } from './endpoint.paths.js';

describe('writeEndpointFiles', () => {
  let root: string;
  const config = EndpointConfig.parse({ url: 'http://127.0.0.1:1', endpointId: '00000000-0000-4000-8000-000000000001', name: 'ep' });
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'fx-config-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the token 0600 in place of a link left where it goes, never through it', async () => {
    const paths = endpointPaths(join(root, 'home'), 'ep');
    await mkdir(paths.dir, { recursive: true });
    const elsewhere = join(root, 'elsewhere');
    await writeFile(elsewhere, 'untouched');
    await symlink(elsewhere, paths.token);
    await writeEndpointFiles(paths, config, 'secret-token');
    expect(await readFile(elsewhere, 'utf8')).toBe('untouched');
    const token = await lstat(paths.token);
    expect([token.isFile(), token.mode & 0o777]).toEqual([true, 0o600]);
    expect(await readFile(paths.token, 'utf8')).toBe('secret-token\n');
    expect((await lstat(paths.dir)).mode & 0o777).toBe(0o700);
  });

  it('refuses an FX_HOME that another user owns, writing nothing there', async () => {
    expect(process.getuid?.()).toBe(0); // .ci/run runs as root: it can hand the directory to another uid
    const home = join(root, 'shared');
    await mkdir(home);
    await chown(home, 12345, 12345);
    const paths = endpointPaths(home, 'ep');
    await expect(writeEndpointFiles(paths, config, 'secret-token')).rejects.toThrow(ConfigError);
    await expect(writeEndpointFiles(paths, config, 'secret-token')).rejects.toThrow(/a directory of another user \(uid 12345\)/);
    await expect(readlink(paths.token).catch((e: NodeJS.ErrnoException) => e.code)).resolves.toBe('ENOENT');
  });
});
