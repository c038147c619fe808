import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { DEFAULT_LIMITS, findJsonInfidelity, type RemoteError } from '@fx/protocol';
import { abortFailure, toRemoteError } from '../task.errors.js';
import { raceAbort } from '../../common/race-abort.js';
import type { ObjectPlacement } from '../../objects/object.placement.js';
import { ObjectLoadError, isBytes, loadObjects, writeResultFile, type FileResult } from './js.objects.js';
import type { NamedOutputFile, TaskContext, TaskOutputs } from './js.outputs.js';
import { NamedError } from '../../common/named.error.js';

/** One js invocation, as the worker receives it. */
export interface JsInvocation {
  source: string;
  contentHash: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** @default DEFAULT_LIMITS.maxResultBytes */
  maxResultBytes?: number;
  /**
   * Set when results may become objects (SubmitContext): bytes, and JSON larger than this, are written
   * to the worker's result file instead of travelling over the worker's link.
   */
  inlineResultBytes?: number;
  /** Every result goes to the result file (a task with outputName). */
  resultToFile?: boolean;
  /** The task's objects: read from their files into the arguments before the function runs. */
  objects?: ObjectPlacement[];
}

/**
 * The result crosses process boundaries as JSON text: it is produced once here, size-checked here, and
 * the parent never has to re-validate that it is JSON-safe.
 */
export type JsOutcome = (({ ok: true; json: string } | FileResult) & { namedOutputs?: NamedOutputFile[] }) | { ok: false; error: RemoteError };

/** Where a worker's task may write files: its result file, and its named outputs (ctx.output). */
export interface JsTaskFiles {
  resultPath: string;
  outputs: TaskOutputs;
  /** ctx.emit: the running task's progress (js.live.ts); absent: emits go nowhere. */
  emit?: (value: unknown) => void;
}

export class FunctionSourceError extends NamedError {}

export interface JsRuntimeOptions {
  /**
   * How many compiled functions to keep, by content hash. Compiling is cheap but not free, and the same
   * function usually runs many times in a row.
   * @default 256
   */
  cacheSize?: number;
}

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * Evaluates function sources once per content hash and calls them. Lives inside a worker process: user
 * code shares the worker's global scope, which is why each worker runs one task at a time and a task
 * that must be stopped is stopped by killing its worker.
 */
export class JsRuntime {
  private readonly cache = new Map<string, AnyFunction>();
  private readonly cacheSize: number;

  constructor(options: JsRuntimeOptions = {}) {
    this.cacheSize = options.cacheSize ?? 256;
  }

