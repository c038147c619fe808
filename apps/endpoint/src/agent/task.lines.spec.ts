import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogLine, type LogChunk, type StreamPayload } from '@fx/protocol';
import { runningAgent, stopAll } from '../testing/agent.harness.js';
import { FakeFxServer } from '../testing/fake-fx-server.js';
import { FakeProvider } from '../testing/fake-provider.js';
import { makeTask } from '../testing/task.factory.js';
import { EndpointAgent, type EndpointAgentOptions } from './endpoint.agent.js';
import { LiveStreams } from './live.streams.js';
import { createConsoleLogger, silentLogger, type LogLevel } from './logger.js';
import { finishedLine, startedLine } from './task-line.text.js';
import { TaskLines, type TaskLogLevel } from './task.lines.js';

/** A logger that keeps its JSON records. */
function recorded(level: LogLevel) {
  const records: Array<Record<string, unknown>> = [];
  const logger = createConsoleLogger(level, { write: (line) => records.push(JSON.parse(line) as Record<string, unknown>), format: 'json' });
  return { logger, records };
}

/**
 * The agent's lines about a task (issue 17): logged with `taskId`, and streamed as chunks of stream
 * `agent` on the task's attempt, before its result, whatever the log's own level.
 */
describe("the agent's lines about a task", () => {
  let server: FakeFxServer;
  let agent: EndpointAgent | undefined;
  let dir: string;

  async function setup(provider: FakeProvider, agentOptions: Partial<EndpointAgentOptions> = {}): Promise<EndpointAgent> {
    server = new FakeFxServer();
    const url = await server.listen();
    agent = await runningAgent(server, url, dir, { name: 'lines', provider, drainTimeoutSeconds: 5, ...agentOptions });
    return agent;
  }

  /** The agent chunks of a task, in the order sent. */
  const agentChunks = (taskId: string): LogChunk[] =>
    server.framesOf('stream').flatMap((f: StreamPayload) => f.logs.filter((c) => c.taskId === taskId && c.stream === 'agent'));
  const agentText = (taskId: string) =>
    agentChunks(taskId)
      .map((c) => c.text)
      .join('');

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-task-lines-'));
  });
  afterEach(async () => {
    await stopAll(agent, server, dir);
    agent = undefined;
  });

  it('streams received, started and finished on the attempt before its result, though the log shows only warnings', async () => {
    const log = recorded('warn');
    await setup(new FakeProvider(1, 'echo', 'w7-123'), { logger: log.logger });
    const task = makeTask('js', '(x) => x', { args: [1], attempt: 2 });
    server.enqueue(task);
    await server.waitFor(() => server.results.has(task.taskId), 'the result');
    const text = agentText(task.taskId);
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO {2}received, queued\n/);
    expect(text).toMatch(/Z INFO {2}started on worker w7-123\n/);
    expect(text).toMatch(/INFO {2}finished: success in \d+ ms on worker w7-123\n$/);
    expect(text.indexOf('received')).toBeLessThan(text.indexOf('started'));
    expect(text.indexOf('started')).toBeLessThan(text.indexOf('finished'));
    const chunks = agentChunks(task.taskId);
    expect(chunks.every((c) => c.attempt === 2)).toBe(true);
    const seqs = chunks.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // everything about the task went before its result, on the same connection
    const frames = server.connections[0]!.frames;
    const lastLine = frames.findLastIndex((f) => f.type === 'stream' && (f.payload as StreamPayload).logs.some((c) => c.taskId === task.taskId));
    const result = frames.findIndex((f) => f.type === 'results');
    expect(lastLine).toBeGreaterThanOrEqual(0);
    expect(lastLine).toBeLessThan(result);
    // the log's level is its own: info lines are not written at warn
    expect(log.records.filter((r) => r.taskId === task.taskId)).toEqual([]);
  });

  it('logs every line with the task id and attempt', async () => {
    const log = recorded('debug');
    await setup(new FakeProvider(1), { logger: log.logger });
    const task = makeTask('js', '(x) => x', { args: [1] });
    server.enqueue(task);
    await server.waitFor(() => server.results.has(task.taskId), 'the result');
    await server.waitFor(() => log.records.some((r) => r.msg === 'result spooled'), 'the spool line');
    const about = log.records.filter((r) => r.taskId === task.taskId);
    expect(about.map((r) => r.msg)).toEqual(
      expect.arrayContaining(['received, queued', 'started', expect.stringMatching(/^finished: success in /), 'result spooled']),
    );
    expect(about.filter((r) => r.msg !== 'result spooled').every((r) => r.attempt === 0)).toBe(true);
  });

  it('says why it refused a task, and hands a lost one back only after saying so', async () => {
    const provider = new FakeProvider(2, 'manual');
    await setup(provider);
    const forged = makeTask('js', '(x) => x', { contentHash: 'f'.repeat(64) });
    const held = makeTask('js', '(x) => x');
    server.enqueue(forged, held);
    await server.waitFor(() => server.results.has(forged.taskId) && provider.isRunning(held.taskId), 'the refusal and the start');
    expect(agentText(forged.taskId)).toMatch(
      /WARN {2}refused: the function's source does not match its content hash f+; refusing to run it code=CONTENT_HASH_MISMATCH\n/,
    );
    expect(agentText(forged.taskId)).toMatch(/finished: failed \(CONTENT_HASH_MISMATCH\) after \d+ ms: /);

    provider.lose(held.taskId, 'block b1 ended');
    await server.waitFor(() => server.framesOf('requeue').length > 0, 'the hand-back');
    expect(agentText(held.taskId)).toMatch(/WARN {2}the task lost its worker \(block b1 ended\); handing it back to be requeued\n$/);
    const frames = server.connections[0]!.frames;
    const line = frames.findLastIndex((f) => f.type === 'stream' && (f.payload as StreamPayload).logs.some((c) => c.taskId === held.taskId));
    expect(line).toBeLessThan(frames.findIndex((f) => f.type === 'requeue'));
  });

  it('says a task was stopped when the drain time ran out, before the agent goes', async () => {
    const provider = new FakeProvider(1, 'manual');
    const a = await setup(provider, { drainTimeoutSeconds: 0.2 });
    const task = makeTask('js', '(x) => x');
    server.enqueue(task);
    await server.waitFor(() => provider.isRunning(task.taskId), 'the start');
    await a.stop();
    expect(agentText(task.taskId)).toMatch(/WARN {2}stopped: the endpoint stopped before the task finished\n/);
  });

  it('streams nothing about a task at level off, and nothing about a speculative copy', async () => {
    const lines = new TaskLines('off');
    const log = recorded('info');
    await setup(new FakeProvider(2), { logger: lines.logger(log.logger), taskLines: lines });
    const task = makeTask('js', '(x) => x');
    server.enqueue(task);
    await server.waitFor(() => server.results.has(task.taskId), 'the result');
    expect(agentChunks(task.taskId)).toEqual([]);
    // the log still has them, at debug: a few lines per task would bury everything else at info
    expect(log.records.filter((r) => r.taskId === task.taskId)).toEqual([]);
    const debug = recorded('debug');
    const quiet = new TaskLines('off').logger(debug.logger);
    quiet.info('received, queued', { taskId: task.taskId });
    quiet.warn('refused: nope', { taskId: task.taskId });
    expect(debug.records.map((r) => [r.msg, r.level])).toEqual([
      ['received, queued', 'debug'],
      ['refused: nope', 'warn'],
    ]);
  });
});

