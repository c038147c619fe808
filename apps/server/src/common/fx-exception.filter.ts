import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { ErrorBody } from '@fx/protocol';
import { FxException } from './fx.exception.js';
import { isUnavailableError } from './unavailable.js';

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
}

/** Maps every error to `{ code, message }`: clients never see a stack or an HTML page. */
@Catch()
export class FxExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const res = host
      .switchToHttp()
      .getResponse<{ status(n: number): { json(b: unknown): void }; headersSent: boolean; setHeader(k: string, v: string): void }>();
    const [status, body] = errorResponse(exception);
    if (status === 503 && !(exception instanceof FxException)) this.logger.warn(`answered 503: ${(exception as Error)?.message ?? String(exception)}`);
    else if (status >= 500) this.logger.error(exception instanceof Error ? exception : String(exception));
    if (res.headersSent) return;
    if (status === 503) res.setHeader('Retry-After', '1');
    // A body left unread (refused before or while it streamed: an upload part, say) would otherwise be
    // read to its end only to be thrown away, however large: the connection closes after the answer.
    const req = host.switchToHttp().getRequest<IncomingMessage | undefined>();
    if (req && !req.readableEnded && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0))
      res.setHeader('Connection', 'close');
    res.status(status).json(body);
  }
}

/**
 * The status and `{ code, message }` REST answers for an error; the client socket's submit frames answer
 * with the same body (clients/socket-submit.service.ts).
 */
export function errorResponse(exception: unknown): [number, ErrorBody] {
  if (exception instanceof FxException) {
    return [exception.status, { code: exception.code, message: exception.message, ...(exception.details === undefined ? {} : { details: exception.details }) }];
  }
  const e = exception as HttpLikeError;
  // body-parser errors arrive as plain errors with a `type` and a status
  if (e?.type === 'entity.too.large') {
    return [413, { code: 'PAYLOAD_TOO_LARGE', message: `request body is larger than the limit (${e.message ?? ''})`.trim() }];
  }
  if (e?.type === 'entity.parse.failed') {
    return [400, { code: 'VALIDATION_FAILED', message: 'request body is not valid JSON' }];
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code =
      status === 404
        ? 'NOT_FOUND'
        : status === 401
          ? 'UNAUTHENTICATED'
          : status === 403
            ? 'FORBIDDEN'
            : status === 413
              ? 'PAYLOAD_TOO_LARGE'
              : status >= 500
                ? 'INTERNAL'
                : 'VALIDATION_FAILED';
    return [status, { code, message: exception.message }];
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return [status, { code: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', message: e.message ?? 'bad request' }];
  }
  // A database or broker that cannot be reached is "try again", not a server bug.
  if (isUnavailableError(exception))
    return [503, { code: 'UNAVAILABLE', message: 'a backing service (database or broker) cannot be reached right now; retry shortly' }];
  return [500, { code: 'INTERNAL', message: 'internal server error; the server log has the details' }];
}
