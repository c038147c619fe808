import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '@fx/cli-kit';
import type { CliEnv } from './env.js';

export interface Credentials {
  url: string;
  token: string;
}

/** Where `fx login` keeps the server url and token: `$FX_HOME/credentials.json`, 0600 in a 0700 dir. */
export class CredentialsStore {
  constructor(private readonly env: CliEnv) {}

  get path(): string {
    return join(this.env.home, 'credentials.json');
  }

  /** What is saved, or undefined when nothing is (a damaged file is an error, not "logged out"). */
  async read(): Promise<Partial<Credentials> | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CliError(`cannot read ${this.path}: ${(error as Error).message}`);
    }
    try {
      const parsed = JSON.parse(text) as Partial<Credentials>;
      return {
        ...(typeof parsed.url === 'string' ? { url: parsed.url } : {}),
        ...(typeof parsed.token === 'string' ? { token: parsed.token } : {}),
      };
    } catch {
      throw new CliError(`${this.path} is not valid JSON; run "fx login" again`);
    }
  }

  async save(credentials: Credentials): Promise<void> {
    await mkdir(this.env.home, { recursive: true, mode: 0o700 });
    await chmod(this.env.home, 0o700);
    // Write aside and rename, so a crash never leaves half a token; the file is private from birth.
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }

  /** The url and token to use: FX_URL and FX_TOKEN override the saved ones. */
  async resolve(): Promise<Credentials> {
    const saved = this.env.url !== undefined && this.env.token !== undefined ? undefined : await this.read();
    const url = this.env.url ?? saved?.url;
    const token = this.env.token ?? saved?.token;
    if (url === undefined || token === undefined) {
      throw new CliError('not logged in: run "fx login --url <server>" (or set FX_URL and FX_TOKEN)');
    }
    return { url, token };
  }
}
