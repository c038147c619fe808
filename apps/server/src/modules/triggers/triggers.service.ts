import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CreateTriggerRequest, TriggerInfo } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsService } from '../functions/functions.service.js';
import { EndpointsService } from '../endpoints/endpoints.service.js';
import { ObjectHooks } from '../events/object-hooks.js';
import { TasksService } from '../tasks/tasks.service.js';
import { firingTaskId, loopProblem, outputName } from './trigger-rules.js';
import { AuditService } from '../audit/audit.service.js';
import { TriggersRepository, type PendingFiring, type TriggerRow } from './triggers.repository.js';

/** Firings read per page of the sweep, dealt out in turns across their owners (TriggersRepository.pending). */
const FIRINGS_PER_PASS = 500;
/** How often the sweep's marks (TriggersRepository.sweptUntil) move on. */
const MARK_EVERY_MS = 30_000;

function toInfo(t: TriggerRow): TriggerInfo {
  return {
    id: t.id,
    ownerId: t.owner_id,
    prefix: t.prefix,
    functionId: t.function_id,
    endpointId: t.endpoint_id,
    outputPrefix: t.output_prefix,
    fromMembers: t.from_members,
    createdAt: new Date(t.created_at).toISOString(),
    fired: t.fired,
  };
}

/**
 * Triggers: an object put under a prefix runs a function with its reference, exactly once per object.
 * A put tells this replica at once (ObjectHooks); a sweep fires whatever that missed (a crash between
 * the object's commit and its firing, a put on a replica that died). Exactly once holds without a lock:
 * the task's id is derived from (trigger, object), so a second firing meets the first one's row.
 */
