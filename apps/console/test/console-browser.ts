/**
 * What the console's browser tests share: where the built console and the screenshots are, the one way
 * they start headless Chromium, and signing in on a fresh tab.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { FX_ROOT } from '@fx/testing';

export const CONSOLE_INDEX = join(FX_ROOT, 'apps/console/dist/index.html');
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(FX_ROOT, 'test-artifacts/console');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails at once when the console is not built (the tests load it from the server), and makes the screenshot folder. */
export function requireBuiltConsole(): void {
  if (!existsSync(CONSOLE_INDEX)) throw new Error(`the console is not built (${CONSOLE_INDEX} is missing): run "npm run build" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
}

/** Headless Debian Chromium with a fresh profile under `dir`, 1280×860, downloads accepted. */
export async function launchConsoleBrowser(dir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does it)`);
  return chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 860 },
  });
}

/** A new tab of `context` signed in to the console at `url` with `token`, on the Overview page. */
export async function signedInTab(context: BrowserContext, url: string, token: string, timeoutMs: number): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  await page.goto(`${url}/console/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}
