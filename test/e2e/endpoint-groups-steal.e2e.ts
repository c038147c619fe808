import { jest } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';
import { startMember } from './endpoint-groups.fixture.js';

/**
 * Work stealing in an endpoint group with real agents: two members of one worker each get half of a
 * batch, but the function is slow on one of them (its agent sets LC_FX_STEAL_SLOW, which its workers
 * inherit). The slow member's agent holds 16 of its share (a local worker's depth), the rest waits in
 * its server queue; the fast member, its own share done, takes those: most of the batch runs on it,
 * and every task runs exactly once, in its first attempt.
 */
jest.setTimeout(300_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };
const TASKS = 100;

describe('work stealing between endpoint group members', () => {
  let server: ServerProcess;
  let client: Client;
  let files: TempDir;
  const agents: EndpointProcess[] = [];
  const logs = () => `--- server ---\n${server?.log()}\n${agents.map((a) => `--- ${a.name} ---\n${a.log(3000)}`).join('\n')}`;

  /** An agent of one worker and no prefetch: it holds only what its worker takes (16), the rest waits in its server queue. */
  const agent = (name: string, slow: boolean): Promise<EndpointProcess> =>
    // LC_* is on the allow-list of variables task processes inherit
    startMember(server, client, agents, name, { workers: 1, config: { prefetch: 0 }, ...(slow ? { env: { LC_FX_STEAL_SLOW: '1' } } : {}) });

  beforeAll(async () => {
    files = await tempDir('fx-e2e-endpoint-groups-steal');
    server = await ServerProcess.start('postgres+redis', FAST);
    client = new Client({ url: server.url, token: server.adminToken });
  });

  afterAll(async () => {
    client?.close();
    for (const a of agents) await a.stop();
    await server?.stop();
    await files?.remove();
  });

  it('the fast member takes the slow member’s waiting tasks: most run on it, each once', async () => {
    const [slow, fast] = [await agent('steal-slow', true), await agent('steal-fast', false)];
    await client.endpointGroups.create('uneven', [slow.endpointId, fast.endpointId]);
    // both heartbeats in: the batch is split by their (equal) workers
    await eventually(
      async () => (await Promise.all([slow, fast].map((a) => client.getEndpoint(a.endpointId)))).every((e) => e.status?.workers.total === 1),
      30_000,
      'heartbeats',
    );
    const marks = join(files.path, 'steal.log');
    const fn = await client.registerFunction(
      async (label: string, file: string, x: number) => {
        const fs = await import('node:fs');
        const isSlow = process.env.LC_FX_STEAL_SLOW === '1';
        fs.appendFileSync(file, `${label} ${isSlow ? 'slow' : 'fast'}\n`);
        await new Promise((r) => setTimeout(r, isSlow ? 1000 : 20));
        return x * 2;
      },
      { name: 'uneven' },
    );
    let batchId = '';
    const ids = await client.runBatch(
      'uneven',
      Array.from({ length: TASKS }, (_, i) => ({ functionId: fn, args: [`t${i}`, marks, i] })),
      { onAccepted: (a) => (batchId = a.batchId) },
    );
    const placedOnSlow = (await Promise.all(ids.map((id) => client.getTask(id)))).filter((t) => t.endpointId === slow.endpointId).length;
    expect(placedOnSlow).toBeGreaterThan(0);

    const values = new Map<string, unknown>();
    const collect = async () => {
      for await (const o of client.group(batchId).results()) {
        expect({ id: o.taskId, status: o.status }).toEqual({ id: o.taskId, status: 'success' });
        expect(values.has(o.taskId)).toBe(false);
        values.set(o.taskId, o.result);
      }
    };
    await collect().catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)));
    expect(values.size).toBe(TASKS);
    ids.forEach((id, i) => expect(values.get(id)).toBe(i * 2));

    // each task ran once, where the server says it ran, in its first attempt
    const ranOn = new Map<string, string[]>();
    for (const line of (await readFile(marks, 'utf8')).split('\n').filter(Boolean)) {
      const [label, where] = line.split(' ') as [string, string];
      ranOn.set(label, [...(ranOn.get(label) ?? []), where]);
    }
    expect(ranOn.size).toBe(TASKS);
    const ranFast = ids.filter((_, i) => ranOn.get(`t${i}`)?.join() === 'fast').length;
    for (const [i, id] of ids.entries()) {
      const info = await client.getTask(id);
      expect(ranOn.get(`t${i}`)).toHaveLength(1);
      expect(info.attempt).toBe(0);
      expect(info.attempts).toHaveLength(1);
      expect(info.endpointId).toBe(ranOn.get(`t${i}`)![0] === 'fast' ? fast.endpointId : slow.endpointId);
    }
    console.log(
      `endpoint groups, stealing: ${TASKS} tasks, ${placedOnSlow} placed on the slow member, ${TASKS - ranFast} ran there, ${ranFast} on the fast one`,
    );
    // the fast member ran its own share and took most of the slow member's: without stealing it ran TASKS - placedOnSlow
    expect(ranFast).toBeGreaterThan(TASKS - placedOnSlow);
    expect(ranFast).toBeGreaterThan(TASKS / 2);
  });
});
