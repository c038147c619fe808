import { jest } from '@jest/globals';
import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EndpointProcess, ServerProcess } from '@fx/testing';
import { startLeakyEndpoint } from './sandbox.helper.js';

/**
 * Issue 10 item 12: the server's data dir (admin token, signing key, the embedded PostgreSQL's files) and the endpoint's
 * FX_HOME are private to the user running FX, whatever modes they had before.
 */
jest.setTimeout(180_000);

async function modes(root: string): Promise<{ dirs: Record<string, string>; files: Record<string, string> }> {
  const dirs: Record<string, string> = {};
  const files: Record<string, string> = {};
  const walk = async (path: string) => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    const mode = (info.mode & 0o777).toString(8);
    if (info.isDirectory()) {
      dirs[path] = mode;
      for (const name of await readdir(path)) await walk(join(path, name));
    } else files[path] = mode;
  };
  await walk(root);
  return { dirs, files };
}

describe.each(['embedded', 'postgres+redis'] as const)('file permissions (%s)', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;

  afterAll(async () => {
    await endpoint?.stop();
    await server?.stop();
  });

  it('makes a pre-existing 0755 data dir with a 0644 file private: every dir 0700, every file 0600 (the embedded PostgreSQL included)', async () => {
    server = await ServerProcess.start(backend);
    const dir = server.dataDir.path;
    await server.kill('SIGTERM');
    // What an older FX (or a careless admin) left behind.
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'old'), { mode: 0o755 });
    await chmod(join(dir, 'old'), 0o755);
    await writeFile(join(dir, 'old', 'notes.txt'), 'x', { mode: 0o644 });
    await chmod(join(dir, 'old', 'notes.txt'), 0o644);
    await chmod(join(dir, 'admin.token'), 0o644);
    await server.boot();
    const { dirs, files } = await modes(dir);
    if (backend === 'embedded') expect(Object.keys(files).some((f) => f.endsWith('postgres/data/PG_VERSION'))).toBe(true);
    expect(Object.entries(dirs).filter(([, m]) => m !== '700')).toEqual([]);
    expect(Object.entries(files).filter(([, m]) => m !== '600')).toEqual([]);
  });

  it("leaves the endpoint's FX_HOME 0700 once its agent has started", async () => {
    endpoint = await startLeakyEndpoint(server, 'perms', {}, (ep) => chmod(ep.home.path, 0o755));
    expect(((await lstat(endpoint.home.path)).mode & 0o777).toString(8)).toBe('700');
  });
});
