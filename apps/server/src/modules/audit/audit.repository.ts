import { Inject, Injectable } from '@nestjs/common';
import type { AuditAction, AuditTargetType } from '@fx/protocol';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import type { Prisma } from '../../generated/prisma/client.js';

/** One entry to append, its details already bounded (audit-details.ts). */
export interface NewAuditEntry {
  actorKind: 'user' | 'endpoint' | 'system';
  actorId: string | null;
  action: AuditAction;
  targetType: AuditTargetType;
  targetId: string;
  ownerId: string | null;
  details: Record<string, unknown>;
}

/** What a reader may see and asked for (AuditQuery, resolved by AuditService). */
export interface AuditFilter {
  /** null: every entry (an admin); else only those whose owner or actor this user is. */
  viewer: string | null;
  action?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
}

export interface AuditRow {
  id: bigint;
  at: Date;
  actorKind: string;
  actorId: string | null;
  actorName: string | null;
  action: string;
  targetType: string;
  targetId: string;
  ownerId: string | null;
  details: Prisma.JsonValue;
}

/**
 * The INSERT of entries (`param`: auditRows' jsonb), a statement of its own (append) or a step of another
 * statement that records the action itself (a submission: task-sql.ts submissionInsert), so that the
 * action and its entry commit together in one round trip. The actor's name is read in the same
 * statement, as it is now (a user's or endpoint's name may change or be reused later; the entry keeps this one).
 */
export function auditInsert(param: string): string {
  return `INSERT INTO audit_log (actor_kind, actor_id, actor_name, action, target_type, target_id, owner_id, details)
         SELECT x.actor_kind, x.actor_id, COALESCE(u.name, e.name), x.action, x.target_type, x.target_id, x.owner_id, x.details
         FROM ROWS FROM (jsonb_to_recordset(${param}::jsonb)
                AS (actor_kind text, actor_id uuid, action text, target_type text, target_id text, owner_id uuid, details jsonb))
              WITH ORDINALITY AS x(actor_kind, actor_id, action, target_type, target_id, owner_id, details, n)
         LEFT JOIN users u ON x.actor_kind = 'user' AND u.id = x.actor_id
         LEFT JOIN endpoints e ON x.actor_kind = 'endpoint' AND e.id = x.actor_id
         ORDER BY x.n`;
}

/** Entries as auditInsert's parameter takes them. */
export function auditRows(entries: NewAuditEntry[]): string {
  return JSON.stringify(
    entries.map((e) => ({
      actor_kind: e.actorKind,
      actor_id: e.actorId,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId,
      owner_id: e.ownerId,
      details: e.details,
    })),
  );
}

/**
 * The audit_log table: appends and keyset reads, nothing else. The table refuses UPDATE, DELETE and
 * TRUNCATE by trigger (migration 20261219002000_audit), so no statement here could edit history anyway.
 */
@Injectable()
export class AuditRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * Appends entries in one statement. The actor's name is read in the same statement, as it is now
   * (a user's or endpoint's name may change or be reused later; the entry keeps this one).
   */
  async append(entries: NewAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await withConflictRetry(() => this.db.prisma.$executeRawUnsafe(auditInsert('$1'), auditRows(entries)));
  }

  /** A page after (asc) or before (desc) a cursor id; `limit` rows at most. */
  page(filter: AuditFilter, order: 'asc' | 'desc', cursor: bigint | null, limit: number): Promise<AuditRow[]> {
    const where: Prisma.AuditLogWhereInput = {
      ...(cursor === null ? {} : { id: order === 'asc' ? { gt: cursor } : { lt: cursor } }),
      ...(filter.viewer === null ? {} : { OR: [{ ownerId: filter.viewer }, { actorId: filter.viewer }] }),
      ...(filter.action ? { action: filter.action } : {}),
      ...(filter.actorId ? { actorId: filter.actorId } : {}),
      ...(filter.targetType ? { targetType: filter.targetType } : {}),
      ...(filter.targetId ? { targetId: filter.targetId } : {}),
      ...(filter.since || filter.until ? { at: { ...(filter.since ? { gte: filter.since } : {}), ...(filter.until ? { lt: filter.until } : {}) } } : {}),
    };
    return this.db.prisma.auditLog.findMany({ where, orderBy: { id: order }, take: limit });
  }
}
