import { Inject, Injectable, Logger } from '@nestjs/common';
import { DEFAULT_TASK_PRIORITY, type FunctionSpec } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { LeaseService } from '../leases/lease.service.js';
import type { DispatchedRow } from '../leases/leases.repository.js';
import type { NewTask } from '../tasks/tasks.repository.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import { directGrants, type DirectGrant } from './direct-lease.js';
import { DispatchService } from './dispatch.service.js';
import type { EndpointConnection } from './endpoint-connection.js';

/** A submission's leases in its insert, reserved: `sent` once the insert committed, `undone` if it failed. */
export interface DirectLease {
  sent(ownerId: string): void;
  undone(): void;
}

/**
 * The lease in the submission's insert: a task that would be queued on an endpoint whose agent is here,
 * with credits and an empty queue (directGrants), goes in dispatched and leased to that connection, with
 * the columns LeasesRepository.grant sets, and is sent once the insert commits. It skips the enqueue, the
 * wake, the claim, the lease UPDATE (a statement and a commit) and the settle. Should the frame never
 * arrive (the server dies after the commit, the socket closes), the lease runs out or the agent's next
 * hello loses it, and the task is requeued with attempt + 1, as any lease (DESIGN.md invariant 3); the
 * queues' rebuild skips it as it skips every leased task (invariant 5).
 */
@Injectable()
export class DirectLeaseService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_HEARTBEAT_TIMEOUT_MS' | 'FX_MAX_TASKS_PER_FRAME'>,
    private readonly connections: ConnectionRegistry,
    private readonly dispatch: DispatchService,
    private readonly leases: LeaseService,
  ) {}

  private readonly logger = new Logger('Dispatch');

  /**
   * Marks the rows to lease in the insert (NewTask.lease) and takes their credits before anything
   * awaits, so submissions racing for one agent never spend the same credits; then loads their
   * functions, so that nothing but the send is left once the insert committed. Null: none is leased.
   */
  async reserve(rows: NewTask[]): Promise<DirectLease | null> {
    const grants = directGrants(rows, (id) => this.connections.current(id), this.config.FX_MAX_TASKS_PER_FRAME);
    if (grants.length === 0) return null;
    const ms = this.config.FX_HEARTBEAT_TIMEOUT_MS;
    for (const { conn, indexes } of grants) {
      conn.credits -= indexes.length;
      for (const i of indexes) rows[i]!.lease = { owner: conn.id, ms };
    }
    let functions: Map<string, FunctionSpec>;
    try {
      functions = await this.dispatch.loadFunctions(rows.filter((r) => r.lease).map((r) => ({ function_id: r.functionId })));
    } catch (e) {
      // queued as usual instead
      this.logger.warn({ msg: `leasing in the insert gave way to the queue: ${(e as Error).message}` });
      this.release(grants, rows);
      return null;
    }
    return {
      sent: (ownerId) => {
        for (const grant of grants) this.send(grant.conn, ownerId, grant, rows, functions);
      },
      undone: () => this.release(grants, rows),
    };
  }

  /**
   * Once committed: the `tasks` frame, as DispatchService sends a claim's. A connection closed meanwhile
   * gets nothing: its leases are lost as any of its leases are (expiry, or its agent's next hello).
   */
  private send(
    conn: EndpointConnection,
    ownerId: string,
    { indexes }: DirectGrant<EndpointConnection>,
    rows: NewTask[],
    functions: Map<string, FunctionSpec>,
  ): void {
    const leased = indexes.map((i) => dispatchedRow(rows[i]!, ownerId));
    try {
      this.dispatch.sendLeased(conn, leased, functions, false);
    } catch (e) {
      // not sent to an agent that stays: handed back now (attempt + 1), or its heartbeats would keep the leases
      this.logger.error({ msg: `sending tasks leased in their insert failed: ${(e as Error).message}`, endpointId: conn.endpointId, connId: conn.id });
      conn.credits += indexes.length;
      void this.leases
        .handBack(
          conn,
          leased.map((r) => r.id),
          'not sent',
        )
        .catch(() => undefined);
    }
  }

  /** The insert did not happen: the rows are no longer leased, their credits go back to their connections. */
  private release(grants: Array<DirectGrant<EndpointConnection>>, rows: NewTask[]): void {
    for (const { conn, indexes } of grants) {
      for (const i of indexes) delete rows[i]!.lease;
      conn.credits += indexes.length;
      // tasks queued meanwhile may have found it without credits
      if (conn.open) void this.dispatch.pump(conn);
    }
  }
}

/** The task as the insert stored it, as LeasesRepository.grant returns it (attempt 0: a new task; it waited for no queue). */
function dispatchedRow(t: NewTask, ownerId: string): DispatchedRow {
  return {
    id: t.id,
    owner_id: ownerId,
    function_id: t.functionId,
    attempt: 0,
    args: t.args,
    kwargs: t.kwargs,
    pickled_args: t.pickledArgs ?? null,
    resources: t.resources ?? null,
    priority: t.priority ?? DEFAULT_TASK_PRIORITY,
    output_name: t.outputName ?? null,
    objects: t.objects ?? null,
    waited_seconds: 0,
  };
}
