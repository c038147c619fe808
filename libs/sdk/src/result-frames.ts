import type { IncomingMessage } from 'node:http';
import { ErrorBody, TaskOutcome } from '@fx/protocol';
import { parseRetryAfter } from './retry.js';
import { ServerError } from './errors.js';

/** Why the server refused the result socket's upgrade: its status, error body and Retry-After. */
export interface UpgradeRejection {
  status: number;
  body: ErrorBody | undefined;
  retryAfterMs: number | undefined;
}

/** Statuses that mean "this socket will never be accepted with this token and url": do not retry. */
export function isFatalUpgradeStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Reads a refused upgrade's response (its first 64 KiB), then calls back once with what it said. */
export function readUpgradeRejection(res: IncomingMessage, done: (rejection: UpgradeRejection) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    let body: ErrorBody | undefined;
    try {
      const parsed = ErrorBody.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (parsed.success) body = parsed.data;
    } catch {
      // Not an FX error body; the status alone decides.
    }
    const header = res.headers['retry-after'];
    done({ status: res.statusCode ?? 0, body, retryAfterMs: parseRetryAfter(typeof header === 'string' ? header : null) });
  };
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= 64 * 1024) chunks.push(chunk);
  });
  res.once('end', finish);
  res.once('error', finish);
  res.once('close', finish);
}

/** What could be read out of a `result` frame that failed validation as a whole. */
export type Salvaged = { outcome: TaskOutcome } | { taskId: string; error: ServerError };

/**
 * One malformed outcome must not sink a whole `result` frame: the good ones are kept, and an outcome
 * that cannot be read becomes BAD_RESPONSE for its task id, so its waiter fails instead of waiting forever.
 */
export function salvageResults(raw: Buffer, err: unknown): Salvaged[] {
  let results: unknown;
  try {
    const json = JSON.parse(raw.toString('utf8')) as { type?: unknown; payload?: { results?: unknown } };
    if (json?.type !== 'result') return [];
    results = json.payload?.results;
  } catch {
    return [];
  }
  if (!Array.isArray(results)) return [];
  const out: Salvaged[] = [];
  for (const item of results) {
    const parsed = TaskOutcome.safeParse(item);
    if (parsed.success) {
      out.push({ outcome: parsed.data });
      continue;
    }
    const taskId = (item as { taskId?: unknown } | null)?.taskId;
    if (typeof taskId !== 'string') continue;
    const first = parsed.error.issues[0];
    out.push({
      taskId,
      error: new ServerError(
        'BAD_RESPONSE',
        `the server sent an outcome for task ${taskId} that does not match the protocol: ${first?.path.join('.') ?? ''} ${first?.message ?? ''}`.trim(),
        {
          cause: err,
          details: parsed.error.issues,
        },
      ),
    });
  }
  return out;
}