describe('TaskLines', () => {
  const tap = (level: TaskLogLevel) => {
    const lines = new TaskLines(level);
    const got: Array<[string, number | undefined, string]> = [];
    lines.attach((taskId, attempt, text) => got.push([taskId, attempt, text]));
    const log = recorded('error');
    return { logger: lines.logger(log.logger), got, log };
  };

  it('offers lines that carry a task id at its level or above, with the other facts, leaving copies out', () => {
    const { logger, got } = tap('info');
    logger.info('no task here');
    logger.debug('too quiet', { taskId: 't1' });
    logger.info('replacing its worker', { taskId: 't1', worker: 'w0-9', endpointId: 'e' });
    logger.warn('its copy started', { taskId: 't1', attempt: 1, copy: true });
    logger.child({ taskId: 't2', attempt: 3 }).error('bound by a child');
    expect(got.map(([id, attempt, text]) => [id, attempt, text.replace(/^\S+ /, '')])).toEqual([
      ['t1', undefined, 'INFO  replacing its worker worker=w0-9\n'],
      ['t2', 3, 'ERROR bound by a child\n'],
    ]);
  });

  it('offers nothing at off, and passes every line on to the log whatever it offers', () => {
    const { logger, got, log } = tap('off');
    logger.error('failed', { taskId: 't1' });
    expect(got).toEqual([]);
    expect(log.records).toMatchObject([{ msg: 'failed', taskId: 't1', level: 'error' }]);
  });
});

