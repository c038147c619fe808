import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { LogChunk, ProgressEvent } from '@fx/protocol';
import { Client, type FollowedLogChunk } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually } from '@fx/testing';

/**
 * Live streams from running tasks (issue 16) through real processes: the built server on PostgreSQL +
 * Redis, a real fx-endpoint (js, python and shell workers, no sandbox so that tasks can see the test's
 * marker files) and the TypeScript SDK. A task that must be seen while it runs waits for a file the
 * test writes once it has seen what it waits for: no timing decides an assertion.
 */
jest.setTimeout(300_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let client: Client;
let token: string;
let dir: string;
const logs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${endpoint?.log()}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fx-live-'));
  server = await ServerProcess.start('postgres+redis', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'watcher' });
  token = (await admin.createToken(user.id)).token;
  admin.close();
  client = new Client({ url: server.url, token });
  endpoint = await EndpointProcess.configure(server, 'live', { workers: 2, token });
  const file = join(endpoint.dir, 'config.yaml');
  await writeFile(file, stringify({ ...(parse(await readFile(file, 'utf8')) as object), python: 'python3', sandbox: 'none' }), { mode: 0o600 });
  endpoint.start();
  await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${logs()}`);
  });
});

afterAll(async () => {
  client?.close();
  await endpoint?.stop();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Follows a task's progress, writing `<dir>/<tag>-ack-<value>` for each value seen (the task waits for it before its next emit). */
async function acknowledged(taskId: string, tag: string, ackOf: (e: ProgressEvent) => unknown): Promise<ProgressEvent[]> {
  const seen: ProgressEvent[] = [];
  for await (const event of client.progress(taskId)) {
    seen.push(event);
    await writeFile(join(dir, `${tag}-ack-${String(ackOf(event))}`), '');
  }
  return seen;
}

it('streams every progress value of a js task emitted one at a time, in order, then ends with the task', async () => {
  const fn = (
    await client.createFunction({
      name: 'steps',
      runtime: 'js',
      source: `async (dir, n) => {
        const fs = await import('node:fs');
        for (let i = 1; i <= n; i++) {
          ctx.emit({ step: i, of: n });
          while (!fs.existsSync(dir + '/js-ack-' + i)) await new Promise((r) => setTimeout(r, 10));
        }
        return n;
      }`,
    })
  ).id;
  const taskId = await client.run(fn, endpoint.endpointId, [dir, 5]);
  const seen = await acknowledged(taskId, 'js', (e) => (e.value as { step: number }).step);
  expect(seen.map((e) => [e.seq, e.value, e.coalesced])).toEqual([1, 2, 3, 4, 5].map((i) => [i, { step: i, of: 5 }, undefined]));
  expect(await client.getResult(taskId)).toBe(5);
  const kept = await client.getTask(taskId);
  expect(kept.status).toBe('success');
});

it('streams progress from a python task (fx_sdk.emit) and a shell task (its progress prefix), and their printed lines as logs', async () => {
  const py = await client.registerPythonFunction(
    [
      'import os, time, fx_sdk',
      'def main(dir, n):',
      '    print("starting", n)',
      '    for i in range(1, n + 1):',
      '        fx_sdk.emit({"step": i})',
      '        while not os.path.exists(os.path.join(dir, "py-ack-%d" % i)):',
      '            time.sleep(0.01)',
      '    return n',
      '',
    ].join('\n'),
    { name: 'py-steps', entrypoint: 'main' },
  );
  const sh = await client.registerShellFunction(
    'echo working; for i in 1 2 3; do echo "PROGRESS $i"; while [ ! -e {dir}/sh-ack-$i ]; do sleep 0.02; done; done; echo finished >&2',
    { name: 'sh-steps', progressPrefix: 'PROGRESS ' },
  );
  expect((await client.getFunction(sh)).progressPrefix).toBe('PROGRESS ');
  const pyTask = await client.run(py, endpoint.endpointId, [dir, 4]);
  const shTask = await client.run(sh, endpoint.endpointId, [], { dir });
  const [pySeen, shSeen] = await Promise.all([
    acknowledged(pyTask, 'py', (e) => (e.value as { step: number }).step),
    acknowledged(shTask, 'sh', (e) => e.value),
  ]).catch((e) => Promise.reject(new Error(`${(e as Error).message}\n${logs()}`)));
  expect(pySeen.map((e) => [e.seq, e.value])).toEqual([1, 2, 3, 4].map((i) => [i, { step: i }]));
  expect(shSeen.map((e) => [e.seq, e.value])).toEqual([1, 2, 3].map((i) => [i, i]));
  expect(await client.getResult(pyTask)).toBe(4);
  // the result keeps all it printed; the logs leave progress lines out
  expect(((await client.getResult(shTask)) as { stdout: string }).stdout).toBe('working\nPROGRESS 1\nPROGRESS 2\nPROGRESS 3\n');
  const shLogs: LogChunk[] = [];
  for await (const chunk of client.logs(shTask)) shLogs.push(chunk);
  expect(shLogs.map((c) => [c.stream, c.text])).toEqual([
    ['stdout', 'working\n'],
    ['stderr', 'finished\n'],
  ]);
  const pyLogs: string[] = [];
  for await (const chunk of client.logs(pyTask, { stream: 'stdout' })) pyLogs.push(chunk.text);
  expect(pyLogs.join('')).toBe('starting 4\n');
});

it('coalesces a burst of 100,000 emits without stalling the agent: another task completes meanwhile, the client sees increasing seqs and the last value', async () => {
  const burst = (
    await client.createFunction({
      name: 'burst',
      runtime: 'js',
      source: `async (dir, n) => {
        const fs = await import('node:fs');
        for (let i = 1; i < n; i++) {
          ctx.emit({ i });
          if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
        }
        // the last emit waits until the test has seen another task complete while this one ran
        while (!fs.existsSync(dir + '/burst-go')) await new Promise((r) => setTimeout(r, 10));
        ctx.emit({ i: n });
        return n;
      }`,
    })
  ).id;
  const quick = (await client.createFunction({ name: 'quick', runtime: 'js', source: '() => "quick"' })).id;
  const started = Date.now();
  const handle = await client.submit(burst, endpoint.endpointId, [dir, 100_000]);
  const viaCallback: number[] = [];
  const stop = handle.onProgress((e) => viaCallback.push(e.seq));
  const seen: ProgressEvent[] = [];
  const following = (async () => {
    for await (const event of handle.progress()) seen.push(event);
  })();
  // wait until the burst runs (its first values arrived), then run another task beside it
  await eventually(async () => seen.length > 0, 60_000, 'the burst running').catch((e) => Promise.reject(new Error(`${(e as Error).message}\n${logs()}`)));
  expect(await client.getResult(await client.run(quick, endpoint.endpointId), { timeoutMs: 60_000 })).toBe('quick');
  await writeFile(join(dir, 'burst-go'), '');
  expect(await handle.result({ timeoutMs: 120_000 })).toBe(100_000);
  const tookMs = Date.now() - started;
  await following;
  stop();
  const seqs = seen.map((e) => e.seq);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
  expect(seen.at(-1)).toMatchObject({ seq: 100_000, value: { i: 100_000 } });
  // each value stands for itself and the ones it replaced
  expect(seen.reduce((n, e) => n + 1 + (e.coalesced ?? 0), 0)).toBe(100_000);
  expect(viaCallback.length).toBeGreaterThan(0);
  process.stdout.write(
    `live.e2e: 100,000 emits in ${tookMs} ms (submit to result, including a wait for another task); ${seen.length} progress events reached the client\n`,
  );
});

it('follows the logs of a running js task from the SDK: a line is seen while the task still runs', async () => {
  const fn = (
    await client.createFunction({
      name: 'talker',
      runtime: 'js',
      source: `async (dir) => {
        const fs = await import('node:fs');
        console.log('first line');
        while (!fs.existsSync(dir + '/talker-go')) await new Promise((r) => setTimeout(r, 10));
        console.error('second line');
        return 'said';
      }`,
    })
  ).id;
  const taskId = await client.run(fn, endpoint.endpointId, [dir]);
  const chunks: LogChunk[] = [];
  for await (const chunk of client.logs(taskId, { follow: true })) {
    chunks.push(chunk);
    if (chunk.text.includes('first line')) {
      // the task is still running: it waits for this file
      expect((await client.getTask(taskId)).status).not.toBe('success');
      await writeFile(join(dir, 'talker-go'), '');
    }
  }
  expect(chunks.map((c) => [c.stream, c.text])).toEqual([
    ['stdout', 'first line\n'],
    ['stderr', 'second line\n'],
  ]);
  // in print order; seq counts the agent's lines about the task too (LogStream `agent`), so it has gaps here
  expect(chunks[0]!.seq).toBeLessThan(chunks[1]!.seq);
  expect(await client.getResult(taskId)).toBe('said');
  // stored: the same chunks over REST, and nothing after the last
  const stored: LogChunk[] = [];
  for await (const chunk of client.logs(taskId, { afterSeq: chunks[0]!.seq })) stored.push(chunk);
  expect(stored.map((c) => c.text)).toEqual(['second line\n']);
});

it('bounds what a follower that falls behind holds: it drops the oldest chunks, and the next one it yields says how many', async () => {
  const fn = (
    await client.createFunction({
      name: 'chatty',
      runtime: 'js',
      source: `async (dir, n) => {
        const fs = await import('node:fs');
        console.log('ready');
        while (!fs.existsSync(dir + '/chatty-go')) await new Promise((r) => setTimeout(r, 10));
        for (let i = 0; i < n; i++) {
          console.log('line ' + i + ' ' + 'x'.repeat(1000));
          if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
        }
        return n;
      }`,
    })
  ).id;
  const taskId = await client.run(fn, endpoint.endpointId, [dir, 600]);
  const maxBufferedBytes = 16 * 1024;
  const following = client.logs(taskId, { follow: true, maxBufferedBytes })[Symbol.asyncIterator]();
  const first = await following.next();
  expect(first.value?.text).toBe('ready\n');
  // the follower reads nothing more until the task has printed about 600 KB and ended: every chunk has
  // reached the iteration by then (live frames come before the result on the client's socket)
  await writeFile(join(dir, 'chatty-go'), '');
  expect(await client.getResult(taskId)).toBe(600);
  const seen: FollowedLogChunk[] = [];
  for (let next = await following.next(); !next.done; next = await following.next()) seen.push(next.value);

  const stored: LogChunk[] = [];
  for await (const chunk of client.logs(taskId)) stored.push(chunk);
  expect(stored.map((c) => c.text).join('')).toContain('line 599 ');
  // what it held when the reader came back: at most the bound (a chunk is never cut)
  const held = seen.reduce((n, c) => n + Buffer.byteLength(c.text), 0);
  expect(held).toBeLessThanOrEqual(Math.max(maxBufferedBytes, ...seen.map((c) => Buffer.byteLength(c.text))));
  expect(seen.length).toBeLessThan(stored.length - 1);
  // the newest are kept; each gap is said once, by the chunk after it, exactly
  expect(seen.at(-1)!.seq).toBe(stored.at(-1)!.seq);
  expect(seen.some((c) => c.dropped)).toBe(true);
  const index = new Map(stored.map((c, i) => [c.seq, i]));
  let before = 0; // the stored index of the chunk after the last one yielded: 'ready' was stored[0]
  for (const chunk of seen) {
    const at = index.get(chunk.seq)!;
    const skipped = stored.slice(before + 1, at);
    expect(chunk.dropped).toEqual(skipped.length ? { chunks: skipped.length, bytes: skipped.reduce((n, c) => n + Buffer.byteLength(c.text), 0) } : undefined);
    before = at;
  }
});

it('runs examples/progress.mjs as docs/live.md shows it', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/progress.mjs'], {
    cwd: FX_ROOT,
    env: { PATH: process.env.PATH, FX_URL: server.url, FX_TOKEN: token, FX_ENDPOINT: endpoint.endpointId },
    timeout: 120_000,
  });
  expect(stdout).toBe('{ done: 300, of: 300 }\n300\nstdout: batch 1 done\nstdout: batch 2 done\nstdout: batch 3 done\n');
});
