import { fileURLToPath } from 'node:url';
import { MAX_OUTPUT_CHARS, type PickledValue, type TaskSpec } from '@fx/protocol';
import type { WorkerLauncher } from '../../providers/local/worker.launcher.js';
import { invocationExtras, type SubmitContext } from '../../providers/provider.js';
import type { ObjectPlacement } from '../../objects/object.placement.js';

/** One python invocation, as the python worker (apps/endpoint/python/fx_worker.py) receives it. */
export interface PythonInvocation {
  /** The module's source; it runs once per worker (and content hash), then `entrypoint` is called per task. */
  source: string;
  entrypoint: string;
  contentHash: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** serializer `pickle`: `(args, kwargs)` pickled (args and kwargs are empty); the result comes back pickled too. */
  pickledArgs?: PickledValue;
  maxResultBytes: number;
  /** As in JsInvocation: bytes, and JSON larger than this, go to the worker's result file. */
  inlineResultBytes?: number;
  resultToFile?: boolean;
  /** The task's objects: read from their files into the arguments before the function runs. */
  objects?: ObjectPlacement[];
}

/** The interpreter when config.yaml says nothing (`python:`). */
export const DEFAULT_PYTHON = 'python3';

/**
 * The python worker program, shipped with the agent: apps/endpoint/python/, beside src/ and dist/ (this
 * module is three levels below either), and in the package's `files`.
 */
export const PYTHON_WORKER = fileURLToPath(new URL('../../../python/fx_worker.py', import.meta.url));

/** How long an interrupted task (walltime, cancel) has to stop before its worker is killed and replaced. */
export const PYTHON_INTERRUPT_GRACE_MS = 1000;

export interface PythonWorkerOptions {
  /** The interpreter (a name on PATH or a path). @default DEFAULT_PYTHON */
  python?: string;
  /** Keep the last this-many lines of each task's stdout and stderr. @default 1000 */
  outputLines?: number;
  /** @default PYTHON_INTERRUPT_GRACE_MS */
  interruptGraceMs?: number;
}

/** Python workers for a WorkerPool: `python -B fx_worker.py`, JSON lines on fd 3, interrupted before killed. */
export function pythonWorkerLauncher(options: PythonWorkerOptions = {}): WorkerLauncher {
  const python = options.python ?? DEFAULT_PYTHON;
  const args = ['-B', PYTHON_WORKER, '--fd', '3', '--output-lines', String(options.outputLines ?? 1000), '--output-bytes', String(MAX_OUTPUT_CHARS)];
  return {
    kind: 'python',
    entry: PYTHON_WORKER,
    command: () => ({ file: python, args }),
    interruptGraceMs: options.interruptGraceMs ?? PYTHON_INTERRUPT_GRACE_MS,
  };
}

/** The invocation of a python task (its function's entry point is required at registration). */
export function pythonInvocation(task: TaskSpec, context: Omit<SubmitContext, 'onStart'>): PythonInvocation {
  const fn = task.function;
  return {
    source: fn.source,
    entrypoint: fn.entrypoint ?? '',
    contentHash: fn.contentHash,
    args: task.args,
    kwargs: task.kwargs,
    ...(task.pickledArgs ? { pickledArgs: task.pickledArgs } : {}),
    ...invocationExtras(context),
  };
}
