import {
  MAX_LOG_CHUNK_CHARS,
  type LogStream,
  MAX_PROGRESS_VALUE_BYTES,
  MAX_STREAM_ITEMS,
  type LogChunk,
  type ProgressEvent,
  type StreamPayload,
  type TaskSpec,
} from '@fx/protocol';
import type { LiveSink } from '../providers/provider.js';
import type { WorkerProgress } from '../runtimes/js/js.live.js';
import type { AgentSession } from './agent.session.js';

/** How often the agent sends `stream` frames (at most), all running tasks' items together. */
export const STREAM_FLUSH_MS = 100;
/**
 * How long the agent's own lines may wait (when nothing else of the task is due): a short task's lines
 * then go together, in one chunk, right before its result; a long one's still show within a second.
 */
export const AGENT_LINES_FLUSH_MS = 1_000;
/** About the most log text in one `stream` frame; the rest goes in the next. */
const MAX_FRAME_TEXT_CHARS = 4 * 1024 * 1024;

export interface LiveStreamsOptions {
  session: Pick<AgentSession, 'live' | 'send'>;
  /** Characters of log text sent per task attempt; past it text is dropped and reported `truncated`. */
  maxLogCharsPerTask: number;
  /** @default STREAM_FLUSH_MS */
  flushIntervalMs?: number;
  /** How long the agent's lines may wait when nothing else is due (never less than flushIntervalMs). @default AGENT_LINES_FLUSH_MS */
  agentLinesFlushMs?: number;
}

interface TaskLive {
  taskId: string;
  attempt: number;
  /** The latest value not yet sent, and the seq of the last one sent (coalesced = the emits between). */
  latest?: WorkerProgress;
  sentSeq: number;
  logs: LogChunk[];
  logSeq: number;
  logChars: number;
  dropped: number;
  droppedReported: number;
  /** The task ended here: its pending items still go (then it is forgotten), nothing new is taken. */
  ended?: boolean;
}

/**
 * The live streams of running tasks, coalesced per task and sent as `stream` frames at most every
 * flush interval: only the latest progress value of a task travels (`coalesced` counting the ones it
 * replaced); log text is split into chunks of at most MAX_LOG_CHUNK_CHARS, bounded per task. Live data
 * is not spooled: what comes while the agent is disconnected is dropped. The agent's own lines about a
 * task (TaskLines) join its logs as stream `agent`, under the same bound and seq.
 *
 * The server takes a task's items only while it holds the task's lease, so they must reach it before
 * the task's result (or its hand-back): the outbox calls `flushEnded` before it sends either, one frame
 * for the tasks ending then rather than one per task (and nothing of the tasks still running, whose
 * lines go on waiting to be sent together).
 */
export class LiveStreams {
  private readonly tasks = new Map<string, TaskLive>();
  private readonly pending = new Set<TaskLive>();
  /** Pending states of tasks that ended here: what flushEnded sends. */
  private readonly endedPending = new Set<TaskLive>();
  private timer?: NodeJS.Timeout;
  /** When the timer fires (epoch ms); a sooner due moves it. */
  private timerAt = Infinity;

  constructor(private readonly options: LiveStreamsOptions) {}

  /** Where the provider reports this task's progress and printed text. */
  sink(task: TaskSpec): LiveSink {
    // after the task ended here, what a worker still sends of it is too late to go before its result
    const state = () => this.state(task.taskId, task.attempt);
    return {
      progress: (p) => {
        const s = state();
        if (!s || p.seq <= Math.max(s.sentSeq, s.latest?.seq ?? 0)) return;
        s.latest = p;
        this.due(s);
      },
      logs: (chunks) => {
        const s = state();
        if (!s) return;
        for (const c of chunks) this.addLog(s, c);
        this.due(s);
      },
    };
  }

  /** One of the agent's lines about a task's attempt (TaskLines): a chunk of stream `agent`. */
  agentLine(taskId: string, attempt: number, text: string): void {
    const s = this.state(taskId, attempt);
    if (!s) return;
    this.addLog(s, { stream: 'agent', text, at: Date.now() });
    this.due(s, Math.max(this.flushMs, this.options.agentLinesFlushMs ?? AGENT_LINES_FLUSH_MS));
  }

  /**
   * The task ended here (or was given up): what it has pending goes with the next frame (flushEnded,
   * before its result), then it is forgotten.
   */
  finish(taskId: string): void {
    const s = this.tasks.get(taskId);
    if (!s) return;
    s.ended = true;
    if (this.pending.has(s)) this.endedPending.add(s);
    else this.tasks.delete(taskId);
  }

  /** Sends what ended tasks have pending, now (before a `results` or `requeue` frame: see the class comment). */
  flushEnded(): void {
    while (this.endedPending.size > 0) {
      this.flush(this.endedPending);
      if (!this.options.session.live) return;
    }
  }

