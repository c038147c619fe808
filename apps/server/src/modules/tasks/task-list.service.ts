import { Injectable } from '@nestjs/common';
import { TASK_COUNT_CAP, type ListTasksQuery, type ListTasksResponse, type TaskSummary } from '@fx/protocol';
import type { z } from 'zod';
import { FxException } from '../../common/fx.exception.js';
import { iso } from '../../common/iso.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../../common/keyset-cursor.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from '../endpoints/endpoints.service.js';
import { FunctionsService } from '../functions/functions.service.js';
import { TaskListRepository, type TaskSummaryRow } from './task-list.repository.js';

/** The query as ZodPipe hands it over (defaults applied, status split). */
export type ParsedListTasksQuery = z.output<typeof ListTasksQuery>;

export function toTaskSummary(r: TaskSummaryRow): TaskSummary {
  return {
    id: r.id,
    functionId: r.function_id,
    endpointId: r.endpoint_id,
    batchId: r.batch_id,
    endpointGroupId: r.endpoint_group_id,
    ownerId: r.owner_id,
    status: r.status,
    attempt: r.attempt,
    receivedAt: iso(r.received_at)!,
    completedAt: iso(r.completed_at),
    errorCode: r.error_code,
    errorMessage: r.error_message,
  };
}

/** Tasks are paged by (received_at, id). */
export function encodeCursor(row: { received_at: Date; id: string }): string {
  return encodeKeysetCursor(row.received_at, row.id);
}

export function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  const [receivedAt, id] = decodeKeysetCursor(cursor);
  return { receivedAt, id };
}

/** GET /v1/tasks: the tasks a caller may see (their own; an admin's, anyone's), filtered and keyset-paged. */
@Injectable()
export class TaskListService {
  constructor(
    private readonly tasks: TaskListRepository,
    private readonly endpoints: EndpointsService,
    private readonly functions: FunctionsService,
  ) {}

  async list(p: Principal, query: ParsedListTasksQuery): Promise<ListTasksResponse> {
    if (!p.admin && query.ownerId && query.ownerId !== p.userId) return { items: [], nextCursor: null };
    const since = query.since ? new Date(query.since) : undefined;
    const until = query.until ? new Date(query.until) : undefined;
    if (since && until && since >= until) throw new FxException('VALIDATION_FAILED', '"since" must be before "until"');
    const limit = query.limit;
    // Filters may name their function and endpoint: each becomes the one id it means (a bare function
    // name: its newest version), by the same rules as everywhere else; an unknown name is 404.
    const [functionId, endpointId] = await Promise.all([
      query.functionId === undefined ? undefined : this.functions.resolveIds(p, [query.functionId]).then((m) => m.get(query.functionId!)),
      query.endpointId === undefined ? undefined : this.endpoints.resolveIds(p, [query.endpointId]).then((m) => m.get(query.endpointId!)),
    ]);
    const filter = {
      ownerId: p.admin ? query.ownerId : p.userId,
      statuses: query.status,
      endpointId,
      functionId,
      batchId: query.batchId,
      since,
      until,
    };
    const [rows, counted] = await Promise.all([
      this.tasks.list({ ...filter, before: query.cursor ? decodeCursor(query.cursor) : undefined, limit: limit + 1 }),
      query.counts === 'true' ? this.tasks.countByStatus(filter, TASK_COUNT_CAP) : null,
    ]);
    const page = rows.slice(0, limit);
    const response: ListTasksResponse = { items: page.map(toTaskSummary), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null };
    if (counted) {
      const byStatus = Object.fromEntries(counted.map((c) => [c.status, c.n]));
      const total = counted.reduce((n, c) => n + c.n, 0);
      response.counts = { byStatus, total, capped: total >= TASK_COUNT_CAP };
    }
    return response;
  }
}
