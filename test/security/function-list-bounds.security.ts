import { jest } from '@jest/globals';
import { FUNCTION_PAGE_SOURCE_BYTES, type FunctionInfo } from '@fx/protocol';
import { Client } from '@fx/sdk';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { mkUser, type TestUser } from './channels.fixture.js';

/**
 * GET /v1/functions lists other users' public functions beside the caller's own, and each may hold
 * 1 MiB of source: how much one answer holds must not be another tenant's choice. A page holds at
 * most `limit` functions and ends at FUNCTION_PAGE_SOURCE_BYTES of source; every function is reached
 * through `nextCursor`, once; the versions of one name page the same way; the SDK reads every page.
 */
jest.setTimeout(240_000);

const MIB = 1024 * 1024;
/** A valid js function of about `bytes` characters (each a one-byte character). */
const big = (tag: string, bytes: number) => `() => ${JSON.stringify(tag)}${' '.repeat(bytes - tag.length - 10)}`;
const sourceBytes = (items: FunctionInfo[]) => items.reduce((n, f) => n + Buffer.byteLength(f.source), 0);

describe.each(['embedded', 'postgres+redis'] as const)('the functions list on %s', (backend) => {
  let server: TestServer;
  let mallory: TestUser;
  let alice: TestUser;
  const published: string[] = [];

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    mallory = await mkUser(server, 'mallory');
    alice = await mkUser(server, 'alice');
    // 12 public functions of 1 MiB each: 12 MiB that every user's plain list would otherwise carry
    for (let i = 0; i < 12; i++) {
      const r = await mallory.api('POST', '/v1/functions', { name: `big-${i}`, runtime: 'js', source: big(`big-${i}`, MIB - 64), public: true });
      expect(r.status).toBe(201);
      published.push(r.body.id);
    }
    expect((await alice.api('POST', '/v1/functions', { name: 'mine', runtime: 'js', source: '(x) => x' })).status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** Every page of `path` (which has a query already), with each page's answer. */
  async function pages(u: TestUser, path: string) {
    const out: Array<{ items: FunctionInfo[]; nextCursor: string | null }> = [];
    let cursor: string | null = null;
    do {
      const r: { status: number; body: { items: FunctionInfo[]; nextCursor: string | null } } = await u.api(
        'GET',
        `${path}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(r.status).toBe(200);
      out.push(r.body);
      cursor = r.body.nextCursor;
    } while (cursor && out.length < 50);
    return out;
  }

  it('ends a page at the source budget, whatever its limit, and reaches every function once through nextCursor', async () => {
    const all = await pages(alice, '/v1/functions?limit=1000');
    expect(all.length).toBeGreaterThan(1);
    for (const page of all) {
      expect(page.items.length).toBeGreaterThan(0);
      // the budget, and at most the one function that started below it
      expect(sourceBytes(page.items)).toBeLessThanOrEqual(FUNCTION_PAGE_SOURCE_BYTES + MIB);
    }
    const ids = all.flatMap((p) => p.items.map((f) => f.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => published.includes(id))).toEqual(published);
    expect(all.flatMap((p) => p.items.map((f) => f.name))).toContain('mine');
  });

  it('lists names only with source=false: no source read, one page by limit, the versions of a name too', async () => {
    const all = await pages(alice, '/v1/functions?limit=1000');
    const names = await pages(alice, '/v1/functions?limit=1000&source=false');
    expect(names).toHaveLength(1);
    expect(names[0]!.items.map((f) => f.id)).toEqual(all.flatMap((p) => p.items.map((f) => f.id)));
    expect(names[0]!.items.every((f) => f.source === '')).toBe(true);
    expect(names[0]!.items.map(({ source: _, ...f }) => f)).toEqual(all.flatMap((p) => p.items.map(({ source: _, ...f }) => f)));
    expect(JSON.stringify(names[0]).length).toBeLessThan(64 * 1024);
    const bigOne = await pages(alice, '/v1/functions?name=mallory/big-3&source=false');
    expect(bigOne[0]!.items.map((f) => [f.name, f.source])).toEqual([['big-3', '']]);
    expect((await alice.api('GET', '/v1/functions?source=no')).status).toBe(400);
    const client = new Client({ url: server.url, token: alice.token });
    try {
      expect((await client.listFunctions({ source: false })).map((f) => f.id)).toEqual(names[0]!.items.map((f) => f.id));
      expect(await client.listFunctions({ limit: 3 })).toHaveLength(3);
    } finally {
      client.close();
    }
  });

  it('pages by limit too, and refuses a cursor it did not issue', async () => {
    const small = await pages(alice, '/v1/functions?limit=5');
    expect(small.map((p) => p.items.length)).toEqual([5, 5, 3]);
    expect(small.at(-1)!.nextCursor).toBeNull();
    const bad = await alice.api('GET', '/v1/functions?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect((await alice.api('GET', '/v1/functions?limit=0')).status).toBe(400);
  });

  it("pages the versions of one name, newest first, and the SDK's lists read every page", async () => {
    for (let v = 0; v < 10; v++) {
      const r = await mallory.api('POST', '/v1/functions', { name: 'versions', runtime: 'js', source: big(`v${v}`, MIB - 64), public: true });
      expect(r.status).toBe(201);
    }
    const versions = await pages(alice, '/v1/functions?name=mallory/versions&limit=1000');
    expect(versions.length).toBeGreaterThan(1);
    expect(versions.flatMap((p) => p.items.map((f) => f.version))).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const client = new Client({ url: server.url, token: alice.token });
    try {
      expect((await client.listFunctionVersions('mallory/versions')).map((f) => f.version)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      const listed = (await client.listFunctions()).map((f) => f.name);
      expect(listed.filter((n) => n === 'versions')).toHaveLength(10);
      expect(listed.filter((n) => n.startsWith('big-'))).toHaveLength(12);
    } finally {
      await client.close();
    }
  });
});
