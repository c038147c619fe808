import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  Speculation,
  type CancelGroupResponse,
  type GroupInfo,
  type GroupKind,
  type GroupTasksQuery,
  type GroupTasksResponse,
  type SpeculationOptions,
} from '@fx/protocol';
import type { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { iso } from '../../common/iso.js';
import type { Principal } from '../auth/principal.js';
import { EventsService } from '../events/events.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { decodeCursor, encodeCursor, toTaskSummary } from '../tasks/task-list.service.js';
import { AuditService } from '../audit/audit.service.js';
import { GroupsRepository, type GroupRow } from './groups.repository.js';

/** The query as ZodPipe hands it over (defaults applied, status split). */
export type ParsedGroupTasksQuery = z.output<typeof GroupTasksQuery>;

/** Tasks cancelled per statement when a whole group is cancelled. */
const CANCEL_PAGE = 10_000;

/**
 * Task groups: a batch, a graph or a map, by id. A group holds one user's tasks: only its owner adds
 * to it, its owner and admins read and cancel it; anyone else gets the 404 of an unknown id.
 */
@Injectable()
export class GroupsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_GROUP_QUOTA'>,
    private readonly groups: GroupsRepository,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
    private readonly outcomes: OutcomesService,
    private readonly audit: AuditService,
  ) {}

  /**
   * An empty group, for batches to join. At most FX_GROUP_QUOTA of a user's such groups may hold no
   * task yet: each is a row kept until the retention purges it, and nothing else bounds how many a user
   * makes. A batch's own group is made with its tasks and is not counted (so no batch is refused for
   * it), nor is one of these groups once a task joined it (a map's group, at once).
   */
  async create(p: Principal, kind: GroupKind, speculation?: SpeculationOptions): Promise<GroupInfo> {
    const quota = this.config.FX_GROUP_QUOTA;
    const asked = speculation ? Speculation.parse(speculation) : null;
    const g =
      quota === 0
        ? await this.groups.create(randomUUID(), p.userId, kind, asked)
        : await this.groups.createEmpty(randomUUID(), p.userId, kind, asked, (awaiting) => {
            if (awaiting >= quota)
              throw new FxException(
                'QUOTA_EXCEEDED',
                `you have ${awaiting} task groups that hold no task yet, the most allowed (FX_GROUP_QUOTA): add tasks to them, or wait for the retention to remove them`,
              );
          });
    if (g.speculation) this.speculationAsked(g.id);
    return toGroupInfo(g, []);
  }

  /**
   * The group a batch joins: `groupId` when given (it must be the caller's own: a group holds one
   * owner's tasks), else a new one with the batch's id. Runs alongside the submission's other checks.
   */
  async forBatch(p: Principal, groupId: string | undefined, newId: string, speculation?: SpeculationOptions): Promise<string> {
    const asked = speculation ? Speculation.parse(speculation) : null;
    if (groupId === undefined) {
      const id = (await this.groups.create(newId, p.userId, 'batch', asked)).id;
      if (asked) this.speculationAsked(id);
      return id;
    }
    const g = await this.groups.find(groupId);
    if (!g || g.owner_id !== p.userId) throw FxException.notFound('task group', groupId);
    // the speculation sweep looks at the group again: these tasks are new stragglers to be
    if (asked || g.speculation) {
      await this.groups.speculate(g.id, asked);
      this.speculationAsked(g.id);
    }
    return g.id;
  }

  /**
   * Every replica's speculation sweep, which looks less often while nothing asks, looks each interval
   * again. Not awaited: a lost event only delays the first look by a few intervals (SpeculationService).
   */
  private speculationAsked(groupId: string): void {
    this.events.publish('speculation-asked', { groupId }).catch(() => undefined);
  }

  async get(p: Principal, id: string): Promise<GroupInfo> {
    const g = await this.visible(p, id);
    return toGroupInfo(g, await this.groups.countByStatus(id));
  }

  async listTasks(p: Principal, id: string, q: ParsedGroupTasksQuery): Promise<GroupTasksResponse> {
    await this.visible(p, id);
    const rows = await this.groups.listTasks(id, { statuses: q.status, after: q.cursor ? decodeCursor(q.cursor) : undefined, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    return { items: page.map(toTaskSummary), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!) : null };
  }

  /** Cancels every unfinished task of the group, a page per statement; dependents go with them, as for one task. */
  async cancel(p: Principal, id: string): Promise<CancelGroupResponse> {
    const g = await this.visible(p, id);
    let cancelled = 0;
    for (;;) {
      const ids = await this.groups.unfinishedTaskIds(id, CANCEL_PAGE);
      if (ids.length === 0) break;
      const rows = await this.tasks.cancel(ids, p.admin ? null : p.userId);
      const running = new Map<string, string[]>();
      for (const r of rows) {
        if (r.previous !== 'dispatched' && r.previous !== 'running') continue;
        const list = running.get(r.endpoint_id);
        if (list) list.push(r.id);
        else running.set(r.endpoint_id, [r.id]);
      }
      // agents abort what they already run
      for (const [endpointId, taskIds] of running) await this.events.publish('cancel', { endpointId, taskIds });
      await this.outcomes.published(rows);
      cancelled += rows.length;
      // the rest finished meanwhile; none of them is unfinished any more
      if (ids.length < CANCEL_PAGE || rows.length === 0) break;
    }
    await this.audit.record(p, { action: 'tasks.cancelled', target: { type: 'task-group', id }, ownerId: g.owner_id, details: { kind: g.kind, cancelled } });
    return { groupId: id, cancelled };
  }

  private async visible(p: Principal, id: string): Promise<GroupRow> {
    const g = await this.groups.find(id);
    if (!g || !(g.owner_id === p.userId || p.admin)) throw FxException.notFound('task group', id);
    return g;
  }
}

function toGroupInfo(g: GroupRow, counted: Array<{ status: string; n: number }>): GroupInfo {
  return {
    id: g.id,
    ownerId: g.owner_id,
    kind: g.kind,
    createdAt: iso(g.created_at)!,
    speculation: g.speculation,
    counts: { byStatus: Object.fromEntries(counted.map((c) => [c.status, c.n])), total: counted.reduce((n, c) => n + c.n, 0) },
  };
}
