import { z } from 'zod';
import { Uuid } from './common.js';

/**
 * The audit log (issue 17): an append-only record of security-relevant actions. The server writes an
 * entry after the action commits (and in the same transaction where the action is one statement); no
 * API updates or deletes one, and the database refuses UPDATE and DELETE on the table.
 *
 * Who sees what: an admin sees every entry; a user sees the entries about their own things (`ownerId`
 * is theirs) and the ones they made (`actor.id` is theirs). One submission is one `tasks.submitted`
 * entry, whatever its size, naming each (function, version, endpoint) it used with a count.
 */
export const AuditAction = z.enum([
  'user.created',
  'token.issued',
  'token.revoked',
  'function.registered',
  'function.updated',
  'function.published',
  'function.unpublished',
  'function.deleted',
  'endpoint.registered',
  'endpoint.allowlist-changed',
  'endpoint.locked',
  'endpoint.unlocked',
  'endpoint.deleted',
  'endpoint-group.created',
  'endpoint-group.deleted',
  'endpoint-group.member-invited',
  'endpoint-group.member-accepted',
  'endpoint-group.member-declined',
  'endpoint-group.member-removed',
  'tasks.submitted',
  'tasks.cancelled',
  'object.created',
  'object.deleted',
  'trigger.created',
  'trigger.deleted',
  'cache.cleared',
]);
export type AuditAction = z.infer<typeof AuditAction>;

/** Who acted: a user (with a user token or the console's session), an endpoint's agent, or the server itself. */
export const AuditActor = z.object({
  kind: z.enum(['user', 'endpoint', 'system']),
  /** The user's id (kind user), the endpoint's id (kind endpoint); null for the system. */
  id: Uuid.nullable(),
  /** The user's name or the endpoint's, as it was then. */
  name: z.string().nullable(),
});
export type AuditActor = z.infer<typeof AuditActor>;

export const AuditTargetType = z.enum(['user', 'token', 'function', 'endpoint', 'endpoint-group', 'task', 'task-group', 'object', 'trigger']);
export type AuditTargetType = z.infer<typeof AuditTargetType>;

/** Largest `details` of one entry, as JSON; more is replaced by a marker saying how large it was. */
export const MAX_AUDIT_DETAILS_BYTES = 8 * 1024;

export const AuditEntry = z.object({
  /** Increasing; pass the last one seen as `after` for the next page. */
  id: z.string().regex(/^\d+$/),
  at: z.string(),
  actor: AuditActor,
  action: AuditAction,
  target: z.object({ type: AuditTargetType, id: z.string().max(256) }),
  /** Whose thing it is (the function's, endpoint's, task's owner); null for the server's own things. */
  ownerId: Uuid.nullable(),
  /** What else matters: names, versions, counts, allow-lists (no secrets: never a token). */
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** `GET /v1/audit`: oldest first after `after`, or newest first (before `before`) with `order=desc`. */
export const AuditQuery = z
  .object({
    after: z
      .string()
      .regex(/^\d{1,19}$/)
      .optional(),
    before: z
      .string()
      .regex(/^\d{1,19}$/)
      .optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
    order: z.enum(['asc', 'desc']).default('asc'),
    action: AuditAction.optional(),
    /** Entries made by this user (admins only; a user's own view is already theirs). */
    actorId: Uuid.optional(),
    targetType: AuditTargetType.optional(),
    targetId: z.string().max(256).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    /** `jsonl`: every matching entry as JSON lines (application/x-ndjson), streamed; `limit` is ignored. */
    format: z.enum(['json', 'jsonl']).default('json'),
  })
  .strict();
export type AuditQuery = z.input<typeof AuditQuery>;

export const AuditPage = z.object({
  items: z.array(AuditEntry),
  /** Pass as `after` (order asc) or `before` (order desc) for the next page; null at the end. */
  next: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPage>;
