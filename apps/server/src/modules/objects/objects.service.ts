import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { ListObjectsQuery, ListObjectsResponse, ObjectInfo } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import { ObjectLocality } from './object-locality.js';
import { ObjectMissingError, type ObjectStore } from '../../storage/object-store.js';
import type { Principal } from '../auth/principal.js';
import { OBJECT_STORE } from './object-store.provider.js';
import { decodeObjectCursor, encodeObjectCursor, toObjectInfo } from './object-info.js';
import { ObjectsRepository, type ObjectRow } from './objects.repository.js';
import { ObjectQuota } from './object-quota.js';
import { AuditService } from '../audit/audit.service.js';
import { MetricsService } from '../metrics/metrics.service.js';

export type ParsedListObjectsQuery = Omit<ListObjectsQuery, 'limit'> & { limit: number };

/** What GET /v1/objects/:id/content sends: the object, and all of its bytes or one range (inclusive). */
export interface ContentPlan {
  object: ObjectRow;
  size: number;
  /** null: the whole content; 'unsatisfiable': the range starts past the end (416). */
  range: { start: number; end: number } | null | 'unsatisfiable';
}

/**
 * Reading and deleting objects. Users see their own objects (admins every one); an endpoint token
 * reads an object a task leased to its endpoint refers to, or one its owner owns. Anything else is 404,
 * like an id that does not exist.
 */
@Injectable()
export class ObjectsService {
  constructor(
    private readonly objects: ObjectsRepository,
    private readonly quota: ObjectQuota,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly locality: ObjectLocality,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async list(p: Principal, q: ParsedListObjectsQuery): Promise<ListObjectsResponse> {
    // someone else's objects only for admins; others asking for them get their empty list, as for tasks
    if (q.ownerId && q.ownerId !== p.userId && !p.admin) return { items: [], nextCursor: null };
    const ownerId = q.ownerId ?? p.userId;
    const rows = await this.objects.list(ownerId, {
      ...(q.prefix ? { prefix: q.prefix } : {}),
      ...(q.name ? { name: q.name } : {}),
      ...(q.cursor ? { before: decodeObjectCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return {
      items: page.map(toObjectInfo),
      nextCursor: rows.length > q.limit ? encodeObjectCursor(page[page.length - 1]!) : null,
      usage: await this.quota.usage(ownerId),
    };
  }

  async get(p: Principal, id: string): Promise<ObjectInfo> {
    return toObjectInfo(await this.readable(p, id));
  }

  async delete(p: Principal, id: string): Promise<void> {
    const gone = await this.objects.markDeleted(id, p.admin ? null : p.userId);
    if (!gone) throw FxException.notFound('object', id);
    await this.audit.record(p, {
      action: 'object.deleted',
      target: { type: 'object', id },
      ownerId: gone.owner_id,
      details: { name: gone.name, sha256: gone.sha256, size: Number(gone.size) },
    });
  }

  /** Which bytes of the object a `Range: bytes=N-` (or `bytes=N-M`) asks for, once the caller may read it. */
  async content(p: Principal, id: string, rangeHeader: string | undefined): Promise<ContentPlan> {
    const object = await this.readable(p, id);
    // an agent caches what it fetches, for the tasks of the object's owner (its cache is partitioned by
    // task owner): endpoint group routing prefers it for that owner's tasks of the same inputs
    if (p.kind === 'endpoint' && p.endpointId) this.locality.noteFetched(p.endpointId, object.owner_id, object.sha256);
    const size = Number(object.size);
    return { object, size, range: parseRange(rangeHeader, size) };
  }

  /** The planned bytes, streamed from the store. */
  async open(plan: ContentPlan): Promise<Readable | null> {
    if (plan.size === 0 || plan.range === 'unsatisfiable') return null;
    try {
      const start = plan.range?.start ?? 0;
      const end = plan.range?.end ?? plan.size - 1;
      const body = await this.store.read(plan.object.sha256, start, end);
      // the bytes asked for: a reader that goes away midway is counted in full
      this.metrics.objectBytesOut(end - start + 1);
      return body;
    } catch (e) {
      if (e instanceof ObjectMissingError) throw new FxException('NOT_FOUND', `the content of object ${plan.object.id} is missing from the object store`);
      throw e;
    }
  }

  private async readable(p: Principal, id: string): Promise<ObjectRow> {
    const row =
      p.kind === 'endpoint' ? await this.objects.findForEndpoint(id, p.endpointId!, p.userId) : await this.objects.findVisible(id, p.admin ? null : p.userId);
    if (!row) throw FxException.notFound('object', id);
    return row;
  }
}

/**
 * One range of `bytes=N-` or `bytes=N-M` (what resuming a download needs); anything else (several
 * ranges, suffix ranges, other units) is ignored and the whole content is sent, as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header || size === 0) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return { start, end };
}
