import { decodeJwt } from 'jose';
import type { AuditEntry } from '@fx/protocol';

/** A request the matrix's users made that changed something (any method but GET, answered 2xx). */
export interface Performed {
  method: string;
  /** The path, without the query string. */
  path: string;
  status: number;
  body: unknown;
  res: any;
  token: string | undefined;
}

/** What the audit log must hold for one performed request: (action, target id) pairs, or why nothing. */
type Rule = (m: string[], call: Performed) => Array<[string, string]> | { none: string };

/**
 * Every mutating route, and the entries a success of it leaves. A route missing here fails the test,
 * so a new route has to say what it records (or why nothing).
 */
const RULES: Array<[string, RegExp, Rule]> = [
  ['POST', /^\/v1\/users$/, (_m, c) => [['user.created', c.res.id]]],
  ['POST', /^\/v1\/users\/[^/]+\/tokens$/, (_m, c) => [['token.issued', c.res.info.id]]],
  ['DELETE', /^\/v1\/tokens\/([^/]+)$/, (m) => [['token.revoked', m[1]!]]],
  // 200: the same registration again, which changes nothing
  ['POST', /^\/v1\/functions$/, (_m, c) => (c.status === 201 ? [['function.registered', c.res.id]] : { none: 'the same registration again' })],
  ['PATCH', /^\/v1\/functions\/[^/]+$/, (_m, c) => [[(c.body as { public: boolean }).public ? 'function.published' : 'function.unpublished', c.res.id]]],
  ['DELETE', /^\/v1\/functions\/([^/]+)\/cache$/, (m) => [['cache.cleared', m[1]!]]],
  ['DELETE', /^\/v1\/functions\/([^/]+)$/, (m) => [['function.deleted', m[1]!]]],
  [
    'POST',
    /^\/v1\/endpoints$/,
    (_m, c) => [
      ['endpoint.registered', c.res.endpoint.id],
      ['token.issued', decodeJwt(c.res.token).jti!],
    ],
  ],
  ['POST', /^\/v1\/endpoints\/[^/]+\/lock$/, (_m, c) => [['endpoint.locked', c.res.id]]],
  ['POST', /^\/v1\/endpoints\/[^/]+\/unlock$/, (_m, c) => [['endpoint.unlocked', c.res.id]]],
  ['PATCH', /^\/v1\/endpoints\/([^/]+)$/, (m) => [['endpoint.allowlist-changed', m[1]!]]],
  ['DELETE', /^\/v1\/endpoints\/([^/]+)$/, (m) => [['endpoint.deleted', m[1]!]]],
  ['POST', /^\/v1\/tasks$/, (_m, c) => [['tasks.submitted', c.res.taskId]]],
  ['POST', /^\/v1\/tasks\/batch$/, (_m, c) => [['tasks.submitted', c.res.batchId]]],
  ['POST', /^\/v1\/tasks\/(status|results)$/, () => ({ none: 'a read with a body' })],
  ['POST', /^\/v1\/tasks\/([^/]+)\/cancel$/, (m) => [['tasks.cancelled', m[1]!]]],
  ['POST', /^\/v1\/groups$/, () => ({ none: 'an empty task group: its batches are the submissions' })],
  ['POST', /^\/v1\/groups\/([^/]+)\/cancel$/, (m) => [['tasks.cancelled', m[1]!]]],
  ['POST', /^\/v1\/objects\/uploads$/, () => ({ none: 'an upload is no object until completed' })],
  ['PUT', /^\/v1\/objects\/uploads\/[^/]+$/, () => ({ none: 'an upload is no object until completed' })],
  ['POST', /^\/v1\/objects\/uploads\/[^/]+\/complete$/, (_m, c) => [['object.created', c.res.id]]],
  ['POST', /^\/v1\/objects$/, (_m, c) => [['object.created', c.res.id]]],
  ['DELETE', /^\/v1\/objects\/([^/]+)$/, (m) => [['object.deleted', m[1]!]]],
  ['POST', /^\/v1\/triggers$/, (_m, c) => [['trigger.created', c.res.id]]],
  ['DELETE', /^\/v1\/triggers\/([^/]+)$/, (m) => [['trigger.deleted', m[1]!]]],
  ['POST', /^\/v1\/endpoint-groups$/, (_m, c) => [['endpoint-group.created', c.res.id]]],
  ['DELETE', /^\/v1\/endpoint-groups\/([^/]+)$/, (m) => [['endpoint-group.deleted', m[1]!]]],
  ['POST', /^\/v1\/endpoint-groups\/([^/]+)\/members$/, (m) => [['endpoint-group.member-invited', m[1]!]]],
  ['DELETE', /^\/v1\/endpoint-groups\/([^/]+)\/members\/[^/]+$/, (m) => [['endpoint-group.member-removed', m[1]!]]],
  ['POST', /^\/v1\/endpoint-groups\/([^/]+)\/members\/[^/]+\/accept$/, (m) => [['endpoint-group.member-accepted', m[1]!]]],
  ['POST', /^\/v1\/endpoint-groups\/([^/]+)\/members\/[^/]+\/decline$/, (m) => [['endpoint-group.member-declined', m[1]!]]],
];

/** `action target by actor`: what one entry says, as the comparison reads it. */
export const entryKey = (action: string, targetId: string, actorId: string | null) => `${action} ${targetId} by ${actorId}`;

/**
 * The entries the performed requests must have left (each keyed with its actor's user id), and the
 * requests no rule covers (which fail the test).
 */
export function expectedEntries(performed: Performed[], userOf: (token: string | undefined) => string): { keys: Set<string>; unknown: string[] } {
  const keys = new Set<string>();
  const unknown: string[] = [];
  for (const call of performed) {
    const rule = RULES.find(([method, re]) => method === call.method && re.test(call.path));
    if (!rule) {
      unknown.push(`${call.method} ${call.path}`);
      continue;
    }
    const out = rule[2](rule[1].exec(call.path)!.slice(), call);
    if ('none' in out) continue;
    for (const [action, target] of out) keys.add(entryKey(action, target, userOf(call.token)));
  }
  return { keys, unknown };
}

/** The log's entries made by these users, keyed as expectedEntries keys them. */
export function loggedEntries(entries: AuditEntry[], actors: Set<string>): Set<string> {
  return new Set(entries.filter((e) => e.actor.id !== null && actors.has(e.actor.id)).map((e) => entryKey(e.action, e.target.id, e.actor.id)));
}
