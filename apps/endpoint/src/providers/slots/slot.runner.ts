import type { TaskResources, TaskSpec } from '@fx/protocol';
import { runShell, shellInvocation } from '../../runtimes/shell/shell.runtime.js';
import { failure, keepingUsage, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { WorkerPool } from '../local/worker.pool.js';
import { PythonWorkers } from '../local/python.workers.js';
import { pythonInvocation } from '../../runtimes/python/python.runtime.js';
import type { PythonProbe } from '../../runtimes/python/python.probe.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { mpiCommand, type MpiLauncher } from './mpi.launcher.js';
import { isolationKey } from '../isolation.js';
import type { Logger } from '../../agent/logger.js';
import { invocationExtras, type SubmitContext } from '../provider.js';

export interface SlotRunnerOptions {
  /** Shown as the task's workerId. */
  id: string;
  /** Extra environment of everything this slot runs (pinning). */
  env?: Record<string, string>;
  shellOutputLines?: number;
  /** How the js worker and shell/MPI commands start (scrubbed environment, private dirs, maybe bwrap). */
  sandbox?: WorkerSandbox;
  /** Fails a task MEMORY_EXCEEDED past this many bytes (js worker or command tree). @default no limit */
  memoryBytes?: number;
  /** How `mpi` functions are launched; absent: this slot cannot run them. */
  mpiLauncher?: MpiLauncher;
  workerScript?: string | URL;
  /** The interpreter of the slot's python worker (started with its first python task). @default DEFAULT_PYTHON */
  python?: string;
  /** The probe of `python`, shared by the slots of one provider. @default one of the slot's own */
  pythonProbe?: PythonProbe;
  onChange?: () => void;
  logger?: Logger;
}

/**
 * One worker slot: a long-lived js worker process of its own (so that its environment, e.g. its pinned
 * GPU, stays with it), a python worker likewise once a python task comes, plus shell and MPI tasks
 * started with the same environment. One task at a time.
 */
export class SlotRunner {
  private readonly pool: WorkerPool;
  private readonly python: PythonWorkers;
  private readonly groups = new Set<number>();

  constructor(private readonly options: SlotRunnerOptions) {
    const shared = {
      size: 1,
      env: options.env,
      sandbox: options.sandbox ?? new WorkerSandbox(),
      onChange: options.onChange,
      ...(options.logger ? { logger: options.logger } : {}),
    };
    this.pool = new WorkerPool({
      ...shared,
      workerScript: options.workerScript,
      ...(options.memoryBytes !== undefined ? { execArgv: [`--max-old-space-size=${Math.ceil(options.memoryBytes / 1048576)}`] } : {}),
    });
    this.python = new PythonWorkers({
      ...shared,
      ...(options.python !== undefined ? { python: options.python } : {}),
      ...(options.pythonProbe ? { probe: options.pythonProbe } : {}),
      ...(options.shellOutputLines !== undefined ? { outputLines: options.shellOutputLines } : {}),
    });
  }

  get id(): string {
    return this.options.id;
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  async stop(): Promise<void> {
    for (const pgid of this.groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all([this.pool.stop(), this.python.stop()]);
  }

  pids(): number[] {
    return [...this.pool.pids(), ...this.python.pids()];
  }

  processGroups(): number[] {
    return [...this.groups];
  }

  async run(task: TaskSpec, signal: AbortSignal, context: Omit<SubmitContext, 'onStart'>): Promise<ExecutionOutcome> {
    const { maxResultBytes } = context;
    const fn = task.function;
    let outcome: ExecutionOutcome;
    switch (fn.runtime) {
      case 'js':
        outcome = await this.pool.run(
          task.taskId,
          { source: fn.source, contentHash: fn.contentHash, args: task.args, kwargs: task.kwargs, ...invocationExtras(context) },
          signal,
          undefined,
          {
            ownerId: isolationKey(task),
            ...(this.options.memoryBytes !== undefined ? { memoryBytes: this.options.memoryBytes } : {}),
            ...(context.live ? { live: context.live } : {}),
          },
        );
        break;
      case 'python':
        outcome = await this.python.run(task.taskId, pythonInvocation(task, context), signal, undefined, {
          ownerId: isolationKey(task),
          ...(this.options.memoryBytes !== undefined ? { memoryBytes: this.options.memoryBytes } : {}),
          ...(context.live ? { live: context.live } : {}),
        });
        break;
      case 'shell':
        outcome = await this.shell(task, signal, context);
        break;
      case 'mpi': {
        const launcher = this.options.mpiLauncher;
        if (!launcher) return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', 'MPI functions run only on HPC providers (provider: slurm)');
        outcome = await this.shell(task, signal, context, (cmd) => mpiCommand(launcher, cmd, task.resources));
        break;
      }
      default:
        return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', `this endpoint cannot run the "${String(fn.runtime)}" runtime`);
    }
    if (outcome.status === 'success' && (fn.runtime === 'shell' || fn.runtime === 'mpi')) {
      const bytes = Buffer.byteLength(JSON.stringify(outcome.result), 'utf8');
      if (bytes > maxResultBytes)
        return keepingUsage(
          outcome,
          failure('RESULT_TOO_LARGE', 'ResultTooLarge', `the shell result is ${bytes} bytes as JSON, more than the ${maxResultBytes} bytes allowed`),
        );
    }
    return { ...outcome, workerId: this.options.id };
  }

  private async shell(task: TaskSpec, signal: AbortSignal, context: Omit<SubmitContext, 'onStart'>, wrap?: (cmd: string) => string): Promise<ExecutionOutcome> {
    let group: number | undefined;
    const shell = {
      ...shellInvocation(task, context),
      // MPI ranks on other nodes do not see this node's working directory: they get the shared files' own paths.
      ...(wrap ? { linkObjects: false } : {}),
    };
    try {
      return await runShell(shell, signal, {
        outputLines: this.options.shellOutputLines,
        ...(this.options.sandbox ? { sandbox: this.options.sandbox } : {}),
        ...(this.options.memoryBytes !== undefined ? { memoryBytes: this.options.memoryBytes } : {}),
        ...(this.options.env ? { env: this.options.env } : {}),
        ...(wrap ? { wrap } : {}),
        onProcessGroup: (pgid) => {
          if (group !== undefined) this.groups.delete(group);
          group = pgid;
          if (pgid !== undefined) this.groups.add(pgid);
          this.options.onChange?.();
        },
      });
    } finally {
      if (group !== undefined) this.groups.delete(group);
    }
  }
}

/** What a slot offers, for placement. */
export interface SlotResources {
  cores: number;
  /** Devices pinned to the slot (0 or 1). */
  gpus: number;
}

/** Whether a slot can hold a task's request (cores and gpus; walltime and nodes are the block's business). */
export function slotFits(slot: SlotResources, request: TaskResources | undefined): boolean {
  if (!request) return true;
  return (request.cores ?? 1) <= slot.cores && (request.gpus ?? 0) <= slot.gpus;
}
