import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import { LIST_FUNCTIONS_SOURCE_BYTES } from './client.registry.js';
import { ListTruncatedError } from './errors.js';

/**
 * listFunctions reads other users' public functions too, each with a source of their choosing, and
 * follows the server's pages: it stops at `limit` functions and after about 64 MiB of sources, and
 * asks for names only with `source: false`. Stopping anywhere but at the caller's own `limit` while
 * the server has more throws ListTruncatedError: a caller never takes a part for the whole list.
 */
let server: FakeFxServer;
let client: Client;
beforeEach(async () => {
  server = await new FakeFxServer().start();
  client = new Client({ url: server.url, token: GOOD_TOKEN });
});
afterEach(async () => {
  client.close();
  await server.stop();
});

/** GET /v1/functions answered by pages of `perPage` copies of one function with this source: `total` of them (endless by default). */
async function endlessPages(perPage: number, source: string, total = Infinity) {
  const id = await client.registerFunction((x: number) => x, { name: 'f' });
  const info = server.functions.get(id)!;
  server.override = (req) => {
    if (req.method !== 'GET' || req.path !== '/v1/functions') return undefined;
    const query = req.query;
    const from = Number(query.get('cursor')?.slice('after-'.length) ?? 0);
    const items = Array.from({ length: Math.min(perPage, Number(query.get('limit')), total - from) }, () => ({
      ...info,
      source: query.get('source') === 'false' ? '' : source,
    }));
    const next = from + items.length;
    return { status: 200, body: { items, nextCursor: next < total ? `after-${next}` : null } };
  };
  const pages = () => server.requestsTo('GET', '/v1/functions');
  return { pages };
}

describe('listFunctions', () => {
  it('stops at an explicit limit without an error, asking no page for more than it keeps', async () => {
    const { pages } = await endlessPages(300, '(x) => x');
    expect(await client.listFunctions({ limit: 1000 })).toHaveLength(1000);
    expect(pages().map((r) => r.query.get('limit'))).toEqual(['1000', '700', '400', '100']);
    expect(await client.listFunctions({ limit: 5 })).toHaveLength(5);
  });

  it('returns a list of exactly 1,000 whole, and throws ListTruncatedError past 1,000 without a limit, with what it read', async () => {
    await endlessPages(300, '(x) => x', 1000);
    expect(await client.listFunctions()).toHaveLength(1000);
    await endlessPages(300, '(x) => x', 1001);
    const err = (await client.listFunctions().catch((e: unknown) => e)) as ListTruncatedError<unknown>;
    expect(err).toBeInstanceOf(ListTruncatedError);
    expect(err.code).toBe('LIST_TRUNCATED');
    expect(err.bound).toBe('count');
    expect(err.items).toHaveLength(1000);
    expect(err.message).toMatch(/more than 1000 functions .*: pass `limit` to read more/);
    // asked for, the same list is no error
    expect(await client.listFunctions({ limit: 1001 })).toHaveLength(1001);
    expect(await client.listFunctions({ limit: 1000 })).toHaveLength(1000);
  });

  it('throws ListTruncatedError after the page that brings the sources read to 64 MiB, when there are more', async () => {
    const source = 'x'.repeat(8 * 1024 * 1024);
    const { pages } = await endlessPages(1, source);
    const err = (await client.listFunctions().catch((e: unknown) => e)) as ListTruncatedError<unknown>;
    expect(err).toBeInstanceOf(ListTruncatedError);
    expect(err.bound).toBe('sourceBytes');
    expect(err.items).toHaveLength(LIST_FUNCTIONS_SOURCE_BYTES / source.length);
    expect(err.message).toMatch(/pass `source: false` to list names only/);
    expect(pages()).toHaveLength(8);
    // the caller's limit is not past the byte bound: no error; nor is a list that ends at it
    expect(await client.listFunctions({ limit: 8 })).toHaveLength(8);
    await endlessPages(1, source, 8);
    expect(await client.listFunctions()).toHaveLength(8);
  }, 60_000);

  it('with source: false asks the server for names only', async () => {
    const { pages } = await endlessPages(1000, 'x'.repeat(1024));
    const list = await client.listFunctions({ source: false, limit: 3000 });
    expect(list).toHaveLength(3000);
    expect(list.every((f) => f.source === '')).toBe(true);
    expect(pages().every((r) => r.query.get('source') === 'false')).toBe(true);
  });
});

