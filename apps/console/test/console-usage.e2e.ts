/**
 * The console's Usage page (issue 17) in headless Chromium, against a real server on PostgreSQL + Redis
 * (in this process, so the test can write usage rows and pilot blocks straight into its database, as
 * agents' results and heartbeats would have): the figures in the table and the stats, the stacked bars
 * of both charts, the blocks' idle waste, and who sees what. Needs the console built (`npm run build`).
 * Screenshots go to test-artifacts/console/.
 */
import { jest } from '@jest/globals';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Client } from '@fx/sdk';
import { tempDir, type TempDir } from '@fx/testing';
import { ARTIFACTS, launchConsoleBrowser, requireBuiltConsole, signedInTab } from './console-browser.js';
import { startTestServer, type TestServer } from '../../server/src/testing/test-server.js';
import { seedAttempts, seedBlocks } from '../../server/src/testing/usage-seed.js';
import { DATABASE } from '../../server/src/storage/storage.module.js';
import type { Database } from '../../server/src/storage/database.js';

jest.setTimeout(180_000);

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW = `since=${iso(T0)}&until=${iso(T0 + 3 * D)}`;

describe('the Usage page', () => {
  let server: TestServer;
  let work: TempDir;
  let context: BrowserContext;
  let aliceToken: string;
  const ids = {} as Record<'square' | 'cube' | 'hpc' | 'cloud', string>;

  /** A tab signed in with `token`, on the Usage page reached through the main navigation, then on `path`. */
  const open = async (token: string, path?: string): Promise<Page> => {
    const page = await signedInTab(context, server.url, token, 30_000);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage', exact: true }).click();
    await page.getByRole('heading', { name: 'Usage' }).waitFor();
    // the default view's answer first, so that it cannot land after the next one's
    await page.locator('[data-stat="core"]').waitFor();
    if (path) {
      await page.evaluate((p) => {
        history.pushState(null, '', '/console' + p);
        window.dispatchEvent(new PopStateEvent('popstate'));
      }, path);
    }
    return page;
  };
  /** A table row's cells, by its data-key. */
  const cells = (page: Page, key: string) => page.locator(`.usage-table tr[data-key="${key}"] td`).allTextContents();
  /** The bars of a chart: [bucket, key, value] each. */
  const bars = (page: Page, metric: string) =>
    page
      .locator(`figure[data-metric="${metric}"] rect.usage-bar`)
      .evaluateAll((rects) => rects.map((r) => [r.getAttribute('data-bucket'), r.getAttribute('data-key'), Number(r.getAttribute('data-value'))]));

  beforeAll(async () => {
    requireBuiltConsole();
    work = await tempDir('fx-console-usage');
    server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0' });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const alice = await admin.createUser({ name: 'alice' });
    const bob = await admin.createUser({ name: 'bob' });
    aliceToken = (await admin.createToken(alice.id, { name: 'console' })).token;
    admin.close();
    const client = new Client({ url: server.url, token: aliceToken });
    ids.square = (await client.createFunction({ name: 'square', runtime: 'js', source: '(x) => x * x' })).id;
    ids.cube = (await client.createFunction({ name: 'cube', runtime: 'js', source: '(x) => x * x * x' })).id;
    ids.hpc = (await client.registerEndpoint({ name: 'hpc' })).endpoint.id;
    ids.cloud = (await client.registerEndpoint({ name: 'cloud' })).endpoint.id;
    client.close();
    const db: Database = server.app.get(DATABASE);
    const mine = { ownerId: alice.id };
    await seedAttempts(db, [
      { ...mine, functionId: ids.square, endpointId: ids.hpc, endedAt: T0 + H, wallMs: 2 * H, cores: 8, gpus: 2, cpuMs: 12 * H, maxRssBytes: 3 * 2 ** 30 },
      { ...mine, functionId: ids.square, endpointId: ids.hpc, endedAt: T0 + D + 6 * H, wallMs: H, cores: 4 },
      { ...mine, functionId: ids.cube, endpointId: ids.cloud, endedAt: T0 + D + 12 * H, wallMs: 3 * H, cores: 2, gpus: 1 },
      { ...mine, functionId: ids.cube, endpointId: ids.cloud, endedAt: T0 + 2 * D + 0.5 * H, wallMs: H, cores: 1, cpuMs: 0.5 * H },
      { ownerId: bob.id, functionId: ids.cube, endpointId: ids.cloud, endedAt: T0 + 2 * H, wallMs: H, cores: 64 },
      // two hours ago: in the page's default window (the last 7 days)
      { ...mine, functionId: ids.square, endpointId: ids.hpc, endedAt: Date.now() - 2 * H, wallMs: H, cores: 2 },
    ]);
    await seedBlocks(db, [
      { endpointId: ids.hpc, nodes: 2, startedAt: T0, endedAt: T0 + 4 * H, busyMs: 3 * H, idleMs: H },
      { endpointId: ids.cloud, nodes: 1, startedAt: T0 + D, endedAt: T0 + D + 10 * H, busyMs: 2 * H, idleMs: 8 * H },
    ]);
    context = await launchConsoleBrowser(work.path);
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await work?.remove();
  });

  it('opens on the last 7 days of your own usage', async () => {
    const page = await open(aliceToken);
    await page.locator('[data-stat="core"] .stat-value').filter({ hasText: '2.00' }).waitFor();
    expect(await page.getByLabel('Window').inputValue()).toBe('7d');
    expect(await cells(page, (await page.locator('.usage-table tbody tr').first().getAttribute('data-key'))!)).toEqual(expect.arrayContaining(['2.00', '1']));
    expect(await page.locator('.usage-table tbody tr').count()).toBe(2); // alice, and the total
    expect(await page.getByText('No pilot block held nodes in this window.').count()).toBe(1);
    // one bar: today's
    expect(await bars(page, 'coreHours')).toEqual([[expect.any(String), expect.any(String), 2]]);
    await page.close();
  });

  it('shows core- and GPU-hours per function as stacked bars per day, the table, and the blocks’ idle waste', async () => {
    const page = await open(aliceToken, `/usage?by=function&${WINDOW}`);
    await page.locator(`.usage-table tr[data-key="${ids.square}"]`).waitFor();
    expect(await cells(page, ids.square)).toEqual([' square@1', '20.00', '4.00', '12.00', '3.00', '2', '2', '3.0 GiB']);
    expect(await cells(page, ids.cube)).toEqual([' cube@1', '7.00', '3.00', '0.50', '4.00', '2', '2', '—']);
    expect(await cells(page, 'total')).toEqual(['Total', '27.00', '7.00', '12.50', '7.00', '4', '4', '3.0 GiB']);
    expect(await page.locator('[data-stat="cpu"]').textContent()).toContain('CPU-hours (2 of 4 measured)');
    // the core-hours bars: day 0 square; day 1 square and cube stacked; day 2 cube
    expect(await bars(page, 'coreHours')).toEqual([
      [iso(T0), ids.square, 16],
      [iso(T0 + D), ids.square, 4],
      [iso(T0 + D), ids.cube, 6],
      [iso(T0 + 2 * D), ids.cube, 1],
    ]);
    expect(await bars(page, 'gpuHours')).toEqual([
      [iso(T0), ids.square, 4],
      [iso(T0 + D), ids.cube, 3],
    ]);
    // the bars are drawn to scale: the tallest bucket (day 0, 16 core-hours) fills the chart, day 1 (10) is 10/16 of it
    const heights = await page
      .locator('figure[data-metric="coreHours"] g[data-bucket]')
      .evaluateAll((gs) => gs.map((g) => Array.from(g.querySelectorAll('rect')).reduce((n, r) => n + r.getBoundingClientRect().height, 0)));
    expect(heights).toHaveLength(3);
    expect(heights[1]! / heights[0]!).toBeCloseTo(10 / 16, 2);
    expect(heights[2]! / heights[0]!).toBeCloseTo(1 / 16, 2);

    // the blocks: most node-hours first, busy and idle bars on one scale
    const blocks = page.locator('table.block-waste tbody tr');
    expect(await blocks.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-endpoint')))).toEqual([ids.cloud, ids.hpc]);
    expect(await page.locator(`tr[data-endpoint="${ids.cloud}"] .idle-share`).textContent()).toBe('80.0%');
    expect(await page.locator(`tr[data-endpoint="${ids.hpc}"] .idle-share`).textContent()).toBe('25.0%');
    const widths = await page
      .locator('table.block-waste rect')
      .evaluateAll((rects) => rects.map((r) => [r.getAttribute('class'), Math.round(r.getBoundingClientRect().width)]));
    expect(widths).toEqual([
      ['block-busy', 48],
      ['block-idle', 192],
      ['block-busy', 144],
      ['block-idle', 48],
    ]);
    expect(await page.locator('[data-stat="idle"] .stat-value').textContent()).toBe('55.6%');
    await page.screenshot({ path: join(ARTIFACTS, 'usage-1280.png'), fullPage: true });

    // grouped by endpoint instead, through the selector
    await page.getByLabel('Group by').selectOption('endpoint');
    await page.locator(`.usage-table tr[data-key="${ids.hpc}"]`).waitFor();
    expect(await cells(page, ids.hpc)).toEqual(expect.arrayContaining([' hpc', '20.00']));
    expect(await cells(page, ids.cloud)).toEqual(expect.arrayContaining([' cloud', '7.00']));
    expect(new URL(page.url()).searchParams.get('by')).toBe('endpoint');
    await page.close();
  });

  it('shows an admin everyone’s usage', async () => {
    const page = await open(server.adminToken, `/usage?by=user&${WINDOW}`);
    await page.locator('.usage-table tbody tr[data-key="total"] td').nth(1).filter({ hasText: '91.00' }).waitFor();
    const names = await page.locator('.usage-table tbody tr').evaluateAll((rows) => rows.map((r) => r.querySelector('td')?.textContent?.trim()));
    expect(names).toEqual(['bob', 'alice', 'Total']);
    await page.close();
  });
});
