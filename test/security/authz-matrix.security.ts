import { jest } from '@jest/globals';
import { ENDPOINT_PROTOCOL_VERSION } from '@fx/protocol';
import WebSocket from 'ws';
import { SignJWT, decodeJwt } from 'jose';
import { randomBytes } from 'node:crypto';
import type { AuditEntry } from '@fx/protocol';
import { startTestServer, rest as plainRest, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { seedAttempts, seedBlocks } from '../../apps/server/src/testing/usage-seed.js';
import { DATABASE } from '../../apps/server/src/storage/storage.module.js';
import type { Database } from '../../apps/server/src/storage/database.js';
import { expectedEntries, loggedEntries, type Performed } from './authz-audit.fixture.js';

/**
 * The authorisation matrix (issue 5): every REST route and every websocket channel × every kind of
 * caller. Table-driven: each cell has an expected answer, and every refusal must be 401, 403 or 404
 * (404 for things that exist but are not yours), never a 5xx. The matrix is printed.
 */
jest.setTimeout(180_000);

type Identity = 'owner' | 'other' | 'admin' | 'endpoint' | 'revoked' | 'expired' | 'otherKey' | 'algNone' | 'malformed' | 'none';
const IDENTITIES: Identity[] = ['owner', 'other', 'admin', 'endpoint', 'revoked', 'expired', 'otherKey', 'algNone', 'malformed', 'none'];
const BAD: Identity[] = ['revoked', 'expired', 'otherKey', 'algNone', 'malformed', 'none'];

/** Which answer a cell must get: 'ok' is any 2xx. */
type Expect = 'ok' | 401 | 403 | 404;

interface Fixture {
  userId: string;
  functionId: string;
  endpointId: string;
  taskId: string;
  tokenId: string;
}

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** As in /openapi.json, with {id} for the path parameter. */
  path: string;
  /** The concrete path and body; destructive routes get fresh resources of the owner for each cell. */
  make: (f: Fixture, fresh: () => Promise<Fixture>) => Promise<{ url: string; body?: unknown; headers?: Record<string, string> }>;
  /** Expected answer for owner, other user and admin (the rest follow from the token kind). */
  owner: Expect;
  other: Expect;
  admin: Expect;
  /** Routes endpoint tokens may call too (objects): the answer for the owner's endpoint (else 403). */
  endpoint?: Expect;
  public?: boolean;
}

/** Every request of the matrix's users that changed something (not GET, answered 2xx): the audit log must hold each. */
const performed: Performed[] = [];

/** The REST caller of the tests, noting each successful mutating request in `performed`. */
function rest(baseUrl: string, token?: string) {
  const call = plainRest(baseUrl, token);
  return async <T = any>(method: string, url: string, body?: unknown, headers?: Record<string, string>) => {
    const res = await call<T>(method, url, body, headers);
    if (method !== 'GET' && res.status >= 200 && res.status < 300) {
      performed.push({ method, path: url.split('?')[0]!, status: res.status, body, res: res.body, token });
    }
    return res;
  };
}

const same = (url: string, body?: unknown, headers?: Record<string, string>) => async () => ({ url, body, headers });

let server: TestServer;
let api: ReturnType<typeof rest>;
const tokens = {} as Record<Identity, string | undefined>;
let base: Fixture;
let ownerFn: string;
let ownerEp: string;
let ownerToken: string;

/** A fresh function, endpoint and task of the owner, and a fresh token of the owner's. */
async function fresh(): Promise<Fixture> {
  const as = rest(server.url, ownerToken);
  // Distinct sources: registering the same function again returns the existing one (200), not a fresh one.
  const fn = await as('POST', '/v1/functions', { name: 'f', runtime: 'js', source: `(x) => x /* ${randomBytes(4).toString('hex')} */` });
  const ep = await as('POST', '/v1/endpoints', { name: `e${randomBytes(3).toString('hex')}` });
  const task = await as('POST', '/v1/tasks', { functionId: fn.body.id, endpointId: ep.body.endpoint.id, args: [1] });
  const tok = await rest(server.url, server.adminToken)('POST', `/v1/users/${base.userId}/tokens`, { name: 'spare' });
  if (fn.status !== 201 || ep.status !== 201 || task.status !== 201 || tok.status !== 201)
    throw new Error(`fixture failed: ${JSON.stringify([fn, ep, task, tok].map((r) => r.status))}`);
  return { userId: base.userId, functionId: fn.body.id, endpointId: ep.body.endpoint.id, taskId: task.body.taskId, tokenId: tok.body.info.id };
}

