import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorBody } from '@fx/protocol';
import { jsonScanProblem, DEFAULT_JSON_SCAN_LIMITS, type JsonScanLimits } from '../../common/json-scan.js';
import { AuthService } from './auth.service.js';
import type { Principal } from './principal.js';

/** The most body a request without a valid user token may carry (none of the public routes take one). */
export const UNAUTHENTICATED_BODY_BYTES = 4 * 1024;

export interface BodyGateOptions {
  /** Body limit for requests with a valid user token (FX_MAX_REQUEST_BYTES). */
  maxBytes: number;
  scanLimits?: JsonScanLimits;
}

type Req = IncomingMessage & { body?: unknown; principal?: Principal };
type Next = (err?: unknown) => void;

/** Whether a Content-Type is JSON: the bodies this gate reads itself (every other body reaches its route unread). */
export const isJson = (type: string | undefined) => /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type ?? '');
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

function answer(res: ServerResponse, status: number, body: ErrorBody, close = false): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  // the rest of an oversize body is not read; the connection cannot be reused
  if (close) res.setHeader('Connection', 'close');
  res.end(JSON.stringify(body));
}

/**
 * The request body reader, in place of express.json: it authenticates first and reads the body after
 * (DESIGN invariant 8). A request with a valid user token may send up to `maxBytes`; any other request
 * at most UNAUTHENTICATED_BODY_BYTES, so a stranger can make the server read a few KiB and parse
 * nothing of consequence. The bytes are then scanned for depth and key counts (json-scan.ts) before
 * JSON.parse runs, so no body of any size can hold the event loop. The principal found here is left
 * on the request for AuthGuard, which still decides what the route allows.
 */
export function bodyGate(auth: AuthService, options: BodyGateOptions) {
  const limits = options.scanLimits ?? DEFAULT_JSON_SCAN_LIMITS;
  return (req: Req, res: ServerResponse, next: Next): void => {
    if (!hasBody(req) || !isJson(req.headers['content-type'])) {
      next();
      return;
    }
    void (async () => {
      const token = AuthService.bearer(req.headers.authorization);
      const principal = token ? await auth.verify(token).catch(() => undefined) : undefined;
      if (principal?.kind === 'user') req.principal = principal;
      const limit = principal?.kind === 'user' ? options.maxBytes : UNAUTHENTICATED_BODY_BYTES;
      const tooLarge = (): void =>
        answer(
          res,
          413,
          {
            code: 'PAYLOAD_TOO_LARGE',
            message:
              limit === UNAUTHENTICATED_BODY_BYTES
                ? `request body is larger than the ${UNAUTHENTICATED_BODY_BYTES} bytes allowed without a valid user token`
                : `request body is larger than the limit of ${limit} bytes`,
          },
          true,
        );
      const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'identity') {
        answer(res, 415, { code: 'VALIDATION_FAILED', message: `request bodies must not be compressed (Content-Encoding: ${encoding})` }, true);
        return;
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        tooLarge();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      req.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > limit) {
          failed = true;
          chunks.length = 0;
          req.pause();
          tooLarge();
          return;
        }
        chunks.push(chunk);
      });
      req.on('error', (e) => {
        if (failed) return;
        failed = true;
        next(e);
      });
      req.on('end', () => {
        if (failed) return;
        const bytes = Buffer.concat(chunks, size);
        const problem = jsonScanProblem(bytes, limits);
        if (problem) return answer(res, 400, { code: 'VALIDATION_FAILED', message: problem });
        const text = bytes.toString('utf8');
        if (text.trim() === '') {
          req.body = {};
          return next();
        }
        // like express.json's strict mode: only an object or an array is a body
        if (!/^\s*[[{]/.test(text))
          return answer(res, 400, { code: 'VALIDATION_FAILED', message: 'request body is not valid JSON (it must be an object or an array)' });
        try {
          req.body = JSON.parse(text);
        } catch {
          return answer(res, 400, { code: 'VALIDATION_FAILED', message: 'request body is not valid JSON' });
        }
        next();
      });
    })().catch(next);
  };
}
