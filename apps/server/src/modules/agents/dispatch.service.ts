import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { FunctionSpec, TaskSpec } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { TasksRepository, type DispatchedRow } from '../tasks/tasks.repository.js';
import { EventsService } from '../tasks/events.service.js';
import { FunctionsRepository } from '../functions/functions.repository.js';
import { EndpointConnection } from './endpoint-connection.js';

const FUNCTION_CACHE_MAX = 10_000;

/**
 * Pushes queued tasks to the agents connected to this replica, never more than the credits they
 * granted, in frames of up to FX_MAX_TASKS_PER_FRAME. Woken by enqueues (a cluster event) and by new
 * credits; it never polls.
 */
@Injectable()
export class DispatchService implements OnModuleInit {
  private readonly logger = new Logger('Dispatch');
  /** This replica's name as a broker consumer: its delivery leases are reclaimed if it dies. */
  readonly consumerId = `replica-${randomUUID()}`;
  private readonly connections = new Map<string, EndpointConnection>();
  // Functions never change once registered (a new version is a new id), so caching is safe.
  private readonly functionCache = new Map<string, FunctionSpec>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER) private readonly broker: Broker,
    private readonly tasks: TasksRepository,
    private readonly functions: FunctionsRepository,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.events.on('wake', ({ endpointIds }) => {
      for (const id of endpointIds) {
        const conn = this.connections.get(id);
        if (conn) void this.pump(conn);
      }
    });
    this.events.on('cancel', ({ endpointId, taskIds }) => this.connections.get(endpointId)?.send('cancel', { taskIds }));
    this.events.on('endpoint-gone', ({ endpointId }) => {
      const conn = this.connections.get(endpointId);
      conn?.send('error', { code: 'ENDPOINT_DELETED', message: `endpoint ${endpointId} was deleted` });
      conn?.ws.close(4404, 'endpoint deleted');
    });
  }

  /** The connection replaced for the same endpoint, if any (one agent per endpoint). */
  attach(conn: EndpointConnection): EndpointConnection | undefined {
    const previous = this.connections.get(conn.endpointId);
    this.connections.set(conn.endpointId, conn);
    return previous;
  }

  /** The connection of this endpoint's agent on this replica, if any. */
  current(endpointId: string): EndpointConnection | undefined {
    return this.connections.get(endpointId);
  }

  detach(conn: EndpointConnection): boolean {
    if (this.connections.get(conn.endpointId) !== conn) return false;
    this.connections.delete(conn.endpointId);
    return true;
  }

  all(): IterableIterator<EndpointConnection> {
    return this.connections.values();
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
          if (sent < 0) break;
        }
      } while (conn.dispatchAgain && conn.open);
    } catch (e) {
      this.logger.error(`dispatch to endpoint ${conn.endpointId} failed; retrying shortly: ${(e as Error).message}`);
      // a repair path, not polling: only after a failure, and only until the next success
      setTimeout(() => void this.pump(conn), 1_000).unref();
    } finally {
      conn.dispatching = false;
    }
  }

  /** Claims, leases in PostgreSQL, settles the claim, sends. Returns tasks sent, or -1 when the queue is empty. */
  private async sendOneFrame(conn: EndpointConnection): Promise<number> {
    const max = Math.min(conn.credits, this.config.FX_MAX_TASKS_PER_FRAME);
    const ids = await this.broker.claim(conn.endpointId, this.consumerId, max);
    if (ids.length === 0) return -1;
    const rows = await this.tasks.markDispatched(conn.endpointId, ids, conn.id, this.config.FX_HEARTBEAT_TIMEOUT_MS);
    if (rows.length === 0) {
      await this.broker.settle(conn.endpointId, ids);
      return 0;
    }
    this.events.noteTaskStates('dispatched', conn.endpointId, rows.map((r) => r.id));
    const specs = await this.toSpecs(rows);
    conn.credits -= specs.length;
    // Sent before the claim is settled: PostgreSQL holds the lease now, and a settle that fails only
    // leaves a claim that reclaimStale requeues and markDispatched then skips.
    conn.send('tasks', { tasks: specs });
    await this.broker.settle(conn.endpointId, ids);
    return specs.length;
  }

  private async toSpecs(rows: DispatchedRow[]): Promise<TaskSpec[]> {
    const missing = [...new Set(rows.map((r) => r.function_id))].filter((id) => !this.functionCache.has(id));
    if (missing.length) {
      if (this.functionCache.size + missing.length > FUNCTION_CACHE_MAX) this.functionCache.clear();
      for (const f of await this.functions.findManyAny(missing)) {
        this.functionCache.set(f.id, {
          id: f.id,
          runtime: f.runtime === 'shell' || f.runtime === 'mpi' ? f.runtime : 'js',
          source: f.source,
          contentHash: f.contentHash,
          ...(f.walltimeSeconds ? { walltimeSeconds: f.walltimeSeconds } : {}),
        });
      }
    }
    return rows.map((r) => ({
      taskId: r.id,
      attempt: r.attempt,
      function: this.functionCache.get(r.function_id)!,
      args: r.args,
      kwargs: r.kwargs,
      ...(r.resources ? { resources: r.resources } : {}),
    }));
  }
}
