import { Inject, Injectable, Logger } from '@nestjs/common';
import { AGENT_RECONNECT_MAX_DELAY_MS } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { RequeueHooks } from '../events/requeue-hooks.js';
import { QueueService } from '../tasks/queue.service.js';
import { CopiesRepository } from '../speculation/copies.repository.js';
import { LeasesRepository, type DispatchedRow, type LostLeases } from './leases.repository.js';

/** Who holds leases, and reports on their tasks: one agent connection of one endpoint (its id is the lease owner). */
export interface LeaseHolder {
  endpointId: string;
  id: string;
  /** Set when its agent runs only its owner's tasks (`ownerOnly`): that owner. */
  onlyOwner?: string;
}

/**
 * The lease model (DESIGN.md invariant 3): every task handed to an agent is leased to its connection
 * for FX_HEARTBEAT_TIMEOUT_MS, heartbeats extend the leases, and a lease that ends without a result
 * (agent gone, heartbeat missed, block ended) returns the task to its queue with `attempt + 1`, or
 * fails it MAX_ATTEMPTS_EXCEEDED past FX_MAX_ATTEMPTS. What becomes of such tasks is decided once,
 * here: {@link requeue}.
 */
@Injectable()
export class LeaseService {
  private readonly logger = new Logger('Leases');

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_HEARTBEAT_TIMEOUT_MS' | 'FX_MAX_ATTEMPTS'>,
    private readonly leases: LeasesRepository,
    private readonly queue: QueueService,
    private readonly outcomes: OutcomesService,
    private readonly copies: CopiesRepository,
    private readonly hooks: RequeueHooks,
  ) {}

  /** Leases these queued tasks to the holder; only rows still waiting change (see LeasesRepository.grant). */
  grant(holder: LeaseHolder, ids: string[]): Promise<DispatchedRow[]> {
    return this.leases.grant(holder.endpointId, ids, holder.id, this.config.FX_HEARTBEAT_TIMEOUT_MS, holder.onlyOwner ?? null);
  }

  /** The agents behind these connections are alive: their leases run for another FX_HEARTBEAT_TIMEOUT_MS. */
  async extend(leaseOwners: string | string[]): Promise<void> {
    await this.leases.extend(leaseOwners, this.config.FX_HEARTBEAT_TIMEOUT_MS);
    await this.copies.extend(typeof leaseOwners === 'string' ? [leaseOwners] : leaseOwners, this.config.FX_HEARTBEAT_TIMEOUT_MS);
  }

  /**
   * A (re)connecting agent said which tasks it still holds (`inFlight`): those move to its new
   * connection, every other task held for the endpoint is lost. Returns the lost ones, for
   * {@link requeue} once the agent is welcomed, and the ids the agent should forget. An id may name a
   * speculative copy the agent runs (its hello does not say which): that copy moves to the new
   * connection as a copy, and the agent keeps it; the task's own lease stays with whoever holds the
   * original. Copies first: a copy the agent no longer runs ends, so that an original of this endpoint
   * it ran beside is lost with the others rather than kept waiting for it.
   */
  async reconcile(holder: LeaseHolder, inFlight: string[]): Promise<LostLeases & { forget: string[] }> {
    const ms = this.config.FX_HEARTBEAT_TIMEOUT_MS;
    const copies = new Set(await this.copies.reclaim(holder.endpointId, holder.id, inFlight, ms));
    await this.copiesEnded(await this.copies.endUnclaimed(holder.endpointId, holder.id));
    const reconciled = await this.leases.reconcile(holder.endpointId, holder.id, inFlight, ms, this.config.FX_MAX_ATTEMPTS);
    return { ...reconciled, forget: reconciled.forget.filter((id) => !copies.has(id)) };
  }

  /**
   * The agent handed these tasks back without a result (an HPC block ended under them): back to the
   * queue with attempt + 1, or failed past the limit. Only tasks leased to this holder move. A task
   * whose speculative copy has not ended is not requeued (a third run) but given up: it runs on as its
   * copy, wherever that runs (on this very agent too, placed on the task's own endpoint). An id of a
   * task whose copy alone this holder holds names the copy: it ends, the original running on (or, given
   * up beside it, requeued: copiesEnded). Where the holder holds both, an id names the original: an
   * agent reports a copy that lost its worker as a failed result, and never hands one back.
   */
  async handBack(holder: LeaseHolder, taskIds: string[], reason: string): Promise<void> {
    const copies = await this.copies.endHandedBack(holder.endpointId, holder.id, taskIds);
    const givenUp = await this.leases.giveUpReturned(holder.endpointId, holder.id, taskIds);
    const lost = await this.leases.requeueReturned(holder.endpointId, holder.id, taskIds, this.config.FX_MAX_ATTEMPTS);
    const facts = {
      endpointId: holder.endpointId,
      connId: holder.id,
      returned: taskIds.length,
      requeued: lost.requeued.length,
      givenUpBesideCopies: givenUp.length,
      copiesEnded: copies.length,
      taskIds: taskIds.slice(0, 10),
    };
    this.logger.log({ msg: `the agent handed tasks back: ${reason}`, ...facts });
    await this.requeue(lost);
    await this.copiesEnded(copies);
  }

  /**
   * These tasks' speculative copies ended without winning. Those whose original attempt was given up
   * beside the copy (handBack, takeBack) have nothing left running them: back to their queue now, and
   * moved at once (RequeueHooks: endpoint group routing) off a former member of their endpoint group
   * that gave them up, rather than waiting there for the sweeps, the former member's results ignored.
   */
  async copiesEnded(taskIds: string[]): Promise<void> {
    const lost = await this.leases.requeueGivenUp(taskIds, this.config.FX_MAX_ATTEMPTS);
    if (lost.requeued.length === 0 && lost.exhausted.length === 0) return;
    const endpointIds = [...new Set(lost.requeued.map((t) => t.endpoint_id))];
    this.logger.log({
      msg: 'requeued tasks given up beside speculative copies that then ended',
      requeued: lost.requeued.length,
      failed: lost.exhausted.length,
      taskIds: [...lost.requeued, ...lost.exhausted].slice(0, 10).map((t) => t.id),
    });
    await this.requeue(lost);
    await this.hooks.requeued(endpointIds);
  }

  /**
   * An endpoint left an endpoint group (removed by either owner): it keeps nothing of the group's
   * tasks, whatever its agent still holds (a heartbeat kept those leases alive however long it held
   * them). Its speculative copies end, the other attempt running on; its original attempts whose copy
   * runs on another member are given up, the copy running on (no third run); its other original
   * attempts come back, as lost attempts, to be placed on the other members. Copies first: an original
   * beside a copy on the same endpoint then comes back like the others. Returns the ids of the tasks
   * its agent was sent anything of, for it to stop (a cancel without `copy` stops both).
   */
  async takeBack(groupId: string, endpointId: string): Promise<string[]> {
    const copies = await this.copies.endOnLeftMember(groupId, endpointId);
    const givenUp = await this.leases.giveUpBesideCopies(groupId, endpointId);
    const lost = await this.leases.requeueLeftMember(groupId, endpointId, this.config.FX_MAX_ATTEMPTS);
    const requeued = [...lost.requeued, ...lost.exhausted].map((t) => t.id);
    const sent = copies.filter((c) => c.connection_id !== null).map((c) => c.task_id);
    const taskIds = [...new Set([...requeued, ...givenUp, ...sent])];
    if (taskIds.length || copies.length)
      this.logger.log({
        msg: 'took back the tasks of a group its former member held',
        groupId,
        endpointId,
        requeued: requeued.length,
        givenUpBesideCopies: givenUp.length,
        copiesEnded: copies.length,
        taskIds: taskIds.slice(0, 10),
      });
    await this.requeue(lost);
    await this.copiesEnded(copies.map((c) => c.task_id));
    return taskIds;
  }

  /**
   * At start, before the first sweep: the leases that ran out while no server was up (a restart, a
   * crash) are not the agents' fault. Each held lease gets one lease term plus an agent's longest
   * reconnect delay, so an agent that comes back keeps its tasks (its hello claims them) instead of
   * having them requeued and run twice. An agent that died meanwhile loses its tasks that much later.
   */
  async renewAfterStart(): Promise<void> {
    const renewed = await this.leases.renewHeld(this.config.FX_HEARTBEAT_TIMEOUT_MS + AGENT_RECONNECT_MAX_DELAY_MS);
    if (renewed > 0) this.logger.log({ msg: 'held leases renewed for the agents to reclaim after this start', renewed });
  }

  /** Leases past their expiry (the agent vanished without a word): their tasks are lost. The recovery sweep's repair. */
  async requeueExpired(): Promise<LostLeases> {
    const lost = await this.leases.requeueExpired(this.config.FX_MAX_ATTEMPTS);
    const { requeued, exhausted } = lost;
    if (requeued.length || exhausted.length) {
      const endpointIds = [...new Set(requeued.map((t) => t.endpoint_id))].slice(0, 10);
      const taskIds = [...requeued, ...exhausted].slice(0, 10).map((t) => t.id);
      this.logger.warn({ msg: 'leases expired: tasks lost their agent', requeued: requeued.length, failed: exhausted.length, endpointIds, taskIds });
    }
    await this.requeue(lost);
    return lost;
  }

  /** Tasks whose lease was lost: the requeued ones onto their endpoints' queues, the exhausted ones published as final. */
  async requeue({ requeued, exhausted }: LostLeases): Promise<void> {
    await this.queue.enqueue(requeued);
    await this.outcomes.published(exhausted);
  }
}
