import { Inject, Injectable } from '@nestjs/common';
import { MAX_OUTPUT_CHARS, type LogChunk, type ObjectRef, type RemoteError, type TaskOutput, type TaskResult, type TaskTimings } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { jsonProblem, storableJson } from '../../common/json-safety.js';
import type { ResultInput } from '../tasks/tasks.repository.js';
import { saneTime } from './agent-clock.js';

/** Bounds of the parts of a task error, in bytes of UTF-8: errors skip the result limit, so they get their own. */
export const ERROR_LIMITS = { name: 256, message: 4 * 1024, stack: 16 * 1024 } as const;

/** Cuts `text` to at most `max` bytes of UTF-8 (on a character boundary), saying how much was cut. */
export function truncateText(text: string, max: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return text;
  const cut = Buffer.from(text)
    .subarray(0, max)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return `${cut}… [truncated ${bytes - Buffer.byteLength(cut)} bytes]`;
}

/**
 * What the server keeps of what agents report, whatever the agent checked: results within
 * FX_MAX_RESULT_BYTES and storable, errors, outputs and timings bounded, task log lines within
 * FX_MAX_TASK_LOG_BYTES a task.
 */
@Injectable()
export class ResultBounds {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_RESULT_BYTES' | 'FX_MAX_TASK_LOG_BYTES'>) {}

  /** The lines to store with a results frame, and the most bytes of them a task keeps. */
  lines(chunks: LogChunk[]): { chunks: LogChunk[]; maxBytes: number } {
    return { chunks, maxBytes: this.config.FX_MAX_TASK_LOG_BYTES };
  }

  /** The agent checks the limit too; the server does not trust it to. */
  enforce(r: TaskResult, ref: ObjectRef | RemoteError | undefined): ResultInput {
    const timings = saneTimings(r.timings);
    if (r.status === 'success' && r.resultRef) {
      const output = r.output && boundOutput(storableJson(r.output));
      if (ref && !('code' in ref)) return { taskId: r.taskId, status: 'success', resultRef: ref, ...(output ? { output } : {}), timings };
      const error: RemoteError = ref ?? { code: 'OBJECT_UNAVAILABLE', name: 'ObjectUnavailable', message: `result object ${r.resultRef.id} was not checked` };
      return { taskId: r.taskId, status: 'failed', timings, error, ...(output ? { output } : {}) };
    }
    // A result PostgreSQL cannot store must not fail the whole frame: the agent would resend it forever.
    const problem = jsonProblem([r.result, r.error, r.output, r.timings], 'the result');
    if (problem?.includes('levels deep')) {
      return { taskId: r.taskId, status: 'failed', timings, error: { code: 'RESULT_TOO_LARGE', name: 'ResultTooLarge', message: problem } };
    }
    if (problem) r = storableJson(r);
    if (r.status === 'success') {
      const size = Buffer.byteLength(JSON.stringify(r.result ?? null));
      if (size > this.config.FX_MAX_RESULT_BYTES) {
        return {
          taskId: r.taskId,
          status: 'failed',
          timings,
          error: { code: 'RESULT_TOO_LARGE', name: 'ResultTooLarge', message: `the result is ${size} bytes; the limit is ${this.config.FX_MAX_RESULT_BYTES}` },
        };
      }
    }
    const output = r.output && boundOutput(r.output);
    return { taskId: r.taskId, status: r.status, result: r.result, error: r.error && boundError(r.error), ...(output ? { output } : {}), timings };
  }
}

function boundError(e: RemoteError): RemoteError {
  return {
    code: e.code,
    name: truncateText(e.name, ERROR_LIMITS.name),
    message: truncateText(e.message, ERROR_LIMITS.message),
    ...(e.stack !== undefined ? { stack: truncateText(e.stack, ERROR_LIMITS.stack) } : {}),
  };
}

/** At most MAX_OUTPUT_CHARS of each stream, the end kept (the last lines say most); nothing when both are empty. */
function boundOutput(o: TaskOutput): TaskOutput | undefined {
  if (typeof o.stdout !== 'string' || typeof o.stderr !== 'string' || (o.stdout === '' && o.stderr === '')) return undefined;
  // never starting inside a surrogate pair: PostgreSQL refuses a lone one
  const cut = (text: string) => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS).replace(/^[\uDC00-\uDFFF]/, '') : text);
  const truncated = o.truncated === true || o.stdout.length > MAX_OUTPUT_CHARS || o.stderr.length > MAX_OUTPUT_CHARS;
  return { stdout: cut(o.stdout), stderr: cut(o.stderr), ...(truncated ? { truncated: true } : {}) };
}

function saneTimings(t: TaskTimings): TaskTimings {
  const startedAt = saneTime(t.startedAt);
  const finishedAt = saneTime(t.finishedAt);
  return {
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
    ...(t.workerId !== undefined ? { workerId: truncateText(t.workerId, 256) } : {}),
  };
}
