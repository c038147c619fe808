import { close } from 'node:fs';
import { types } from 'node:util';
import type { ErrorCode, ObjectEncoding, ObjectRef, RemoteError, TaskOutput } from '@fx/protocol';
import type { MeasuredUsage } from './usage.meter.js';

/**
 * Why a task's AbortSignal fired. Runtimes look at `signal.reason` to tell a walltime expiry (which a
 * shell task reports as return code 124) from a cancellation.
 */
export class WalltimeExceededError extends Error {
  readonly code = 'WALLTIME_EXCEEDED' as const;
  constructor(readonly walltimeSeconds: number) {
    super(`the task ran longer than its walltime of ${walltimeSeconds} s`);
    this.name = 'WalltimeExceeded';
  }
}

export class TaskCancelledError extends Error {
  readonly code = 'TASK_CANCELLED' as const;
  constructor(message = 'the task was cancelled') {
    super(message);
    this.name = 'TaskCancelled';
  }
}

/**
 * A result a worker wrote to a file rather than sending it (bytes, JSON past the inline limit, a task
 * with outputName): opened by the agent (synchronously) as soon as it was reported and unlinked, so it
 * outlives its worker's directory. Whoever takes the outcome closes `fd` (after storing it as an object).
 */
export interface ResultFile {
  fd: number;
  size: number;
  encoding: ObjectEncoding;
}

/** A named output (js `ctx.output`, python `fx_sdk.output`) written to a file, like ResultFile. */
export interface NamedOutput extends ResultFile {
  name: string;
}

/** Closes a result file nobody will store. */
export function discardResultFile(file: ResultFile | undefined): void {
  if (file) close(file.fd, () => undefined);
}

/** Closes the files of an outcome nobody will store (its result file and named outputs). */
export function discardFiles(outcome: ExecutionOutcome): void {
  if (outcome.status !== 'success') return;
  discardResultFile(outcome.resultFile);
  for (const output of outcome.namedOutputs ?? []) discardResultFile(output);
}

/** What the worker that ran a call held, as its provider knows it (AttemptUsage's cores, gpus and block). */
export interface HeldResources {
  cores: number;
  gpus: number;
  /** The Slurm block the worker belongs to. */
  blockId?: string;
}

/** What every outcome may carry of the resources its call used (`usage`, the worker's measure) and held (`held`, the provider's word). */
interface OutcomeAccounting {
  usage?: MeasuredUsage;
  held?: HeldResources;
}

/**
 * The outcome of one execution, before the agent adds task id, attempt and timings; `output`: what it
 * printed (python, shell NON_ZERO_EXIT). A success carries `result`, or `resultFile` until the agent has
 * stored it as an object, then `resultRef`.
 */
export type ExecutionOutcome =
  | ({
      status: 'success';
      result: unknown;
      workerId?: string;
      output?: TaskOutput;
      resultFile?: ResultFile;
      resultRef?: ObjectRef;
      /** Named outputs to store (with the task's id and their names) before the result is reported. */
      namedOutputs?: NamedOutput[];
    } & OutcomeAccounting)
  | ({ status: 'failed'; error: RemoteError; workerId?: string; output?: TaskOutput } & OutcomeAccounting);

export function failure(code: ErrorCode, name: string, message: string, stack?: string): ExecutionOutcome {
  return { status: 'failed', error: stack === undefined ? { code, name, message } : { code, name, message, stack } };
}

/** `outcome`, replacing what `ran` came to, with what `ran` used (a result refused after the call still used it). */
export function keepingUsage(ran: ExecutionOutcome, outcome: ExecutionOutcome): ExecutionOutcome {
  return ran.usage ? { ...outcome, usage: ran.usage } : outcome;
}

/** Maps an abort reason to the failure a js task reports. */
export function abortFailure(reason: unknown): ExecutionOutcome {
  if (reason instanceof WalltimeExceededError) return failure('WALLTIME_EXCEEDED', reason.name, reason.message);
  if (reason instanceof TaskCancelledError) return failure('TASK_CANCELLED', reason.name, reason.message);
  const message = reason instanceof Error ? reason.message : 'the task was aborted';
  return failure('TASK_CANCELLED', 'TaskCancelled', message);
}

/** Turns anything user code threw into a RemoteError, keeping the stack as the worker saw it. */
export function toRemoteError(thrown: unknown, code: ErrorCode = 'TASK_ERROR'): RemoteError {
  // isNativeError also recognises errors from another realm (user code evaluated by node:vm).
  if (thrown instanceof Error || types.isNativeError(thrown)) {
    const error: RemoteError = { code, name: thrown.name || 'Error', message: thrown.message };
    if (typeof thrown.stack === 'string') error.stack = thrown.stack;
    return error;
  }
  let message: string;
  try {
    message = typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    message = String(thrown);
  }
  return { code, name: 'Error', message: `non-Error value thrown: ${message}` };
}
