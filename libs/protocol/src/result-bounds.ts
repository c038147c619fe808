import { ErrorCode, MAX_OUTPUT_CHARS, type RemoteError, type TaskOutput } from './common.js';

/**
 * Bounds of the parts of a task error, in bytes of UTF-8: errors skip the result limit, so they get their
 * own. The agent cuts what its workers report to them, and the server cuts again whatever an agent sent.
 */
export const ERROR_LIMITS = Object.freeze({ name: 256, message: 4 * 1024, stack: 16 * 1024 } as const);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Cuts `text` to at most `max` bytes of UTF-8 (on a character boundary), saying how much was cut. */
export function truncateText(text: string, max: number): string {
  // a UTF-16 unit is at most 3 bytes of UTF-8: most texts need no encoding to be known short
  if (text.length * 3 <= max) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return text;
  const cut = decoder.decode(bytes.subarray(0, max)).replace(/\uFFFD$/, '');
  return `${cut}… [truncated ${bytes.length - encoder.encode(cut).length} bytes]`;
}

/**
 * A task's error within ERROR_LIMITS, with only RemoteError's fields. Robust to what no schema checked (a
 * worker's word): a code that is not one becomes TASK_ERROR, a name or message that is not text is
 * written as text, a stack that is not text is dropped.
 */
export function boundRemoteError(e: RemoteError): RemoteError {
  const text = (value: unknown) => (typeof value === 'string' ? value : String(value));
  return {
    code: ErrorCode.safeParse(e.code).success ? e.code : 'TASK_ERROR',
    name: truncateText(text(e.name), ERROR_LIMITS.name),
    message: truncateText(text(e.message), ERROR_LIMITS.message),
    ...(typeof e.stack === 'string' ? { stack: truncateText(e.stack, ERROR_LIMITS.stack) } : {}),
  };
}

/** At most MAX_OUTPUT_CHARS of each stream, the end kept (the last lines say most); nothing when both are empty. */
export function boundTaskOutput(o: TaskOutput): TaskOutput | undefined {
  if (typeof o.stdout !== 'string' || typeof o.stderr !== 'string' || (o.stdout === '' && o.stderr === '')) return undefined;
  // never starting inside a surrogate pair: PostgreSQL refuses a lone one
  const cut = (text: string) => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS).replace(/^[\uDC00-\uDFFF]/, '') : text);
  const truncated = o.truncated === true || o.stdout.length > MAX_OUTPUT_CHARS || o.stderr.length > MAX_OUTPUT_CHARS;
  return { stdout: cut(o.stdout), stderr: cut(o.stderr), ...(truncated ? { truncated: true } : {}) };
}
