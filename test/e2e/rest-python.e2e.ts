import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Client, type SubmitWarning } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * FX without Node and without a websocket (issue 11 items 11 and 7): a Python `requests` script
 * registers functions, submits a batch over REST and collects every outcome with the
 * POST /v1/tasks/results long-poll, against the built server and a real fx-endpoint agent. Then the
 * agent stops: the endpoint reads offline with no live status, and a submission says it will wait.
 */
jest.setTimeout(180_000);

const SCRIPT = String.raw`
import json, sys, requests

url, token, endpoint, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
http = requests.Session()
http.headers["authorization"] = "Bearer " + token

def call(method, path, body=None):
    r = http.request(method, url + path, json=body, timeout=120)
    if r.status_code >= 400:
        raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
    return r.json()

square = call("POST", "/v1/functions", {"name": "square", "runtime": "js", "source": "(x) => x * x"})["id"]
boom = call("POST", "/v1/functions", {"name": "boom", "runtime": "js", "source": "(x) => { throw new RangeError('no ' + x) }"})["id"]
tasks = [{"functionId": square, "args": [i]} for i in range(n)] + [{"functionId": boom, "args": [7]}]
batch = call("POST", "/v1/tasks/batch", {"endpointId": endpoint, "tasks": tasks})

pending, outcomes, polls = list(batch["taskIds"]), {}, 0
while pending:
    polls += 1
    answer = call("POST", "/v1/tasks/results", {"taskIds": pending, "waitMs": 20000})
    if answer["notFound"]:
        raise SystemExit("not found: " + ", ".join(answer["notFound"]))
    for t in answer["tasks"]:
        if t["status"] in ("success", "failed", "cancelled") and not t.get("resultOmitted"):
            outcomes[t["taskId"]] = t
    pending = [i for i in pending if i not in outcomes]

ordered = [outcomes[i] for i in batch["taskIds"]]
print(json.dumps({
    "results": [t.get("result") for t in ordered[:n]],
    "failure": ordered[n],
    "polls": polls,
    "warnings": batch.get("warnings", []),
}))
`;

let server: ServerProcess;
let endpoint: EndpointProcess;
let files: TempDir;
let token: string;

function python(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', [join(files.path, 'fx_batch.py'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'py' });
  token = (await admin.createToken(user.id, { name: 'py' })).token;
  admin.close();
  endpoint = await EndpointProcess.configure(server, 'py', { workers: 2, token });
  endpoint.start();
  const client = new Client({ url: server.url, token });
  await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
  client.close();
  files = await tempDir('fx-python');
  await writeFile(join(files.path, 'fx_batch.py'), SCRIPT);
}, 120_000);

afterAll(async () => {
  await endpoint?.stop();
  await server?.stop();
  await files?.remove();
});

describe('REST from Python (requests), no websocket', () => {
  it('submits a batch and collects every outcome with the results long-poll', async () => {
    const n = 200;
    const r = await python([server.url, token, endpoint.endpointId, String(n)]);
    if (r.code !== 0) throw new Error(`python exited ${r.code}:\n${r.stderr}${r.stdout}\n${server.log()}`);
    const out = JSON.parse(r.stdout) as { results: number[]; failure: any; polls: number; warnings: unknown[] };
    expect(out.results).toEqual(Array.from({ length: n }, (_, i) => i * i));
    expect(out.failure).toMatchObject({ status: 'failed', attempt: 0, error: { name: 'RangeError', message: 'no 7' } });
    expect(out.warnings).toEqual([]);
    // a long-poll answers with what is final, so a batch takes some polls, never one per task
    expect(out.polls).toBeGreaterThanOrEqual(1);
    expect(out.polls).toBeLessThanOrEqual(n + 1);
  });
});

describe('an offline endpoint', () => {
  it('has no live status (lastStatus keeps the last report), and a submission to it says it will wait', async () => {
    const client = new Client({ url: server.url, token });
    try {
      // The live status is the last heartbeat's: on a loaded machine the agent may be between connections.
      const online = await eventually(
        async () => {
          const e = await client.getEndpoint(endpoint.endpointId);
          return e.status?.state ? e : null;
        },
        30_000,
        'a live status',
      );
      expect(online.status?.state).toBeDefined();
      expect(online.lastStatus).toEqual(online.status);

      await endpoint.kill('SIGKILL');
      const offline = await eventually(
        async () => {
          const e = await client.getEndpoint(endpoint.endpointId);
          return e.state === 'offline' ? e : null;
        },
        30_000,
        'endpoint offline',
      );
      expect(offline.status).toBeNull();
      expect(offline.lastStatus).toMatchObject({ state: online.status!.state });
      const status = await client.getEndpointStatus(endpoint.endpointId);
      expect(status).toMatchObject({ state: 'offline', status: null, lastStatus: { state: online.status!.state } });

      // REST says so
      const fn = (await client.listFunctions()).find((f) => f.name === 'square')!;
      const res = await fetch(`${server.url}/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ functionId: fn.id, endpointId: endpoint.endpointId, args: [3] }),
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({
        warnings: [{ code: 'ENDPOINT_OFFLINE', endpointId: endpoint.endpointId, message: expect.stringMatching(/offline.*wait/) }],
      });

      // and the SDK hands it to the caller, once per endpoint for a batch
      const warnings: SubmitWarning[] = [];
      await client.run(fn.id, endpoint.endpointId, [4], {}, { onWarning: (w) => warnings.push(w) });
      await client.runBatch(
        endpoint.endpointId,
        [
          { functionId: fn.id, args: [5] },
          { functionId: fn.id, args: [6] },
        ],
        { onWarning: (w) => warnings.push(w) },
      );
      expect(warnings.map((w) => [w.code, w.endpointId])).toEqual([
        ['ENDPOINT_OFFLINE', endpoint.endpointId],
        ['ENDPOINT_OFFLINE', endpoint.endpointId],
      ]);
      const pending = await client.getTaskResults([(await client.listTasks({ limit: 1 })).items[0]!.id]);
      expect(pending).toMatchObject({ final: 0, tasks: [{ status: 'waiting-for-endpoint' }] });
    } finally {
      client.close();
    }
  });
});
