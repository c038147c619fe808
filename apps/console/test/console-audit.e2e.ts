/**
 * The console's audit page (issue 17) in headless Chromium against the built server: a registration
 * and a submission show as entries, newest first; the filters narrow them; the export saves every
 * matching entry as JSON lines; another user sees none of them. Needs `npm run build` first.
 * Screenshots go to test-artifacts/console/.
 */
import { jest } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Client, type AuditEntry } from '@fx/sdk';
import { ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';
import { ARTIFACTS, launchConsoleBrowser, requireBuiltConsole, signedInTab } from './console-browser.js';

jest.setTimeout(180_000);

describe('the audit page', () => {
  let server: ServerProcess;
  let work: TempDir;
  let context: BrowserContext;
  let aliceToken: string;
  let bobToken: string;
  let functionId: string;
  let endpointId: string;
  let taskId: string;

  /** A tab signed in with `token`, on the audit page (reached through the main navigation). */
  const openAudit = async (token: string): Promise<Page> => {
    const page = await signedInTab(context, server.url, token, 30_000);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    return page;
  };
  /** Waits until the table shows exactly these rows (a filter's answer has arrived). */
  const showsOnly = (page: Page, rows: string[]) =>
    eventually(async () => JSON.stringify(await shown(page)) === JSON.stringify(rows), 15_000, `the table shows ${rows.join(', ')}`);
  const shown = (page: Page) =>
    page.locator('tr[data-audit]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-audit')} ${r.getAttribute('data-target')}`));

  beforeAll(async () => {
    requireBuiltConsole();
    work = await tempDir('fx-console-audit');
    server = await ServerProcess.start('embedded');
    const admin = new Client({ url: server.url, token: server.adminToken });
    aliceToken = (await admin.createToken((await admin.createUser({ name: 'alice' })).id, { name: 'console' })).token;
    bobToken = (await admin.createToken((await admin.createUser({ name: 'bob' })).id, { name: 'console' })).token;
    admin.close();
    // a registration and a submission, as a user makes them (no agent: the task waits for its endpoint)
    const alice = new Client({ url: server.url, token: aliceToken });
    functionId = await alice.registerFunction((x: number) => x * 2, { name: 'double' });
    endpointId = (await alice.registerEndpoint({ name: 'lab' })).endpoint.id;
    taskId = await alice.run(functionId, endpointId, [21]);
    alice.close();
    context = await launchConsoleBrowser(work.path);
  }, 240_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await work?.remove();
  });

  it("lists the user's registration and submission newest first, filters them, and exports them as JSON lines", async () => {
    const page = await openAudit(aliceToken);
    const submitted = page.locator(`tr[data-audit="tasks.submitted"][data-target="${taskId}"]`);
    await submitted.waitFor();
    expect(await submitted.locator('td[data-label="Who"]').textContent()).toBe('alice');
    expect(await submitted.locator('td[data-label="Details"]').textContent()).toContain(`"functionName":"double"`);
    expect(await submitted.locator('td[data-label="When"] time').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    const rows = await shown(page);
    // newest first: the submission, the endpoint and its token, the function; then the admin's acts about alice
    expect(rows[0]).toBe(`tasks.submitted ${taskId}`);
    expect(rows[1]).toMatch(/^token\.issued /);
    expect(rows[2]).toBe(`endpoint.registered ${endpointId}`);
    expect(rows[3]).toBe(`function.registered ${functionId}`);
    expect(rows.slice(4).map((r) => r.split(' ')[0])).toEqual(['token.issued', 'user.created']);
    await page.screenshot({ path: join(ARTIFACTS, 'audit-1280.png'), fullPage: true });

    await page.getByLabel('Action').selectOption('function.registered');
    await showsOnly(page, [`function.registered ${functionId}`]);
    // quick changes: only the last one's answer is shown
    await page.getByLabel('Action').selectOption('');
    await page.getByLabel('Target type').selectOption('endpoint');
    await showsOnly(page, [`endpoint.registered ${endpointId}`]);
    await page.getByLabel('Target type').selectOption('');
    await page.getByLabel('Since').selectOption({ label: 'the last hour' });
    await showsOnly(page, rows);

    const link = page.getByRole('link', { name: 'Export JSON lines' });
    expect(await link.getAttribute('href')).toMatch(/^\/v1\/audit\?since=.*&format=jsonl$/);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('fx-audit.jsonl');
    const lines = (await readFile((await download.path())!, 'utf8')).split('\n').filter(Boolean);
    const exported = lines.map((l) => JSON.parse(l) as AuditEntry);
    // oldest first, every entry the page shows
    expect(exported.map((e) => `${e.action} ${e.target.id}`)).toEqual([...rows].reverse());
    expect(exported.find((e) => e.target.id === taskId)?.details).toMatchObject({ tasks: 1, uses: [{ functionId, version: 1, endpointId, count: 1 }] });
    await page.close();
  });

  it("shows another user none of alice's entries, and an admin every entry", async () => {
    const bob = await openAudit(bobToken);
    await bob.locator('tr[data-audit="user.created"]').waitFor();
    const bobs = await shown(bob);
    expect(bobs.map((r) => r.split(' ')[0]).sort()).toEqual(['token.issued', 'user.created']);
    expect(bobs.join('\n')).not.toContain(taskId);
    expect(await bob.getByText(/Actions on your things and actions you took/).count()).toBe(1);
    await bob.close();

    const admin = await openAudit(server.adminToken);
    await admin.locator(`tr[data-audit="tasks.submitted"][data-target="${taskId}"]`).waitFor();
    expect((await shown(admin)).filter((r) => r.startsWith('user.created'))).toHaveLength(3);
    expect(await admin.locator('tr[data-audit="user.created"] td[data-label="Who"]').allTextContents()).toEqual(['admin', 'admin', 'the server']);
    await admin.screenshot({ path: join(ARTIFACTS, 'audit-admin-1280.png'), fullPage: true });
    await admin.close();
  });
});
