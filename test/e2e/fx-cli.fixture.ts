import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@fx/sdk';

/** The built `fx` bin. */
export const FX = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'apps/cli/bin/fx.js');

export interface FxRun {
  code: number | null;
  out: string;
  stderr: string;
}

/**
 * Runs the built `fx` as a child process with its own FX_HOME (read when called, so it may be made in
 * a beforeAll) and these variables (FX_URL, FX_TOKEN…); `fx` never throws, `fxJson` runs `fx --json …`
 * and expects exit 0 and one JSON document.
 */
export function fxCli(home: () => string) {
  const fx = (args: string[], env: Record<string, string>): FxRun => {
    const r = spawnSync(FX, args, { timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home(), ...env } });
    return { code: r.status, out: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  };
  const fxJson = <T>(args: string[], env: Record<string, string>): T => {
    const r = fx(['--json', ...args], env);
    if (r.code !== 0) throw new Error(`fx --json ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.out}`);
    return JSON.parse(r.out) as T;
  };
  return { fx, fxJson };
}

/** New users of a server, made by its admin: each one's id and a token of theirs, in the order named. */
export async function usersWithTokens(url: string, adminToken: string, names: string[]): Promise<Array<{ id: string; token: string }>> {
  const admin = new Client({ url, token: adminToken });
  try {
    const out: Array<{ id: string; token: string }> = [];
    for (const name of names) {
      const { id } = await admin.createUser({ name });
      out.push({ id, token: (await admin.createToken(id, { name: 'cli' })).token });
    }
    return out;
  } finally {
    admin.close();
  }
}