/**
 * listUsers and listTokens follow the server's pages (GET /v1/users, /v1/users/{id}/tokens): up to
 * the caller's `limit`, or 1,000 without one, past which they throw ListTruncatedError rather than
 * return the head of the list as if it were all of it.
 */
const USER_ID = '00000000-0000-4000-8000-000000000001';
const user = (n: number) => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  name: `u${n}`,
  admin: false,
  createdAt: new Date(n).toISOString(),
});
const token = (n: number) => ({
  ...user(n),
  kind: 'user',
  userId: USER_ID,
  endpointId: null,
  expiresAt: null,
  revokedAt: null,
});

/** `path` answered with pages of at most `perPage` of `total` items made by `make`, cursors `after-N`. */
function pages(path: string, total: number, make: (n: number) => unknown, perPage = 400) {
  server.override = (req) => {
    if (req.method !== 'GET' || req.path !== path) return undefined;
    const from = Number(req.query.get('cursor')?.slice('after-'.length) ?? 0);
    const n = Math.min(perPage, Number(req.query.get('limit') ?? 1000), total - from);
    const next = from + n;
    return { status: 200, body: { items: Array.from({ length: n }, (_, i) => make(from + i)), nextCursor: next < total ? `after-${next}` : null } };
  };
  return () => server.requestsTo('GET', path).map((r) => [r.query.get('limit'), r.query.get('cursor')]);
}

describe('listUsers', () => {
  it('reads every page of a list of up to 1,000, asking no page for more than it keeps', async () => {
    const asked = pages('/v1/users', 1000, user);
    const users = await client.listUsers();
    expect(users.map((u) => u.name)).toEqual(Array.from({ length: 1000 }, (_, i) => `u${i}`));
    expect(asked()).toEqual([
      ['1000', null],
      ['600', 'after-400'],
      ['200', 'after-800'],
    ]);
  });

  it('throws ListTruncatedError past 1,000 without a limit, with the users it read; a limit ends the list quietly', async () => {
    pages('/v1/users', 1001, user);
    const err = (await client.listUsers().catch((e: unknown) => e)) as ListTruncatedError<unknown>;
    expect(err).toBeInstanceOf(ListTruncatedError);
    expect(err.code).toBe('LIST_TRUNCATED');
    expect(err.bound).toBe('count');
    expect(err.items).toHaveLength(1000);
    expect(err.message).toMatch(/more than 1000 users .*pass `limit` to read more/);
    expect(await client.listUsers({ limit: 1001 })).toHaveLength(1001);
    expect(await client.listUsers({ limit: 3 })).toHaveLength(3);
  });

  it("takes an older server's unpaged answer whole, and says when it holds more than the bound", async () => {
    server.override = (req) => (req.path === '/v1/users' ? { status: 200, body: { items: Array.from({ length: 1002 }, (_, i) => user(i)) } } : undefined);
    expect(await client.listUsers({ limit: 1002 })).toHaveLength(1002);
    await expect(client.listUsers()).rejects.toBeInstanceOf(ListTruncatedError);
  });
});

describe('listTokens', () => {
  it("pages a user's tokens as listUsers pages users", async () => {
    const path = `/v1/users/${USER_ID}/tokens`;
    pages(path, 1500, token, 1000);
    const err = (await client.listTokens(USER_ID).catch((e: unknown) => e)) as ListTruncatedError<unknown>;
    expect(err).toBeInstanceOf(ListTruncatedError);
    expect(err.message).toMatch(/more than 1000 tokens of this user/);
    expect(await client.listTokens(USER_ID, { limit: 1500 })).toHaveLength(1500);
  });
});
