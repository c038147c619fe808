import { Inject, Injectable } from '@nestjs/common';
import {
  boundRemoteError,
  boundTaskOutput,
  truncateText,
  type LogChunk,
  type ObjectRef,
  type RemoteError,
  type TaskResult,
  type TaskTimings,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { jsonProblem, storableJson } from '../../common/json-safety.js';
import type { ResultInput } from '../tasks/tasks.repository.js';
import { saneTime } from './agent-clock.js';

/**
 * What the server keeps of what agents report, whatever the agent checked: results within
 * FX_MAX_RESULT_BYTES and storable, errors (ERROR_LIMITS), outputs and timings bounded, task log lines within
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
      const output = r.output && boundTaskOutput(storableJson(r.output));
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
    const output = r.output && boundTaskOutput(r.output);
    return { taskId: r.taskId, status: r.status, result: r.result, error: r.error && boundRemoteError(r.error), ...(output ? { output } : {}), timings };
  }
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
