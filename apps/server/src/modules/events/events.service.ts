import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { LogChunk, ProgressEvent, TaskOutcome, TaskStatus } from '@fx/protocol';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import type { OutcomeRow } from '../tasks/tasks.repository.js';
import { visibleCachedFrom, type CachedSourceViewer } from '../tasks/cached-source.js';

/**
 * Everything one replica tells the others, by name. Each event reaches every replica (through Redis
 * pub/sub, or in-process), and each replica acts on the sockets it holds.
 */
export interface ClusterEvents {
  /** Final outcomes, for clients waiting on them. */
  results: { results: Array<TaskOutcome & { ownerId: string }> };
  /**
   * Live items of running tasks, as stored (modules/live): for the sockets watching them. Published on
   * the same channel as 'results', after the items were stored and before the results frame that
   * follows them is recorded, so every replica relays them before it says the task ended.
   */
  live: { progress: Array<ProgressEvent & { ownerId: string }>; logs: Array<LogChunk & { ownerId: string }> };
  /** Tasks were queued for this endpoint: whoever holds its agent should dispatch. */
  wake: { endpointIds: string[] };
  /** Tasks held by this endpoint's agent were cancelled (`copy`: only their speculative copies, or only the originals; see CancelPayload). */
  cancel: { endpointId: string; taskIds: string[]; copy?: boolean };
  /** A group asked for speculation (created with it, or joined by tasks): every replica's speculation sweep looks again each interval. */
  'speculation-asked': { groupId: string };
  /** Speculative copies wait for these endpoints' agents: whoever holds one should send them. */
  speculate: { endpointIds: string[] };
  /** These endpoints became active members of an endpoint group: their idle agents may now steal work (WorkStealingService). */
  'endpoint-groups-joined': { endpointIds: string[] };
  /** The endpoint was deleted: drop its agent. */
  'endpoint-gone': { endpointId: string };
  /** The endpoint's allow-list changed: whoever holds its agent reconnects it, so its welcome carries the new list. */
  'endpoint-reconfigured': { endpointId: string };
  /** These tokens were revoked: every replica closes the sockets opened with them. */
  'tokens-revoked': { tokenIds: string[] };
  /**
   * An agent connection was accepted for this endpoint: every replica closes its other connections of
   * the endpoint (`takeover`: a different agent took over, so the old one is told to stop).
   */
  'agent-replaced': { endpointId: string; keep: string; takeover: boolean; message: string };
  /**
   * For live views (the console): tasks that moved to a non-final state, in the order noted, and
   * endpoints whose row changed. Coalesced: at most one per CONSOLE_COALESCE_MS per replica.
   */
  /** `overflowOwners`: users whose own changes went past their share of a window (their views refetch); `overflow`: everyone's. */
  'console-changes': { tasks: TaskStateGroup[]; endpointIds: string[]; overflow: boolean; overflowOwners?: string[] };
}
export interface TaskStateGroup {
  status: TaskStatus;
  endpointId: string;
  /** Whose tasks: an endpoint group may run one user's tasks on another user's endpoint. */
  ownerId: string;
  ids: string[];
}
/** How long task-state and endpoint changes are gathered before one 'console-changes' publish. */
export const CONSOLE_COALESCE_MS = 250;
/** Past this many buffered task ids a window only says `overflow` (live views then refetch). */
const MAX_BUFFERED_TASK_IDS = 50_000;
/**
 * Past this many of one user's task ids, a window says overflow for that user only and keeps no more of
 * theirs: one user's burst (five 10,000-task batches) must not wipe every other user's console changes.
 */
const MAX_BUFFERED_TASK_IDS_PER_OWNER = 10_000;
type Handler<K extends keyof ClusterEvents> = (payload: ClusterEvents[K]) => void;

const CHANNEL = 'events';
/** Long enough for a subscriber cut off from the broker to have resubscribed. */
const RESUBSCRIBED_MS = 2_000;
/** Every event on the channel starts with its publisher's origin: a uuid, fixed length. */
const ORIGIN_LENGTH = 36;

/**
 * A final outcome for a client. `viewer`: who reads it, for `cachedFrom` (cached-source.ts); by default
 * the task's owner, for the outcomes published to every replica (the sockets of its owner and of admins
 * read the same ones: an admin's socket sees what the owner's does).
 */
export function toOutcome(row: OutcomeRow, viewer: CachedSourceViewer = { userId: row.owner_id, admin: false }): TaskOutcome & { ownerId: string } {
  const source = visibleCachedFrom(row, viewer);
  return {
    taskId: row.id,
    ownerId: row.owner_id,
    status: row.status,
    ...(row.status === 'success' ? (row.result_ref ? { resultRef: row.result_ref } : { result: row.result ?? null }) : {}),
    ...(row.error ? { error: row.error } : {}),
    ...(row.output ? { output: row.output } : {}),
    completedAt: new Date(row.completed_at).toISOString(),
    ...(row.cached_from ? { cached: true as const, ...(source ? { cachedFrom: source } : {}) } : {}),
  };
}