  compile(source: string, contentHash: string): AnyFunction {
    const cached = this.cache.get(contentHash);
    if (cached) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the oldest.
      this.cache.delete(contentHash);
      this.cache.set(contentHash, cached);
      return cached;
    }
    const fn = evaluateFunction(source, `fx-function-${contentHash.slice(0, 12)}.js`);
    this.cache.set(contentHash, fn);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return fn;
  }

  /**
   * Runs one invocation. The signal can only stop waiting for a promise: synchronous user code cannot be
   * interrupted in-process, which is why the pool enforces walltime and cancel by killing the worker.
   */
  /** The running task's `ctx` (the worker makes it a global), while one runs. */
  context?: TaskContext;

  /**
   * Runs one invocation. With `files` (a worker), results may go to the result file and the function
   * gets the global `ctx` to write named outputs, reported once all are written.
   */
  async run(invocation: JsInvocation, signal?: AbortSignal, files?: JsTaskFiles): Promise<JsOutcome> {
    this.context = files && { ...files.outputs.context, emit: files.emit ?? (() => undefined) };
    try {
      const outcome = await this.execute(invocation, signal, files?.resultPath);
      const namedOutputs = files ? await files.outputs.settled() : [];
      if (outcome.ok && namedOutputs.length > 0) return { ...outcome, namedOutputs };
      // a failed task stores none of its outputs
      await Promise.all(namedOutputs.map((o) => rm(join(dirname(files!.resultPath), o.file), { force: true })));
      return outcome;
    } finally {
      this.context = undefined;
    }
  }

  private async execute(invocation: JsInvocation, signal?: AbortSignal, resultPath?: string): Promise<JsOutcome> {
    const maxResultBytes = invocation.maxResultBytes ?? DEFAULT_LIMITS.maxResultBytes;
    const inline = invocation.inlineResultBytes;
    const toFile =
      resultPath === undefined || inline === undefined
        ? undefined
        : { path: resultPath, inlineResultBytes: inline, always: invocation.resultToFile === true, maxBytes: maxResultBytes };
    let value: unknown;
    try {
      await loadObjects(invocation.args, invocation.kwargs, invocation.objects);
      const fn = this.compile(invocation.source, invocation.contentHash);
      const args = Object.keys(invocation.kwargs).length > 0 ? [...invocation.args, invocation.kwargs] : invocation.args;
      value = await raceAbort(
        Promise.resolve().then(() => fn(...args)),
        signal,
        (reason) => new AbortedError(reason),
      );
    } catch (thrown) {
      if (thrown instanceof AbortedError) {
        const outcome = abortFailure(thrown.reason);
        return { ok: false, error: (outcome as { error: RemoteError }).error };
      }
      if (thrown instanceof ObjectLoadError) return { ok: false, error: { code: thrown.code, name: thrown.name, message: thrown.message } };
      return { ok: false, error: toRemoteError(thrown) };
    }
    // Bytes are a result of their own (a Buffer, a typed array): stored as a `bytes` object, never as JSON.
    if (toFile && isBytes(value)) return writeResultFile(value, toFile);
    // A result JSON would change (NaN, a Map, a Date, a nested undefined...) fails with its path rather
    // than reaching the caller altered; a function that returns nothing returns null.
    const problem = value === undefined ? undefined : findJsonInfidelity(value, 'result');
    if (problem) {
      return { ok: false, error: { code: 'TASK_ERROR', name: 'ResultNotSerializable', message: `the result cannot travel as JSON: ${problem.message}` } };
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(value === undefined ? null : value);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      return { ok: false, error: { code: 'TASK_ERROR', name: 'ResultNotSerializable', message: `the result is not JSON-serialisable: ${message}` } };
    }
    // JSON.stringify returns undefined for functions and symbols: those carry no data, like undefined.
    json ??= 'null';
    const bytes = Buffer.byteLength(json, 'utf8');
    if (toFile && (toFile.always || bytes > toFile.inlineResultBytes)) return writeResultFile(json, toFile);
    if (bytes > maxResultBytes) {
      return {
        ok: false,
        error: {
          code: 'RESULT_TOO_LARGE',
          name: 'ResultTooLarge',
          message: `the result is ${bytes} bytes as JSON, more than the ${maxResultBytes} bytes allowed`,
        },
      };
    }
    return { ok: true, json };
  }
}

/** Evaluates one function expression: arrow, function, async, or a method shorthand like `add(a, b) {…}`. */
export function evaluateFunction(source: string, filename: string): AnyFunction {
  const run = (code: string): unknown =>
    new vm.Script(code, {
      filename,
      // Lets user code `await import('node:fs')` like any module would.
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    }).runInThisContext();
  let firstError: unknown;
  try {
    const value = run(`(${source}\n)`);
    if (typeof value === 'function') return value as AnyFunction;
    throw new FunctionSourceError(`the source evaluates to a ${value === null ? 'null' : typeof value}, not a function`);
  } catch (error) {
    if (error instanceof FunctionSourceError) throw error;
    firstError = error;
  }
  // A method's toString() (`add(a, b) { … }`) is only valid inside an object literal.
  try {
    const holder = run(`({${source}\n})`) as Record<string, unknown>;
    const values = Object.values(holder);
    if (values.length === 1 && typeof values[0] === 'function') return values[0] as AnyFunction;
  } catch {
    // fall through to the first error, which describes the common (expression) form
  }
  const detail = firstError instanceof Error ? firstError.message : String(firstError);
  throw new FunctionSourceError(`the source is not a function expression: ${detail}`, { cause: firstError });
}

class AbortedError extends Error {
  constructor(readonly reason: unknown) {
    super('aborted');
  }
}