/** A fresh group of the owner's (a batch of one task, as `fx batch` makes). */
async function ownerGroup(): Promise<string> {
  const f = await fresh();
  const r = await rest(server.url, ownerToken)('POST', '/v1/tasks/batch', { endpointId: f.endpointId, tasks: [{ functionId: f.functionId, args: [4] }] });
  if (r.status !== 201) throw new Error(`group fixture failed: ${r.status}`);
  return r.body.batchId as string;
}

/** A fresh upload of the owner's, opened without a size (so that completing it makes an empty object). */
async function ownerUpload(): Promise<string> {
  const r = await rest(server.url, ownerToken)('POST', '/v1/objects/uploads', {});
  if (r.status !== 201) throw new Error(`upload fixture failed: ${r.status}`);
  return r.body.uploadId as string;
}

/** A fresh object of the owner's (its bytes are JSON text, so the table's JSON reader can read them back). */
async function ownerObject(): Promise<string> {
  const r = await rest(server.url, ownerToken)('POST', '/v1/objects', '{"a":1}', { 'content-type': 'application/octet-stream' });
  if (r.status !== 201) throw new Error(`object fixture failed: ${r.status}`);
  return r.body.id as string;
}

/** A fresh trigger of the owner's, on the owner's function and endpoint. */
async function ownerTrigger(): Promise<string> {
  const f = await fresh();
  const r = await rest(server.url, ownerToken)('POST', '/v1/triggers', { prefix: 'in/', function: f.functionId, endpoint: f.endpointId });
  if (r.status !== 201) throw new Error(`trigger fixture failed: ${r.status}`);
  return r.body.id as string;
}

/** A fresh endpoint group of the owner's, with a fresh endpoint of the owner's in it; and one of the other user's inviting it. */
async function ownerEndpointGroup(): Promise<{ groupId: string; endpointId: string }> {
  const f = await fresh();
  const r = await rest(server.url, ownerToken)('POST', '/v1/endpoint-groups', { name: `g${randomBytes(4).toString('hex')}`, members: [f.endpointId] });
  if (r.status !== 201) throw new Error(`endpoint group fixture failed: ${r.status}`);
  return { groupId: r.body.id as string, endpointId: f.endpointId };
}

async function invitationOfOwnerEndpoint(): Promise<{ groupId: string; endpointId: string }> {
  const f = await fresh();
  const r = await rest(server.url, tokens.other)('POST', '/v1/endpoint-groups', { name: `i${randomBytes(4).toString('hex')}`, members: [f.endpointId] });
  if (r.status !== 201) throw new Error(`invitation fixture failed: ${r.status}`);
  return { groupId: r.body.id as string, endpointId: f.endpointId };
}

const OCTETS = { 'content-type': 'application/octet-stream' };

