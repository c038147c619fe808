import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_LIMITS,
  DEFAULT_TASK_PRIORITY,
  ENDPOINT_CLOSE,
  FunctionSpecCache,
  PROTOCOL_VERSION,
  functionsOf,
  toFunctionRuntime,
  type DispatchedTask,
  type FunctionSpec,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { EventsService } from '../events/events.service.js';
import { FunctionsRepository } from '../functions/functions.repository.js';
import { LeaseService } from '../leases/lease.service.js';
import type { DispatchedRow } from '../leases/leases.repository.js';
import { CopiesRepository } from '../speculation/copies.repository.js';
import { WorkStealingService } from '../endpoint-groups/work-stealing.service.js';
import { EndpointRoutingService } from '../endpoint-groups/endpoint-routing.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { QueueService } from '../tasks/queue.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import { EndpointConnection } from './endpoint-connection.js';
import { leaseGranted } from './liveness-cadence.js';

/** Functions this replica keeps loaded for dispatch (immutable once registered, so never stale). */
const FUNCTION_CACHE = { maxEntries: 10_000, maxSourceChars: 256 * 1024 * 1024 };
/**
 * Before a connection's first claim its tasks' size is unknown: assume large ones (a 32nd of a frame),
 * so that a first claim of big tasks stays small in memory.
 */
const INITIAL_TASKS_PER_FRAME = 32;
const MIN_TASK_BYTES = 256;
const FRAME_OVERHEAD_BYTES = 128;
/**
 * An idle member of an endpoint group that found nothing to steal looks again after this long even when
 * nothing is queued in its groups: the repair path for backlogs that grew without an enqueue (a member's
 * agent slowing down) or on a replica whose wake this one missed.
 */
const STEAL_RETRY_MS = 3_000;

/**
 * Pushes queued tasks to the agents connected to this replica, never more than the credits they
 * granted, in frames of up to FX_MAX_TASKS_PER_FRAME tasks and half the frame limit in bytes. Woken by enqueues (a cluster event) and by new
 * credits; it never polls.
 */
