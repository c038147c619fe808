import { jest } from '@jest/globals';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';

/**
 * The admin's lists of users and of a user's tokens are keyset-paged like every other list: at most
 * `limit` (1000 by default and at most) a page, oldest first, and `nextCursor` to read on, so neither
 * answer grows with the deployment.
 */
jest.setTimeout(120_000);

describe.each(BACKENDS)('users and tokens pages (%s)', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    admin = rest(server.url, server.adminToken);
  });
  afterAll(() => server.stop());

  /** Every page of `path` at `limit` a page: the items in order, and the number of pages. */
  async function readAll(path: string, limit: number): Promise<{ names: string[]; pages: number }> {
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: { items: Array<{ name: string }>; nextCursor: string | null } } = await admin(
        'GET',
        `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      names.push(...res.body.items.map((i) => i.name));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    return { names, pages };
  }

  it('pages the users oldest first, ties broken by id, with no user repeated or skipped', async () => {
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push((await admin('POST', '/v1/users', { name: `pager-${i}` })).body.id);
    // one instant for three of them, as one transaction's inserts would have
    const db: Database = server.app.get(DATABASE);
    await db.prisma.user.updateMany({ where: { id: { in: made.slice(2, 5) } }, data: { createdAt: new Date('2030-01-01T00:00:00Z') } });
    const whole = await admin('GET', '/v1/users');
    expect(whole.body.nextCursor).toBeNull();
    const { names, pages } = await readAll('/v1/users', 2);
    expect(names).toEqual(whole.body.items.map((u: { name: string }) => u.name));
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(made.map((_, i) => `pager-${i}`)));
    expect(pages).toBe(Math.ceil(names.length / 2));
    expect(names.slice(-3).sort()).toEqual(['pager-2', 'pager-3', 'pager-4']);
  });

  it("pages a user's tokens the same way", async () => {
    const u = (await admin('POST', '/v1/users', { name: 'tokens-pager' })).body;
    for (let i = 0; i < 5; i++) expect((await admin('POST', `/v1/users/${u.id}/tokens`, { name: `t${i}` })).status).toBe(201);
    expect(await readAll(`/v1/users/${u.id}/tokens`, 2)).toEqual({ names: ['t0', 't1', 't2', 't3', 't4'], pages: 3 });
    const first = await admin('GET', `/v1/users/${u.id}/tokens?limit=5`);
    expect(first.body).toEqual({ items: expect.any(Array), nextCursor: null });
  });

  it('refuses a limit past 1000, a cursor it did not issue, and an unknown parameter', async () => {
    for (const q of ['limit=1001', 'limit=0', 'cursor=not-a-cursor', 'offset=5']) {
      const res = await admin('GET', `/v1/users?${q}`);
      expect([q, res.status, res.body.code]).toEqual([q, 400, 'VALIDATION_FAILED']);
    }
  });
});
