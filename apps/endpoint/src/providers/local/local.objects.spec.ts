import { jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectRef, TaskResult } from '@fx/protocol';
import { functionContentHash } from '@fx/protocol/node';
import { EndpointAgent } from '../../agent/endpoint.agent.js';
import { runningAgent, stopAll } from '../../testing/agent.harness.js';
import { FakeFxServer } from '../../testing/fake-fx-server.js';
import { makeTask } from '../../testing/task.factory.js';
import { ensureEndpointBuilt } from '../../testing/worker-build.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { LocalProvider } from './local.provider.js';

/**
 * Data by reference through a real agent, its js, python and shell workers under bubblewrap (the
 * agent's directory hidden, as FX_HOME is), and the fake server's object routes: inputs arrive as a
 * Buffer, a value, bytes or a path; results come back as objects when they are bytes, large, or named.
 */
describe('objects with the local provider under bubblewrap', () => {
  jest.setTimeout(60_000);
  const { workerScript } = ensureEndpointBuilt();
  let dir: string;
  let server: FakeFxServer;
  let agent: EndpointAgent;
  const data = randomBytes(200_000);
  let blob: ObjectRef;
  let config: ObjectRef;
  let text: ObjectRef;

  const run = async (...tasks: ReturnType<typeof makeTask>[]): Promise<TaskResult[]> => {
    server.enqueue(...tasks);
    await server.waitFor(() => tasks.every((t) => server.results.has(t.taskId)), 'every result', 45_000);
    return tasks.map((t) => server.results.get(t.taskId)!);
  };
  const stored = (result: TaskResult) => server.objects.content(result.resultRef!.id)!;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-objects-spec-'));
    server = new FakeFxServer({ welcome: { inlineResultBytes: 1000 } });
    const url = await server.listen();
    blob = server.objects.put(data);
    config = server.objects.put(JSON.stringify({ scale: 3, tags: ['a', 'b'] }), 'json');
    text = server.objects.put('hello objects\n');
    const objectsDir = join(dir, 'objects');
    await mkdir(join(dir, 'work'));
    const sandbox = WorkerSandbox.resolve('bwrap', { hide: [dir] }).showing([join(objectsDir, 'stage')]);
    const provider = new LocalProvider({ workers: 2, workerScript, sandbox, workRoot: join(dir, 'work') });
    agent = await runningAgent(server, url, dir, {
      name: 'objects',
      provider,
      objects: { dir: objectsDir, retry: { attempts: 2, backoff: { initialDelayMs: 1, maxDelayMs: 5 } } },
    });
  });
  afterAll(() => stopAll(agent, server, dir));

  it('gives js functions a Buffer for bytes and the value for json, and stores Buffer and large results as objects', async () => {
    const [shape, echo, large, small] = await run(
      makeTask('js', '(b, c) => ({ isBuffer: Buffer.isBuffer(b), length: b.length, first: b[0], c })', { args: [blob, config], objects: [blob, config] }),
      makeTask('js', '({ b }) => Buffer.concat([b, Buffer.from("!")])', { args: [], kwargs: { b: blob }, objects: [blob] }),
      makeTask('js', '(n) => "x".repeat(n)', { args: [5000] }),
      makeTask('js', '(n) => "x".repeat(n)', { args: [10] }),
    );
    expect(shape).toMatchObject({ status: 'success', result: { isBuffer: true, length: data.length, first: data[0], c: { scale: 3, tags: ['a', 'b'] } } });
    expect(echo!.result).toBeUndefined();
    expect(echo!.resultRef).toMatchObject({ $fx: 'object', encoding: 'bytes', size: data.length + 1 });
    expect(stored(echo!).equals(Buffer.concat([data, Buffer.from('!')]))).toBe(true);
    expect(echo!.resultRef!.sha256).toBe(createHash('sha256').update(stored(echo!)).digest('hex'));
    expect(large!.resultRef).toMatchObject({ encoding: 'json', size: 5002 });
    expect(JSON.parse(stored(large!).toString('utf8'))).toBe('x'.repeat(5000));
    expect(small).toMatchObject({ status: 'success', result: 'x'.repeat(10) });
    expect(small!.resultRef).toBeUndefined();
    // results are uploaded for their task, with their size and hash declared up front
    expect(server.objects.created).toEqual(
      expect.arrayContaining([{ taskId: echo!.taskId, encoding: 'bytes', size: data.length + 1, sha256: echo!.resultRef!.sha256 }]),
    );
  });

  it('stores any result of a task with an outputName under that name', async () => {
    const task = { ...makeTask('js', '() => 42'), outputName: 'output/answer.json' };
    const [named] = await run(task);
    expect(named!.resultRef).toMatchObject({ encoding: 'json', size: 2 });
    expect(server.objects.objects.get(named!.resultRef!.id)?.info).toMatchObject({ name: 'output/answer.json', taskId: task.taskId });
  });

  it('gives python functions bytes and values, and stores bytes and large results as objects', async () => {
    const shape = 'def main(b, c, label):\n    return {"type": type(b).__name__, "length": len(b), "scale": c["scale"], "label": label}\n';
    const reverse = 'def main(b):\n    return b[::-1]\n';
    const py = (source: string, args: unknown[], kwargs: Record<string, unknown> = {}, objects: ObjectRef[] = []) => {
      const t = makeTask('python', source, { args, kwargs, objects, contentHash: functionContentHash('python', source, { entrypoint: 'main' }) });
      t.function.entrypoint = 'main';
      return t;
    };
    const [a, b, c] = await run(
      py(shape, [blob, config], { label: 'x' }, [blob, config]),
      py(reverse, [blob], {}, [blob]),
      py('def main(n):\n    return "y" * n\n', [5000]),
    );
    expect(a).toMatchObject({ status: 'success', result: { type: 'bytes', length: data.length, scale: 3, label: 'x' } });
    expect(b!.resultRef).toMatchObject({ encoding: 'bytes', size: data.length });
    expect(stored(b!).equals(Buffer.from(data).reverse())).toBe(true);
    expect(c!.resultRef).toMatchObject({ encoding: 'json', size: 5002 });
    expect(JSON.parse(stored(c!).toString('utf8'))).toBe('y'.repeat(5000));
  });

  it('stores named outputs of js (ctx.output) and python (fx_sdk.output) tasks that succeed, with their names', async () => {
    const js = makeTask(
      'js',
      'async function (n) { await ctx.output("out/a.bin", Buffer.from("abc")); await ctx.output("out/b.json", { n }); return "done"; }',
      { args: [7] },
    );
    const source = 'import fx_sdk\n\ndef main():\n    fx_sdk.output("out/p.bin", b"xyz")\n    fx_sdk.output("out/p.json", [1, 2])\n    return 1\n';
    const python = makeTask('python', source, { contentHash: functionContentHash('python', source, { entrypoint: 'main' }) });
    python.function.entrypoint = 'main';
    const failing = makeTask('js', 'async () => { await ctx.output("out/never", 1); throw new Error("no"); }');
    const badName = makeTask('js', 'async () => { await ctx.output("../up", 1); }');
    const [a, b, c, d] = await run(js, python, failing, badName);
    expect(a).toMatchObject({ status: 'success', result: 'done' });
    expect(b).toMatchObject({ status: 'success', result: 1 });
    const named = (taskId: string) =>
      Object.fromEntries(
        [...server.objects.objects.values()].filter((o) => o.info.taskId === taskId).map((o) => [o.info.name, [o.info.encoding, o.data.toString()]]),
      );
    expect(named(js.taskId)).toEqual({ 'out/a.bin': ['bytes', 'abc'], 'out/b.json': ['json', '{"n":7}'] });
    expect(named(python.taskId)).toEqual({ 'out/p.bin': ['bytes', 'xyz'], 'out/p.json': ['json', '[1,2]'] });
    expect(c).toMatchObject({ status: 'failed', error: { message: 'no' } });
    expect(named(failing.taskId)).toEqual({});
    expect(d).toMatchObject({ status: 'failed', error: { name: 'TypeError', message: expect.stringMatching(/ctx.output: the name "..\/up"/) } });
  });

  it('gives shell functions a read-only path in the task directory', async () => {
    const [shell] = await run(
      makeTask('shell', 'echo {path}; cat {path}; echo tamper >> {path} 2>/dev/null || echo refused', { kwargs: { path: text }, objects: [text] }),
    );
    const { stdout } = shell!.result as { stdout: string };
    const [path, ...rest] = stdout.trim().split('\n');
    expect(path).toMatch(new RegExp(`/fx-task-[^/]+/objects/${text.id}$`));
    expect(rest).toEqual(['hello objects', 'refused']);
    expect(await readFile(join(dir, 'objects', 'cache', text.sha256), 'utf8')).toBe('hello objects\n');
  });

  it('fetches an input shared by many tasks once, and fails a task whose object cannot be fetched OBJECT_UNAVAILABLE', async () => {
    const shared = server.objects.put(randomBytes(50_000));
    const tasks = Array.from({ length: 40 }, (_, i) => makeTask('js', '(b, i) => b.length + i', { args: [shared, i], objects: [shared] }));
    const results = await run(...tasks);
    expect(results.map((r) => r.result)).toEqual(tasks.map((_, i) => 50_000 + i));
    expect(server.objects.contentRequests.get(shared.id)).toBe(1);
    const gone: ObjectRef = { ...shared, id: '00000000-0000-4000-8000-00000000dead', sha256: 'f'.repeat(64) };
    const [failed] = await run(makeTask('js', '(b) => b.length', { args: [{ nested: [gone] }], objects: [gone] }));
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'OBJECT_UNAVAILABLE' } });
    expect(failed!.error!.message).toMatch(new RegExp(`object ${gone.id} .*could not be fetched: .*not available to this endpoint`));
  });

  it("fetches content that two users' tasks share once for each user: neither meets the other's cache entry", async () => {
    const shared = server.objects.put(randomBytes(30_000));
    const owners = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
    const tasks = owners.flatMap((ownerId) =>
      Array.from({ length: 3 }, () => ({ ...makeTask('js', '(b) => b.length', { args: [shared], objects: [shared] }), ownerId })),
    );
    const results = await run(...tasks);
    expect(results.map((r) => r.result)).toEqual(tasks.map(() => 30_000));
    expect(server.objects.contentRequests.get(shared.id)).toBe(2);
  });

  it('leaves a value shaped like a reference that the server did not check to the function, even when its content is cached', async () => {
    const shared = server.objects.put(randomBytes(20_000));
    await run(makeTask('js', '(b) => b.length', { args: [shared], objects: [shared] }));
    // a user's own {"$$fx":"object",…} reaches the agent unescaped: the same shape, but not in `objects`
    const [forged] = await run(
      makeTask('js', '(b, c) => ({ b, c })', { args: [shared, { deep: shared }], objects: [{ ...shared, id: '00000000-0000-4000-8000-00000000beef' }] }),
    );
    expect(forged).toMatchObject({ status: 'success', result: { b: shared, c: { deep: shared } } });
    expect(server.objects.contentRequests.get(shared.id)).toBe(1);
  });

  it('fails a result the server will not store for its size RESULT_TOO_LARGE, and any other failure to store OBJECT_UNAVAILABLE', async () => {
    server.objects.maxObjectBytes = 100_000;
    const [big] = await run(makeTask('js', '() => Buffer.alloc(150000)'));
    expect(big).toMatchObject({ status: 'failed', error: { code: 'RESULT_TOO_LARGE' } });
    server.objects.maxObjectBytes = Number.MAX_SAFE_INTEGER;
    server.objects.faults.refuseUploads = 1;
    const [refused] = await run(makeTask('js', '() => Buffer.from("abc")'));
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'OBJECT_UNAVAILABLE' } });
    expect(refused!.error!.message).toMatch(/^the result \(3 bytes\) could not be stored as an object: .*HTTP 404/);
    // an upload cut short resumes where the server says it stopped
    server.objects.faults.cutUploads = 1;
    server.objects.faults.cutUploadAfterBytes = 1000;
    const [resumed] = await run(makeTask('js', '() => Buffer.alloc(5000, 7)'));
    expect(stored(resumed!).equals(Buffer.alloc(5000, 7))).toBe(true);
    expect(server.objects.faults.cutUploads).toBe(0);
  });
});
