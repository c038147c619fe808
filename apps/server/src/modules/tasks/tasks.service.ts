import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  CACHED_RESULTS_MAX_BYTES,
  type CachedOutcome,
  MAX_ATTEMPTS_SHOWN,
  RetryPolicy,
  type BatchTaskItem,
  type CancelTaskResponse,
  type SpeculationOptions,
  type SubmitBatchRequest,
  type SubmitBatchResponse,
  type SubmitTaskRequest,
  type SubmitTaskResponse,
  type SubmitWarning,
  type TaskInfo,
  type TaskStatusManyResponse,
} from '@fx/protocol';
import { DEFAULT_TASK_PRIORITY } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsService, storedRetry } from '../functions/functions.service.js';
import { AttemptsRepository } from '../retries/attempts.repository.js';
import { EndpointsService, type EndpointRow } from '../endpoints/endpoints.service.js';
import { EndpointGroupsService } from '../endpoint-groups/endpoint-groups.service.js';
import { EndpointRoutingService } from '../endpoint-groups/endpoint-routing.service.js';
import { TasksRepository, type NewTask, type TaskRow } from './tasks.repository.js';
import { EventsService } from '../events/events.service.js';
import { DependenciesService } from '../dependencies/dependencies.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { GroupsService } from '../groups/groups.service.js';
import { QueueService } from './queue.service.js';
import { planGraph } from './task-graph.js';
import { checkForeignPickles, checkPickledRuntimes } from './pickle-checks.js';
import { fulfilled, inlineOutcomes, submissionPairs, type SubmitHooks } from './task-submission.js';
import { CacheService } from '../cache/cache.service.js';
import { toTaskInfo } from './task-info.js';
import { ObjectRefsService } from '../objects/object-refs.service.js';
import { UsageRecordsRepository } from '../accounting/usage-records.repository.js';
import { AuditService } from '../audit/audit.service.js';
import { listed, MAX_USES, submissionUses } from '../audit/audit-details.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DirectLeaseService } from '../agents/direct-lease.service.js';

/** A task of a submission, as stored; a pickle task's arguments are its pickledArgs alone. */
function newTask(t: SubmitTaskRequest | BatchTaskItem, endpointId: string, batchPriority?: number): Omit<NewTask, 'id'> {
  const task: Omit<NewTask, 'id'> = { functionId: t.functionId, endpointId, args: t.args ?? [], kwargs: t.kwargs ?? {} };
  // assigned, not spread: a temporary object per absent field adds up over a 10,000-task batch
  const priority = t.priority ?? batchPriority;
  if (priority !== undefined) task.priority = priority;
  if (t.resources) task.resources = t.resources;
  if (t.serializer === 'pickle' && t.pickledArgs) task.pickledArgs = t.pickledArgs;
  if (t.retry) task.retry = RetryPolicy.parse(t.retry);
  return task;
}

/** A trigger's firing: the server submits for the trigger's owner. */
export interface FiringOrigin {
  triggerId: string;
  objectId: string;
}

/** How long a user's count of unfinished tasks is trusted for the quota check. */
const OPEN_COUNT_TTL_MS = 1_000;
const OPEN_COUNT_CACHE_MAX = 10_000;

