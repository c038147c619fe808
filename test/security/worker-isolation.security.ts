import { jest } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess } from '@fx/testing';
import { startLeakyEndpoint } from './sandbox.helper.js';

/**
 * Issue 10 item 6: code on an endpoint must not reach the server's secrets or any endpoint token, even
 * when the agent itself was started with them in its environment (as `npm start` used to): workers get a
 * scrubbed environment, a private working directory outside FX_HOME, and (sandbox: auto) bubblewrap.
 */
jest.setTimeout(180_000);

const SECRET_ENV = /^(FX_|DATABASE_URL$|REDIS_URL$)/;

describe.each(['embedded', 'postgres+redis'] as const)('what task code can reach on an endpoint (%s)', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let secretFiles: string[];

  beforeAll(async () => {
    server = await ServerProcess.start(backend);
    endpoint = await startLeakyEndpoint(server, 'iso', {});
    client = new Client({ url: server.url, token: server.adminToken });
    const dataDir = server.dataDir.path;
    const inData = (await readdir(dataDir)).filter((n) => n === 'admin.token' || n === 'signing.key').map((n) => join(dataDir, n));
    expect(inData.length).toBe(2);
    secretFiles = [...inData, join(endpoint.home.path, 'endpoints', 'iso', 'token'), join(endpoint.home.path, 'endpoints', 'iso', 'config.yaml')];
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  it('a js task cannot read the admin token, the signing key or the endpoint token, sees no FX_* or DATABASE_URL, and runs outside FX_HOME', async () => {
    const probe = await client.registerFunction(
      (paths: string[]) => {
        const fs = (process as unknown as { getBuiltinModule(name: string): typeof import('node:fs') }).getBuiltinModule('fs');
        const read = (p: string) => {
          try {
            return fs.readFileSync(p, 'utf8');
          } catch (e) {
            return `ERR ${(e as NodeJS.ErrnoException).code}`;
          }
        };
        return { env: process.env, cwd: process.cwd(), files: paths.map(read) };
      },
      { name: 'probe' },
    );
    const out = (await client.getResult(await client.run(probe, endpoint.endpointId, [secretFiles]), { timeoutMs: 30_000 })) as {
      env: Record<string, string>;
      cwd: string;
      files: string[];
    };
    for (const content of out.files) expect(content).toMatch(/^ERR /);
    expect(Object.keys(out.env).filter((k) => SECRET_ENV.test(k))).toEqual([]);
    expect(JSON.stringify(out.env)).not.toContain(server.adminToken);
    expect(JSON.stringify(out.env)).not.toContain('secret');
    expect(out.cwd.startsWith(endpoint.home.path)).toBe(false);
    expect(out.env.HOME).toBe(out.cwd);
  });

  it('a shell task cannot read them either, sees no FX_* or DATABASE_URL, and runs outside FX_HOME', async () => {
    const sh = await client.registerShellFunction('for f in {a} {b} {c} {d}; do cat "$f" 2>/dev/null || echo "ERR $f"; done; echo ---; env; echo ---; pwd', {
      name: 'shprobe',
    });
    const [a, b, c, d] = secretFiles;
    const out = (await client.getResult(await client.run(sh, endpoint.endpointId, [], { a, b, c, d }), { timeoutMs: 30_000 })) as { stdout: string };
    const [files, env, cwd] = out.stdout.split('---\n');
    expect(files!.trim().split('\n')).toEqual(secretFiles.map((f) => `ERR ${f}`));
    const names = env!
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0]!);
    expect(names.filter((k) => SECRET_ENV.test(k))).toEqual([]);
    expect(env).not.toContain(server.adminToken);
    expect(env).not.toContain('secret');
    expect(cwd!.trim().startsWith(endpoint.home.path)).toBe(false);
  });

  it('a python task cannot read them either, sees no FX_* or DATABASE_URL, cannot reach the agent through its channel, and runs outside FX_HOME', async () => {
    const source = `import os

def probe(paths):
    def read(p):
        try:
            with open(p) as f:
                return f.read()
        except OSError as e:
            return "ERR " + type(e).__name__
    # fd 3 is the worker's channel to the agent: not passed on to the task's subprocesses
    inherited = os.get_inheritable(3) if os.path.exists("/proc/self/fd/3") else None
    return {"env": dict(os.environ), "cwd": os.getcwd(), "files": [read(p) for p in paths], "channelInherited": inherited}
`;
    const fn = await client.registerPythonFunction(source, { name: 'pyprobe', entrypoint: 'probe' });
    const out = (await client.getResult(await client.run(fn, endpoint.endpointId, [secretFiles]), { timeoutMs: 60_000 })) as {
      env: Record<string, string>;
      cwd: string;
      files: string[];
      channelInherited: boolean | null;
    };
    for (const content of out.files) expect(content).toMatch(/^ERR /);
    expect(Object.keys(out.env).filter((k) => SECRET_ENV.test(k))).toEqual([]);
    expect(JSON.stringify(out.env)).not.toContain(server.adminToken);
    expect(JSON.stringify(out.env)).not.toContain('secret');
    expect(out.channelInherited).not.toBe(true);
    expect(out.cwd.startsWith(endpoint.home.path)).toBe(false);
    expect(out.env.HOME).toBe(out.cwd);
  });
});
