/**
 * Whether an error means "a backing service is unreachable right now" (PostgreSQL restarting, a
 * connection cut) rather than a bug: such a request was not accepted and is answered 503
 * UNAVAILABLE with Retry-After, which clients retry, instead of 500.
 */
const CODES = new Set([
  // node sockets
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // Prisma: can't reach / timed out / closed / pool timeout
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  // PostgreSQL: connection exceptions, shutting down, starting up, too many connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
const KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionAlreadyClosed']);
const MESSAGES =
  /connection terminated|ECONNREFUSED|can't reach database|server has closed the connection|the database system is (shutting down|starting up|in recovery mode)|terminating connection due to administrator command|Connection is closed|connect ETIMEDOUT|Client has encountered a connection error/i;

export function isUnavailableError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = error;
  for (let depth = 0; e && typeof e === 'object' && !seen.has(e) && depth < 8; depth++) {
    seen.add(e);
    const x = e as { code?: unknown; kind?: unknown; originalCode?: unknown; message?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && CODES.has(x.code)) return true;
    if (typeof x.originalCode === 'string' && CODES.has(x.originalCode)) return true;
    if (typeof x.kind === 'string' && KINDS.has(x.kind)) return true;
    if (typeof x.message === 'string' && MESSAGES.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}