@Injectable()
export class TriggersService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Triggers');
  private timer?: NodeJS.Timeout;
  private draining: Promise<void> | null = null;
  private again = false;
  private markedAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_SWEEP_INTERVAL_MS' | 'FX_MAX_TRIGGERS_PER_USER'>,
    private readonly triggers: TriggersRepository,
    private readonly functions: FunctionsService,
    private readonly endpoints: EndpointsService,
    private readonly tasks: TasksService,
    private readonly audit: AuditService,
    hooks: ObjectHooks,
  ) {
    hooks.onNamed(() => this.drain());
  }

  onApplicationBootstrap(): void {
    void this.drain();
    this.timer = setInterval(() => void this.drain(), this.config.FX_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async create(p: Principal, req: CreateTriggerRequest): Promise<TriggerInfo> {
    const max = this.config.FX_MAX_TRIGGERS_PER_USER;
    const functionId = (await this.functions.resolveIds(p, [req.function])).get(req.function)!;
    const endpointId = (await this.endpoints.resolveIds(p, [req.endpoint])).get(req.endpoint)!;
    // what a firing would be refused for, refused now: a function the caller may not run, a foreign or locked endpoint
    await this.functions.runnable(p, [functionId]);
    await this.endpoints.checkSubmission(p, [{ endpointId, functionId }]);
    const fresh = { id: randomUUID(), prefix: req.prefix, outputPrefix: req.outputPrefix ?? null };
    // checked against the owner's triggers as they stand under the create's lock: two requests at once
    // could otherwise both pass the quota, or each make a loop with the other's trigger
    const check = (mine: TriggerRow[]) => {
      if (mine.length >= max)
        throw new FxException('QUOTA_EXCEEDED', `you have ${mine.length} triggers, the most allowed (FX_MAX_TRIGGERS_PER_USER); delete one first`);
      const loop = loopProblem(
        fresh,
        mine.map((t) => ({ id: t.id, prefix: t.prefix, outputPrefix: t.output_prefix })),
      );
      if (loop) throw new FxException('VALIDATION_FAILED', loop);
    };
    const row = await this.triggers.create({ ...fresh, ownerId: p.userId, functionId, endpointId, fromMembers: req.fromMembers ?? false }, max, check);
    const info = toInfo(row);
    await this.audit.record(p, {
      action: 'trigger.created',
      target: { type: 'trigger', id: info.id },
      ownerId: info.ownerId,
      details: { prefix: info.prefix, functionId, endpointId, outputPrefix: info.outputPrefix, fromMembers: info.fromMembers },
    });
    return info;
  }

  async list(p: Principal): Promise<TriggerInfo[]> {
    return (await this.triggers.list(p.userId, this.config.FX_MAX_TRIGGERS_PER_USER)).map(toInfo);
  }

  async get(p: Principal, id: string): Promise<TriggerInfo> {
    return toInfo(await this.visible(p, id));
  }

  /** Stops firing; tasks it already started run on. */
  async delete(p: Principal, id: string): Promise<void> {
    const t = await this.visible(p, id);
    await this.triggers.softDelete(id);
    await this.audit.record(p, { action: 'trigger.deleted', target: { type: 'trigger', id }, ownerId: t.owner_id, details: { prefix: t.prefix } });
  }

  private async visible(p: Principal, id: string): Promise<TriggerRow> {
    const t = await this.triggers.find(id);
    if (!t || (t.owner_id !== p.userId && !p.admin)) throw FxException.notFound('trigger', id);
    return t;
  }

  /** Fires everything owed, a page at a time; calls while a drain runs make it go round once more. */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          const started = new Date();
          let page: PendingFiring[];
          do {
            page = await this.triggers.pending(FIRINGS_PER_PASS);
            for (const f of page) await this.fire(f);
          } while (page.length === FIRINGS_PER_PASS);
          // nothing owed from before this pass began: move the marks on, now and then (a write)
          if (started.getTime() - this.markedAt >= MARK_EVERY_MS) {
            await this.triggers.sweptUntil(started);
            this.markedAt = started.getTime();
          }
        } while (this.again);
      } catch (e) {
        this.logger.warn({ msg: 'firing triggers failed; the next sweep retries', err: String(e) });
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  private async fire(t: PendingFiring): Promise<void> {
    const id = firingTaskId(t.trigger_id, t.object_id);
    // the trigger acts for its owner, with the rights they have now
    const owner: Principal = { tokenId: `trigger:${t.trigger_id}`, userId: t.owner_id, admin: false, kind: 'user', endpointId: null };
    let error: string | null = null;
    // Another user's endpoint ran her task and chose this name and these bytes: not her act, unless the
    // trigger accepts her group members' outputs. Recorded like any refused firing, never retried.
    if (t.foreign_endpoint_id !== null && !t.from_members) {
      error = `FORBIDDEN: not fired: the object is a named output that endpoint ${t.foreign_endpoint_id} of another user (a member of your endpoint group) stored; create the trigger with fromMembers: true to fire on those`;
      await this.triggers.recordFiring({ triggerId: t.trigger_id, objectId: t.object_id, taskId: null, error });
      return;
    }
    try {
      await this.tasks.submitWithId(
        owner,
        id,
        {
          functionId: t.function_id,
          endpointId: t.endpoint_id,
          args: [{ $fx: 'object', id: t.object_id }],
          kwargs: {},
          ...(t.output_prefix === null ? {} : { outputName: outputName(t.name, t.prefix, t.output_prefix) }),
        },
        { triggerId: t.trigger_id, objectId: t.object_id },
      );
    } catch (e) {
      // refused for good (the function or endpoint deleted, locked, the quota full): recorded, never retried
      if (e instanceof FxException) error = `${e.code}: ${e.message}`;
      // a second firing of the pair: the first one's task stands
      else if (!isUniqueViolation(e)) throw e;
    }
    await this.triggers.recordFiring({ triggerId: t.trigger_id, objectId: t.object_id, taskId: error ? null : id, error });
    if (error) this.logger.warn({ msg: 'a trigger could not start its task', triggerId: t.trigger_id, objectId: t.object_id, error });
  }
}
