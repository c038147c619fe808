import { jest } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, itemRef } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * A dataflow of 3,001 nodes (1,000 chains of three, summed by one last node) submitted as one batch,
 * with the server SIGKILLed mid-graph and started again. Every node must end once, successful, with
 * the right value, and a new client re-attaches to the graph by its group id. Each execution appends
 * the node's label to a file, so the test also counts executions: FX leases are at-least-once
 * (docs/design.md: a task whose result the agent had not got acknowledged when the server died may
 * be handed out again), so duplicates are allowed but their results must not be; the count is printed.
 */
jest.setTimeout(300_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };
const CHAINS = 1000;
const STEPS = 3;

describe('a graph of a few thousand nodes across a server SIGKILL', () => {
  let server: ServerProcess;
  let ep: EndpointProcess;
  let client: Client;
  let files: TempDir;
  const logs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${ep?.log()}`;

  beforeAll(async () => {
    files = await tempDir('fx-e2e-graph-kill');
    server = await ServerProcess.start('postgres+redis', FAST);
    client = new Client({ url: server.url, token: server.adminToken });
    ep = await EndpointProcess.configure(server, 'graph', { workers: 2 });
    // sandbox: none, so that the tasks can append to the marker file outside their private directory
    await ep.mergeConfig({ sandbox: 'none' });
    ep.start();
    await eventually(async () => (await client.getEndpoint(ep.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
  });

  afterAll(async () => {
    client?.close();
    await ep?.stop();
    await server?.stop();
    await files?.remove();
  });

  it('ends every node once with the right value; executions are counted', async () => {
    const marks = join(files.path, 'executions.log');
    const step = await client.registerFunction(
      async (label: string, file: string, x: number) => {
        const fs = await import('node:fs');
        fs.appendFileSync(file, `${label}\n`);
        await new Promise((r) => setTimeout(r, 2));
        return x + 1;
      },
      { name: 'step' },
    );
    const total = await client.registerFunction(
      async (label: string, file: string, xs: number[]) => {
        const fs = await import('node:fs');
        fs.appendFileSync(file, `${label}\n`);
        return xs.reduce((a, b) => a + b, 0);
      },
      { name: 'total' },
    );
    const items: Array<{ functionId: string; args: unknown[] }> = [];
    const tails: number[] = [];
    for (let c = 0; c < CHAINS; c++) {
      for (let s = 0; s < STEPS; s++) items.push({ functionId: step, args: [`n${items.length}`, marks, s === 0 ? c : itemRef(items.length - 1)] });
      tails.push(items.length - 1);
    }
    items.push({ functionId: total, args: [`n${items.length}`, marks, tails.map((i) => itemRef(i))] });
    let groupId = '';
    const ids = await client.runBatch(ep.endpointId, items, { onAccepted: (a) => (groupId = a.batchId) });
    expect(ids).toHaveLength(CHAINS * STEPS + 1);

    // mid-graph: some nodes done, most not
    await eventually(async () => ((await client.group(groupId).describe()).counts.byStatus.success ?? 0) >= 600, 120_000, 'a fifth of the graph done').catch(
      (e) => Promise.reject(new Error(`${e}\n${logs()}`)),
    );
    await server.kill('SIGKILL');
    await server.restart();

    // a new client re-attaches to the graph by its group id and gets every outcome once
    const again = new Client({ url: server.url, token: server.adminToken });
    const values = new Map<string, unknown>();
    try {
      for await (const o of again.group(groupId).results()) {
        expect({ id: o.taskId, status: o.status }).toEqual({ id: o.taskId, status: 'success' });
        expect(values.has(o.taskId)).toBe(false);
        values.set(o.taskId, o.result);
      }
    } catch (e) {
      throw new Error(`${e}\n${logs()}`, { cause: e });
    } finally {
      again.close();
    }
    expect(values.size).toBe(ids.length);
    ids.forEach((id, i) => {
      const expected = i === ids.length - 1 ? tails.reduce((sum, _, c) => sum + c + STEPS, 0) : Math.floor(i / STEPS) + (i % STEPS) + 1;
      if (values.get(id) !== expected) throw new Error(`node ${i} (${id}) ended with ${String(values.get(id))}, not ${expected}`);
    });

    // executions: exactly once each. The agent never lost its connection for long enough to lose its
    // leases: the server, at start, renews every held lease for the agent's hello to claim (before that,
    // leases ran out while the server was down, and some 270 of 3,001 nodes ran twice)
    const runs = new Map<string, number>();
    for (const label of (await readFile(marks, 'utf8')).split('\n').filter(Boolean)) runs.set(label, (runs.get(label) ?? 0) + 1);
    expect(runs.size).toBe(ids.length);
    const executions = [...runs.values()].reduce((a, b) => a + b, 0);
    const repeated = [...runs.values()].filter((n) => n > 1).length;
    console.log(`graph-kill: ${ids.length} nodes, ${executions} executions, ${repeated} nodes ran more than once`);
    expect(repeated).toBe(0);
    expect(executions).toBe(ids.length);
  });
});
