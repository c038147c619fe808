import { Injectable, Logger } from '@nestjs/common';
import type { z } from 'zod';
import type { AuditAction, AuditEntry, AuditPage, AuditQuery, AuditTargetType } from '@fx/protocol';
import type { Principal } from '../auth/principal.js';
import { AuditRepository, type AuditFilter, type AuditRow, type NewAuditEntry } from './audit.repository.js';
import { boundDetails } from './audit-details.js';

/** The query as ZodPipe hands it over (defaults applied). */
export type ParsedAuditQuery = z.output<typeof AuditQuery>;

/** Who acted: the caller of a request, or the server itself (bootstrap, a trigger's firing). */
export type AuditBy = Principal | 'system';

/** One action to record: what was done, to what, whose thing it is, and what else matters. */
export interface AuditRecord {
  action: AuditAction;
  target: { type: AuditTargetType; id: string };
  /** Whose thing the target is; null for the server's own things. */
  ownerId: string | null;
  details?: Record<string, unknown>;
}

/** Rows read per statement while exporting JSON lines. */
const EXPORT_PAGE = 500;

function toEntry(r: AuditRow): AuditEntry {
  return {
    id: r.id.toString(),
    at: r.at.toISOString(),
    actor: { kind: r.actorKind as AuditEntry['actor']['kind'], id: r.actorId, name: r.actorName },
    action: r.action as AuditAction,
    target: { type: r.targetType as AuditTargetType, id: r.targetId },
    ownerId: r.ownerId,
    details: r.details && typeof r.details === 'object' && !Array.isArray(r.details) ? (r.details as Record<string, unknown>) : {},
  };
}

/**
 * The audit log: services record an action right after it succeeded; readers page through what they
 * may see (an admin everything, a user the entries about their things and the ones they made).
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(private readonly audit: AuditRepository) {}

  /** Records one action; see recordMany. */
  record(by: AuditBy, entry: AuditRecord): Promise<void> {
    return this.recordMany(by, [entry]);
  }

  /**
   * Records actions that have already taken effect, before the request answers. Writing the entry
   * never fails the request (the action stands either way): a failure is logged with the whole
   * entry, so the record is not lost.
   */
  async recordMany(by: AuditBy, entries: AuditRecord[]): Promise<void> {
    const rows = this.entries(by, entries);
    try {
      await this.audit.append(rows);
    } catch (err) {
      this.logger.error({ msg: 'an audit entry could not be written', err: String(err), entries: rows });
    }
  }

  /**
   * The rows of these actions, for a statement that records the action and its entry together (a
   * submission: TasksRepository.insertMany), one round trip instead of two.
   */
  entries(by: AuditBy, entries: AuditRecord[]): NewAuditEntry[] {
    const actor =
      by === 'system'
        ? { actorKind: 'system' as const, actorId: null }
        : by.kind === 'endpoint'
          ? { actorKind: 'endpoint' as const, actorId: by.endpointId }
          : { actorKind: 'user' as const, actorId: by.userId };
    return entries.map((e) => ({
      ...actor,
      action: e.action,
      targetType: e.target.type,
      targetId: e.target.id.slice(0, 256),
      ownerId: e.ownerId,
      details: boundDetails(e.details ?? {}),
    }));
  }

  /** One page, oldest first after `after` or newest first before `before` (order desc). */
  async page(p: Principal, q: ParsedAuditQuery): Promise<AuditPage> {
    const cursor = q.order === 'asc' ? q.after : q.before;
    const rows = await this.audit.page(this.filter(p, q), q.order, cursor ? BigInt(cursor) : null, q.limit + 1);
    const items = rows.slice(0, q.limit).map(toEntry);
    return { items, next: rows.length > q.limit ? items[items.length - 1]!.id : null };
  }

  /** Every matching entry, a page per statement (never all in memory), for the JSON lines export. */
  async *export(p: Principal, q: ParsedAuditQuery): AsyncGenerator<AuditEntry[]> {
    const filter = this.filter(p, q);
    const first = q.order === 'asc' ? q.after : q.before;
    let cursor = first ? BigInt(first) : null;
    for (;;) {
      const rows = await this.audit.page(filter, q.order, cursor, EXPORT_PAGE);
      if (rows.length > 0) yield rows.map(toEntry);
      if (rows.length < EXPORT_PAGE) return;
      cursor = rows[rows.length - 1]!.id;
    }
  }

  /** Visibility first: a user's filters narrow their own view, never widen it. */
  private filter(p: Principal, q: ParsedAuditQuery): AuditFilter {
    return {
      viewer: p.admin ? null : p.userId,
      ...(q.action ? { action: q.action } : {}),
      ...(q.actorId ? { actorId: q.actorId } : {}),
      ...(q.targetType ? { targetType: q.targetType } : {}),
      ...(q.targetId ? { targetId: q.targetId } : {}),
      ...(q.since ? { since: new Date(q.since) } : {}),
      ...(q.until ? { until: new Date(q.until) } : {}),
    };
  }
}
