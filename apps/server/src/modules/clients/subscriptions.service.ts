import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { isFinalStatus, type TaskOutcome, type TaskStatus } from '@fx/protocol';
import { drained } from '../../common/inbound-budget.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { EventsService, toOutcome } from '../events/events.service.js';
import type { ClientSocket } from './client-socket.js';

const MAX_RESULTS_PER_FRAME = 500;
/**
 * Most bytes of results in one frame (the SDK reads frames up to RESULT_FRAME_MAX_BYTES in
 * @fx/protocol). A single result larger than this still goes, alone in its frame.
 */
const MAX_RESULT_FRAME_BYTES = 16 * 1024 * 1024;
/**
 * Bytes a socket may have waiting to go out before its catch-up replay stops until it has drained: a
 * client that subscribes to large finished results and reads nothing holds at most this and one frame.
 */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A socket may wait on this many tasks at once; more is refused with a sentence. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 1_000_000;

/**
 * Routes final outcomes to the sockets waiting for them. A subscription is registered before the
 * catch-up read, so a result recorded in between is either read or pushed: never missed. Registering
 * before the ownership check is safe because delivery itself checks ownership: an outcome reaches a
 * socket only when its user owns the task or is an admin, whatever ids the socket named.
 */
@Injectable()
export class SubscriptionsService implements OnModuleInit {
  private readonly byTask = new Map<string, Set<ClientSocket>>();

  private readonly logger = new Logger('Subscriptions');

  constructor(
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.events.on('results', ({ results }) => this.deliver(results));
    this.events.onMissed(() => this.resync());
  }

  /** Delivers every outcome that is final in PostgreSQL to the sockets still waiting for it. */
  async resync(): Promise<void> {
    const ids = [...this.byTask.keys()];
    try {
      for (let i = 0; i < ids.length; i += 10_000) {
        const rows = await this.tasks.findOutcomes(ids.slice(i, i + 10_000));
        this.deliver(
          rows
            .filter((r) => isFinalStatus(r.status as TaskStatus) && 'completed_at' in r && r.completed_at)
            .map((r) => toOutcome(r as Parameters<typeof toOutcome>[0])),
        );
      }
    } catch (e) {
      this.logger.warn(`could not re-read outcomes after a broker outage: ${(e as Error).message}`);
    }
  }

  /**
   * Subscribes the socket to these ids; returns those it may not see (or that do not exist) and the
   * final ones, with their outcomes' sizes, for `replay`. Only the heads are read here: the outcomes of
   * up to 10,000 final tasks may be gigabytes.
   */
  async subscribe(socket: ClientSocket, taskIds: string[]): Promise<{ notFound: string[]; ready: Array<{ id: string; bytes: number }> }> {
    const fresh = [...new Set(taskIds)];
    for (const id of fresh) this.add(socket, id);
    const rows = await this.tasks.findResultHeads(fresh);
    const visible = new Map(rows.filter((r) => r.owner_id === socket.principal.userId || socket.principal.admin).map((r) => [r.id, r]));
    const notFound = fresh.filter((id) => !visible.has(id));
    for (const id of notFound) this.remove(socket, id);
    const ready: Array<{ id: string; bytes: number }> = [];
    for (const row of visible.values()) {
      if (isFinalStatus(row.status as TaskStatus)) {
        ready.push({ id: row.id, bytes: row.bytes ?? 0 });
        this.remove(socket, row.id);
      }
    }
    return { notFound, ready };
  }

