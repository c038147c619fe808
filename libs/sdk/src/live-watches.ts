import { DEFAULT_LIMITS, type ClientToServer, type LogChunk, type ProgressEvent, type ServerToClient, type WatchEndedPayload } from '@fx/protocol';
import { NotFoundError, type FxError } from './errors.js';

export type WatchEndStatus = WatchEndedPayload['tasks'][number]['status'];

/** Receives one task's live items, each once and in order, then its end (or why there is none). */
export interface LiveListener {
  progress?(event: ProgressEvent): void;
  logs?(chunk: LogChunk): void;
  /** The task is final; nothing more comes. */
  ended(status: WatchEndStatus): void;
  fail(error: FxError): void;
}

/** What a listener wants of its task. */
export interface LiveWants {
  progress: boolean;
  logs: boolean;
  /** With `logs`: the agent's lines about the task (stream `agent`) too. @default false */
  agentLogs?: boolean;
  /** Logs after this seq (of the first attempt seen). */
  afterSeq: number;
}

interface Watched {
  /** Each listener, and whether it wants the agent's lines. */
  listeners: Map<LiveListener, { agentLogs: boolean }>;
  progress: boolean;
  logs: boolean;
  agentLogs: boolean;
  /** The last item delivered, as [attempt, seq]: anything not after it is a repeat (a catch-up after a re-watch). */
  progressAt: [number, number];
  logsAt: [number, number];
}

type Send = <K extends 'watch' | 'unwatch'>(type: K, payload: ClientToServer[K], id: string) => void;
const after = (a: [number, number], attempt: number, seq: number) => attempt > a[0] || (attempt === a[0] && seq > a[1]);

/**
 * The live watches of a result channel (live.ts in @fx/protocol): which tasks are watched and by whom,
 * the `watch` frames that say so (again after every reconnect, logs resuming after the last chunk seen),
 * and the routing of `progress`, `logs` and `watch-ended` frames to listeners, repeats dropped.
 */
export class LiveWatches {
  private readonly tasks = new Map<string, Watched>();
  /** Watch frames not yet answered: the ids they named. */
  private readonly unanswered = new Map<string, string[]>();
  private frameSeq = 0;

  get size(): number {
    return this.tasks.size;
  }

  /** Adds a listener; `send` is called when the channel is open (else the next open watches it). */
  add(taskId: string, listener: LiveListener, wants: LiveWants, send: Send | undefined): () => void {
    let w = this.tasks.get(taskId);
    const before = w ? `${w.progress}/${w.logs}/${w.agentLogs}` : '';
    if (!w) {
      w = { listeners: new Map(), progress: false, logs: false, agentLogs: false, progressAt: [-1, 0], logsAt: [-1, wants.afterSeq] };
      this.tasks.set(taskId, w);
    }
    w.listeners.set(listener, { agentLogs: wants.agentLogs === true });
    w.progress ||= wants.progress;
    w.logs ||= wants.logs;
    w.agentLogs ||= wants.logs && wants.agentLogs === true;
    // a new task, or one whose watch must now carry more: the server replaces the watch (repeats dropped here)
    if (before !== `${w.progress}/${w.logs}/${w.agentLogs}` && send) this.sendWatch(send, [taskId]);
    return () => this.remove(taskId, listener, send);
  }

  /** A socket opened: every watched task is watched on it. */
  opened(send: Send): void {
    this.unanswered.clear();
    this.sendWatch(send, [...this.tasks.keys()]);
  }

  /** Handles a frame of the live kinds; false for other frames. */
  onFrame(type: keyof ServerToClient, payload: unknown, frameId: string | undefined): boolean {
    switch (type) {
      case 'watching': {
        if (frameId !== undefined) this.unanswered.delete(frameId);
        for (const id of (payload as ServerToClient['watching']).notFound) {
          this.failId(id, new NotFoundError('NOT_FOUND', `task ${id} does not exist or is not yours`));
        }
        return true;
      }
      case 'progress':
        for (const item of (payload as ServerToClient['progress']).items) {
          const w = this.advance(item, 'progressAt');
          if (w) for (const l of [...w.listeners.keys()]) l.progress?.(item);
        }
        return true;
      case 'logs':
        for (const item of (payload as ServerToClient['logs']).items) {
          const w = this.advance(item, 'logsAt');
          // one watch serves every listener of the task: the agent's lines reach only those that asked
          if (w) for (const [l, wants] of [...w.listeners]) if (item.stream !== 'agent' || wants.agentLogs) l.logs?.(item);
        }
        return true;
      case 'watch-ended':
        for (const { taskId, status } of (payload as ServerToClient['watch-ended']).tasks) {
          const w = this.tasks.get(taskId);
          this.tasks.delete(taskId);
          for (const l of w?.listeners.keys() ?? []) l.ended(status);
        }
        return true;
      default:
        return false;
    }
  }

  /** An error answered a watch frame: its tasks fail with it. True when the frame was a watch. */
  refused(frameId: string, error: FxError): boolean {
    const ids = this.unanswered.get(frameId);
    if (!ids) return false;
    this.unanswered.delete(frameId);
    for (const id of ids) this.failId(id, error);
    return true;
  }

  failAll(error: FxError): void {
    const all = [...this.tasks.values()];
    this.tasks.clear();
    for (const w of all) for (const l of w.listeners.keys()) l.fail(error);
  }

  /** The watch of the item's task when the item comes after the last one delivered on its stream (now it), else undefined: a repeat. */
  private advance(item: { taskId: string; attempt: number; seq: number }, at: 'progressAt' | 'logsAt'): Watched | undefined {
    const w = this.tasks.get(item.taskId);
    if (!w || !after(w[at], item.attempt, item.seq)) return undefined;
    w[at] = [item.attempt, item.seq];
    return w;
  }

  private remove(taskId: string, listener: LiveListener, send: Send | undefined): void {
    const w = this.tasks.get(taskId);
    if (!w?.listeners.delete(listener) || w.listeners.size > 0) return;
    this.tasks.delete(taskId);
    send?.('unwatch', { taskIds: [taskId] }, `u${++this.frameSeq}`);
  }

  private failId(id: string, error: FxError): void {
    const w = this.tasks.get(id);
    this.tasks.delete(id);
    for (const l of w?.listeners.keys() ?? []) l.fail(error);
  }

  /** One frame per kind of watch; logs resume after the last chunk seen. */
  private sendWatch(send: Send, ids: string[]): void {
    const byKind = new Map<string, string[]>();
    for (const id of ids) {
      const w = this.tasks.get(id);
      if (!w) continue;
      // a new attempt restarts seq: after a reconnect its catch-up starts from 0, repeats dropped here
      const from = w.logsAt[0] <= 0 ? w.logsAt[1] : 0;
      const kind = `${w.progress}/${w.logs}/${w.agentLogs}/${from}`;
      let list = byKind.get(kind);
      if (!list) byKind.set(kind, (list = []));
      list.push(id);
    }
    for (const [kind, list] of byKind) {
      const [progress, logs, agentLogs, from] = kind.split('/');
      for (let i = 0; i < list.length; i += DEFAULT_LIMITS.maxIdsPerRequest) {
        const chunk = list.slice(i, i + DEFAULT_LIMITS.maxIdsPerRequest);
        const id = `w${++this.frameSeq}`;
        this.unanswered.set(id, chunk);
        send(
          'watch',
          { taskIds: chunk, progress: progress === 'true', logs: logs === 'true', logsAfterSeq: Number(from), agentLogs: agentLogs === 'true' },
          id,
        );
      }
    }
  }
}