  close(): void {
    this.stopTimer();
    this.pending.clear();
    this.endedPending.clear();
    this.tasks.clear();
  }

  private get flushMs(): number {
    return this.options.flushIntervalMs ?? STREAM_FLUSH_MS;
  }

  /** The state of the task's attempt; a new attempt starts afresh; none for an older attempt, or an ended one. */
  private state(taskId: string, attempt: number): TaskLive | undefined {
    let s = this.tasks.get(taskId);
    if (s && (s.attempt > attempt || (s.attempt === attempt && s.ended))) return undefined;
    if (!s || s.attempt !== attempt) {
      s = { taskId, attempt, sentSeq: 0, logs: [], logSeq: 0, logChars: 0, dropped: 0, droppedReported: 0 };
      this.tasks.set(taskId, s);
    }
    return s;
  }

  private addLog(s: TaskLive, c: { stream: LogStream; text: string; at: number }): void {
    let text = c.text;
    const room = this.options.maxLogCharsPerTask - s.logChars;
    if (text.length > room) {
      s.dropped += text.length - Math.max(room, 0);
      text = room > 0 ? text.slice(0, room) : '';
    }
    s.logChars += text.length;
    const last = s.logs.at(-1);
    if (c.stream === 'agent' && last?.stream === 'agent' && last.text.length + text.length <= MAX_LOG_CHUNK_CHARS) {
      // consecutive lines not yet sent travel as one chunk: one stored row, not one per line
      last.text += text;
      return;
    }
    for (let i = 0; i < text.length; i += MAX_LOG_CHUNK_CHARS) {
      s.logs.push({ taskId: s.taskId, attempt: s.attempt, stream: c.stream, seq: ++s.logSeq, at: c.at, text: text.slice(i, i + MAX_LOG_CHUNK_CHARS) });
    }
  }

  /** `s` has something to send: the next frame goes within `delayMs` (sooner if something else is due sooner). */
  private due(s: TaskLive, delayMs = this.flushMs): void {
    this.pending.add(s);
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    this.stopTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.flush(this.pending);
    }, delayMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** One `stream` frame of what these states have pending (what does not fit waits for the next). */
  private flush(states: Set<TaskLive>): void {
    if (states === this.pending) this.stopTimer();
    const { session } = this.options;
    if (!session.live) {
      // live data only: nobody can be shown it later
      for (const s of this.pending) {
        if (s.latest) s.sentSeq = s.latest.seq;
        s.latest = undefined;
        s.logs = [];
        this.forgetEnded(s);
      }
      this.pending.clear();
      this.endedPending.clear();
      this.stopTimer();
      return;
    }
    const payload: StreamPayload = { progress: [], logs: [], truncated: [] };
    let chars = 0;
    for (const s of [...states]) {
      if (s.latest && payload.progress.length < MAX_STREAM_ITEMS) {
        payload.progress.push(progressEvent(s, s.latest));
        s.sentSeq = s.latest.seq;
        s.latest = undefined;
      }
      let taken = 0;
      while (taken < s.logs.length && payload.logs.length < MAX_STREAM_ITEMS && (chars === 0 || chars + s.logs[taken]!.text.length <= MAX_FRAME_TEXT_CHARS)) {
        chars += s.logs[taken]!.text.length;
        payload.logs.push(s.logs[taken]!);
        taken++;
      }
      s.logs = s.logs.slice(taken);
      if (s.dropped > s.droppedReported && payload.truncated.length < MAX_STREAM_ITEMS) {
        payload.truncated.push({ taskId: s.taskId, attempt: s.attempt, droppedChars: s.dropped });
        s.droppedReported = s.dropped;
      }
      if (!s.latest && s.logs.length === 0 && s.dropped === s.droppedReported) {
        this.pending.delete(s);
        this.endedPending.delete(s);
        this.forgetEnded(s);
      }
    }
    if (payload.progress.length + payload.logs.length + payload.truncated.length > 0) session.send('stream', payload);
    if (this.pending.size > 0 && !this.timer) this.due([...this.pending][0]!);
  }

  private forgetEnded(s: TaskLive): void {
    if (s.ended && this.tasks.get(s.taskId) === s) this.tasks.delete(s.taskId);
  }
}

function progressEvent(s: TaskLive, p: WorkerProgress): ProgressEvent {
  let value: unknown;
  try {
    const bytes = Buffer.byteLength(p.json);
    value = bytes > MAX_PROGRESS_VALUE_BYTES ? { $fx: 'progress-too-large', bytes } : JSON.parse(p.json);
  } catch {
    value = null;
  }
  const coalesced = p.seq - s.sentSeq - 1;
  return { taskId: s.taskId, attempt: s.attempt, seq: p.seq, at: p.at, value, ...(coalesced > 0 ? { coalesced } : {}) };
}
