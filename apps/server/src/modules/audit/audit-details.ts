import { MAX_AUDIT_DETAILS_BYTES } from '@fx/protocol';
import type { AuditRecord } from './audit.service.js';

/** Keys whose values are never written to the log, whatever a caller passes (a token, a key, a password). */
const SECRET_KEY = /^(token|secret|password|passphrase|authorization|signing[-_]?key|api[-_]?key|private[-_]?key)$/i;
/** A compact JWS (what FX's tokens are): three base64url parts, the first a JSON header. */
const JWT = /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Items of one list kept in an entry (an allow-list); the count beside it says how many there were. */
export const MAX_LISTED = 100;
/** Distinct (function, version, endpoint) uses of one submission kept in its entry (each is ~250 bytes of JSON). */
export const MAX_USES = 24;

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return JWT.test(value) ? '[redacted]' : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : scrub(v, depth + 1);
  }
  return out;
}

/**
 * An entry's details as stored: no secret (keys named like one, strings shaped like a token) and at
 * most MAX_AUDIT_DETAILS_BYTES of JSON; larger details are replaced by a marker with their size, so
 * an entry is never refused (the action it records has already happened).
 */
export function boundDetails(details: Record<string, unknown>): Record<string, unknown> {
  const clean = scrub(details, 0) as Record<string, unknown>;
  const bytes = Buffer.byteLength(JSON.stringify(clean));
  return bytes <= MAX_AUDIT_DETAILS_BYTES ? clean : { truncated: true, bytes };
}

/** A list cut to MAX_LISTED items, with its full length beside it. */
export function listed<T>(name: string, items: T[], max = MAX_LISTED): Record<string, unknown> {
  return { [name]: items.slice(0, max), [`${name}Count`]: items.length };
}

/** What one submission ran: each distinct (function, version, endpoint or endpoint group) with its count. */
export function submissionUses(
  tasks: Array<{ functionId: string; endpointId: string; endpointGroupId?: string | null }>,
  functions: Map<string, { name: string; version: number }>,
): Array<Record<string, unknown>> {
  const uses = new Map<string, Record<string, unknown> & { count: number }>();
  for (const t of tasks) {
    const key = `${t.functionId}/${t.endpointGroupId ?? t.endpointId}`;
    const seen = uses.get(key);
    if (seen) seen.count++;
    else {
      const where = t.endpointGroupId ? { endpointGroupId: t.endpointGroupId } : { endpointId: t.endpointId };
      const fn = functions.get(t.functionId);
      uses.set(key, { functionId: t.functionId, functionName: fn?.name ?? null, version: fn?.version ?? null, ...where, count: 1 });
    }
  }
  return [...uses.values()];
}

/** The entry of a token just issued: what it is for, never its material. */
export function tokenIssued(row: { id: string; userId: string; name: string; kind: string; endpointId: string | null; expiresAt: Date | null }): AuditRecord {
  return {
    action: 'token.issued',
    target: { type: 'token', id: row.id },
    ownerId: row.userId,
    details: { name: row.name, kind: row.kind, ...(row.endpointId ? { endpointId: row.endpointId } : {}), expiresAt: row.expiresAt?.toISOString() ?? null },
  };
}
