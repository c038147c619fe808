import {
  MAX_LOG_CHUNK_CHARS,
  MAX_PROGRESS_VALUE_BYTES,
  MAX_STREAM_ITEMS,
  type LogChunk,
  type ProgressEvent,
  type StreamPayload,
  type TaskSpec,
} from '@fx/protocol';
import type { LiveSink } from '../providers/provider.js';
import type { WorkerLogs, WorkerProgress } from '../runtimes/js/js.live.js';
import type { AgentSession } from './agent.session.js';

/** How often the agent sends `stream` frames (at most), all running tasks' items together. */
export const STREAM_FLUSH_MS = 100;
/** About the most log text in one `stream` frame; the rest goes in the next. */
const MAX_FRAME_TEXT_CHARS = 4 * 1024 * 1024;

export interface LiveStreamsOptions {
  session: Pick<AgentSession, 'live' | 'send'>;
  /** Characters of log text sent per task attempt; past it text is dropped and reported `truncated`. */
  maxLogCharsPerTask: number;
  /** @default STREAM_FLUSH_MS */
  flushIntervalMs?: number;
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
}

/**
 * The live streams of running tasks, coalesced per task and sent as `stream` frames at most every
 * flush interval: only the latest progress value of a task travels (`coalesced` counting the ones it
 * replaced); log text is split into chunks of at most MAX_LOG_CHUNK_CHARS, bounded per task. Live data
 * is not spooled: what comes while the agent is disconnected is dropped. `finish` sends a task's items
 * before its result is handed to the outbox, so they reach the server first.
 */
export class LiveStreams {
  private readonly tasks = new Map<string, TaskLive>();
  private readonly pending = new Set<TaskLive>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: LiveStreamsOptions) {}

  /** Where the provider reports this task's progress and printed text. */
  sink(task: TaskSpec): LiveSink {
    const state = (): TaskLive => {
      let s = this.tasks.get(task.taskId);
      if (!s || s.attempt !== task.attempt) {
        s = { taskId: task.taskId, attempt: task.attempt, sentSeq: 0, logs: [], logSeq: 0, logChars: 0, dropped: 0, droppedReported: 0 };
        this.tasks.set(task.taskId, s);
      }
      return s;
    };
    return {
      progress: (p) => {
        const s = state();
        if (p.seq <= Math.max(s.sentSeq, s.latest?.seq ?? 0)) return;
        s.latest = p;
        this.due(s);
      },
      logs: (chunks) => {
        const s = state();
        for (const c of chunks) this.addLog(s, c);
        this.due(s);
      },
    };
  }

  /** The task ended: what it has pending is sent now, and it is forgotten. */
  finish(taskId: string): void {
    const s = this.tasks.get(taskId);
    if (!s) return;
    while (this.pending.has(s) && this.options.session.live) this.flush();
    this.pending.delete(s);
    this.tasks.delete(taskId);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    this.tasks.clear();
  }

  private addLog(s: TaskLive, c: WorkerLogs): void {
    let text = c.text;
    const room = this.options.maxLogCharsPerTask - s.logChars;
    if (text.length > room) {
      s.dropped += text.length - Math.max(room, 0);
      text = room > 0 ? text.slice(0, room) : '';
    }
    s.logChars += text.length;
    for (let i = 0; i < text.length; i += MAX_LOG_CHUNK_CHARS) {
      s.logs.push({ taskId: s.taskId, attempt: s.attempt, stream: c.stream, seq: ++s.logSeq, at: c.at, text: text.slice(i, i + MAX_LOG_CHUNK_CHARS) });
    }
  }

  private due(s: TaskLive): void {
    this.pending.add(s);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.options.flushIntervalMs ?? STREAM_FLUSH_MS);
    this.timer.unref();
  }

  /** One `stream` frame of what is pending (what does not fit waits for the next). */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const { session } = this.options;
    if (!session.live) {
      // live data only: nobody can be shown it later
      for (const s of this.pending) {
        if (s.latest) s.sentSeq = s.latest.seq;
        s.latest = undefined;
        s.logs = [];
      }
      this.pending.clear();
      return;
    }
    const payload: StreamPayload = { progress: [], logs: [], truncated: [] };
    let chars = 0;
    for (const s of [...this.pending]) {
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
      if (!s.latest && s.logs.length === 0 && s.dropped === s.droppedReported) this.pending.delete(s);
    }
    if (payload.progress.length + payload.logs.length + payload.truncated.length > 0) session.send('stream', payload);
    if (this.pending.size > 0) this.due([...this.pending][0]!);
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
