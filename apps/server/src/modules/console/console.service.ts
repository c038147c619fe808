import { Injectable } from '@nestjs/common';
import { TASK_COUNT_CAP, type ConsoleEndpoint, type FunctionInfo, type ListTasksQuery, type ListTasksResponse, type OverviewResponse, type TaskSummary, type UpdateFunctionRequest } from '@fx/protocol';
import { z } from 'zod';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from '../endpoints/endpoints.service.js';
import { FunctionsService, toFunctionInfo } from '../functions/functions.service.js';
import { EventsService } from '../events/events.service.js';
import { ConsoleRepository, type TaskSummaryRow } from './console.repository.js';

/** The query as ZodPipe hands it over (defaults applied, status split). */
export type ParsedListTasksQuery = z.output<typeof ListTasksQuery>;
type EndpointWithOwner = Awaited<ReturnType<ConsoleRepository['endpointsWithOwner']>>[number];

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const MINUTE = 60_000;

export function toTaskSummary(r: TaskSummaryRow): TaskSummary {
  return {
    id: r.id,
    functionId: r.function_id,
    endpointId: r.endpoint_id,
    batchId: r.batch_id,
    ownerId: r.owner_id,
    status: r.status,
    attempt: r.attempt,
    receivedAt: iso(r.received_at)!,
    completedAt: iso(r.completed_at),
    errorCode: r.error_code,
    errorMessage: r.error_message,
  };
}

/** Cursors are opaque to clients: base64url of the last row's (received_at, id). */
export function encodeCursor(row: { received_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify([new Date(row.received_at).toISOString(), row.id])).toString('base64url');
}

const CursorShape = z.tuple([z.iso.datetime(), z.uuid()]);
export function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  try {
    const [at, id] = CursorShape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { receivedAt: new Date(at), id };
  } catch {
    throw new FxException('VALIDATION_FAILED', 'cursor is not one this server issued: pass the nextCursor of the previous page unchanged');
  }
}

/**
 * The console's reads and actions. Same rules as the rest of the API: users see and change their
 * own things, admins everything; someone else's thing is 404.
 */
@Injectable()
export class ConsoleService {
  constructor(
    private readonly repo: ConsoleRepository,
    private readonly endpoints: EndpointsService,
    private readonly functions: FunctionsService,
    private readonly events: EventsService,
  ) {}

  async listTasks(p: Principal, query: ParsedListTasksQuery): Promise<ListTasksResponse> {
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
      this.repo.listTasks({ ...filter, before: query.cursor ? decodeCursor(query.cursor) : undefined, limit: limit + 1 }),
      query.counts === 'true' ? this.repo.countTasks(filter, TASK_COUNT_CAP) : null,
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

  async lockEndpoint(p: Principal, ref: string, locked: boolean): Promise<ConsoleEndpoint> {
    const e = await this.endpoints.getOwned(p, ref);
    const id = e.id;
    if (Boolean(e.lockedAt) !== locked) {
      await this.repo.setLocked(id, locked);
      this.events.noteEndpointChanged(id);
    }
    const [view] = await this.endpointViews({ ids: [id] });
    if (!view) throw FxException.notFound('endpoint', id);
    return view;
  }

  async updateFunction(p: Principal, ref: string, req: UpdateFunctionRequest): Promise<FunctionInfo> {
    const f = await this.functions.getVisible(p, ref);
    if (!(f.ownerId === p.userId || p.admin)) throw FxException.notFound('function', ref);
    return toFunctionInfo(f.public === req.public ? f : await this.repo.setFunctionPublic(f.id, req.public));
  }

  listEndpoints(p: Principal): Promise<ConsoleEndpoint[]> {
    return this.endpointViews(p.admin ? {} : { ownerId: p.userId });
  }

  /** Console views of live endpoints: two statements whatever their number. */
  async endpointViews(filter: { ids?: string[]; ownerId?: string }): Promise<ConsoleEndpoint[]> {
    const rows = await this.repo.endpointsWithOwner(filter);
    const counts = await this.repo.queueCountsByEndpoint(rows.map((r) => r.id));
    return rows.map((e) => this.toConsoleEndpoint(e, counts.get(e.id)!));
  }

  private toConsoleEndpoint(e: EndpointWithOwner, tasks: ConsoleEndpoint['tasks']): ConsoleEndpoint {
    return { ...this.endpoints.toInfo(e), lockedAt: iso(e.lockedAt), ownerName: e.owner?.name ?? null, tasks };
  }

  async overview(p: Principal, now = new Date()): Promise<OverviewResponse> {
    const ownerId = p.admin ? null : p.userId;
    const currentMinute = Math.floor(now.getTime() / MINUTE);
    const first = currentMinute - 59;
    const [endpoints, queue, buckets] = await Promise.all([
      this.endpointViews(ownerId ? { ownerId } : {}),
      this.repo.queueCounts(ownerId),
      this.repo.throughput(new Date(first * MINUTE), ownerId),
    ]);
    const byMinute = new Map(buckets.map((b) => [Number(b.minute), b]));
    return {
      endpoints: {
        online: endpoints.filter((e) => e.state === 'online').length,
        offline: endpoints.filter((e) => e.state === 'offline').length,
        locked: endpoints.filter((e) => e.lockedAt).length,
      },
      queue,
      throughput: Array.from({ length: 60 }, (_, i) => {
        const b = byMinute.get(first + i);
        return { minute: new Date((first + i) * MINUTE).toISOString(), completed: Number(b?.completed ?? 0), failed: Number(b?.failed ?? 0) };
      }),
      generatedAt: now.toISOString(),
    };
  }
}
