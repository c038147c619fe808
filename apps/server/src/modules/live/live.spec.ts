import { jest } from '@jest/globals';
import WebSocket from 'ws';
import type { z } from 'zod';
import { KEPT_PROGRESS, encodeFrame, parseFrame, ServerToClientSchemas, type ClientToServerSchemas, type LogChunk, type ProgressEvent } from '@fx/protocol';
import { eventually as eventuallyWithin } from '@fx/testing';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { recordRowsRead } from '../../testing/rows-read.js';
import { LiveRepository } from './live.repository.js';

jest.setTimeout(60_000);

const eventually = <T>(fn: () => Promise<T>) => eventuallyWithin(fn, 15_000, 'condition', { intervalMs: 50 });

type Sent = { [K in keyof typeof ClientToServerSchemas]: z.input<(typeof ClientToServerSchemas)[K]> };

/** A client-channel socket that records every frame it is sent. */
async function clientSocket(url: string, token: string) {
  const ws = new WebSocket(url.replace('http', 'ws') + '/v1/ws/client', { headers: { authorization: `Bearer ${token}` } });
  const frames: any[] = [];
  ws.on('message', (d) => frames.push(parseFrame(ServerToClientSchemas, d as Buffer)));
  await new Promise((r) => ws.once('open', r));
  // payloads as a client writes them: the fields with defaults may be left out
  const send = <K extends keyof Sent>(type: K, payload: Sent[K], id?: string) => ws.send(encodeFrame<Sent, K>(type, payload, id));
  return { ws, frames, send };
}

/**
 * Live streams on the server (issue 16), against a real server and a bare endpoint-channel peer: what
 * a connection may report, what is kept and bounded, who may watch or read it, and the order watchers
 * see it in.
 */
