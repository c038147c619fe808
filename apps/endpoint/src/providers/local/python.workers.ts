import { tmpdir } from 'node:os';
import type { WorkerCounts } from '@fx/protocol';
import { inheritedEnv } from '../../config/env.js';
import { DEFAULT_PYTHON, locatePython, pythonWorkerLauncher, type PythonInvocation } from '../../runtimes/python/python.runtime.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { JobOptions, WorkerPoolOptions } from './worker-pool.options.js';
import { WorkerPool } from './worker.pool.js';

export interface PythonWorkersOptions extends Omit<WorkerPoolOptions, 'launcher' | 'workerScript' | 'execArgv'> {
  /** The interpreter, config.yaml's `python:`. @default DEFAULT_PYTHON */
  python?: string;
  /** Lines of stdout and stderr kept per task. @default 1000 */
  outputLines?: number;
}

/** After a failed start, python tasks fail at once for this long before a start is tried again. */
const START_RETRY_MS = 10_000;

/**
 * A provider's pool of python workers, started when the first python task comes: an endpoint that runs
 * no python starts no interpreter and needs none installed. A pool that cannot start (no such
 * interpreter, too old a Python) fails the tasks that wait for it with RUNTIME_UNSUPPORTED and a sentence;
 * a later python task tries again. Once up it is a WorkerPool like the js one: warm, owner-bound, supervised.
 */
export class PythonWorkers {
  private pool?: WorkerPool;
  private starting?: Promise<WorkerPool | string>;
  private lastFailure?: { at: number; why: string };
  private stopped = false;

  constructor(private readonly options: PythonWorkersOptions) {}

  async run(
    taskId: string,
    invocation: PythonInvocation,
    signal: AbortSignal,
    onStart?: (workerId: string) => void,
    jobOptions: JobOptions = {},
  ): Promise<ExecutionOutcome> {
    const pool = this.pool ?? (await this.start());
    if (typeof pool === 'string') return failure('RUNTIME_UNSUPPORTED', 'PythonUnavailable', pool);
    return pool.run(taskId, invocation, signal, onStart, jobOptions);
  }

  counts(): WorkerCounts {
    return this.pool?.counts() ?? { total: this.options.size, busy: 0, idle: this.options.size };
  }

  pids(): number[] {
    return this.pool?.pids() ?? [];
  }

  /** The interpreter's version and executable, once a worker has started. */
  runtime(): { version: string; executable: string } | undefined {
    return this.pool?.runtime();
  }

  kick(): void {
    this.pool?.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting;
    await this.pool?.stop();
  }

  private start(): Promise<WorkerPool | string> {
    const python = this.options.python ?? DEFAULT_PYTHON;
    if (this.stopped) return Promise.resolve('the endpoint is stopping');
    if (this.lastFailure && Date.now() - this.lastFailure.at < START_RETRY_MS) return Promise.resolve(this.lastFailure.why);
    this.starting ??= (async () => {
      const { python: _python, outputLines, sandbox, ...poolOptions } = this.options;
      try {
        // Looked up as the person who configured it would (their HOME, for a pyenv shim), but with no more
        // of the agent's environment than a task gets: no token reaches even a sitecustomize.
        const home = inheritedEnv().HOME;
        const found = await locatePython(python, { ...(sandbox ?? new WorkerSandbox()).env(tmpdir()), ...(home ? { HOME: home } : {}) });
        this.options.logger?.info(`python workers run ${found.executable} (Python ${found.version})`);
        const pool = new WorkerPool({
          ...poolOptions,
          sandbox: (sandbox ?? new WorkerSandbox()).showing(found.prefixes),
          launcher: pythonWorkerLauncher({ python: found.executable, ...(outputLines !== undefined ? { outputLines } : {}) }),
        });
        await pool.start();
        if (this.stopped) {
          await pool.stop();
          return 'the endpoint is stopping';
        }
        this.pool = pool;
        this.options.onChange?.();
        return pool;
      } catch (error) {
        const why = `python workers could not start with "${python}" (config.yaml "python:"): ${error instanceof Error ? error.message : String(error)}`;
        this.options.logger?.error(why);
        this.lastFailure = { at: Date.now(), why };
        return why;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }
}
