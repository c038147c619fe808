/**
 * The console's long lists (users, tokens, functions) in headless Chromium, against a real server (embedded store, in this
 * process): a list the console reads only the head of says so under it, and a whole list says
 * nothing. The server's answers past a few rows are stood in for (page.route), since ten thousand
 * real rows would only make the test slow. Needs the console built (`npm run build`).
 */
import { jest } from '@jest/globals';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { Client } from '@fx/sdk';
import { tempDir, type TempDir } from '@fx/testing';
import { launchConsoleBrowser, requireBuiltConsole, signedInTab } from './console-browser.js';
import { startTestServer, type TestServer } from '../../server/src/testing/test-server.js';

jest.setTimeout(180_000);

/** Answers a keyset-paged GET with `make(n)` rows, 1,000 a page, `total` in all (cursor `after-N`). */
function pagedAnswer(total: number, make: (n: number) => unknown) {
  return (route: Route) => {
    const url = new URL(route.request().url());
    const from = Number(url.searchParams.get('cursor')?.slice('after-'.length) ?? 0);
    const n = Math.min(Number(url.searchParams.get('limit') ?? 1000), total - from);
    const next = from + n;
    return route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ items: Array.from({ length: n }, (_, i) => make(from + i)), nextCursor: next < total ? `after-${next}` : null }),
    });
  };
}
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const at = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();

describe('the console on lists it reads only the head of', () => {
  let server: TestServer;
  let work: TempDir;
  let context: BrowserContext;
  let page: Page;
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  beforeAll(async () => {
    requireBuiltConsole();
    work = await tempDir('fx-console-lists');
    server = await startTestServer('embedded', { FX_RATE_LIMIT_PER_SECOND: '0' });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const carol = await admin.createUser({ name: 'carol' });
    await admin.createToken(carol.id, { name: 'main' });
    await admin.createFunction({ name: 'ident', runtime: 'js', source: '(x) => x' });
    admin.close();
    context = await launchConsoleBrowser(work.path);
    page = await signedInTab(context, server.url, server.adminToken, 30_000);
  });
  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await work?.remove();
  });

  it('lists whole users and tokens without a note', async () => {
    await nav('Users & tokens').click();
    await page.locator('[data-user="carol"]').click();
    await page.locator('tr[data-token="main"]').waitFor();
    expect(await page.locator('[data-cut]').count()).toBe(0);
  });

  it('says when there are more users, or tokens of one user, than it lists', async () => {
    await page.route(
      (url) => url.pathname === '/v1/users',
      pagedAnswer(10_001, (n) => ({ id: uuid(n), name: `user-${n}`, admin: false, createdAt: at(n) })),
    );
    await page.route(
      (url) => /^\/v1\/users\/[^/]+\/tokens$/.test(url.pathname),
      pagedAnswer(10_500, (n) => ({
        id: uuid(n),
        name: `t-${n}`,
        kind: 'user',
        userId: uuid(7),
        endpointId: null,
        createdAt: at(n),
        expiresAt: null,
        revokedAt: null,
      })),
    );
    await nav('Overview').click();
    await nav('Users & tokens').click();
    const users = page.locator('[data-cut="users"]');
    await users.waitFor();
    expect(await users.textContent()).toBe('Showing the first 10,000 users; there are more, which the console does not list.');
    await page.locator('[data-user="user-7"]').click();
    const tokens = page.locator('[data-cut="tokens"]');
    await tokens.waitFor();
    expect(await tokens.textContent()).toContain('Showing the first 10,000 tokens; there are more');
    await page.unrouteAll();
  });

  it('says when there are more functions than the 10,000 it lists, and nothing when it lists them all', async () => {
    await nav('Functions').click();
    await page.locator('tr[data-function="ident"]').waitFor();
    expect(await page.locator('[data-cut]').count()).toBe(0);

    // what the page shows of a function (the rest of FunctionInfo it does not read)
    const fn = (n: number) => ({ id: uuid(n), name: `fn-${n}`, version: 1, runtime: 'js', source: '', public: false, ownerId: uuid(1), createdAt: at(n) });
    await page.route((url) => url.pathname === '/v1/functions', pagedAnswer(10_001, fn));
    await nav('Overview').click();
    await nav('Functions').click();
    const note = page.locator('[data-cut="functions"]');
    await note.waitFor();
    expect(await note.textContent()).toBe('Showing the first 10,000 functions; there are more, which the console does not list.');
    await page.unrouteAll();
  });

  it('says under the task filters when their function and owner choices are cut, and keeps a filter by an id past them', async () => {
    await nav('Tasks').click();
    const form = page.getByRole('form', { name: 'Filter tasks' });
    await form.locator('select[name="functionId"] option', { hasText: 'ident' }).waitFor({ state: 'attached' });
    expect(await form.locator('[data-cut]').count()).toBe(0);

    const fn = (n: number) => ({ id: uuid(n), name: `fn-${n}`, version: 1, runtime: 'js', source: '', public: false, ownerId: uuid(1), createdAt: at(n) });
    await page.route((url) => url.pathname === '/v1/functions', pagedAnswer(10_001, fn));
    await page.route(
      (url) => url.pathname === '/v1/users',
      pagedAnswer(10_001, (n) => ({ id: uuid(n), name: `user-${n}`, admin: false, createdAt: at(n) })),
    );
    // an owner past the 10,000 listed, as a link or a typed address names it
    const past = uuid(10_000);
    await nav('Overview').click();
    await page.evaluate((p) => {
      history.pushState(null, '', `/console/tasks?ownerId=${p}`);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, past);
    await form.locator('[data-cut="functions"]').waitFor();
    expect(await form.locator('[data-cut="functions"]').textContent()).toBe(
      'Showing the first 10,000 functions; there are more, which the console does not list.',
    );
    await form.locator('[data-cut="users"]').waitFor();
    expect(await form.locator('[data-cut="users"]').textContent()).toBe('Showing the first 10,000 users; there are more, which the console does not list.');
    expect(await form.locator('select[name="ownerId"]').inputValue()).toBe(past);
    await page.unrouteAll();
  });
});