describe('LiveStreams with agent lines', () => {
  const streams = (maxLogCharsPerTask = 1_000, agentLinesFlushMs = 60_000) => {
    const sent: StreamPayload[] = [];
    const session = { live: true, send: (_type: 'stream', payload: StreamPayload) => (sent.push(payload), true) };
    const live = new LiveStreams({ session: session as never, maxLogCharsPerTask, flushIntervalMs: 5, agentLinesFlushMs });
    return { live, sent, session };
  };
  const task = makeTask('js', '(x) => x');

  it('joins consecutive lines into one chunk, keeps seq across the task streams, and sends an ended task on flushEnded', () => {
    const { live, sent } = streams();
    const other = makeTask('js', '(x) => x');
    live.agentLine(other.taskId, 0, 'still running\n');
    live.agentLine(task.taskId, 0, 'a\n');
    live.agentLine(task.taskId, 0, 'b\n');
    live.sink(task).logs([{ stream: 'stdout', text: 'printed\n', at: 1 }]);
    live.agentLine(task.taskId, 0, 'c\n');
    live.finish(task.taskId);
    // ended: a later line of that attempt would come after its result
    live.agentLine(task.taskId, 0, 'late\n');
    expect(sent).toEqual([]);
    live.flushEnded();
    // only the ended task's items: the running one's line waits to go with its next ones
    expect(sent.flatMap((p) => p.logs).map((c) => [c.seq, c.stream, c.text])).toEqual([
      [1, 'agent', 'a\nb\n'],
      [2, 'stdout', 'printed\n'],
      [3, 'agent', 'c\n'],
    ]);
    live.close();
  });

  it("sends a running task's lines with its next printed text, or on their own timer", async () => {
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((r) => setTimeout(r, 5));
    };
    const { live, sent } = streams(1_000, 60_000);
    live.agentLine(task.taskId, 0, 'started\n');
    live.sink(task).logs([{ stream: 'stdout', text: 'printed\n', at: 1 }]);
    // the printed text is due within the flush interval: the line goes with it, in the same frame
    await until(() => sent.length > 0);
    expect(sent.map((p) => p.logs.map((c) => c.text))).toEqual([['started\n', 'printed\n']]);
    live.close();

    const alone = streams(1_000, 20);
    alone.live.agentLine(task.taskId, 0, 'started\n');
    await until(() => alone.sent.length > 0);
    expect(alone.sent.map((p) => p.logs.map((c) => c.text))).toEqual([['started\n']]);
    alone.live.close();
  });

  it('counts lines against the per-task bound, and drops lines of an older attempt', () => {
    const { live, sent } = streams(5);
    live.agentLine(task.taskId, 1, 'abc\n');
    live.agentLine(task.taskId, 1, 'defg\n');
    live.agentLine(task.taskId, 0, 'old\n');
    live.finish(task.taskId);
    live.flushEnded();
    expect(sent[0]!.logs.map((c) => [c.attempt, c.text])).toEqual([[1, 'abc\nd']]);
    expect(sent[0]!.truncated).toEqual([{ taskId: task.taskId, attempt: 1, droppedChars: 4 }]);
    live.close();
  });

  it('drops what is pending while the agent is not connected', () => {
    const { live, sent, session } = streams();
    session.live = false;
    live.agentLine(task.taskId, 0, 'a\n');
    live.finish(task.taskId);
    live.flushEnded();
    session.live = true;
    live.flushEnded();
    expect(sent).toEqual([]);
    live.close();
  });
});

describe('the words of the lines', () => {
  it('names the block and node of a Slurm slot, and says how a task ended', () => {
    expect(startedLine('b1-x/node7/w0')).toEqual({
      line: 'started on worker b1-x/node7/w0 (block b1-x, node node7)',
      fields: { worker: 'b1-x/node7/w0', blockId: 'b1-x', node: 'node7' },
    });
    expect(startedLine('shell').line).toBe('started as a shell process');
    expect(startedLine(undefined).line).toBe('started');
    expect(finishedLine({ status: 'success', result: 1 }, 12_345, 'w0-1')).toBe('finished: success in 12.3 s on worker w0-1');
    expect(
      finishedLine({ status: 'failed', error: { code: 'WALLTIME_EXCEEDED', name: 'WalltimeExceeded', message: 'walltime of 1 s exceeded' } }, 1_002, 'shell'),
    ).toBe('finished: failed (WALLTIME_EXCEEDED) after 1002 ms: walltime of 1 s exceeded');
  });
});

describe('TaskLines text', () => {
  it('is the line formatLogLine writes: the sentence, the facts it does not say, control characters escaped', () => {
    const lines = new TaskLines('debug');
    const got: string[] = [];
    lines.attach((_taskId, _attempt, text) => got.push(text));
    const log = lines.logger(silentLogger);
    const task = { taskId: 't1', attempt: 0 };
    const said: Array<[LogLevel, string, Record<string, unknown>]> = [
      ['info', 'received, queued', {}],
      ['warn', 'started on worker w1-2', { worker: 'w1-2' }],
      ['error', 'the task said \u001b[31mred', {}],
      ['debug', 'with facts', { code: 'A B', n: 2, gone: undefined }],
    ];
    for (const [level, msg, fields] of said) log[level](msg, { ...task, ...fields });
    log.child({ endpointId: 'e1', blockId: 'b1' }).info('bound', task);
    expect(got).toHaveLength(5);
    const expected = [...said.map(([level, msg, fields]) => ({ level, msg, ...fields })), { level: 'info', msg: 'bound', blockId: 'b1' }].map((r, i) =>
      formatLogLine({ time: got[i]!.slice(0, 24), ...r, ...(r.msg === 'started on worker w1-2' ? { worker: undefined } : {}) }),
    );
    expect(got).toEqual(expected);
  });
});
