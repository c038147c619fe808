import type { PythonReport, WorkerCounts } from '@fx/protocol';
import { pythonWorkerLauncher, type PythonInvocation } from '../../runtimes/python/python.runtime.js';
import { PythonProbe } from '../../runtimes/python/python.probe.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { failure } from '../../runtimes/task.errors.js';
import type { RunJob, WorkerPoolOptions } from './worker-pool.options.js';
import { WorkerPool } from './worker.pool.js';

export interface PythonWorkersOptions extends Omit<WorkerPoolOptions, 'launcher' | 'workerScript' | 'execArgv'> {
  /** The interpreter, config.yaml's `python:`. @default DEFAULT_PYTHON */
  python?: string;
  /** Lines of stdout and stderr kept per task. @default 1000 */
  outputLines?: number;
  /** The probe of `python` to start from, shared by the pools of one provider. @default one of its own */
  probe?: PythonProbe;
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
  private readonly probe: PythonProbe;

  constructor(private readonly options: PythonWorkersOptions) {
    this.probe =
      options.probe ??
      new PythonProbe({
        ...(options.python !== undefined ? { python: options.python } : {}),
        ...(options.sandbox ? { sandbox: options.sandbox } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
  }

  /** Probes the interpreter now, in the background, for the endpoint's status (see PythonProbe). */
  probeInBackground(): void {
    this.probe.start();
  }

  /** The interpreter as the status reports it; undefined until probed. */
  report(): PythonReport | undefined {
    return this.probe.report();
  }

  /** WorkerPool.run on the python pool, started first if it is not up (a pool that cannot start fails the task). */
  readonly run: RunJob<PythonInvocation> = async (taskId, invocation, signal, onStart, jobOptions = {}) => {
    const pool = this.pool ?? (await this.start());
    if (typeof pool === 'string') return failure('RUNTIME_UNSUPPORTED', 'PythonUnavailable', pool);
    return pool.run(taskId, invocation, signal, onStart, jobOptions);
  };

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
    await this.probe.settled();
  }

  private start(): Promise<WorkerPool | string> {
    const python = this.probe.python;
    if (this.stopped) return Promise.resolve('the endpoint is stopping');
    if (this.lastFailure && Date.now() - this.lastFailure.at < START_RETRY_MS) return Promise.resolve(this.lastFailure.why);
    this.starting ??= (async () => {
      const { python: _python, outputLines, sandbox, probe: _probe, ...poolOptions } = this.options;
      try {
        const { installation } = await this.probe.inspect();
        this.options.logger?.info(`python workers run ${installation.executable} (Python ${installation.version})`);
        const pool = new WorkerPool({
          ...poolOptions,
          sandbox: (sandbox ?? new WorkerSandbox()).showing(installation.prefixes),
          launcher: pythonWorkerLauncher({ python: installation.executable, ...(outputLines !== undefined ? { outputLines } : {}) }),
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
