import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { Client, type PythonReport } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, otherPython } from '@fx/testing';

/**
 * The endpoint reports its Python (issue 13): the version, executable and distributions digest of the
 * interpreter config.yaml's `python:` names, probed at agent start, through the heartbeat to
 * GET /v1/endpoints/:id(/status), and in `fx-endpoint status`. An endpoint whose `python:` does not
 * exist starts all the same, runs js, and reports python unavailable with the reason.
 */
jest.setTimeout(180_000);

let server: ServerProcess;
let withPython: EndpointProcess;
let without: EndpointProcess;
let client: Client;
const python = otherPython();

type Available = Extract<PythonReport, { available: true }>;

/** What the interpreter itself says, by a script of the test's own (minimal environment, no user site). */
function expected(): Available {
  const script =
    'import hashlib, importlib.metadata as m, json, platform, sys\n' +
    'lines = sorted({d.metadata["Name"] + "==" + d.version for d in m.distributions() if d.metadata["Name"]})\n' +
    'print(json.dumps([platform.python_version(), sys.executable, lines]))\n';
  const out = execFileSync(python.path, ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent' } });
  const [version, executable, lines] = JSON.parse(out) as [string, string, string[]];
  const sha256 = createHash('sha256').update(lines.join('\n'), 'utf8').digest('hex');
  return { available: true, version, executable, distributions: { count: lines.length, sha256 } };
}

async function configured(name: string, pythonSetting: string): Promise<EndpointProcess> {
  const ep = await EndpointProcess.configure(server, name, { workers: 1 });
  const file = join(ep.dir, 'config.yaml');
  await writeFile(file, stringify({ ...(parse(await readFile(file, 'utf8')) as object), python: pythonSetting }), { mode: 0o600 });
  ep.start();
  return ep;
}

const reported = (ep: EndpointProcess) =>
  eventually(async () => (await client.getEndpointStatus(ep.endpointId)).status?.python, 30_000, `${ep.name} reporting its python`).catch((e) => {
    throw new Error(`${(e as Error).message}\n${ep.log()}`);
  });

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
  client = new Client({ url: server.url, token: server.adminToken });
  withPython = await configured('py-other', python.path);
  without = await configured('py-none', '/nonexistent/python3');
});

afterAll(async () => {
  client?.close();
  await withPython?.stop();
  await without?.stop();
  await server?.stop();
});

it("reports the configured interpreter's version, executable and distributions digest: REST, SDK and fx-endpoint status", async () => {
  const report = await reported(withPython);
  const truth = expected();
  expect(truth).toMatchObject({ version: python.version });
  expect(report).toEqual(truth);
  expect((await client.getEndpoint(withPython.endpointId)).status?.python).toEqual(truth);

  // and its python functions run on that interpreter
  const fn = await client.registerPythonFunction('import platform, sys\ndef main():\n    return [platform.python_version(), sys.executable]\n', {
    name: 'which-python',
    entrypoint: 'main',
  });
  expect(await client.getResult(await client.run(fn, withPython.endpointId), { timeoutMs: 60_000 })).toEqual([python.version, truth.executable]);
  // the CLI last: its synchronous runs stall this process, and a REST call after one may meet a socket the server closed meanwhile
  const json = JSON.parse(withPython.cli(['status', 'py-other', '--json']).stdout) as { status: { python?: PythonReport } };
  expect(json.status.python).toEqual(truth);
  const d = truth.distributions;
  expect(withPython.cli(['status', 'py-other']).stdout).toMatch(
    new RegExp(`python:\\s+${truth.version} at ${truth.executable} \\(${d.count} distributions, sha256 ${d.sha256.slice(0, 12)}\\)`),
  );
});

it('starts an endpoint whose python: does not exist, runs js there, and reports python unavailable with the reason', async () => {
  const reason = '"/nonexistent/python3" (config.yaml "python:"): no such program';
  expect(await reported(without)).toEqual({ available: false, reason });
  const js = await client.registerFunction((x: number) => x + 1, { name: 'plus-one' });
  expect(await client.getResult(await client.run(js, without.endpointId, [41]), { timeoutMs: 30_000 })).toBe(42);
  const py = await client.registerPythonFunction('def main():\n    return 1\n', { name: 'one', entrypoint: 'main' });
  await expect(client.getResult(await client.run(py, without.endpointId), { timeoutMs: 30_000 })).rejects.toMatchObject({
    code: 'RUNTIME_UNSUPPORTED',
    remoteMessage: 'python workers could not start with "/nonexistent/python3" (config.yaml "python:"): no such program',
  });
  expect(without.cli(['status', 'py-none']).stdout).toMatch(/python:\s+unavailable: "\/nonexistent\/python3" \(config\.yaml "python:"\): no such program/);
  expect(without.running).toBe(true);
});
