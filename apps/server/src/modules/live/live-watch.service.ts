import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { CLIENT_CLOSE, isFinalStatus, WatchPayload, type LogChunk, type ProgressEvent, type TaskStatus, type WatchEndedPayload } from '@fx/protocol';
import { closeReason } from '../../common/close-reason.js';
import type { z } from 'zod';
import { EventsService } from '../events/events.service.js';
import type { ClientSocket } from '../clients/client-socket.js';
import { LiveRepository } from './live.repository.js';

/** A socket may watch this many tasks at once; more is refused with a sentence. */
export const MAX_WATCHES_PER_SOCKET = 100_000;
/**
 * Most stored log chunks, and about the most bytes of their text, one `watch` sends as catch-up (the
 * REST view pages through the rest): a chunk holds up to 64 KiB, and 20,000 of them would be 1.25 GiB
 * read into the server at once. The bytes bound the kept progress values of the catch-up too, apart:
 * 10,000 tasks keep up to 256 KiB each.
 */
const MAX_CATCH_UP_CHUNKS = 20_000;
export const MAX_CATCH_UP_BYTES = 64 * 1024 * 1024;
/**
 * Bytes a watching socket may leave unread (its outbound buffer) before live items stop going to it: it
 * is closed (CLIENT_CLOSE.tooMany), and its SDK reconnects and watches again, catching up from what is
 * stored. A client that watches and never reads would otherwise have every item of every stream frame
 * held for it, on every replica its sockets are on.
 */
export const MAX_UNREAD_LIVE_BYTES = 8 * 1024 * 1024;
/** Most items, and about the most bytes of log text, in one `progress` or `logs` frame. */
const MAX_ITEMS_PER_FRAME = 1_000;
const MAX_FRAME_TEXT_BYTES = 1024 * 1024;

type Ended = WatchEndedPayload['tasks'][number]['status'];
interface Watch {
  progress: boolean;
  logs: boolean;
  /** With `logs`: the agent's lines about the task (stream `agent`) too. */
  agentLogs: boolean;
  /** While the catch-up is read: live items and the end that arrive meanwhile wait here, in order. */
  held?: { progress: ProgressEvent[]; logs: LogChunk[]; ended?: Ended };
}
type ParsedWatch = z.infer<typeof WatchPayload>;

/**
 * Routes live progress and logs (the cluster's `live` event) to the client sockets watching their
 * tasks, then `watch-ended` once the task's final result is published. A watch is registered before
 * its catch-up read, and what arrives meanwhile is held and sent after the catch-up (less what it
 * already held), so nothing slips between the two. Delivery checks ownership itself, like results do.
 */
@Injectable()
export class LiveWatchService implements OnModuleInit {
  private readonly byTask = new Map<string, Map<ClientSocket, Watch>>();
  private readonly bySocket = new Map<ClientSocket, Set<string>>();
  private readonly logger = new Logger('LiveWatch');

  constructor(
    private readonly live: LiveRepository,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.events.on('live', ({ progress, logs }) => this.relay(progress, logs));
    this.events.on('results', ({ results }) => this.ended(results.map((r) => ({ taskId: r.taskId, ownerId: r.ownerId, status: r.status as Ended }))));
    this.events.onMissed(() => this.resync());
  }

  watching(socket: ClientSocket): number {
    return this.bySocket.get(socket)?.size ?? 0;
  }