@Injectable()
export class EventsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Events');
  private readonly handlers = new Map<keyof ClusterEvents, Set<Handler<never>>>();
  private unsubscribe?: () => Promise<void>;
  private readonly origin = randomUUID();
  private pendingChanges: {
    tasks: TaskStateGroup[];
    endpointIds: Set<string>;
    taskIds: number;
    overflow: boolean;
    byOwner: Map<string, number>;
    overflowOwners: Set<string>;
  } | null = null;
  private changesTimer?: NodeJS.Timeout;

  constructor(@Inject(BROKER) private readonly broker: Broker) {}

  async onModuleInit(): Promise<void> {
    this.unsubscribe = await this.broker.subscribe(CHANNEL, (raw) => this.dispatch(raw));
  }

  async onModuleDestroy(): Promise<void> {
    clearTimeout(this.changesTimer);
    this.pendingChanges = null;
    await this.unsubscribe?.().catch(() => undefined);
  }

  on<K extends keyof ClusterEvents>(type: K, handler: Handler<K>): void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as Handler<never>);
  }

  /**
   * Events published while this replica's subscriber was cut off from the broker never arrive: after a
   * broker outage, `resync` reads from PostgreSQL what it missed, now and once more when the subscriber
   * has surely resubscribed.
   */
  onMissed(resync: () => Promise<void>): void {
    this.broker.onStateLost(() => {
      void resync();
      setTimeout(() => void resync(), RESUBSCRIBED_MS).unref();
    });
  }

  /**
   * This replica's handlers get the event straight away (on a microtask, so never before publish
   * returns to its caller), without the broker round trip; every replica gets it through the broker,
   * and this one skips its own copy by the origin prefix, before parsing it.
   */
  async publish<K extends keyof ClusterEvents>(type: K, payload: ClusterEvents[K]): Promise<void> {
    const message = this.origin + JSON.stringify({ type, payload });
    queueMicrotask(() => this.deliver(type, payload as never));
    await this.broker.publish(CHANNEL, message);
  }

  async publishOutcomes(rows: OutcomeRow[]): Promise<void> {
    if (rows.length) await this.publish('results', { results: rows.map((r) => toOutcome(r)) });
  }

  async publishEndpointGone(endpointId: string): Promise<void> {
    await this.publish('endpoint-gone', { endpointId });
  }

  async publishEndpointReconfigured(endpointId: string): Promise<void> {
    await this.publish('endpoint-reconfigured', { endpointId });
  }

  /**
   * Notes that these tasks of endpoint `endpointId` moved to `status` (non-final; final outcomes travel
   * in 'results'), with their owners. Cheap enough for the hot path: one group per owner (nearly always
   * one), and one publish per window carries all.
   */
  noteTaskStates(status: TaskStatus, endpointId: string, tasks: ReadonlyArray<{ id: string; owner_id: string }>): void {
    if (tasks.length === 0) return;
    const pending = this.startWindow();
    if (pending.overflow) return;
    const byOwner = new Map<string, string[]>();
    for (const t of tasks) {
      if (pending.overflowOwners.has(t.owner_id)) continue;
      const ids = byOwner.get(t.owner_id);
      if (ids) ids.push(t.id);
      else byOwner.set(t.owner_id, [t.id]);
    }
    for (const [ownerId, ids] of byOwner) {
      const theirs = (pending.byOwner.get(ownerId) ?? 0) + ids.length;
      if (theirs > MAX_BUFFERED_TASK_IDS_PER_OWNER) {
        pending.overflowOwners.add(ownerId);
        pending.taskIds -= theirs - ids.length;
        pending.byOwner.delete(ownerId);
        pending.tasks = pending.tasks.filter((g) => g.ownerId !== ownerId);
        continue;
      }
      pending.byOwner.set(ownerId, theirs);
      pending.taskIds += ids.length;
      pending.tasks.push({ status, endpointId, ownerId, ids });
    }
    if (pending.taskIds > MAX_BUFFERED_TASK_IDS) {
      pending.overflow = true;
      pending.tasks = [];
    }
  }

  /** Notes that an endpoint's row changed (connected, heartbeat, disconnected, locked, unlocked). */
  noteEndpointChanged(endpointId: string): void {
    this.startWindow().endpointIds.add(endpointId);
  }

  private startWindow() {
    if (!this.pendingChanges) {
      this.pendingChanges = { tasks: [], endpointIds: new Set(), taskIds: 0, overflow: false, byOwner: new Map(), overflowOwners: new Set() };
      this.changesTimer = setTimeout(() => this.flushChanges(), CONSOLE_COALESCE_MS);
      this.changesTimer.unref();
    }
    return this.pendingChanges;
  }

  private flushChanges(): void {
    const p = this.pendingChanges;
    this.pendingChanges = null;
    if (!p) return;
    // losing one is harmless (live views refetch after a reconnect), and it happens at shutdown
    const overflowOwners = p.overflow ? [] : [...p.overflowOwners];
    this.publish('console-changes', {
      tasks: p.tasks,
      endpointIds: [...p.endpointIds],
      overflow: p.overflow,
      ...(overflowOwners.length ? { overflowOwners } : {}),
    }).catch((e) => this.logger.debug(`could not publish console changes: ${(e as Error).message}`));
  }

  private dispatch(raw: string): void {
    if (raw.startsWith(this.origin)) return;
    let msg: { type: keyof ClusterEvents; payload: never };
    try {
      msg = JSON.parse(raw.slice(ORIGIN_LENGTH));
    } catch {
      this.logger.warn('dropped an event that is not JSON');
      return;
    }
    this.deliver(msg.type, msg.payload);
  }

  private deliver(type: keyof ClusterEvents, payload: never): void {
    for (const h of this.handlers.get(type) ?? []) {
      try {
        h(payload);
      } catch (e) {
        this.logger.error({ msg: `handler for ${type} failed`, err: e });
      }
    }
  }
}