  /**
   * Sends the outcomes of these final tasks (subscribe's `ready`), read a frame's worth at a time, each
   * read only once the socket has drained to MAX_BUFFERED_BYTES: never more than a frame in memory for a
   * client that does not read. Stops when the socket closes.
   */
  async replay(socket: ClientSocket, ready: ReadonlyArray<{ id: string; bytes: number }>): Promise<void> {
    let chunk: string[] = [];
    let bytes = 0;
    const flush = async () => {
      const ids = chunk;
      chunk = [];
      bytes = 0;
      if (ids.length === 0) return;
      await drained(socket.ws, MAX_BUFFERED_BYTES);
      if (socket.ws.readyState !== socket.ws.OPEN) return;
      const rows = await this.tasks.findOutcomes(ids);
      const outcomes: TaskOutcome[] = [];
      for (const row of rows) {
        if (!isFinalStatus(row.status as TaskStatus) || !('completed_at' in row)) continue;
        const { ownerId: _o, ...outcome } = toOutcome(row, socket.principal);
        outcomes.push(outcome);
      }
      this.send(socket, outcomes);
    };
    for (const r of ready) {
      if (chunk.length && (chunk.length >= MAX_RESULTS_PER_FRAME || bytes + r.bytes > MAX_RESULT_FRAME_BYTES)) await flush();
      chunk.push(r.id);
      bytes += r.bytes;
    }
    await flush();
  }

  /**
   * Watches tasks this socket's user has just submitted, committed and not yet queued (SocketSubmitService):
   * theirs, and none can be final yet, so there is nothing to check or read.
   */
  watchNew(socket: ClientSocket, taskIds: string[]): void {
    for (const id of taskIds) this.add(socket, id);
  }

  unsubscribe(socket: ClientSocket, taskIds: string[]): void {
    for (const id of taskIds) this.remove(socket, id);
  }

  drop(socket: ClientSocket): void {
    for (const id of socket.taskIds) this.byTask.get(id)?.delete(socket);
    for (const id of socket.taskIds) if (this.byTask.get(id)?.size === 0) this.byTask.delete(id);
    socket.taskIds.clear();
  }

  /** Frames of at most MAX_RESULTS_PER_FRAME results and MAX_RESULT_FRAME_BYTES (but at least one result). */
  send(socket: ClientSocket, outcomes: TaskOutcome[]): void {
    let frame: TaskOutcome[] = [];
    let bytes = 0;
    const flush = () => {
      if (frame.length) socket.send('result', { results: frame });
      frame = [];
      bytes = 0;
    };
    for (const outcome of outcomes) {
      if (socket.ws.readyState !== socket.ws.OPEN) return;
      const size = outcomeBytes(outcome);
      if (frame.length && (frame.length >= MAX_RESULTS_PER_FRAME || bytes + size > MAX_RESULT_FRAME_BYTES)) flush();
      frame.push(outcome);
      bytes += size;
    }
    flush();
  }

  private deliver(results: Array<TaskOutcome & { ownerId: string }>): void {
    const perSocket = new Map<ClientSocket, TaskOutcome[]>();
    for (const { ownerId, ...outcome } of results) {
      const sockets = this.byTask.get(outcome.taskId);
      if (!sockets) continue;
      for (const s of sockets) {
        // another user's task: never delivered, and the subscription (which should not exist) stays inert
        if (s.principal.userId !== ownerId && !s.principal.admin) continue;
        let list = perSocket.get(s);
        if (!list) perSocket.set(s, (list = []));
        list.push(outcome);
      }
      for (const s of [...sockets]) if (s.principal.userId === ownerId || s.principal.admin) this.remove(s, outcome.taskId);
    }
    for (const [socket, outcomes] of perSocket) this.send(socket, outcomes);
  }

  private add(socket: ClientSocket, id: string): void {
    let set = this.byTask.get(id);
    if (!set) this.byTask.set(id, (set = new Set()));
    set.add(socket);
    socket.taskIds.add(id);
  }

  private remove(socket: ClientSocket, id: string): void {
    const set = this.byTask.get(id);
    set?.delete(socket);
    if (set?.size === 0) this.byTask.delete(id);
    socket.taskIds.delete(id);
  }
}

/** An outcome's size in a frame: a result's JSON dominates, the rest is small (errors are bounded). */
function outcomeBytes(o: TaskOutcome): number {
  let n = 256;
  if (o.result !== undefined) n += Buffer.byteLength(JSON.stringify(o.result) ?? 'null');
  if (o.error) n += Buffer.byteLength(o.error.message) + Buffer.byteLength(o.error.stack ?? '') + o.error.name.length;
  return n;
}
