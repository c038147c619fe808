/**
 * The console in a real browser: headless Debian Chromium driven by playwright-core, against the
 * built server (its embedded store, in-process broker) in its own process and a real fx-endpoint
 * process, both started by the @fx/testing fixtures. Needs `npm run build` first (npm test does it).
 * Screenshots go to test-artifacts/console/.
 */
import { jest } from '@jest/globals';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Client } from '@fx/sdk';
import { ENDPOINT_CLI, EndpointProcess, SERVER_MAIN, ServerProcess, tempDir, type TempDir } from '@fx/testing';
import { ARTIFACTS, CONSOLE_INDEX, launchConsoleBrowser } from './console-browser.js';

jest.setTimeout(180_000);

/** How the console writes every time: with its date. */
const DATED = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

function rest(base: string, token: string) {
  return async <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

describe('admin console in Chromium', () => {
  let server: ServerProcess;
  let admin: ReturnType<typeof rest>;
  let context: BrowserContext;
  let page: Page;
  // the real agent's FX_HOME; configured by a test, through the CLI
  let agent: EndpointProcess;
  let work: TempDir;
  const ENDPOINT = 'console-ep';
  let endpointId = '';

  const shot = async (name: string, width = 1280) => {
    await page.setViewportSize({ width, height: width > 800 ? 860 : 844 });
    await page.waitForTimeout(150); // let the layout settle after the resize
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
  };
  const go = async (path: string) => {
    // in-app navigation, as a user clicking a link: the page is never reloaded
    await page.evaluate((p) => {
      history.pushState(null, '', '/console' + p);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, path);
  };
  /** A link of the main navigation. */
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  const endpointCli = (...args: string[]) => agent.cli(args, { FX_TOKEN: server.adminToken });

  beforeAll(async () => {
    for (const [file, what] of [
      [SERVER_MAIN, 'the server'],
      [ENDPOINT_CLI, 'fx-endpoint'],
      [CONSOLE_INDEX, 'the console'],
    ] as const) {
      if (!existsSync(file)) throw new Error(`${what} is not built (${file} is missing): run "npm run build" first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    work = await tempDir('fx-console-e2e');
    server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
    agent = await EndpointProcess.create(ENDPOINT);
    admin = rest(server.url, server.adminToken);
    context = await launchConsoleBrowser(work.path);
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
  });

  afterAll(async () => {
    await agent?.stop();
    await context?.close();
    await server?.stop();
    await work?.remove();
  });

  /** Starts the real endpoint agent once; later tests reuse it. */
  const ensureAgent = async () => {
    if (!agent.child) agent.start();
  };

  it('refuses a bad token, then signs in with one kept only in sessionStorage', async () => {
    // the server's bare address lands in the console
    await page.goto(server.url + '/');
    expect(new URL(page.url()).pathname).toBe('/console/');
    await page.getByLabel('Token').waitFor();
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'refused this token' }).waitFor();
    await shot('signin');

    await page.getByLabel('Token').fill(server.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('.live-live').waitFor();
    const storage = await page.evaluate(() => ({ session: sessionStorage.getItem('fx.console.token'), local: localStorage.length, cookies: document.cookie }));
    expect(storage).toEqual({ session: server.adminToken, local: 0, cookies: '' });
    await page.getByText('No task finished in the last hour.').waitFor();
    await shot('overview-empty');
  });

  it('shows an endpoint going online when a real fx-endpoint starts', async () => {
    const configured = endpointCli('configure', ENDPOINT, '--url', server.url, '--workers', '2');
    expect(configured.stderr + configured.stdout).toMatch(/Registered endpoint/);
    endpointId = /\(([0-9a-f-]{36})\)/.exec(configured.stdout)![1]!;

    await nav('Endpoints').click();
    const row = page.locator(`tr[data-endpoint="${ENDPOINT}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('offline');
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    await ensureAgent();
    await page.locator(`tr[data-endpoint="${ENDPOINT}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    await row.locator('td[data-label="Workers busy / idle"]', { hasText: '/' }).waitFor();
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(await row.locator('td[data-label="Provider"]').textContent()).not.toBe('—');
    // a time always carries its date
    expect(await row.locator('td[data-label="Last heartbeat"] time').textContent()).toMatch(DATED);
    await shot('endpoints');
    await shot('endpoints', 390);
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('shows submitted tasks reaching success in the table without a reload', async () => {
    await ensureAgent();
    const fn = (await admin('POST', '/v1/functions', { name: 'square', runtime: 'js', source: '(x) => x * x' })).body;
    await go(`/tasks?functionId=${fn.id}`);
    await page.getByText('No tasks match').waitFor();
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    // submitted the way a user does, through the SDK
    const sdk = new Client({ url: server.url, token: server.adminToken });
    try {
      const ids = await sdk.runBatch(
        endpointId,
        Array.from({ length: 40 }, (_, i) => ({ functionId: fn.id, args: [i] })),
      );
      expect(ids).toHaveLength(40);
    } finally {
      sdk.close();
    }
    await page.locator('.summary', { hasText: '40 tasks · 40 success' }).waitFor({ timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    // the table is virtualised: far fewer rows in the DOM than tasks, all of them succeeded
    const rendered = await page.locator('a.task-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(rendered.length).toBeGreaterThan(0);
    expect(rendered.length).toBeLessThan(40);
    expect(new Set(rendered)).toEqual(new Set(['success']));
    for (const t of await page.locator('a.task-row time').allTextContents()) expect(t).toMatch(DATED);
    await shot('tasks');
    await shot('tasks', 390);
    await page.setViewportSize({ width: 1280, height: 860 });

    // keyboard: the rows are links, reachable and opened with Enter
    const first = page.locator('a.task-row').first();
    await first.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Task / }).waitFor();
    await page.getByLabel('Result').waitFor();
    // names, not UUIDs; the attempt as the API numbers it; every time dated
    await page.getByTestId('task-function').getByRole('link', { name: 'square', exact: true }).waitFor();
    await page.getByTestId('task-endpoint').getByRole('link', { name: ENDPOINT, exact: true }).waitFor();
    expect(await page.getByTestId('task-attempt').textContent()).toBe('0 (first try)');
    expect(await page.getByTestId('task-priority').textContent()).toBe('5 (default)');
    const times = await page.locator('.timeline time').allTextContents();
    expect(times).toHaveLength(5);
    for (const t of times) expect(t).toMatch(DATED);
  });

  it('opens a failed task and shows its remote stack, and its attempts', async () => {
    await ensureAgent();
    const fn = (await admin('POST', '/v1/functions', { name: 'explode', runtime: 'js', source: "(n) => { throw new RangeError('console boom ' + n) }" })).body;
    const submitted = await admin('POST', '/v1/tasks', { functionId: fn.id, endpointId, args: [7], retry: { maxAttempts: 2 } });
    expect(submitted.status).toBe(201);

    await nav('Tasks').click();
    await page.getByLabel('State').selectOption('failed');
    await page.getByLabel('Function').selectOption(fn.id);
    await page.getByRole('button', { name: 'Apply' }).click();
    const row = page.locator(`a.task-row[data-task="${submitted.body.taskId}"][data-status="failed"]`);
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    const stack = page.getByLabel('Remote stack');
    await stack.waitFor();
    expect(await stack.textContent()).toMatch(/RangeError: console boom 7/);
    await page.getByText('Remote error').waitFor();
    expect(await page.locator('.timeline li.done').count()).toBe(5);
    // the first attempt failed and was retried, the second failed for good: each with its own record
    const attempts = page.getByRole('table', { name: 'Attempts' });
    expect(await attempts.locator('tbody tr').count()).toBe(2);
    expect(await attempts.locator('tr[data-attempt="1"][data-status="retried"]').textContent()).toMatch(/failed, retried.*TASK_ERROR: console boom 7/);
    expect(await attempts.locator('tr[data-attempt="2"][data-status="failed"]').textContent()).toMatch(/TASK_ERROR: console boom 7/);
    await shot('task-failed');
    await shot('task-failed', 390);
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('locks an endpoint (new tasks refused) and unlocks it, and toggles a function public', async () => {
    await nav('Endpoints').click();
    await page.getByRole('button', { name: `Lock ${ENDPOINT}`, exact: true }).click();
    await page.getByRole('button', { name: `Unlock ${ENDPOINT}` }).waitFor();
    const fn = (await admin('POST', '/v1/functions', { name: 'ident', runtime: 'js', source: '(x) => x' })).body;
    const refused = await admin('POST', '/v1/tasks', { functionId: fn.id, endpointId });
    expect([refused.status, refused.body.code]).toEqual([409, 'ENDPOINT_LOCKED']);
    await page.getByRole('button', { name: `Unlock ${ENDPOINT}` }).click();
    await page.getByRole('button', { name: `Lock ${ENDPOINT}`, exact: true }).waitFor();
    expect((await admin('POST', '/v1/tasks', { functionId: fn.id, endpointId })).status).toBe(201);

    await nav('Functions').click();
    const toggle = page.getByRole('switch', { name: 'ident is public' });
    expect(await toggle.isChecked()).toBe(false);
    await toggle.click();
    await page.locator('tr[data-function="ident"]', { hasText: 'public' }).waitFor();
    expect((await admin('GET', `/v1/functions/${fn.id}`)).body.public).toBe(true);
    await shot('functions');
  });

  it('lists functions by name with their versions, searches by name, and deletes a version', async () => {
    const v1 = (await admin('POST', '/v1/functions', { name: 'versioned', runtime: 'js', source: '(x) => x + 1' })).body;
    const v2 = (await admin('POST', '/v1/functions', { name: 'versioned', runtime: 'js', source: '(x) => x + 2' })).body;
    expect([v1.version, v2.version]).toEqual([1, 2]);
    // the list the page reads carries names, never sources (other users' public ones are theirs to make large)
    const lists: string[] = [];
    const seen = (r: { url: () => string }) => void (/\/v1\/functions\?/.test(r.url()) && lists.push(r.url()));
    page.on('request', seen);
    await nav('Overview').click();
    await nav('Functions').click();
    const row = page.locator('tr[data-function="versioned"]');
    await row.waitFor();
    page.off('request', seen);
    expect(lists.length).toBeGreaterThan(0);
    expect(lists.every((url) => new URL(url).searchParams.get('source') === 'false')).toBe(true);
    expect(await row.textContent()).toContain('v2');
    await row.getByText('2 versions').click();
    await row.getByRole('list', { name: 'Versions of versioned' }).getByRole('link', { name: 'versioned@1' }).waitFor();

    await page.getByLabel('Search functions by name').fill('versio');
    await page.locator('tr[data-function="ident"]').waitFor({ state: 'detached' });
    expect(await page.locator('tbody tr').count()).toBe(1);
    await shot('functions-versions');

    await row.getByRole('button', { name: 'Delete versioned@2' }).click();
    await page.getByRole('button', { name: 'Yes' }).click();
    await row.getByText('v1', { exact: true }).waitFor();
    expect((await admin('GET', '/v1/functions/versioned')).body.id).toBe(v1.id);
    expect((await admin('GET', `/v1/functions/${v2.id}`)).status).toBe(404);
    await page.getByLabel('Search functions by name').fill('');
    await page.locator('tr[data-function="ident"]').waitFor();
  });

  it('creates a user, issues a token shown once, revokes it, and the token is refused', async () => {
    await nav('Users & tokens').click();
    await page.getByLabel('Name', { exact: true }).first().fill('alice');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('heading', { name: 'Tokens of alice' }).waitFor();
    await page.getByRole('button', { name: 'Issue token' }).click();
    const tokenBox = page.getByLabel('New token');
    await tokenBox.waitFor();
    const token = await tokenBox.inputValue();
    expect((await rest(server.url, token)('GET', '/v1/whoami')).body.user.name).toBe('alice');
    await shot('users');

    await page.locator('tr[data-token="console"]').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('button', { name: 'Yes' }).click();
    await page.locator('tr[data-token="console"]', { hasText: 'revoked' }).waitFor();
    const refused = await rest(server.url, token)('GET', '/v1/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/revoked/);

    // and the console itself refuses it: a fresh tab signing in with it
    const other = await context.newPage();
    await other.goto(server.url + '/console/');
    await other.getByLabel('Token').fill(token);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.getByRole('alert').filter({ hasText: 'revoked' }).waitFor();
    await other.close();
  });

  it('takes a 10,000-task batch without rendering 10,000 rows, and pages in more on scroll', async () => {
    // an endpoint with no agent: the tasks stay waiting, so the numbers below are exact
    const idle = (await admin('POST', '/v1/endpoints', { name: 'idle-ep' })).body.endpoint;
    const fn = (await admin('POST', '/v1/functions', { name: 'many', runtime: 'js', source: '() => 0' })).body;
    await go(`/tasks?endpointId=${idle.id}`);
    await page.getByText('No tasks match').waitFor();
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const res = await admin('POST', '/v1/tasks/batch', { endpointId: idle.id, tasks: Array.from({ length: 10_000 }, () => ({ functionId: fn.id })) });
    expect(res.status).toBe(201);
    // the newest page arrives live; the rest is keyset-paged in as the list scrolls. The counts are the
    // server's, over every matching task, not over the rows loaded so far
    await page
      .locator('.summary', { hasText: /^10,000 tasks · 10,000 waiting · 500 loaded$/ })
      .waitFor({ timeout: 30_000 })
      .catch(async (e) => {
        await shot('tasks-10k-failed');
        throw new Error(`${(e as Error).message}\nsummary: ${await page.locator('.summary').textContent()}`);
      });
    expect(await page.locator('a.task-row').count()).toBeLessThan(60);
    await page.locator('.virtual').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.locator('.summary', { hasText: /^10,000 tasks · 10,000 waiting · 1,000 loaded$/ }).waitFor();
    expect(await page.locator('a.task-row').count()).toBeLessThan(60);
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await shot('tasks-10k');
  });

  it('shows the fabric on the overview: endpoints online, queue, and the last hour of tasks', async () => {
    await nav('Overview').click();
    const online = page.locator('.stat', { hasText: 'Endpoints online' });
    await online.locator('.stat-value', { hasText: /^1$/ }).waitFor();
    await page
      .locator('.stat', { hasText: 'Queue (waiting)' })
      .locator('.stat-value', { hasText: /^10000$/ })
      .waitFor();
    await page.locator('.stat', { hasText: 'Failed in the last hour' }).locator('.stat-value', { hasText: /^1$/ }).waitFor();
    // 40 squares and the one task submitted after the unlock succeeded; one task failed
    await page.getByRole('img', { name: 'Last hour: 41 tasks completed, 1 failed' }).waitFor();
    // and lists every endpoint with its state
    const list = page.getByRole('list', { name: 'Endpoints and their state' });
    await list.locator(`li[data-endpoint="${ENDPOINT}"][data-state="online"]`).waitFor();
    await list.locator('li[data-endpoint="idle-ep"][data-state="offline"]', { hasText: '10000 waiting' }).waitFor();
    expect(await list.locator(`li[data-endpoint="${ENDPOINT}"] time`).textContent()).toMatch(DATED);
    await shot('overview');
    await shot('overview', 390);
  });

  it('lists objects and triggers, filters objects by name prefix, and deletes an object through its confirm button', async () => {
    // put and made through the SDK, as a user does; the trigger comes after the puts, so it fires nothing
    const sdk = new Client({ url: server.url, token: server.adminToken });
    const a = await (async () => {
      const { id } = await sdk.put(Buffer.from('alpha\n'), { name: 'input/a.txt' });
      await sdk.put(Buffer.from('beta\n'), { name: 'input/b.txt' });
      await sdk.put({ kept: true }, { name: 'other/c.json' });
      await sdk.createTrigger({ prefix: 'input/', function: 'ident', endpoint: ENDPOINT, outputPrefix: 'output/' });
      return id;
    })().finally(() => sdk.close());

    await nav('Objects & triggers').click();
    await page.getByRole('heading', { name: 'Objects & triggers' }).waitFor();
    const trigger = page.locator('tr[data-trigger="input/"]');
    await trigger.waitFor();
    expect(await trigger.locator('td[data-label="Output prefix"]').textContent()).toBe('output/');
    expect(await trigger.locator('td[data-label="Fired"]').getAttribute('data-fired')).toBe('0');
    expect(await trigger.locator('td[data-label="Created"] time').textContent()).toMatch(DATED);
    const row = page.locator('tr[data-object="input/a.txt"]');
    await row.waitFor();
    expect(await row.textContent()).toContain(a);
    expect(await row.locator('td[data-label="Size"]').textContent()).toMatch(/^6 B bytes$/);
    expect(await row.locator('td[data-label="Created"] time').textContent()).toMatch(DATED);
    await page.locator('tr[data-object="other/c.json"]').waitFor();
    await shot('data');

    await page.getByLabel('Filter objects by name prefix').fill('input/');
    await page.locator('tr[data-object="other/c.json"]').waitFor({ state: 'detached' });
    expect(await page.locator('tr[data-object]').evaluateAll((els) => els.map((e) => e.getAttribute('data-object')).sort())).toEqual([
      'input/a.txt',
      'input/b.txt',
    ]);

    await row.getByRole('button', { name: 'Delete input/a.txt' }).click();
    await row.getByRole('button', { name: 'Yes' }).click();
    await row.waitFor({ state: 'detached' });
    await page.locator('tr[data-object="input/b.txt"]').waitFor();
    expect((await admin('GET', `/v1/objects/${a}`)).status).toBe(404);
    expect((await admin('GET', '/v1/objects?prefix=input/')).body.items.map((o: { name: string }) => o.name)).toEqual(['input/b.txt']);
    await shot('data', 390);
    await page.setViewportSize({ width: 1280, height: 860 });
  });
});