const ROUTES: Route[] = [
  { method: 'GET', path: '/healthz', make: same('/healthz'), owner: 'ok', other: 'ok', admin: 'ok', public: true },
  { method: 'GET', path: '/readyz', make: same('/readyz'), owner: 'ok', other: 'ok', admin: 'ok', public: true },
  // FX_METRICS=loopback (the default) and this table calls from 127.0.0.1; other addresses: metrics.spec.ts
  { method: 'GET', path: '/metrics', make: same('/metrics'), owner: 'ok', other: 'ok', admin: 'ok', public: true },
  { method: 'GET', path: '/v1/whoami', make: same('/v1/whoami'), owner: 'ok', other: 'ok', admin: 'ok' },
  {
    method: 'POST',
    path: '/v1/users',
    make: async () => ({ url: '/v1/users', body: { name: `u${randomBytes(4).toString('hex')}` } }),
    owner: 403,
    other: 403,
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/users', make: same('/v1/users'), owner: 403, other: 403, admin: 'ok' },
  {
    method: 'POST',
    path: '/v1/users/{id}/tokens',
    make: async (f) => ({ url: `/v1/users/${f.userId}/tokens`, body: { name: 't' } }),
    owner: 403,
    other: 403,
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/users/{id}/tokens', make: async (f) => ({ url: `/v1/users/${f.userId}/tokens` }), owner: 403, other: 403, admin: 'ok' },
  { method: 'DELETE', path: '/v1/tokens/{id}', make: async (_f, mk) => ({ url: `/v1/tokens/${(await mk()).tokenId}` }), owner: 403, other: 403, admin: 'ok' },
  {
    method: 'POST',
    path: '/v1/functions',
    make: same('/v1/functions', { name: 'g', runtime: 'js', source: '() => 1' }),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/functions', make: same('/v1/functions'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/functions/{id}', make: async (f) => ({ url: `/v1/functions/${f.functionId}` }), owner: 'ok', other: 404, admin: 'ok' },
  {
    method: 'PATCH',
    path: '/v1/functions/{id}',
    make: async (f) => ({ url: `/v1/functions/${f.functionId}`, body: { public: false } }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'DELETE',
    path: '/v1/functions/{id}',
    make: async (_f, mk) => ({ url: `/v1/functions/${(await mk()).functionId}` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'DELETE',
    path: '/v1/functions/{id}/cache',
    make: async (f) => ({ url: `/v1/functions/${f.functionId}/cache` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'POST',
    path: '/v1/endpoints',
    make: async () => ({ url: '/v1/endpoints', body: { name: `n${randomBytes(4).toString('hex')}` } }),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/endpoints', make: same('/v1/endpoints'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/endpoints/{id}', make: async (f) => ({ url: `/v1/endpoints/${f.endpointId}` }), owner: 'ok', other: 404, admin: 'ok' },
  {
    method: 'GET',
    path: '/v1/endpoints/{id}/status',
    make: async (f) => ({ url: `/v1/endpoints/${f.endpointId}/status` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'PATCH',
    path: '/v1/endpoints/{id}',
    make: async (_f, mk) => {
      const f = await mk();
      return { url: `/v1/endpoints/${f.endpointId}`, body: { allowedFunctions: [f.functionId] } };
    },
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'DELETE',
    path: '/v1/endpoints/{id}',
    make: async (_f, mk) => ({ url: `/v1/endpoints/${(await mk()).endpointId}` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'POST',
    path: '/v1/endpoints/{id}/lock',
    make: async (_f, mk) => ({ url: `/v1/endpoints/${(await mk()).endpointId}/lock` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'POST',
    path: '/v1/endpoints/{id}/unlock',
    make: async (f) => ({ url: `/v1/endpoints/${f.endpointId}/unlock` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  // running code on a machine is for its owner alone: an admin may see and manage, not submit
  {
    method: 'POST',
    path: '/v1/tasks',
    make: async (f) => ({ url: '/v1/tasks', body: { functionId: f.functionId, endpointId: f.endpointId, args: [2] } }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'POST',
    path: '/v1/tasks/batch',
    make: async (f) => ({ url: '/v1/tasks/batch', body: { endpointId: f.endpointId, tasks: [{ functionId: f.functionId, args: [3] }] } }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  // status of many: ids that are not yours come back in notFound (checked below), not as an error
  {
    method: 'POST',
    path: '/v1/tasks/status',
    make: async (f) => ({ url: '/v1/tasks/status', body: { taskIds: [f.taskId] } }),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
  // outcomes of many: the same rule as status of many (others' ids in notFound, checked below)
  {
    method: 'POST',
    path: '/v1/tasks/results',
    make: async (f) => ({ url: '/v1/tasks/results', body: { taskIds: [f.taskId] } }),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/tasks', make: same('/v1/tasks'), owner: 'ok', other: 'ok', admin: 'ok' },
  // task groups: anyone makes their own; reading and cancelling one is for its owner and admins
  { method: 'POST', path: '/v1/groups', make: same('/v1/groups', { kind: 'batch' }), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/groups/{id}', make: async () => ({ url: `/v1/groups/${await ownerGroup()}` }), owner: 'ok', other: 404, admin: 'ok' },
  {
    method: 'GET',
    path: '/v1/groups/{id}/tasks',
    make: async () => ({ url: `/v1/groups/${await ownerGroup()}/tasks` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  {
    method: 'POST',
    path: '/v1/groups/{id}/cancel',
    make: async () => ({ url: `/v1/groups/${await ownerGroup()}/cancel` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/tasks/{id}', make: async (f) => ({ url: `/v1/tasks/${f.taskId}` }), owner: 'ok', other: 404, admin: 'ok' },
  { method: 'GET', path: '/v1/tasks/{id}/progress', make: async (f) => ({ url: `/v1/tasks/${f.taskId}/progress` }), owner: 'ok', other: 404, admin: 'ok' },
  { method: 'GET', path: '/v1/tasks/{id}/logs', make: async (f) => ({ url: `/v1/tasks/${f.taskId}/logs` }), owner: 'ok', other: 404, admin: 'ok' },
  {
    method: 'POST',
    path: '/v1/tasks/{id}/cancel',
    make: async (_f, mk) => ({ url: `/v1/tasks/${(await mk()).taskId}/cancel` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
  },
  // objects: anyone puts and lists their own; reading, deleting and uploading into one is for its owner
  // and admins. Endpoint tokens may open uploads only for their leased tasks (none here: 403 without a
  // taskId, 404 for the owner's uploads), and read what their owner owns.
  { method: 'POST', path: '/v1/objects/uploads', make: same('/v1/objects/uploads', { size: 1 }), owner: 'ok', other: 'ok', admin: 'ok', endpoint: 403 },
  {
    method: 'PUT',
    path: '/v1/objects/uploads/{id}',
    make: async () => ({ url: `/v1/objects/uploads/${await ownerUpload()}`, body: 'x', headers: { ...OCTETS, 'upload-offset': '0' } }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
    endpoint: 404,
  },
  {
    method: 'GET',
    path: '/v1/objects/uploads/{id}',
    make: async () => ({ url: `/v1/objects/uploads/${await ownerUpload()}` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
    endpoint: 404,
  },
  {
    method: 'POST',
    path: '/v1/objects/uploads/{id}/complete',
    make: async () => ({ url: `/v1/objects/uploads/${await ownerUpload()}/complete` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
    endpoint: 404,
  },
  { method: 'POST', path: '/v1/objects', make: same('/v1/objects', '{"b":2}', OCTETS), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/objects', make: same('/v1/objects'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/objects/{id}', make: async () => ({ url: `/v1/objects/${await ownerObject()}` }), owner: 'ok', other: 404, admin: 'ok' },
  { method: 'DELETE', path: '/v1/objects/{id}', make: async () => ({ url: `/v1/objects/${await ownerObject()}` }), owner: 'ok', other: 404, admin: 'ok' },
  {
    method: 'GET',
    path: '/v1/objects/{id}/content',
    make: async () => ({ url: `/v1/objects/${await ownerObject()}/content` }),
    owner: 'ok',
    other: 404,
    admin: 'ok',
    endpoint: 'ok',
  },
  // triggers: made on one's own function and endpoint (another's are 404, an admin's too: it is not theirs to run on);
  // reading and deleting one is for its owner and admins
  {
    method: 'POST',
    path: '/v1/triggers',
    make: async (f) => ({ url: '/v1/triggers', body: { prefix: 'in/', function: f.functionId, endpoint: f.endpointId } }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  { method: 'GET', path: '/v1/triggers', make: same('/v1/triggers'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/triggers/{id}', make: async () => ({ url: `/v1/triggers/${await ownerTrigger()}` }), owner: 'ok', other: 404, admin: 'ok' },
  { method: 'DELETE', path: '/v1/triggers/{id}', make: async () => ({ url: `/v1/triggers/${await ownerTrigger()}` }), owner: 'ok', other: 404, admin: 'ok' },
  // endpoint groups: another user's group is 404 (an admin's too: groups route tasks, and are their owner's alone);
  // an invitation is answered by its endpoint's owner only
  {
    method: 'POST',
    path: '/v1/endpoint-groups',
    make: async () => ({ url: '/v1/endpoint-groups', body: { name: `n${randomBytes(4).toString('hex')}` } }),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
  { method: 'GET', path: '/v1/endpoint-groups', make: same('/v1/endpoint-groups'), owner: 'ok', other: 'ok', admin: 'ok' },
  {
    method: 'GET',
    path: '/v1/endpoint-groups/{id}',
    make: async () => ({ url: `/v1/endpoint-groups/${(await ownerEndpointGroup()).groupId}` }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'DELETE',
    path: '/v1/endpoint-groups/{id}',
    make: async () => ({ url: `/v1/endpoint-groups/${(await ownerEndpointGroup()).groupId}` }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'POST',
    path: '/v1/endpoint-groups/{id}/members',
    make: async (f) => ({ url: `/v1/endpoint-groups/${(await ownerEndpointGroup()).groupId}/members`, body: { endpointId: f.endpointId } }),
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'DELETE',
    path: '/v1/endpoint-groups/{id}/members/{endpointId}',
    make: async () => {
      const g = await ownerEndpointGroup();
      return { url: `/v1/endpoint-groups/${g.groupId}/members/${g.endpointId}` };
    },
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'POST',
    path: '/v1/endpoint-groups/{id}/members/{endpointId}/accept',
    make: async () => {
      const i = await invitationOfOwnerEndpoint();
      return { url: `/v1/endpoint-groups/${i.groupId}/members/${i.endpointId}/accept` };
    },
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  {
    method: 'POST',
    path: '/v1/endpoint-groups/{id}/members/{endpointId}/decline',
    make: async () => {
      const i = await invitationOfOwnerEndpoint();
      return { url: `/v1/endpoint-groups/${i.groupId}/members/${i.endpointId}/decline` };
    },
    owner: 'ok',
    other: 404,
    admin: 404,
  },
  { method: 'GET', path: '/v1/endpoint-invitations', make: same('/v1/endpoint-invitations'), owner: 'ok', other: 'ok', admin: 'ok' },
  // the audit log: anyone reads their own view of it (an admin all of it); no route edits it
  { method: 'GET', path: '/v1/audit', make: same('/v1/audit?limit=5'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/audit', make: same('/v1/audit?format=jsonl&action=tasks.submitted'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/console/overview', make: same('/v1/console/overview'), owner: 'ok', other: 'ok', admin: 'ok' },
  { method: 'GET', path: '/v1/console/endpoints', make: same('/v1/console/endpoints'), owner: 'ok', other: 'ok', admin: 'ok' },
  // usage: everyone reads their own (others' rows and blocks are left out, checked below); an admin reads everyone's
  { method: 'GET', path: '/v1/usage', make: same('/v1/usage'), owner: 'ok', other: 'ok', admin: 'ok' },
  {
    method: 'GET',
    path: '/v1/usage',
    make: same('/v1/usage?by=endpoint&bucket=hour&since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z'),
    owner: 'ok',
    other: 'ok',
    admin: 'ok',
  },
];

function expected(route: Route, who: Identity): Expect {
  if (route.public) return 'ok';
  if (BAD.includes(who)) return 401;
  if (who === 'endpoint') return route.endpoint ?? 403;
  return route[who as 'owner' | 'other' | 'admin'];
}

const cellOk = (want: Expect, got: number) => (want === 'ok' ? got >= 200 && got < 300 : got === want);
const ERROR_STATUS: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  FUNCTION_NOT_ALLOWED: 403,
  BAD_FRAME: 400,
  VALIDATION_FAILED: 400,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

beforeAll(async () => {
  server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0' });
  api = rest(server.url, server.adminToken);
  const mkUser = async (name: string, expiresInSeconds?: number) => {
    const u = await api('POST', '/v1/users', { name });
    const t = await api('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main', ...(expiresInSeconds ? { expiresInSeconds } : {}) });
    return { id: u.body.id as string, token: t.body.token as string };
  };
  const owner = await mkUser('owner');
  const other = await mkUser('other');
  ownerToken = owner.token;
  tokens.owner = ownerToken;
  tokens.other = other.token;
  tokens.admin = server.adminToken;
  base = { userId: owner.id, functionId: '', endpointId: '', taskId: '', tokenId: '' };
  base = await fresh();
  ownerFn = base.functionId;
  ownerEp = base.endpointId;
  const ep = await rest(server.url, ownerToken)('POST', '/v1/endpoints', { name: 'agent-side' });
  tokens.endpoint = ep.body.token;
  const revoked = await api('POST', `/v1/users/${owner.id}/tokens`, { name: 'revoked' });
  tokens.revoked = revoked.body.token;
  expect((await api('DELETE', `/v1/tokens/${revoked.body.info.id}`)).status).toBe(204);
  const expiring = await api('POST', `/v1/users/${owner.id}/tokens`, { name: 'expiring', expiresInSeconds: 1 });
  tokens.expired = expiring.body.token;
  const claims = decodeJwt(ownerToken);
  tokens.otherKey = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(randomBytes(32));
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  tokens.algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
  tokens.malformed = 'not-a-jwt.%%%.';
  tokens.none = undefined;
  await new Promise((r) => setTimeout(r, 1500)); // the expiring token is now expired
});

afterAll(async () => {
  await server?.stop();
});

describe('authorisation matrix', () => {
  it('covers every REST route in /openapi.json', async () => {
    const doc = (await api('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const inTable = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect(documented.filter((r) => !inTable.has(r))).toEqual([]);
  });

  it('answers every REST cell as the table says, refusals 401/403/404, never 5xx', async () => {
    const lines: string[] = [];
    const failures: string[] = [];
    for (const route of ROUTES) {
      const cells: string[] = [];
      for (const who of IDENTITIES) {
        const { url, body, headers } = await route.make(base, fresh);
        const res = await rest(server.url, tokens[who])(route.method, url, body, headers);
        const want = expected(route, who);
        const good = cellOk(want, res.status) && res.status < 500;
        if (!good) failures.push(`${route.method} ${route.path} as ${who}: want ${want}, got ${res.status} ${JSON.stringify(res.body)}`);
        if (res.status >= 400 && (typeof res.body?.code !== 'string' || typeof res.body?.message !== 'string'))
          failures.push(`${route.method} ${route.path} as ${who}: refusal without code and sentence`);
        cells.push(`${good ? '' : '!'}${res.status}`);
      }
      lines.push(`${`${route.method} ${route.path}`.padEnd(40)} ${cells.map((c) => c.padStart(9)).join('')}`);
    }
    console.log(
      [
        'REST authorisation matrix (status per identity; ! marks a cell that broke the table)',
        `${''.padEnd(40)} ${IDENTITIES.map((i) => i.padStart(9)).join('')}`,
        ...lines,
      ].join('\n'),
    );
    expect(failures).toEqual([]);
  });

  it('never shows another user what is theirs: listings and status-of-many leave it out', async () => {
    const other = rest(server.url, tokens.other);
    const fns = await other('GET', '/v1/functions');
    const eps = await other('GET', '/v1/endpoints');
    const tasks = await other('GET', '/v1/tasks');
    const status = await other('POST', '/v1/tasks/status', { taskIds: [base.taskId] });
    const consoleEps = await other('GET', '/v1/console/endpoints');
    const objectId = await ownerObject();
    const objects = await other('GET', '/v1/objects');
    expect(JSON.stringify(objects.body)).not.toContain(objectId);
    expect(JSON.stringify(fns.body)).not.toContain(ownerFn);
    expect(JSON.stringify(eps.body)).not.toContain(ownerEp);
    expect(JSON.stringify(tasks.body)).not.toContain(base.taskId);
    expect(JSON.stringify(consoleEps.body)).not.toContain(ownerEp);
    expect(status.body).toMatchObject({ tasks: [], notFound: [base.taskId] });
    const results = await other('POST', '/v1/tasks/results', { taskIds: [base.taskId], waitMs: 200 });
    expect(results.body).toEqual({ tasks: [], notFound: [base.taskId], final: 0 });
    // usage: the owner's attempts and blocks are in the owner's report, in nobody else's
    const db: Database = server.app.get(DATABASE);
    const endedAt = Date.now() - 60_000;
    await seedAttempts(db, [{ ownerId: base.userId, functionId: ownerFn, endpointId: ownerEp, endedAt, wallMs: 1000, cores: 1 }]);
    await seedBlocks(db, [{ endpointId: ownerEp, nodes: 1, startedAt: endedAt - 1000, endedAt, busyMs: 500, idleMs: 500 }]);
    for (const by of ['user', 'endpoint', 'function']) {
      const mine = JSON.stringify((await rest(server.url, ownerToken)('GET', `/v1/usage?by=${by}`)).body);
      const theirs = await other('GET', `/v1/usage?by=${by}`);
      expect(theirs.status).toBe(200);
      expect(mine).toContain(ownerEp);
      expect(JSON.stringify(theirs.body)).not.toContain(ownerEp);
      expect(JSON.stringify(theirs.body)).not.toContain(ownerFn);
      expect(JSON.stringify(theirs.body)).not.toContain(base.userId);
      expect(theirs.body.total.attempts).toBe(0);
    }
  });

  it('answers every websocket channel as the table says', async () => {
    const wsUrl = server.url.replace(/^http/, 'ws');
    type Outcome = { status: number; detail: string };
    const open = (path: string, token?: string) => new WebSocket(wsUrl + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

    /** Sends `first`, then reads frames until one settles the cell (or the socket closes). */
    const probe = (ws: WebSocket, first: unknown, settle: (frame: { type: string; payload: any }) => Outcome | undefined) =>
      new Promise<Outcome>((resolve) => {
        let done = false;
        const finish = (o: Outcome) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          ws.terminate();
          resolve(o);
        };
        const timer = setTimeout(() => finish({ status: 0, detail: 'no answer within 15 s' }), 15_000);
        ws.on('unexpected-response', (_req, res) => finish({ status: res.statusCode ?? 0, detail: 'upgrade refused' }));
        ws.on('open', () => first !== undefined && ws.send(JSON.stringify(first)));
        ws.on('message', (d) => {
          const frame = JSON.parse(d.toString());
          if (frame.type === 'error') return finish({ status: ERROR_STATUS[frame.payload.code] ?? 500, detail: frame.payload.code });
          const o = settle(frame);
          if (o) finish(o);
        });
        ws.on('close', (code) => finish({ status: code === 4401 ? 401 : code === 4403 ? 403 : code === 4404 ? 404 : 0, detail: `closed ${code}` }));
        ws.on('error', () => undefined);
      });

    const hello = {
      v: 1,
      type: 'hello',
      payload: {
        protocolVersion: ENDPOINT_PROTOCOL_VERSION,
        agent: { name: 'm', version: 't', hostname: 'h', pid: 1, platform: 'p', provider: 'x', workers: 1 },
        inFlight: [],
      },
    };
    const channels: Array<{ name: string; want: (who: Identity) => Expect; run: (who: Identity) => Promise<Outcome> }> = [
      {
        name: '/v1/ws/endpoint',
        want: (who) => (who === 'endpoint' ? 'ok' : BAD.includes(who) ? 401 : 403),
        run: (who) => probe(open('/v1/ws/endpoint', tokens[who]), hello, (f) => (f.type === 'welcome' ? { status: 200, detail: 'welcome' } : undefined)),
      },
      {
        name: '/v1/ws/client (subscribe owner task)',
        want: (who) => (who === 'owner' || who === 'admin' ? 'ok' : who === 'other' ? 404 : BAD.includes(who) ? 401 : 403),
        run: (who) =>
          probe(open('/v1/ws/client', tokens[who]), { v: 1, type: 'subscribe', id: 's1', payload: { taskIds: [base.taskId] } }, (f) =>
            f.type === 'subscribed' ? (f.payload.notFound.length ? { status: 404, detail: 'notFound' } : { status: 200, detail: 'subscribed' }) : undefined,
          ),
      },
      {
        name: '/v1/ws/console (auth frame)',
        want: (who) => (who === 'owner' || who === 'other' || who === 'admin' ? 'ok' : BAD.includes(who) ? 401 : 403),
        // no token on the console channel means no auth frame at all: the server gives up after 10 s
        run: (who) =>
          probe(open('/v1/ws/console'), who === 'none' ? undefined : { v: 1, type: 'auth', payload: { token: tokens[who] } }, (f) =>
            f.type === 'ready' ? { status: 200, detail: 'ready' } : undefined,
          ),
      },
    ];
    const lines: string[] = [];
    const failures: string[] = [];
    for (const ch of channels) {
      const cells: string[] = [];
      for (const who of IDENTITIES) {
        const got = await ch.run(who);
        const want = ch.want(who);
        const good = cellOk(want, got.status);
        if (!good) failures.push(`${ch.name} as ${who}: want ${want}, got ${got.status} (${got.detail})`);
        cells.push(`${good ? '' : '!'}${got.status}`);
      }
      lines.push(`${ch.name.padEnd(38)} ${cells.map((c) => c.padStart(9)).join('')}`);
    }
    console.log(
      [
        "websocket authorisation matrix (200 = accepted; refusals as the error frame's HTTP equivalent)",
        `${''.padEnd(38)} ${IDENTITIES.map((i) => i.padStart(9)).join('')}`,
        ...lines,
      ].join('\n'),
    );
    expect(failures).toEqual([]);
  });
  it('leaves an audit entry for every successful mutating action of its users, each seen by whom it concerns', async () => {
    const ids = new Map<string | undefined, string>();
    for (const who of ['owner', 'other', 'admin'] as const) ids.set(tokens[who], (await plainRest(server.url, tokens[who])('GET', '/v1/whoami')).body.user.id);
    const [owner, other] = [ids.get(tokens.owner)!, ids.get(tokens.other)!];
    const readAll = async (token: string | undefined) => {
      const out: AuditEntry[] = [];
      for (let after = ''; ;) {
        const r = await plainRest(server.url, token)('GET', `/v1/audit?limit=1000${after ? `&after=${after}` : ''}`);
        expect(r.status).toBe(200);
        out.push(...r.body.items);
        if (!r.body.next) return out;
        after = r.body.next;
      }
    };
    const everything = await readAll(server.adminToken);
    // the tokens' users made every request performed; an endpoint token never succeeded at a mutation here
    const { keys, unknown } = expectedEntries(performed, (token) => ids.get(token) ?? `unknown token`);
    expect(unknown).toEqual([]);
    expect(performed.length).toBeGreaterThan(100);
    const logged = loggedEntries(everything, new Set(ids.values()));
    // every success left its entry, and nothing else did (a refused request leaves none)
    expect([...keys].filter((k) => !logged.has(k))).toEqual([]);
    expect([...logged].filter((k) => !keys.has(k))).toEqual([]);
    console.log(`audit: ${performed.length} successful mutating requests, ${keys.size} distinct (action, target, actor) entries expected and found`);

    // each user sees the entries about their things and the ones they made, nothing else
    const ownerView = await readAll(tokens.owner);
    const otherView = await readAll(tokens.other);
    expect(ownerView).toEqual(everything.filter((e) => e.ownerId === owner || e.actor.id === owner));
    expect(otherView).toEqual(everything.filter((e) => e.ownerId === other || e.actor.id === other));
    expect(ownerView.length).toBeGreaterThan(50);
    expect(otherView.some((e) => e.ownerId === owner)).toBe(false);
    // the owner's acts the other user sees: their answers to the other's invitations, about the other's groups
    const ownersActsSeen = otherView.filter((e) => e.actor.id === owner);
    expect(ownersActsSeen.length).toBeGreaterThan(0);
    expect(ownersActsSeen.every((e) => e.ownerId === other && /^endpoint-group\.member-(accepted|declined)$/.test(e.action))).toBe(true);
    expect(ownerView.some((e) => e.actor.id === other && e.ownerId !== owner)).toBe(false);

    // the table refuses edits whoever asks, even through SQL
    const db = server.app.get<Database>(DATABASE);
    await expect(db.prisma.$executeRawUnsafe(`UPDATE audit_log SET owner_id = NULL WHERE id = $1::bigint`, everything[0]!.id)).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRawUnsafe(`DELETE FROM audit_log WHERE owner_id = $1::uuid`, owner)).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRawUnsafe(`TRUNCATE audit_log`)).rejects.toThrow(/append-only/);
    expect(await readAll(server.adminToken)).toEqual(everything);
  });
});
