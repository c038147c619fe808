/**
 * The task page's live view (issue 16) in headless Chromium: a running task's progress and what it
 * prints appear while it runs, and the view stops following once it ends. The server and a real
 * fx-endpoint come from the @fx/testing fixtures; needs `npm run build` first. Screenshots go to
 * test-artifacts/console/.
 */
import { jest } from '@jest/globals';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';
import { ARTIFACTS, launchConsoleBrowser, requireBuiltConsole, signedInTab } from './console-browser.js';

jest.setTimeout(180_000);

describe('the task page follows a running task', () => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let work: TempDir;
  let context: BrowserContext;
  let alice: Client;
  let aliceToken: string;
  let printer: string;
  let steps: string;

  /** A tab signed in with `token`, on the page of task `id`. */
  const openTask = async (token: string, id: string): Promise<Page> => {
    const page = await signedInTab(context, server.url, token, 60_000);
    await page.evaluate((p) => {
      history.pushState(null, '', '/console' + p);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, `/tasks/${id}`);
    await page.getByRole('heading', { name: /^Task / }).waitFor();
    return page;
  };

  /** An attempt row's usage, as its label → value pairs (TaskAttempts' Used column). */
  const usageOf = async (row: ReturnType<Page['locator']>): Promise<Record<string, string>> => {
    const cell = row.locator('td[data-label="Used"] [data-testid="attempt-usage"]');
    const keys = await cell.locator('dt').allTextContents();
    const values = await cell.locator('dd').allTextContents();
    return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  };

  beforeAll(async () => {
    requireBuiltConsole();
    work = await tempDir('fx-console-live');
    server = await ServerProcess.start('embedded');
    const admin = new Client({ url: server.url, token: server.adminToken });
    aliceToken = (await admin.createToken((await admin.createUser({ name: 'alice' })).id, { name: 'console' })).token;
    admin.close();
    alice = new Client({ url: server.url, token: aliceToken });
    endpoint = await EndpointProcess.configure(server, 'live', { workers: 2, token: aliceToken });
    endpoint.start();
    await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');
    printer = await alice.registerShellFunction('seq 1 {n} | while read -r i; do echo out $i; echo err $i >&2; done; sleep {hold}; echo done', {
      name: 'printer',
    });
    steps = (
      await alice.createFunction({
        name: 'steps',
        runtime: 'js',
        source:
          'async (n, hold) => { for (let i = 1; i <= n; i++) { ctx.emit({ step: i, of: n }); await new Promise((r) => setTimeout(r, i === 1 ? hold : 5)); } return n; }',
      })
    ).id;
    context = await launchConsoleBrowser(work.path);
  }, 240_000);

  afterAll(async () => {
    alice?.close();
    await context?.close();
    await endpoint?.stop();
    await server?.stop();
    await work?.remove();
  });

  it("shows what a running task prints as it prints it, stderr marked, and stops when it is cancelled (an admin, another user's task)", async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { n: 3, hold: 120 });
    const page = await openTask(server.adminToken, id);
    const logs = page.getByLabel('Task logs');
    await logs.filter({ hasText: 'out 3' }).waitFor();
    // the task sleeps two minutes after these lines: they were shown while it ran
    expect((await alice.getTask(id)).status).toBe('running');
    expect(await page.getByTestId('task-live').getAttribute('data-ended')).toBe('false');
    expect(await logs.locator('[data-stream="stderr"]').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('err 1')]));
    expect((await logs.locator('[data-stream="stdout"]').allTextContents()).join('')).toBe('out 1\nout 2\nout 3\n');
    await page.screenshot({ path: join(ARTIFACTS, 'task-live-logs-1280.png'), fullPage: true });

    await page.getByRole('button', { name: 'Cancel task' }).click();
    await page.locator('[data-testid="task-live"][data-ended="true"]').waitFor();
    expect(await logs.textContent()).not.toContain('done');
    await page.close();
  });

  it('shows the latest progress value while the task runs, then the kept history once it ends', async () => {
    const id = await alice.run(steps, endpoint.endpointId, [25, 120_000]); // emits once, then waits two minutes
    const page = await openTask(aliceToken, id);
    const latest = page.getByLabel('Latest progress');
    await latest.filter({ hasText: '"step": 1' }).waitFor();
    expect((await alice.getTask(id)).status).toBe('running');
    expect(await page.getByTestId('progress-seq').textContent()).toBe('#1');
    await alice.cancel(id);
    await page.locator('[data-testid="task-live"][data-ended="true"]').waitFor();

    const done = await alice.run(steps, endpoint.endpointId, [25, 0]);
    await alice.getResult(done, { timeoutMs: 60_000 });
    await page.evaluate((p) => {
      history.pushState(null, '', '/console' + p);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, `/tasks/${done}`);
    await page.locator('[data-testid="task-live"][data-ended="true"]').waitFor();
    expect(await page.getByTestId('progress-seq').textContent()).toBe('#25');
    // a js attempt: its worker measured the CPU time and peak memory of the call
    const used = await usageOf(page.getByRole('table', { name: 'Attempts' }).locator('tr[data-attempt="1"]'));
    expect(used).toMatchObject({
      cores: '1',
      GPUs: '0',
      CPU: expect.stringMatching(/^\d+ ms$|^\d+\.\d\d s$/),
      'peak memory': expect.stringMatching(/^[\d.]+ MiB$/),
    });
    expect(JSON.parse((await latest.textContent()) ?? '')).toEqual({ step: 25, of: 25 });
    await page.getByText(/^The (one value kept|\d+ latest values)$/).click();
    // not named `history`: the page.evaluate above would then serialize a reference to this const, not the page's history
    const kept = await page.getByRole('list', { name: 'Progress history' }).locator('li').allTextContents();
    expect(kept.length).toBeLessThanOrEqual(16);
    // the newest first; the kept values come back from a jsonb column, which does not keep an object's key order
    const newest = /^#(\d+) (\{[^}]*\})/.exec(kept[0] ?? '');
    expect(newest?.[1]).toBe('25');
    expect(JSON.parse(newest?.[2] ?? 'null')).toEqual({ step: 25, of: 25 });
    await page.screenshot({ path: join(ARTIFACTS, 'task-live-progress-1280.png'), fullPage: true });
    await page.close();
  });

  it("shows the endpoint agent's lines about a task when asked, and its attempt with what it used", async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { n: 2, hold: 0 });
    await alice.getResult(id, { timeoutMs: 60_000 });
    const page = await openTask(aliceToken, id);
    await page.locator('[data-testid="task-live"][data-ended="true"]').waitFor();
    const logs = page.getByLabel('Task logs');
    await logs.filter({ hasText: 'out 2' }).waitFor();
    // hidden until asked for: only what the task printed
    expect(await logs.locator('[data-stream="agent"]').count()).toBe(0);
    await page.getByRole('switch', { name: "Show the agent's lines" }).check();
    const said = (await logs.locator('[data-stream="agent"]').allTextContents()).join('');
    expect(said).toMatch(/INFO {2}received, queued\n/);
    expect(said).toMatch(/INFO {2}started as a shell process\n/);
    expect(said).toMatch(/INFO {2}finished: success in \d+ ms\n/);
    // interleaved in the order they came: received and started before the first line printed, finished after the last
    const text = (await logs.textContent()) ?? '';
    expect(text.indexOf('received, queued')).toBeLessThan(text.indexOf('out 1'));
    expect(text.indexOf('started as a shell process')).toBeLessThan(text.indexOf('out 1'));
    expect(text.indexOf('finished: success')).toBeGreaterThan(text.indexOf('out 2'));

    // the attempt that ran it: its row, outcome, timeline and what it used (a shell task's CPU time and memory are not measured)
    const row = page.getByRole('table', { name: 'Attempts' }).locator('tr[data-attempt="1"]');
    expect(await row.getAttribute('data-status')).toBe('success');
    expect(await row.locator('td[data-label="Started"] time').count()).toBe(1);
    expect(await usageOf(row)).toEqual({
      wall: expect.stringMatching(/^\d+ ms$|^\d+\.\d\d s$/),
      cores: '1',
      GPUs: '0',
      CPU: 'not measured',
      'peak memory': 'not measured',
    });
    await page.screenshot({ path: join(ARTIFACTS, 'task-live-agent-lines-1280.png'), fullPage: true });
    await page.close();
  });
});