  async watch(socket: ClientSocket, req: ParsedWatch, frameId?: string): Promise<void> {
    const ids = [...new Set(req.taskIds)];
    for (const id of ids) this.add(socket, id, { progress: req.progress, logs: req.logs, agentLogs: req.agentLogs, held: { progress: [], logs: [] } });
    // whose the tasks are first: nothing else of them is read for a user who may not see them
    const heads = await this.live.states(ids);
    const visible = new Map(heads.filter((h) => h.owner_id === socket.principal.userId || socket.principal.admin).map((h) => [h.id, h]));
    const notFound = ids.filter((id) => !visible.has(id));
    for (const id of notFound) this.remove(socket, id);
    socket.send('watching', { notFound }, frameId);
    const logIds = req.logs ? [...visible.keys()] : [];
    const stored = logIds.length > 0 ? await this.live.logs(logIds, req.logsAfterSeq, MAX_CATCH_UP_CHUNKS, { agent: req.agentLogs }, MAX_CATCH_UP_BYTES) : [];
    const keptIds = req.progress ? [...visible.keys()] : [];
    const keptRows = keptIds.length > 0 ? await this.live.keptProgress(keptIds, MAX_CATCH_UP_BYTES) : [];
    const keptOf = new Map(keptRows.map((r) => [r.id, r.progress]));
    const progress: ProgressEvent[] = [];
    const logs: LogChunk[] = [...stored];
    const ends: WatchEndedPayload['tasks'] = [];
    const seen = new Set([...stored.map((c) => `${c.taskId}/${c.attempt}/${c.seq}`)]);
    for (const head of visible.values()) {
      const watch = this.byTask.get(head.id)?.get(socket);
      if (!watch?.held) continue;
      const kept = keptOf.get(head.id) ?? [];
      progress.push(...kept);
      for (const p of kept) seen.add(`p/${p.taskId}/${p.attempt}/${p.seq}`);
      progress.push(...watch.held.progress.filter((p) => !seen.has(`p/${p.taskId}/${p.attempt}/${p.seq}`)));
      logs.push(...watch.held.logs.filter((c) => !seen.has(`${c.taskId}/${c.attempt}/${c.seq}`)));
      const end = watch.held.ended ?? (isFinalStatus(head.status) ? (head.status as Ended) : undefined);
      watch.held = undefined;
      if (end) {
        ends.push({ taskId: head.id, status: end });
        this.remove(socket, head.id);
      }
    }
    this.sendItems(socket, progress, logs);
    if (ends.length > 0) socket.send('watch-ended', { tasks: ends });
  }

  unwatch(socket: ClientSocket, taskIds: string[]): void {
    for (const id of taskIds) this.remove(socket, id);
  }

  drop(socket: ClientSocket): void {
    for (const id of [...(this.bySocket.get(socket) ?? [])]) this.remove(socket, id);
  }

  private relay(progress: Array<ProgressEvent & { ownerId: string }>, logs: Array<LogChunk & { ownerId: string }>): void {
    const out = new Map<ClientSocket, { progress: ProgressEvent[]; logs: LogChunk[] }>();
    const each = <T extends { taskId: string; ownerId: string; stream?: string }>(
      items: T[],
      kind: 'progress' | 'logs',
      put: (w: Watch, s: ClientSocket, item: Omit<T, 'ownerId'>) => void,
    ) => {
      for (const { ownerId, ...item } of items) {
        for (const [socket, watch] of this.byTask.get(item.taskId) ?? []) {
          if (!watch[kind] || (socket.principal.userId !== ownerId && !socket.principal.admin)) continue;
          // the agent's lines go only to watches that asked for them
          if (item.stream === 'agent' && !watch.agentLogs) continue;
          put(watch, socket, item);
        }
      }
    };
    const bucket = (s: ClientSocket) => {
      let b = out.get(s);
      if (!b) out.set(s, (b = { progress: [], logs: [] }));
      return b;
    };
    each(progress, 'progress', (w, s, item) => (w.held ? w.held.progress : bucket(s).progress).push(item as ProgressEvent));
    each(logs, 'logs', (w, s, item) => (w.held ? w.held.logs : bucket(s).logs).push(item as LogChunk));
    for (const [socket, b] of out) this.sendItems(socket, b.progress, b.logs, true);
  }

