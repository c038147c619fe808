import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { parseEnv } from '../config/env.js';
import { FakeFxServer } from '../testing/fake-fx-server.js';
import { ensureEndpointBuilt } from '../testing/worker-build.js';
import type { CliContext } from './cli.context.js';
import { CliError } from '@fx/cli-kit';
import { isAlive } from './process.control.js';
import { buildProgram } from './program.js';

const run = promisify(execFile);
/** These tests start real processes (the built CLI, the agent, its workers). */
const SLOW = 60_000;

describe('fx-endpoint CLI', () => {
  const { cli } = ensureEndpointBuilt();
  let home: string;
  let server: FakeFxServer;
  let out: string[];

  const context = (): CliContext => ({
    env: parseEnv({ FX_HOME: home }),
    out: (line) => out.push(line),
    err: (line) => out.push(line),
    selfCommand: [process.execPath, cli],
  });
  const inProcess = (...args: string[]) => buildProgram(context()).parseAsync(['node', 'fx-endpoint', ...args]);
  /** Runs the built CLI as a person would; never rejects, returns the exit code and output. */
  const spawnCli = async (...args: string[]) => spawnCliWith({}, ...args);
  const spawnCliWith = async (env: Record<string, string>, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { ...process.env, FX_HOME: home, FX_TOKEN: '', ...env }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'fx-cli-spec-'));
    server = new FakeFxServer();
    await server.listen();
    out = [];
  });
  afterEach(async () => {
    await spawnCli('stop', 'ep1', '--force');
    await server.close();
    await rm(home, { recursive: true, force: true });
  });

  it(
    'configure reads the token from --token-file or stdin (--token -), keeping it out of the process list',
    async () => {
      const file = join(home, 'user.token');
      await writeFile(file, `${server.userToken}\n`, { mode: 0o600 });
      expect((await spawnCli('configure', 'ep1', '--url', server.url, '--token-file', file)).code).toBe(0);
      expect(server.restCalls[0]).toMatchObject({ method: 'POST', path: '/v1/endpoints', auth: `Bearer ${server.userToken}` });
      const piped = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [cli, 'configure', 'ep2', '--url', server.url, '--token', '-'], {
          env: { ...process.env, FX_HOME: home, FX_TOKEN: '' },
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        child.stdin.end(`${server.userToken}\n`);
        child.on('exit', resolve);
      });
      expect(piped).toBe(0);
      expect(server.restCalls[1]).toMatchObject({ method: 'POST', path: '/v1/endpoints', auth: `Bearer ${server.userToken}` });
      const help = await spawnCli('configure', '--help');
      expect(help.stdout).toMatch(/process\s+list/);
    },
    SLOW,
  );

  it(
    'configure registers the endpoint and writes config and token privately',
    async () => {
      await inProcess('configure', 'ep1', '--url', server.url, '--token', server.userToken, '--workers', '3');
      expect(server.restCalls[0]).toMatchObject({ method: 'POST', path: '/v1/endpoints', auth: `Bearer ${server.userToken}`, body: { name: 'ep1' } });
      const dir = join(home, 'endpoints', 'ep1');
      const config = parse(await readFile(join(dir, 'config.yaml'), 'utf8')) as Record<string, unknown>;
      expect(config).toEqual({
        url: server.url,
        endpointId: server.endpointId,
        name: 'ep1',
        workers: 3,
        provider: 'local',
        shellOutputLines: 1000,
        maxTaskLogMB: 1,
        taskLogLevel: 'info',
        reconnect: { initialDelayMs: 250, maxDelayMs: 10000 },
        drainTimeoutSeconds: 30,
      });
      expect((await readFile(join(dir, 'token'), 'utf8')).trim()).toBe(server.endpointToken);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, 'config.yaml'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'token'))).mode & 0o777).toBe(0o600);

      await expect(inProcess('configure', 'ep1', '--url', server.url, '--token', server.userToken)).rejects.toThrow(/already exists.*--force/);
      await inProcess('configure', 'ep1', '--url', server.url, '--token', server.userToken, '--force');
      expect(server.restCalls).toHaveLength(2);
    },
    SLOW,
  );

  it(
    'configure prints the server error sentence and refuses bad input with exit codes, not stack traces',
    async () => {
      const refused = await spawnCli('configure', 'taken', '--url', server.url, '--token', server.userToken);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('you already have an endpoint named "taken" (CONFLICT, HTTP 409)');
      expect(existsSync(join(home, 'endpoints', 'taken'))).toBe(false);

      const badToken = await spawnCli('configure', 'ep2', '--url', server.url, '--token', 'nope');
      expect(badToken).toMatchObject({ code: 1, stderr: expect.stringContaining('UNAUTHENTICATED') });

      for (const args of [
        ['configure', '../evil', '--url', server.url, '--token', 't'],
        ['configure', 'ep3', '--url', 'not a url', '--token', 't'],
        ['configure', 'ep4', '--url', server.url],
        ['start'],
        ['start', 'x', '--timeout', 'soon'],
      ]) {
        const result = await spawnCli(...args);
        expect(result.code).toBe(2);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      }
      const missing = await spawnCli('status', 'ghost');
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('no endpoint named "ghost"') });
    },
    SLOW,
  );

  it(
    'start --detach, status, list, stop, then delete',
    async () => {
      await inProcess('configure', 'ep1', '--url', server.url, '--token', server.userToken, '--workers', '1');
      // started by someone with a user token in the environment: the agent does not keep it
      const started = await spawnCliWith({ FX_TOKEN: 'user-token-of-the-caller' }, 'start', 'ep1', '--detach', '--timeout', '30');
      expect(started).toMatchObject({ code: 0, stdout: expect.stringContaining('is running') });
      const pid = Number((await readFile(join(home, 'endpoints', 'ep1', 'endpoint.pid'), 'utf8')).trim());
      expect(server.connections[0]?.hello?.agent.pid).toBe(pid);
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      expect(environ).toContain(`FX_HOME=${home}`);
      expect(environ).not.toContain('user-token-of-the-caller');

      const again = await spawnCli('start', 'ep1', '--detach');
      expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('already running') });

      const status = await spawnCli('status', 'ep1');
      expect(status.stdout).toMatch(/state:\s+RUNNING/);
      expect(status.stdout).toMatch(/connection:\s+connected/);
      expect(status.stdout).toMatch(/workers:\s+0 busy, 1 idle of 1/);

      const list = await spawnCli('list');
      expect(list.stdout).toMatch(new RegExp(`ep1\\s+${server.endpointId}\\s+RUNNING\\s+${pid}`));

      const stopped = await spawnCli('stop', 'ep1');
      expect(stopped).toMatchObject({ code: 0, stdout: expect.stringContaining('stopped') });
      expect(isAlive(pid)).toBe(false);
      expect((await spawnCli('status', 'ep1')).stdout).toMatch(/state:\s+STOPPED/);

      const noToken = await spawnCli('delete', 'ep1');
      expect(noToken).toMatchObject({ code: 2, stderr: expect.stringContaining('FX_TOKEN') });
      // like configure: the token from a file, out of the process list
      const tokenFile = join(home, 'delete.token');
      await writeFile(tokenFile, `${server.userToken}\n`, { mode: 0o600 });
      expect((await spawnCli('delete', '--help')).stdout).toMatch(/process\s+list/);
      const deleted = await spawnCli('delete', 'ep1', '--token-file', tokenFile);
      expect(deleted.code).toBe(0);
      expect(server.restCalls.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/endpoints/${server.endpointId}` });
      expect(existsSync(join(home, 'endpoints', 'ep1'))).toBe(false);
    },
    SLOW,
  );

  it(
    'start --detach fails with the log tail when the agent is refused',
    async () => {
      await inProcess('configure', 'ep1', '--url', server.url, '--token', server.userToken, '--workers', '1');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(home, 'endpoints', 'ep1', 'token'), 'revoked\n');
      const started = await spawnCli('start', 'ep1', '--detach', '--timeout', '30');
      expect(started.code).toBe(1);
      expect(started.stderr).toContain('did not start');
      expect(started.stderr).toContain('endpoint token is not valid');
    },
    SLOW,
  );

  it(
    'reports CliError exit codes in-process too',
    async () => {
      await expect(inProcess('delete', 'nobody')).rejects.toBeInstanceOf(CliError);
    },
    SLOW,
  );
});
