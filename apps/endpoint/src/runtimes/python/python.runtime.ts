import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_OUTPUT_CHARS, type PickledValue, type TaskSpec } from '@fx/protocol';
import { inheritedEnv, type InheritedEnv } from '../../config/env.js';
import type { WorkerLauncher } from '../../providers/local/worker.launcher.js';

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
    link: 'pipe',
    interruptGraceMs: options.interruptGraceMs ?? PYTHON_INTERRUPT_GRACE_MS,
  };
}

/** The interpreter `python:` names, as found in the agent's environment. */
export interface PythonInstallation {
  /** Its real executable (a pyenv shim or a name on PATH resolved): what the workers run. */
  executable: string;
  version: string;
  /** Where it and its packages live (sys.prefix, sys.base_prefix): kept visible under bwrap. */
  prefixes: string[];
}

const PROBE = 'import json, sys; print(json.dumps([sys.executable, sys.version_info[:2] >= (3, 8), sys.version.split()[0], sys.prefix, sys.base_prefix]))';

/**
 * Finds the interpreter `python` names the way the person who configured it would (the agent's own
 * environment, outside any sandbox), checks it is Python 3.8 or newer, and says where it lives: a pyenv
 * shim or a conda env under the home dir, which bwrap hides from tasks, then still works.
 */
export function locatePython(python: string, environment: InheritedEnv = inheritedEnv()): Promise<PythonInstallation> {
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', PROBE], { env: environment, timeout: 15_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const why =
          (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such program' : `${error.message.split('\n')[0]} ${stderr.trim().slice(-300)}`.trim();
        reject(new Error(why));
        return;
      }
      let probe: [string, boolean, string, string, string];
      try {
        probe = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof probe;
      } catch {
        reject(new Error(`it did not answer like a Python interpreter: ${stdout.slice(0, 200)}`));
        return;
      }
      const [executable, recent, version, prefix, basePrefix] = probe;
      if (!recent) {
        reject(new Error(`it is Python ${version}; the python worker needs 3.8 or newer`));
        return;
      }
      const exe = executable || python;
      resolve({ executable: exe, version, prefixes: [...new Set([prefix, basePrefix, dirname(dirname(exe))].filter((p) => p.startsWith('/')))] });
    });
  });
}

/** The invocation of a python task (its function's entry point is required at registration). */
export function pythonInvocation(task: TaskSpec, maxResultBytes: number): PythonInvocation {
  const fn = task.function;
  return {
    source: fn.source,
    entrypoint: fn.entrypoint ?? '',
    contentHash: fn.contentHash,
    args: task.args,
    kwargs: task.kwargs,
    ...(task.pickledArgs ? { pickledArgs: task.pickledArgs } : {}),
    maxResultBytes,
  };
}