  private ended(outcomes: Array<{ taskId: string; ownerId: string; status: Ended }>): void {
    const out = new Map<ClientSocket, WatchEndedPayload['tasks']>();
    for (const { taskId, ownerId, status } of outcomes) {
      const watchers = this.byTask.get(taskId);
      if (!watchers) continue;
      for (const [socket, watch] of [...watchers]) {
        if (socket.principal.userId !== ownerId && !socket.principal.admin) continue;
        if (watch.held) {
          watch.held.ended = status;
          continue;
        }
        let list = out.get(socket);
        if (!list) out.set(socket, (list = []));
        list.push({ taskId, status });
        this.remove(socket, taskId);
      }
    }
    for (const [socket, tasks] of out) socket.send('watch-ended', { tasks });
  }

  private async resync(): Promise<void> {
    const ids = [...this.byTask.keys()];
    try {
      for (let i = 0; i < ids.length; i += 10_000) {
        const heads = await this.live.states(ids.slice(i, i + 10_000));
        this.ended(heads.filter((h) => isFinalStatus(h.status as TaskStatus)).map((h) => ({ taskId: h.id, ownerId: h.owner_id, status: h.status as Ended })));
      }
    } catch (e) {
      this.logger.warn(`could not re-read watched tasks after a broker outage: ${(e as Error).message}`);
    }
  }

  /**
   * Progress first, then logs, each in frames of at most MAX_ITEMS_PER_FRAME items and about
   * MAX_FRAME_TEXT_BYTES. `live` (relayed, not a catch-up): a socket with more than
   * MAX_UNREAD_LIVE_BYTES unread is closed instead, and gets nothing more.
   */
  private sendItems(socket: ClientSocket, progress: ProgressEvent[], logs: LogChunk[], live = false): void {
    const send = (type: 'progress' | 'logs', items: ProgressEvent[] | LogChunk[]): boolean => {
      if (live && socket.ws.bufferedAmount > MAX_UNREAD_LIVE_BYTES) {
        this.overrun(socket);
        return false;
      }
      if (type === 'progress') socket.send('progress', { items: items as ProgressEvent[] });
      else socket.send('logs', { items: items as LogChunk[] });
      return true;
    };
    for (let i = 0; i < progress.length; i += MAX_ITEMS_PER_FRAME) if (!send('progress', progress.slice(i, i + MAX_ITEMS_PER_FRAME))) return;
    let frame: LogChunk[] = [];
    let bytes = 0;
    for (const chunk of logs) {
      if (frame.length > 0 && (frame.length >= MAX_ITEMS_PER_FRAME || bytes + chunk.text.length * 3 > MAX_FRAME_TEXT_BYTES)) {
        if (!send('logs', frame)) return;
        frame = [];
        bytes = 0;
      }
      frame.push(chunk);
      bytes += chunk.text.length * 3;
    }
    if (frame.length > 0) send('logs', frame);
  }

  /** A watching socket that reads too slowly: its watches end here, and it is closed to come back and catch up. */
  private overrun(socket: ClientSocket): void {
    if (!this.bySocket.has(socket)) return;
    this.drop(socket);
    this.logger.warn({
      msg: 'closed a client socket that left live items unread past the bound',
      userId: socket.principal.userId,
      unread: socket.ws.bufferedAmount,
    });
    socket.ws.close(
      CLIENT_CLOSE.tooMany,
      closeReason(`more than ${MAX_UNREAD_LIVE_BYTES} bytes of live progress and logs unread: reconnect and watch again (stored logs are caught up)`),
    );
  }

  private add(socket: ClientSocket, id: string, watch: Watch): void {
    let watchers = this.byTask.get(id);
    if (!watchers) this.byTask.set(id, (watchers = new Map()));
    watchers.set(socket, watch);
    let ids = this.bySocket.get(socket);
    if (!ids) this.bySocket.set(socket, (ids = new Set()));
    ids.add(id);
  }

  private remove(socket: ClientSocket, id: string): void {
    const watchers = this.byTask.get(id);
    watchers?.delete(socket);
    if (watchers?.size === 0) this.byTask.delete(id);
    const ids = this.bySocket.get(socket);
    ids?.delete(id);
    if (ids?.size === 0) this.bySocket.delete(socket);
  }
}