describe.each(BACKENDS)('live streams (%s)', (backend) => {
  let server: TestServer;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;
  let aliceToken: string;
  let bobToken: string;
  let fnId: string;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_MAX_TASK_LOG_BYTES: '64', FX_RATE_LIMIT_PER_SECOND: '0' });
    const admin = rest(server.url, server.adminToken);
    const mk = async (name: string) => {
      const u = await admin('POST', '/v1/users', { name });
      return (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 't' })).body.token as string;
    };
    aliceToken = await mk('alice');
    bobToken = await mk('bob');
    alice = rest(server.url, aliceToken);
    bob = rest(server.url, bobToken);
    fnId = (await alice('POST', '/v1/functions', { name: 'id', runtime: 'js', source: '(x) => x' })).body.id;
  });
  afterAll(() => server?.stop());

  /** An endpoint of alice's with `n` tasks leased to a bare peer. */
  const leased = async (n: number) => {
    const ep = (await alice('POST', '/v1/endpoints', { name: `ep-${Math.random().toString(36).slice(2, 8)}` })).body;
    const ids = (
      await alice('POST', '/v1/tasks/batch', { endpointId: ep.endpoint.id, tasks: Array.from({ length: n }, (_, i) => ({ functionId: fnId, args: [i] })) })
    ).body.taskIds as string[];
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    peer.send('credits', { credits: n });
    await peer.tasks(n);
    return { ids, peer, endpointId: ep.endpoint.id as string, token: ep.token as string };
  };
  const progress = (taskId: string, seq: number, value: unknown, attempt = 0): ProgressEvent => ({ taskId, attempt, seq, at: Date.now(), value });
  const log = (taskId: string, seq: number, text: string, stream: LogChunk['stream'] = 'stdout'): LogChunk => ({
    taskId,
    attempt: 0,
    seq,
    at: Date.now(),
    stream,
    text,
  });

  it('relays items to the owner watching, in order, then watch-ended after the result; others get notFound and 404', async () => {
    const { ids, peer } = await leased(1);
    const task = ids[0]!;
    const watcher = await clientSocket(server.url, aliceToken);
    watcher.send('watch', { taskIds: [task], logs: true }, 'w1');
    await eventually(async () => watcher.frames.some((f) => f.type === 'watching'));
    expect(watcher.frames.find((f) => f.type === 'watching')).toMatchObject({ id: 'w1', payload: { notFound: [] } });

    const stranger = await clientSocket(server.url, bobToken);
    stranger.send('watch', { taskIds: [task], logs: true });
    await eventually(async () => stranger.frames.some((f) => f.type === 'watching'));
    expect(stranger.frames.find((f) => f.type === 'watching').payload.notFound).toEqual([task]);
    expect((await bob('GET', `/v1/tasks/${task}/progress`)).status).toBe(404);
    expect((await bob('GET', `/v1/tasks/${task}/logs`)).status).toBe(404);

    peer.send('stream', { progress: [progress(task, 1, { done: 1 })], logs: [log(task, 1, 'hello\n')], truncated: [] });
    peer.send('stream', { progress: [{ ...progress(task, 5, { done: 5 }), coalesced: 3 }], logs: [log(task, 2, 'oops\n', 'stderr')], truncated: [] });
    peer.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', result: 7, timings: {} }] });
    await eventually(async () => watcher.frames.some((f) => f.type === 'watch-ended'));
    const seen = watcher.frames.filter((f) => f.type !== 'watching').map((f) => f.type);
    expect(seen).toEqual(['progress', 'logs', 'progress', 'logs', 'watch-ended']);
    const items = watcher.frames.filter((f) => f.type === 'progress').flatMap((f) => f.payload.items);
    expect(items.map((i: ProgressEvent) => [i.seq, i.value, i.coalesced])).toEqual([
      [1, { done: 1 }, undefined],
      [5, { done: 5 }, 3],
    ]);
    expect(watcher.frames.at(-1).payload.tasks).toEqual([{ taskId: task, status: 'success' }]);
    // nothing of it reached the other user
    expect(stranger.frames.map((f) => f.type)).toEqual(['watching']);

    const kept = (await alice('GET', `/v1/tasks/${task}/progress`)).body;
    expect([kept.items.map((i: ProgressEvent) => i.seq), kept.emitted, kept.final]).toEqual([[1, 5], 5, true]);
    expect((await alice('GET', `/v1/tasks/${task}`)).body.progress).toEqual({ latest: kept.items[1], emitted: 5 });
    const logs = (await alice('GET', `/v1/tasks/${task}/logs`)).body;
    expect(logs).toMatchObject({ nextSeq: 2, final: true, truncated: false });
    expect(logs.items.map((c: LogChunk) => [c.stream, c.text])).toEqual([
      ['stdout', 'hello\n'],
      ['stderr', 'oops\n'],
    ]);
    expect((await alice('GET', `/v1/tasks/${task}/logs?afterSeq=1&stream=stderr`)).body.items).toHaveLength(1);
    watcher.ws.close();
    stranger.ws.close();
    peer.close();
  });

  it('ignores items for tasks not leased to the reporting connection', async () => {
    const mine = await leased(1);
    const theirs = await leased(1);
    const watcher = await clientSocket(server.url, aliceToken);
    watcher.send('watch', { taskIds: [theirs.ids[0]!], logs: true });
    await eventually(async () => watcher.frames.some((f) => f.type === 'watching'));
    // another connection's task, then one of its own: frames are handled in order, so once its own is stored the other was judged
    mine.peer.send('stream', { progress: [progress(theirs.ids[0]!, 1, 'forged')], logs: [log(theirs.ids[0]!, 1, 'forged')], truncated: [] });
    mine.peer.send('stream', { progress: [progress(mine.ids[0]!, 1, 'mine')], logs: [], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${mine.ids[0]}/progress`)).body.emitted === 1);
    expect((await alice('GET', `/v1/tasks/${theirs.ids[0]}/progress`)).body).toMatchObject({ items: [], emitted: 0 });
    expect((await alice('GET', `/v1/tasks/${theirs.ids[0]}/logs`)).body.items).toEqual([]);
    // an item for the wrong attempt is not its current work either
    mine.peer.send('stream', { progress: [progress(mine.ids[0]!, 2, 'stale', 3)], logs: [], truncated: [] });
    mine.peer.send('stream', { progress: [progress(mine.ids[0]!, 2, 'current')], logs: [], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${mine.ids[0]}/progress`)).body.emitted === 2);
    expect((await alice('GET', `/v1/tasks/${mine.ids[0]}/progress`)).body.items.map((i: ProgressEvent) => i.value)).toEqual(['mine', 'current']);
    expect(watcher.frames.map((f) => f.type)).toEqual(['watching']);
    watcher.ws.close();
    mine.peer.close();
    theirs.peer.close();
  });

  it('keeps the last KEPT_PROGRESS values, bounds logs per task, and catches a late watcher up', async () => {
    const { ids, peer } = await leased(1);
    const task = ids[0]!;
    const values = Array.from({ length: KEPT_PROGRESS + 4 }, (_, i) => progress(task, i + 1, i + 1));
    peer.send('stream', { progress: values.slice(0, 10), logs: [log(task, 1, 'a'.repeat(40)), log(task, 2, 'b'.repeat(20))], truncated: [] });
    // past the server's bound of 64 bytes: dropped, and the logs say so
    peer.send('stream', { progress: values.slice(10), logs: [log(task, 3, 'c'.repeat(20)), log(task, 4, 'd')], truncated: [] });
    peer.send('stream', { progress: [{ ...progress(task, 30, 'x'.repeat(20_000)) }], logs: [], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${task}/progress`)).body.emitted === 30);
    const kept = (await alice('GET', `/v1/tasks/${task}/progress`)).body;
    expect(kept.items).toHaveLength(KEPT_PROGRESS);
    expect(kept.items.at(-1).value).toEqual({ $fx: 'progress-too-large', bytes: 20_002 });
    expect(kept.items.at(-2).seq).toBe(KEPT_PROGRESS + 4);
    const logs = (await alice('GET', `/v1/tasks/${task}/logs`)).body;
    expect([logs.items.map((c: LogChunk) => c.seq), logs.truncated, logs.final]).toEqual([[1, 2], true, false]);

    const late = await clientSocket(server.url, aliceToken);
    late.send('watch', { taskIds: [task], logs: true, logsAfterSeq: 1 });
    await eventually(async () => late.frames.some((f) => f.type === 'logs'));
    expect(late.frames.find((f) => f.type === 'progress').payload.items.map((i: ProgressEvent) => i.seq)).toEqual(kept.items.map((i: ProgressEvent) => i.seq));
    expect(late.frames.find((f) => f.type === 'logs').payload.items.map((c: LogChunk) => c.seq)).toEqual([2]);
    // unwatched: the end is not sent any more
    late.send('unwatch', { taskIds: [task] });
    peer.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', result: 1, timings: {} }] });
    await peer.next('ack');
    const watcherAfter = await clientSocket(server.url, aliceToken);
    watcherAfter.send('watch', { taskIds: [task], progress: false });
    await eventually(async () => watcherAfter.frames.some((f) => f.type === 'watch-ended'));
    expect(watcherAfter.frames.map((f) => f.type)).toEqual(['watching', 'watch-ended']);
    expect(late.frames.some((f) => f.type === 'watch-ended')).toBe(false);
    late.ws.close();
    watcherAfter.ws.close();
    peer.close();
  });

  it("reads stored chunks up to a byte budget (a watch's catch-up), ending before the chunk that would start past it, never before the first", async () => {
    const { ids, peer } = await leased(2);
    // 20 + 20 bytes for each task, within the server's bound of 64 a task
    for (const id of ids) peer.send('stream', { progress: [], logs: [log(id, 1, 'a'.repeat(20)), log(id, 2, 'b'.repeat(20))], truncated: [] });
    await eventually(async () => {
      const all = await Promise.all(ids.map(async (id) => (await alice('GET', `/v1/tasks/${id}/logs`)).body.items.length));
      return all.every((n) => n === 2);
    });
    const live = server.app.get(LiveRepository);
    const read = async (maxBytes: number | null) => (await live.logs(ids, 0, 1000, { agent: false }, maxBytes)).length;
    expect(await read(null)).toBe(4);
    expect(await read(41)).toBe(3);
    expect(await read(40)).toBe(2);
    expect(await read(1)).toBe(1);
    expect(await read(0)).toBe(1);
    peer.close();
  });

  it("reads no kept progress for another user's watch or REST read of a task, nor for a watch that asks for none", async () => {
    const { ids, peer } = await leased(2);
    const marker = `secret-${Math.random().toString(36).slice(2)}`;
    for (const id of ids) peer.send('stream', { progress: [progress(id, 1, marker)], logs: [], truncated: [] });
    await eventually(async () =>
      (await Promise.all(ids.map(async (id) => (await alice('GET', `/v1/tasks/${id}/progress`)).body.emitted))).every((n) => n === 1),
    );
    // every row the repository reads while the watches are answered
    const { read, restore } = recordRowsRead(server.app.get(LiveRepository));
    try {
      const stranger = await clientSocket(server.url, bobToken);
      stranger.send('watch', { taskIds: ids, logs: true });
      await eventually(async () => stranger.frames.some((f) => f.type === 'watching'));
      expect((await bob('GET', `/v1/tasks/${ids[0]}/progress`)).status).toBe(404);
      expect((await bob('GET', `/v1/tasks/${ids[0]}/logs`)).status).toBe(404);
      const quiet = await clientSocket(server.url, aliceToken);
      quiet.send('watch', { taskIds: ids, progress: false });
      await eventually(async () => quiet.frames.some((f) => f.type === 'watching'));
      expect(JSON.stringify(read)).not.toContain(marker);
      stranger.ws.close();
      quiet.ws.close();
    } finally {
      restore();
    }
    peer.close();
  });

  it("reads kept progress up to a byte budget (a watch's catch-up), ending before the task whose values would start past it, never before the first", async () => {
    const { ids, peer } = await leased(3);
    for (const id of ids) peer.send('stream', { progress: [progress(id, 1, 'x'.repeat(10)), progress(id, 2, 'y'.repeat(10))], logs: [], truncated: [] });
    await eventually(async () =>
      (await Promise.all(ids.map(async (id) => (await alice('GET', `/v1/tasks/${id}/progress`)).body.emitted))).every((n) => n === 2),
    );
    const live = server.app.get(LiveRepository);
    const size = Buffer.byteLength(JSON.stringify((await alice('GET', `/v1/tasks/${ids[0]}/progress`)).body.items));
    const read = async (maxBytes: number) => (await live.keptProgress(ids, maxBytes)).map((r) => r.progress.length);
    expect(await read(10 * size)).toEqual([2, 2, 2]);
    // PostgreSQL spaces its text of jsonb out a little: one and a half of one task's values hold two tasks', never three
    expect(await read(Math.ceil(1.5 * size))).toEqual([2, 2]);
    expect(await read(1)).toEqual([2]);
    expect(await read(0)).toEqual([2]);
    peer.close();
  });

  it("keeps the agent's lines of its own tasks, and shows them only to readers and watchers that ask", async () => {
    const { ids, peer } = await leased(1);
    const other = await leased(1);
    const task = ids[0]!;
    const plain = await clientSocket(server.url, aliceToken);
    const withAgent = await clientSocket(server.url, aliceToken);
    plain.send('watch', { taskIds: [task], progress: false, logs: true });
    withAgent.send('watch', { taskIds: [task], progress: false, logs: true, agentLogs: true });
    await eventually(async () => plain.frames.some((f) => f.type === 'watching') && withAgent.frames.some((f) => f.type === 'watching'));

    peer.send('stream', {
      progress: [],
      // another connection's task: not this agent's to speak about
      logs: [log(task, 1, 'received\n', 'agent'), log(task, 2, 'hi\n'), log(other.ids[0]!, 1, 'forged\n', 'agent')],
      truncated: [],
    });
    peer.send('stream', { progress: [], logs: [log(task, 3, 'finished\n', 'agent')], truncated: [] });
    peer.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', result: 1, timings: {} }] });
    await eventually(async () => plain.frames.some((f) => f.type === 'watch-ended') && withAgent.frames.some((f) => f.type === 'watch-ended'));
    const texts = (frames: any[]) =>
      frames.filter((f) => f.type === 'logs').flatMap((f) => f.payload.items.map((c: LogChunk) => `${c.seq}:${c.stream}:${c.text}`));
    expect(texts(plain.frames)).toEqual(['2:stdout:hi\n']);
    expect(texts(withAgent.frames)).toEqual(['1:agent:received\n', '2:stdout:hi\n', '3:agent:finished\n']);

    const read = async (query: string) => (await alice('GET', `/v1/tasks/${task}/logs${query}`)).body.items.map((c: LogChunk) => `${c.seq}:${c.stream}`);
    expect(await read('')).toEqual(['2:stdout']);
    expect(await read('?agent=true')).toEqual(['1:agent', '2:stdout', '3:agent']);
    expect(await read('?stream=agent')).toEqual(['1:agent', '3:agent']);
    expect(await read('?stream=stdout&agent=true')).toEqual(['2:stdout']);
    expect(await read('?agent=true&afterSeq=2')).toEqual(['3:agent']);
    expect((await alice('GET', `/v1/tasks/${task}/logs?agent=yes`)).status).toBe(400);
    expect((await alice('GET', `/v1/tasks/${other.ids[0]}/logs?agent=true`)).body.items).toEqual([]);
    // another user asking for the agent's lines is told the task does not exist, like any other read
    expect((await bob('GET', `/v1/tasks/${task}/logs?agent=true`)).status).toBe(404);

    // a late watcher catches up the same way
    const late = await clientSocket(server.url, aliceToken);
    late.send('watch', { taskIds: [task], progress: false, logs: true, agentLogs: true });
    await eventually(async () => late.frames.some((f) => f.type === 'watch-ended'));
    expect(texts(late.frames)).toEqual(['1:agent:received\n', '2:stdout:hi\n', '3:agent:finished\n']);
    for (const s of [plain, withAgent, late]) s.ws.close();
    peer.close();
    other.peer.close();
  });

  it("bounds the agent's lines of an attempt on their own, past the bound dropped and the logs marked truncated", async () => {
    const { ids, peer } = await leased(1);
    const task = ids[0]!;
    // the server's bound here is 64 bytes: each kind of text has that much
    peer.send('stream', { progress: [], logs: [log(task, 1, 'a'.repeat(40), 'agent'), log(task, 2, 'p'.repeat(60))], truncated: [] });
    peer.send('stream', { progress: [], logs: [log(task, 3, 'b'.repeat(20), 'agent'), log(task, 4, 'c'.repeat(20), 'agent')], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${task}/logs?agent=true`)).body.truncated === true);
    const body = (await alice('GET', `/v1/tasks/${task}/logs?agent=true`)).body;
    expect(body.items.map((c: LogChunk) => `${c.seq}:${c.stream}:${c.text.length}`)).toEqual(['1:agent:40', '2:stdout:60', '3:agent:20']);
    peer.close();
  });

  it("stores the agent's lines sent just before results with them: bounded, a running task's too, the result after them", async () => {
    const { ids, peer } = await leased(2);
    const [done, running] = ids as [string, string];
    const watcher = await clientSocket(server.url, aliceToken);
    watcher.send('watch', { taskIds: [done], progress: false, logs: true, agentLogs: true });
    await eventually(async () => watcher.frames.some((f) => f.type === 'watching'));
    // 64 bytes per attempt: the second line of `done` and the line of `running` are past it
    peer.send('stream', {
      progress: [],
      logs: [log(done, 1, 'a'.repeat(50), 'agent'), log(done, 2, 'b'.repeat(20), 'agent'), log(running, 1, 'c'.repeat(70), 'agent')],
      truncated: [],
    });
    peer.send('results', { results: [{ taskId: done, attempt: 0, status: 'success', result: 7, timings: {} }] });
    await peer.next('ack');
    expect((await alice('GET', `/v1/tasks/${done}`)).body).toMatchObject({ status: 'success', result: 7 });
    const logs = async (id: string) => (await alice('GET', `/v1/tasks/${id}/logs?agent=true`)).body;
    expect(await logs(done)).toMatchObject({ items: [expect.objectContaining({ seq: 1, stream: 'agent' })], truncated: true, final: true });
    await eventually(async () => (await logs(running)).truncated === true);
    expect((await logs(running)).items).toEqual([]);
    expect((await alice('GET', `/v1/tasks/${running}`)).body.status).not.toBe('success');
    await eventually(async () => watcher.frames.some((f) => f.type === 'watch-ended'));
    // the watcher had the line before the end
    const at = (type: string) => watcher.frames.findIndex((f) => f.type === type);
    expect(watcher.frames[at('logs')]?.payload.items.map((c: LogChunk) => c.seq)).toEqual([1]);
    expect(at('logs')).toBeLessThan(at('watch-ended'));
    watcher.ws.close();
    peer.close();
  });

  it('reads what a task printed in its latest attempt that printed, whatever the agent said about a later one', async () => {
    const { ids, peer } = await leased(1);
    const task = ids[0]!;
    peer.send('stream', { progress: [], logs: [log(task, 1, 'printed in attempt 0\n')], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${task}/logs`)).body.items.length === 1);
    // the agent hands it back; attempt 1 comes to it again, and it says it received it
    peer.send('requeue', { taskIds: [task], reason: 'its block ended' });
    await eventually(async () => (await alice('GET', `/v1/tasks/${task}`)).body.attempt === 1);
    peer.send('credits', { credits: 1 });
    expect((await peer.tasks(1)).map((t) => [t.taskId, t.attempt])).toEqual([[task, 1]]);
    peer.send('stream', { progress: [], logs: [{ ...log(task, 1, 'received\n', 'agent'), attempt: 1 }], truncated: [] });
    await eventually(async () => (await alice('GET', `/v1/tasks/${task}/logs?stream=agent`)).body.items.length === 1);
    expect((await alice('GET', `/v1/tasks/${task}/logs`)).body.items.map((c: LogChunk) => [c.attempt, c.text])).toEqual([[0, 'printed in attempt 0\n']]);
    expect((await alice('GET', `/v1/tasks/${task}/logs?agent=true`)).body.items.map((c: LogChunk) => [c.attempt, c.text])).toEqual([[1, 'received\n']]);
    peer.close();
  });
});