@Injectable()
export class TasksService {
  private readonly openCounts = new Map<string, { at: number; count: number }>();
  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<AppConfig, 'FX_MAX_BATCH_TASKS' | 'FX_MAX_REFS_PER_TASK' | 'FX_MAX_REFS_PER_BATCH' | 'FX_MAX_QUEUED_TASKS_PER_USER'>,
    private readonly tasks: TasksRepository,
    private readonly functions: FunctionsService,
    private readonly endpoints: EndpointsService,
    private readonly events: EventsService,
    private readonly queue: QueueService,
    private readonly dependencies: DependenciesService,
    private readonly outcomes: OutcomesService,
    private readonly groups: GroupsService,
    private readonly attempts: AttemptsRepository,
    private readonly cache: CacheService,
    private readonly objectRefs: ObjectRefsService,
    private readonly endpointGroups: EndpointGroupsService,
    private readonly routing: EndpointRoutingService,
    private readonly usage: UsageRecordsRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly direct: DirectLeaseService,
  ) {}

  async submit(p: Principal, req: SubmitTaskRequest, hooks: SubmitHooks = {}): Promise<SubmitTaskResponse> {
    const { taskIds, warnings } = await this.submitMany(p, null, [newTask(req, req.endpointId)], [req.cache], { ...hooks, trustPickle: [req.trustPickle] });
    return { taskId: taskIds[0]!, ...(warnings ? { warnings } : {}) };
  }

  /**
   * A trigger's task, under an id derived from the trigger and its object: submitting the same pair
   * again fails the insert on that id (a unique violation, for the caller to take as "already there").
   */
  async submitWithId(p: Principal, id: string, req: SubmitTaskRequest & { outputName?: string }, firing: FiringOrigin): Promise<void> {
    const item = { ...newTask(req, req.endpointId), ...(req.outputName ? { outputName: req.outputName } : {}) };
    await this.submitMany(p, null, [item], [undefined], { fixedIds: [id], firing });
  }

  async submitBatch(p: Principal, req: SubmitBatchRequest, hooks: SubmitHooks = {}): Promise<SubmitBatchResponse> {
    if (req.tasks.length > this.config.FX_MAX_BATCH_TASKS) {
      throw new FxException('BATCH_TOO_LARGE', `a batch holds at most ${this.config.FX_MAX_BATCH_TASKS} tasks; this one has ${req.tasks.length}`);
    }
    const items = req.tasks.map((t, i) => {
      const endpointId = t.endpointId ?? req.endpointId;
      if (!endpointId) throw new FxException('VALIDATION_FAILED', `tasks[${i}] has no endpointId and the batch names none`);
      return newTask(t, endpointId, req.priority);
    });
    // a batch joins the group it names, or is a new group with its own id
    const group =
      req.groupId === undefined ? { id: randomUUID(), speculation: req.speculation } : { id: req.groupId, existing: true, speculation: req.speculation };
    return {
      batchId: group.id,
      ...(await this.submitMany(
        p,
        group,
        items,
        req.tasks.map((t) => t.cache),
        { ...hooks, trustPickle: req.tasks.map((t) => t.trustPickle) },
      )),
    };
  }

  /**
   * Checks, then one INSERT for the whole submission; ids are returned only after it commits
   * (accepted means durable). Queueing happens after and may fail without losing anything.
   */
  private async submitMany(
    p: Principal,
    group: { id: string; existing?: boolean; speculation?: SpeculationOptions } | null,
    refItems: Array<Omit<NewTask, 'id'>>,
    cacheFlags: Array<boolean | undefined>,
    origin: { fixedIds?: string[]; firing?: FiringOrigin; trustPickle?: ReadonlyArray<boolean | undefined> } & SubmitHooks = {},
  ): Promise<{ taskIds: string[]; warnings?: SubmitWarning[]; cachedResults?: CachedOutcome[] }> {
    const ids = origin.fixedIds ?? refItems.map(() => randomUUID());
    // references to other tasks' results: read (and refused) before anything is looked up
    const graph = planGraph(
      refItems.map((t, i) => ({ id: ids[i]!, args: t.args, kwargs: t.kwargs })),
      { maxRefsPerTask: this.config.FX_MAX_REFS_PER_TASK, maxRefsPerBatch: this.config.FX_MAX_REFS_PER_BATCH },
    );
    const { functionIds, resolved } = this.resolveRefs(p, refItems);
    // The references, the checks and the caller's gate are independent reads, or wait only for what they
    // need: one round trip of latency before the insert, not three. The errors keep their order: the
    // gate's, the references', then a function problem before an endpoint problem.
    const checks = await Promise.allSettled([
      origin.gate,
      resolved,
      functionIds.then((ids) => this.functions.runnable(p, ids)),
      // tasks sent to an endpoint group get their member below; their checks are the group's (routing)
      resolved.then(({ items, endpoints }) => this.endpoints.checkSubmission(p, submissionPairs(items), endpoints)),
      this.checkQuota(p, refItems.length),
      this.checkInputs(p, graph.external),
      // a new batch's group is a write: only once the gate and the references passed (as before)
      group && Promise.all([origin.gate, resolved]).then(() => this.groups.forBatch(p, group.existing ? group.id : undefined, group.id, group.speculation)),
      // objects in the arguments: readable by the caller, their references completed from the rows
      this.objectRefs.resolve(p, graph.tasks),
    ]);
    for (const c of checks) if (c.status === 'rejected') throw c.reason;
    const { items } = fulfilled(checks[1]);
    // a task without a retry policy of its own runs under its function's, as it is now
    const fns = fulfilled(checks[2]);
    checkPickledRuntimes(items, fns, group !== null);
    checkForeignPickles(p.userId, items, fns, origin.trustPickle ?? [], group !== null);
    const offline: Array<{ endpointId: string; groupId?: string }> = fulfilled(checks[3]).offline.map((endpointId) => ({ endpointId }));
    const objects = fulfilled(checks[7]);
    if (items.some((t) => t.endpointGroupId)) offline.push(...(await this.routeToMembers(p.userId, items, objects?.tasks)));
    // completed in place, like resolveRefs: the items are the submission's own
    const rows: NewTask[] = items.map((t, i) => {
      const row = t as NewTask;
      const retry = t.retry ?? storedRetry(fns.get(t.functionId)?.retry);
      const planned = graph.tasks[i]!;
      const refs = objects?.tasks[i];
      row.id = ids[i]!;
      row.args = refs?.args ?? planned.args;
      row.kwargs = refs?.kwargs ?? planned.kwargs;
      row.inputs = planned.inputs;
      if (refs?.objects.length) row.objects = refs.objects;
      if (retry) row.retry = retry;
      return row;
    });
    // memoized tasks carry their cache key; a submission without any takes the plain path
    const memo = this.cache.plan(p.userId, rows, cacheFlags, fns);
    if (memo) rows.forEach((r, i) => memo[i] && (r.cache = memo[i]));
    // one entry per submission, whatever its size: a trigger's firing is the server's act for the trigger's owner;
    // written by the insert's own statement (one round trip before the reply, and no task without its entry)
    const submitted = this.audit.entries(origin.firing ? 'system' : p, [
      {
        action: 'tasks.submitted',
        target: group ? { type: 'task-group', id: group.id } : { type: 'task', id: rows[0]!.id },
        ownerId: p.userId,
        details: { ...origin.firing, ...(group ? { groupId: group.id } : {}), tasks: rows.length, ...listed('uses', submissionUses(rows, fns), MAX_USES) },
      },
    ]);
    // tasks it would queue where the agent is here, idle-queued, with credits: leased by the insert instead
    const direct = await this.direct.reserve(rows);
    // a batch's answer carries its hits' outcomes (SubmitBatchResponse.cachedResults), up to its budget
    const { missed, hits } = await this.tasks
      .insertSubmission(p.userId, group?.id ?? null, rows, submitted, group ? CACHED_RESULTS_MAX_BYTES : 0)
      .catch((e: unknown) => {
        direct?.undone();
        throw e;
      });
    origin.accepted?.(ids, memo !== null || rows.some((r) => r.inputs!.length > 0));
    direct?.sent(p.userId);
    this.noteQueued(p.userId, rows.length);
    this.metrics.submitted(rows.map((r) => ({ endpointId: r.endpointId, runtime: fns.get(r.functionId)?.runtime ?? 'js' })));
    // memoized ones that went in completed from a stored result (the keyed ones that did not miss) end
    // here, not through OutcomesService
    if (memo) {
      const waiting = new Set(missed);
      const ended = rows.filter((r) => r.cache?.key && !waiting.has(r.id));
      this.metrics.finishedAtSubmit(ended.map((r) => ({ endpointId: r.endpointId, runtime: fns.get(r.functionId)?.runtime ?? 'js' })));
    }
    // Committed: the ids may go out now. Queueing runs alongside the reply; it never rejects (a failure
    // marks the queues for a rebuild from PostgreSQL), so nothing waits on Redis before answering.
    const dependents = rows.filter((r) => r.inputs!.length > 0);
    void this.queue.enqueue(
      rows
        .filter((r) => r.inputs!.length === 0 && !r.cache && !r.lease)
        .map((r) => ({ id: r.id, endpoint_id: r.endpointId, owner_id: p.userId, priority: r.priority ?? DEFAULT_TASK_PRIORITY })),
    );
    // memoized ones went in completed or waiting (`missed`) for their key's one execution, which starts now
    if (memo) void this.cache.started(missed).then((done) => this.outcomes.published(done));
    if (dependents.length) {
      const byEndpoint = new Map<string, Array<{ id: string; owner_id: string }>>();
      for (const t of dependents) {
        const tasks = byEndpoint.get(t.endpointId);
        if (tasks) tasks.push({ id: t.id, owner_id: p.userId });
        else byEndpoint.set(t.endpointId, [{ id: t.id, owner_id: p.userId }]);
      }
      for (const [ep, tasks] of byEndpoint) this.events.noteTaskStates('waiting-for-dependencies', ep, tasks);
      // inputs that ended before the insert committed: nobody else will move these dependents on
      await this.dependencies.submitted(
        dependents.map((r) => r.id),
        graph.external,
      );
    }
    const warnings = offline.map(({ endpointId, groupId }): SubmitWarning => ({
      code: 'ENDPOINT_OFFLINE',
      endpointId,
      message: groupId
        ? `no member of endpoint group ${groupId} is online: its tasks wait on endpoint ${endpointId} until a member's agent connects`
        : `endpoint ${endpointId} is offline: its tasks wait in the queue until its agent connects`,
    }));
    return { taskIds: rows.map((r) => r.id), ...(warnings.length ? { warnings } : {}), ...(hits.length ? { cachedResults: inlineOutcomes(hits, p) } : {}) };
  }

  /**
   * Functions and endpoints may be named (`add`, `add@2`, `alice/add`, `gpu`): each distinct ref of the
   * submission is resolved once, then every task carries the exact id (a task keeps the version it ran).
   */
  private resolveRefs(
    p: Principal,
    items: Array<Omit<NewTask, 'id'>>,
  ): { functionIds: Promise<string[]>; resolved: Promise<{ items: Array<Omit<NewTask, 'id'>>; endpoints: Map<string, EndpointRow> }> } {
    // the function ids alone, for the function check, which need not wait for the endpoints' lookup
    const fns = this.functions.resolveIds(
      p,
      items.map((t) => t.functionId),
    );
    const eps = this.endpointGroups.resolveTargets(
      p,
      items.map((t) => t.endpointId),
    );
    const resolved = Promise.all([fns, eps]).then(([fns, eps]) => {
      // the rows the lookup read, for the endpoint check
      const endpoints = new Map<string, EndpointRow>();
      for (const target of eps.values()) if ('endpoint' in target) endpoints.set(target.endpointId, target.endpoint);
      // in place: each item is the submission's own (newTask made it), and a copy per task is time the
      // caller waits; the checks that run meanwhile read only the count and the arguments
      for (const t of items) {
        const target = eps.get(t.endpointId)!;
        t.functionId = fns.get(t.functionId)!;
        // a group's task has no member yet: routeToMembers picks one once the checks passed
        if ('groupId' in target) {
          t.endpointId = '';
          t.endpointGroupId = target.groupId;
        } else t.endpointId = target.endpointId;
      }
      return { items, endpoints };
    });
    return { functionIds: fns.then((m) => [...new Set(m.values())]), resolved };
  }

  /** Each task sent to an endpoint group gets a member (EndpointRoutingService); returns the groups with no member online. */
  private async routeToMembers(
    ownerId: string,
    items: Array<Omit<NewTask, 'id'>>,
    objects: Array<{ contents: string[] }> | undefined,
  ): Promise<Array<{ endpointId: string; groupId: string }>> {
    const grouped = items.flatMap((t, i) => (t.endpointGroupId ? [i] : []));
    const { endpointIds, offline } = await this.routing.route(
      grouped.map((i) => ({
        groupId: items[i]!.endpointGroupId!,
        ownerId,
        pickled: items[i]!.pickledArgs !== undefined,
        functionId: items[i]!.functionId,
        resources: items[i]!.resources ?? null,
        objects: objects?.[i]?.contents ?? [],
      })),
    );
    grouped.forEach((i, k) => (items[i]!.endpointId = endpointIds[k]!));
    return offline.map((groupId) => ({ groupId, endpointId: items[grouped.find((i) => items[i]!.endpointGroupId === groupId)!]!.endpointId }));
  }

  /**
   * A user may have FX_MAX_QUEUED_TASKS_PER_USER unfinished tasks. Checked before the insert, not in
   * it: submissions racing (or on other replicas) may together pass the limit by a submission, which is
   * what a quota against runaway clients needs; an exact count would serialise every submit of a user.
   * The count is read at most once a second per user (it costs a scan of the user's open tasks) and
   * this replica's own submissions are added to it meanwhile; tasks finishing in that second are not
   * subtracted, so a user at the limit may be refused for up to a second longer than needed.
   */
  private async checkQuota(p: Principal, adding: number): Promise<void> {
    const max = this.config.FX_MAX_QUEUED_TASKS_PER_USER;
    let cached = this.openCounts.get(p.userId);
    if (!cached || Date.now() - cached.at > OPEN_COUNT_TTL_MS) {
      if (this.openCounts.size >= OPEN_COUNT_CACHE_MAX) this.openCounts.clear();
      cached = { at: Date.now(), count: await this.tasks.countOpenForOwner(p.userId, max) };
      this.openCounts.set(p.userId, cached);
    }
    const open = cached.count;
    if (open + adding > max) {
      throw new FxException(
        'QUOTA_EXCEEDED',
        `you have ${open >= max ? `${max} or more` : open} unfinished tasks; submitting ${adding} more would pass the limit of ${max} per user (FX_MAX_QUEUED_TASKS_PER_USER): wait for some to finish or cancel them`,
      );
    }
  }

  /** Every task referred to must exist and be readable by the caller: otherwise 404, as for reading it. */
  private async checkInputs(p: Principal, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const seen = new Set<string>();
    for (let i = 0; i < ids.length; i += 10_000) {
      for (const r of await this.tasks.findStatuses(ids.slice(i, i + 10_000))) if (r.owner_id === p.userId || p.admin) seen.add(r.id);
    }
    const missing = ids.find((id) => !seen.has(id));
    if (missing) throw FxException.notFound('task', missing);
  }

  private noteQueued(userId: string, n: number): void {
    const cached = this.openCounts.get(userId);
    if (cached) cached.count += n;
  }

  private async getVisible(p: Principal, id: string): Promise<TaskRow> {
    // the owner is part of the statement: another user's row (its result up to 10 MiB) is not even read
    const t = await this.tasks.findById(id, p.admin ? null : p.userId);
    if (!t) throw FxException.notFound('task', id);
    return t;
  }

  async get(p: Principal, id: string): Promise<TaskInfo> {
    const t = await this.getVisible(p, id);
    // the attempts before the row's own: at most MAX_ATTEMPTS_SHOWN in all
    // read always: a task's speculative copy is an attempt too, whatever its attempt count
    const [archived, usage] = await Promise.all([this.attempts.forTask(id, MAX_ATTEMPTS_SHOWN - 1), this.usage.forTask(id)]);
    return toTaskInfo(t, p, archived, usage);
  }

  async statusMany(p: Principal, ids: string[]): Promise<TaskStatusManyResponse> {
    const rows = (await this.tasks.findStatuses(ids)).filter((r) => r.owner_id === p.userId || p.admin);
    const seen = new Set(rows.map((r) => r.id));
    return { tasks: rows.map((r) => ({ id: r.id, status: r.status, attempt: r.attempt })), notFound: ids.filter((id) => !seen.has(id)) };
  }

  async cancel(p: Principal, id: string): Promise<CancelTaskResponse> {
    const current = await this.getVisible(p, id);
    const [cancelled] = await this.tasks.cancel([id], p.admin ? null : p.userId);
    await this.audit.record(p, {
      action: 'tasks.cancelled',
      target: { type: 'task', id },
      ownerId: current.owner_id,
      details: { cancelled: cancelled ? 1 : 0, ...(cancelled ? { previous: cancelled.previous } : { status: current.status }) },
    });
    if (!cancelled) return { taskId: id, status: (await this.tasks.findById(id, p.admin ? null : p.userId))?.status ?? current.status, cancelled: false };
    if (cancelled.previous === 'dispatched' || cancelled.previous === 'running') {
      await this.events.publish('cancel', { endpointId: cancelled.endpoint_id, taskIds: [id] });
    }
    // its dependents, and theirs, are cancelled with it
    await this.outcomes.published([cancelled]);
    return { taskId: id, status: 'cancelled', cancelled: true };
  }
}