@Injectable()
export class DispatchService implements OnModuleInit {
  private readonly logger = new Logger('Dispatch');
  /** This replica's name as a broker consumer: its delivery leases are reclaimed if it dies. */
  readonly consumerId = `replica-${randomUUID()}`;
  // Functions never change once registered (a new version is a new id), so caching is safe.
  private readonly functionCache = new FunctionSpecCache(FUNCTION_CACHE);
  /** Per connection: the functions it has been sent (their specs are not sent again while there). */
  private readonly sentFunctions = new WeakMap<EndpointConnection, FunctionSpecCache>();
  /** Per connection: the largest encoded task of its last claim, to size the next claim by bytes. */
  private readonly taskBytes = new WeakMap<EndpointConnection, number>();
  /**
   * Bytes per `tasks` frame: half of the smaller of the agent's frame limit (the protocol default it
   * dials with) and the server's own, leaving room for the frame's envelope and for JSON escapes.
   */
  private readonly frameBudget: number;

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<AppConfig, 'FX_MAX_FRAME_BYTES' | 'FX_MAX_TASKS_PER_FRAME' | 'FX_HEARTBEAT_INTERVAL_MS' | 'FX_HEARTBEAT_TIMEOUT_MS'>,
    @Inject(BROKER) private readonly broker: Broker,
    private readonly leases: LeaseService,
    private readonly functions: FunctionsRepository,
    private readonly events: EventsService,
    private readonly connections: ConnectionRegistry,
    private readonly copies: CopiesRepository,
    private readonly stealing: WorkStealingService,
    private readonly metrics: MetricsService,
    private readonly queue: QueueService,
    private readonly routing: EndpointRoutingService,
  ) {
    this.frameBudget = Math.floor(Math.min(config.FX_MAX_FRAME_BYTES, DEFAULT_LIMITS.maxFrameBytes) / 2);
  }

  onModuleInit(): void {
    this.queue.onQueued((endpointIds) => this.queued(endpointIds));
    this.events.on('wake', ({ endpointIds }) => {
      // from any replica: tasks joined these queues
      this.queued(endpointIds);
      for (const id of endpointIds) {
        const conn = this.connections.current(id);
        if (conn) void this.pump(conn);
      }
      void this.wakeThieves(endpointIds).catch((e: Error) => this.logger.error({ msg: `waking idle group members failed: ${e.message}` }));
    });
    this.events.on('cancel', ({ endpointId, taskIds, copy }) =>
      this.connections.current(endpointId)?.send('cancel', { taskIds, ...(copy !== undefined ? { copy } : {}) }),
    );
    this.events.on('speculate', ({ endpointIds }) => {
      for (const id of endpointIds) {
        const conn = this.connections.current(id);
        if (conn) void this.sendCopies(conn).catch((e: Error) => this.logger.error({ msg: `sending speculative copies failed: ${e.message}`, endpointId: id }));
      }
    });
    this.events.on('endpoint-groups-joined', ({ endpointIds }) => {
      this.stealing.forget(endpointIds);
      for (const id of endpointIds) {
        const conn = this.connections.current(id);
        if (!conn) continue;
        conn.queueSeq++;
        conn.stealQuiet = false;
        void this.pump(conn);
      }
    });
    this.events.on('endpoint-gone', ({ endpointId }) => {
      const conn = this.connections.current(endpointId);
      conn?.send('error', { code: 'ENDPOINT_DELETED', message: `endpoint ${endpointId} was deleted` });
      conn?.ws.close(ENDPOINT_CLOSE.gone, 'endpoint deleted');
    });
    this.events.on('endpoint-reconfigured', ({ endpointId }) => {
      this.connections.current(endpointId)?.ws.close(ENDPOINT_CLOSE.reconfigured, 'endpoint settings changed: reconnect');
    });
  }

  /** Tasks may have joined these endpoints' queues: what a claim found before says nothing any more (EndpointConnection.queueSeq). */
  private queued(endpointIds: string[]): void {
    for (const id of endpointIds) {
      const conn = this.connections.current(id);
      if (conn) conn.queueSeq++;
    }
  }

  grant(conn: EndpointConnection, credits: number): void {
    conn.credits = Math.min(conn.credits + credits, 1_000_000);
    void this.pump(conn);
  }

  async pump(conn: EndpointConnection): Promise<void> {
    if (conn.dispatching) {
      conn.dispatchAgain = true;
      return;
    }
    conn.dispatching = true;
    try {
      do {
        conn.dispatchAgain = false;
        while (conn.open && conn.credits > 0) {
          const sent = await this.sendOneFrame(conn);
          if (sent < 0 && !(await this.steal(conn))) break;
        }
      } while (conn.dispatchAgain && conn.open);
    } catch (e) {
      this.logger.error({ msg: `dispatch failed; retrying shortly: ${(e as Error).message}`, endpointId: conn.endpointId, connId: conn.id });
      // a repair path, not polling: only after a failure, and only until the next success
      setTimeout(() => void this.pump(conn), 1_000).unref();
    } finally {
      conn.dispatching = false;
    }
  }

  /**
   * Its queue is empty and it has credits: takes waiting tasks from the other members of its endpoint
   * groups onto its queue (WorkStealingService). True when it took some. Finding none, it stays quiet
   * until something is queued in one of its groups (wakeThieves) or STEAL_RETRY_MS pass, so an idle
   * agent costs one look per enqueue in its groups, not one per pump; an endpoint in no group costs a
   * cached membership check.
   */
  private async steal(conn: EndpointConnection): Promise<boolean> {
    if (conn.stealQuiet) return false;
    const outcome = await this.stealing.steal(conn.endpointId, conn.credits);
    if (typeof outcome === 'object') return true;
    if (outcome === 'busy') conn.stealBusy = true;
    if (outcome !== 'nothing') return false;
    conn.stealQuiet = true;
    conn.stealRetry ??= setTimeout(() => {
      conn.stealRetry = undefined;
      conn.stealQuiet = false;
      if (conn.open && conn.credits > 0) void this.pump(conn);
    }, STEAL_RETRY_MS).unref();
    return false;
  }

  /** Tasks were queued on these endpoints: the quiet, idle members of their groups on this replica look again. */
  private async wakeThieves(endpointIds: string[]): Promise<void> {
    const quiet = [...this.connections.all()].filter((c) => c.stealQuiet && c.open && c.credits > 0);
    if (quiet.length === 0) return;
    const groups = await this.stealing.groupsOf([...endpointIds, ...quiet.map((c) => c.endpointId)]);
    const woken = new Set(endpointIds.flatMap((id) => groups.get(id) ?? []));
    if (woken.size === 0) return;
    for (const conn of quiet)
      if ((groups.get(conn.endpointId) ?? []).some((g) => woken.has(g))) {
        conn.stealQuiet = false;
        void this.pump(conn);
      }
  }

  /**
   * Claims, leases in PostgreSQL, settles the claim, sends. Returns tasks sent, or -1 when the queue is
   * empty. The claim is sized by bytes as well as by count (from the largest task of this connection's
   * previous claim), and what was claimed goes out in as many frames as the byte budget needs.
   */
  private async sendOneFrame(conn: EndpointConnection): Promise<number> {
    const byBytes = Math.max(1, Math.floor(this.frameBudget / (this.taskBytes.get(conn) ?? this.frameBudget / INITIAL_TASKS_PER_FRAME)));
    const max = Math.min(conn.credits, this.config.FX_MAX_TASKS_PER_FRAME, byBytes);
    const seq = conn.queueSeq;
    const ids = await this.broker.claim(conn.endpointId, this.consumerId, max);
    if (ids.length === 0) {
      conn.emptyAt = seq;
      return -1;
    }
    const rows = await this.leases.grant(conn, ids);
    // another user's task of a group that reached an owner-only agent's queue anyway (routed on another
    // replica as it connected): not leased; it goes to a member that may run it
    if (conn.onlyOwner && rows.length < ids.length) void this.routing.rehomeForeign(conn.endpointId, conn.onlyOwner);
    if (rows.length === 0) {
      await this.broker.settle(conn.endpointId, ids);
      return 0;
    }
    // Sent before the claim is settled: PostgreSQL holds the lease now, and a settle that fails only
    // leaves a claim that reclaimStale requeues and the lease grant then skips.
    this.sendLeased(conn, rows, await this.loadFunctions(rows), true);
    await this.broker.settle(conn.endpointId, ids);
    return rows.length;
  }

  /**
   * Sends tasks leased to this connection (their functions loaded: loadFunctions) and notes them
   * dispatched; `takeCredits`: they use its credits now (the lease in the insert took them before).
   */
  sendLeased(conn: EndpointConnection, rows: DispatchedRow[], functions: Map<string, FunctionSpec>, takeCredits: boolean): void {
    const frames = this.toFrames(conn, rows, functions);
    leaseGranted(conn, this.config);
    this.events.noteTaskStates('dispatched', conn.endpointId, rows);
    if (takeCredits) conn.credits -= rows.length;
    conn.sendEncoded('tasks', frames);
    this.metrics.dispatched(rows.map((r) => ({ runtime: functions.get(r.function_id)?.runtime ?? 'js', waitedSeconds: r.waited_seconds ?? null })));
  }

  /**
   * Speculative copies waiting for this endpoint: leased to this connection and sent as copies (the
   * agent runs them ahead of its queue, on another worker than their originals). They use no credits:
   * a copy is a second attempt of a task the agent was given already, and there are few.
   */
  async sendCopies(conn: EndpointConnection): Promise<number> {
    if (!conn.open) return 0;
    const rows = await this.copies.grant(conn.endpointId, conn.id, this.config.FX_HEARTBEAT_TIMEOUT_MS, this.config.FX_MAX_TASKS_PER_FRAME);
    if (rows.length === 0) return 0;
    leaseGranted(conn, this.config);
    conn.sendEncoded('tasks', this.toFrames(conn, rows, await this.loadFunctions(rows), true));
    return rows.length;
  }

  /** The functions of these rows, from this replica's cache or else read (one statement). */
  async loadFunctions(rows: ReadonlyArray<Pick<DispatchedRow, 'function_id'>>): Promise<Map<string, FunctionSpec>> {
    const wanted = [...new Set(rows.map((r) => r.function_id))];
    const found = new Map<string, FunctionSpec>();
    const missing: string[] = [];
    for (const id of wanted) {
      const spec = this.functionCache.get(id);
      if (spec) {
        found.set(id, spec);
        this.functionCache.use(spec);
      } else missing.push(id);
    }
    if (missing.length) {
      for (const f of await this.functions.findManyAny(missing)) {
        const spec: FunctionSpec = {
          id: f.id,
          runtime: toFunctionRuntime(f.runtime),
          source: f.source,
          ...(f.entrypoint !== null ? { entrypoint: f.entrypoint } : {}),
          ...(f.failOnNonZeroExit ? { failOnNonZeroExit: true } : {}),
          ...(f.progressPrefix !== null ? { progressPrefix: f.progressPrefix } : {}),
          contentHash: f.contentHash,
          ...(f.walltimeSeconds ? { walltimeSeconds: f.walltimeSeconds } : {}),
          ownerId: f.ownerId,
        };
        found.set(f.id, spec);
        this.functionCache.use(spec);
      }
    }
    return found;
  }

  /**
   * Encoded `tasks` frames for these rows, each under the byte budget (one task always goes, however
   * large: a task is bounded by FX_MAX_REQUEST_BYTES). A function's spec rides along only in the first
   * frame that needs it on this connection; the agent keeps it (FunctionSpecCache, same rule both sides).
   */
  private toFrames(conn: EndpointConnection, rows: DispatchedRow[], functions: Map<string, FunctionSpec>, copies = false): string[] {
    let sent = this.sentFunctions.get(conn);
    if (!sent) this.sentFunctions.set(conn, (sent = new FunctionSpecCache()));
    const frames: string[] = [];
    let tasks: string[] = [];
    let fns: string[] = [];
    let fnIds = new Set<string>();
    let taskFnIds: string[] = [];
    let bytes = FRAME_OVERHEAD_BYTES;
    let largest = 0;
    const flush = () => {
      frames.push(`{"v":${PROTOCOL_VERSION},"type":"tasks","payload":{"functions":[${fns.join(',')}],"tasks":[${tasks.join(',')}]}}`);
      for (const id of functionsOf(taskFnIds.map((functionId) => ({ functionId })))) sent.use(functions.get(id)!);
      tasks = [];
      fns = [];
      fnIds = new Set();
      taskFnIds = [];
      bytes = FRAME_OVERHEAD_BYTES;
    };
    for (const r of rows) {
      const spec = functions.get(r.function_id);
      if (!spec) throw new Error(`function ${r.function_id} of task ${r.id} was not found`);
      const task: DispatchedTask = {
        taskId: r.id,
        attempt: r.attempt,
        functionId: r.function_id,
        args: r.args,
        kwargs: r.kwargs,
        ...(r.pickled_args ? { pickledArgs: r.pickled_args } : {}),
        ...(r.resources ? { resources: r.resources } : {}),
        ownerId: r.owner_id,
        ...(r.priority !== DEFAULT_TASK_PRIORITY ? { priority: r.priority } : {}),
        ...(r.output_name ? { outputName: r.output_name } : {}),
        ...(r.objects?.length ? { objects: r.objects } : {}),
        ...(copies ? { copy: true as const } : {}),
      };
      const taskJson = JSON.stringify(task);
      const taskBytes = Buffer.byteLength(taskJson) + 1;
      largest = Math.max(largest, taskBytes);
      let fnJson = sent.has(spec.id) || fnIds.has(spec.id) ? null : JSON.stringify(spec);
      if (tasks.length > 0 && bytes + taskBytes + (fnJson ? Buffer.byteLength(fnJson) : 0) > this.frameBudget) {
        flush();
        fnJson = sent.has(spec.id) ? null : (fnJson ?? JSON.stringify(spec));
      }
      if (fnJson) {
        fns.push(fnJson);
        fnIds.add(spec.id);
        bytes += Buffer.byteLength(fnJson) + 1;
      }
      tasks.push(taskJson);
      taskFnIds.push(spec.id);
      bytes += taskBytes;
    }
    flush();
    this.taskBytes.set(conn, Math.max(largest, MIN_TASK_BYTES));
    return frames;
  }
}
