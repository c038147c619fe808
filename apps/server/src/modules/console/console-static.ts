import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';

export const CONSOLE_PATH = '/console';

interface Req {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}
interface Res {
  status(n: number): Res;
  json(body: unknown): void;
  setHeader(name: string, value: string): void;
  sendFile(path: string, options: { headers: Record<string, string> }): void;
  end(): void;
}

/** The console talks only to its own origin; nothing else may load or frame it. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Serves the built console (apps/console/dist) at /console, same origin as the API, with a
 * single-page-app fallback to index.html. The server does not need the console to run: when it
 * has not been built, /console answers 404 with a sentence saying how to build it.
 */
export function mountConsole(app: NestExpressApplication, dir: string): void {
  const root = resolve(dir);
  const index = join(root, 'index.html');
  // a browser pointed at the server's address lands in the console
  app.use((req: Req, res: Res, next: () => void) => {
    if (req.path !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    res.setHeader('Location', `${CONSOLE_PATH}/`);
    res.status(302).end();
  });
  if (!existsSync(index)) {
    app.use(CONSOLE_PATH, (_req: Req, res: Res) => {
      res.status(404).json({
        code: 'NOT_FOUND',
        message: `the admin console is not built (no ${index}): run "npm run build" (or "npm run build -w @fx/console") and restart the server`,
      });
    });
    new Logger('Console').warn(`console not built (${index} missing); /console answers 404 until it is`);
    return;
  }
  app.use(CONSOLE_PATH, (_req: Req, res: Res, next: () => void) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  });
  // Vite names assets by content hash: they never change, so browsers may keep them.
  app.useStaticAssets(join(root, 'assets'), { prefix: `${CONSOLE_PATH}/assets/`, immutable: true, maxAge: '365d', index: false });
  app.useStaticAssets(root, { prefix: `${CONSOLE_PATH}/`, index: false, redirect: false });
  app.use(CONSOLE_PATH, (req: Req, res: Res, next: () => void) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // a client-side route (no file extension): the app decides what to show
    if (/\.[a-z0-9]+$/i.test(req.path)) {
      return res.status(404).json({ code: 'NOT_FOUND', message: `${CONSOLE_PATH}${req.path} is not a file of the console` });
    }
    res.sendFile(index, { headers: { 'Cache-Control': 'no-cache', ...SECURITY_HEADERS } });
  });
}
