import type { TaskSpec } from '@fx/protocol';
import { pinningEnv, type Accelerator } from '../../accelerators/accelerators.js';
import { abortFailure, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { Provider, ProviderStatus, SubmitContext } from '../provider.js';
import { SlotRunner, slotFits } from '../slots/slot.runner.js';
import { PythonProbe } from '../../runtimes/python/python.probe.js';
import type { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { Logger } from '../../agent/logger.js';

export interface PinnedLocalProviderOptions {
  devices: Accelerator[];
  acceleratorNote?: string;
  shellOutputLines?: number;
  sandbox?: WorkerSandbox;
  /** Fails a task MEMORY_EXCEEDED past this many bytes. @default no limit */
  memoryBytes?: number;
  workerScript?: string | URL;
  /** The interpreter of python workers. @default DEFAULT_PYTHON */
  python?: string;
  onChange?: () => void;
  logger?: Logger;
}

interface Waiter {
  task: TaskSpec;
  grant: (slot: number) => void;
}

/**
 * The local provider with accelerators: exactly one worker per device, each pinned to it (every process
 * it starts sees only that device through CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES / ZE_AFFINITY_MASK).
 */
export class PinnedLocalProvider implements Provider {
  readonly name = 'local';
  private readonly runners: SlotRunner[];
  private readonly busy: boolean[];
  private readonly waiters: Waiter[] = [];
  /** One probe for every slot's python worker: they run the same interpreter. */
  private readonly python: PythonProbe;

  constructor(private readonly options: PinnedLocalProviderOptions) {
    if (options.devices.length === 0) throw new RangeError('a pinned provider needs at least one accelerator');
    this.python = new PythonProbe({
      ...(options.python !== undefined ? { python: options.python } : {}),
      ...(options.sandbox ? { sandbox: options.sandbox } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.runners = options.devices.map(
      (d, i) =>
        new SlotRunner({
          id: `w${i}-gpu${d.id}`,
          env: pinningEnv(d.id),
          ...(options.shellOutputLines !== undefined ? { shellOutputLines: options.shellOutputLines } : {}),
          ...(options.sandbox ? { sandbox: options.sandbox } : {}),
          ...(options.memoryBytes !== undefined ? { memoryBytes: options.memoryBytes } : {}),
          ...(options.workerScript ? { workerScript: options.workerScript } : {}),
          ...(options.python !== undefined ? { python: options.python } : {}),
          pythonProbe: this.python,
          ...(options.onChange ? { onChange: options.onChange } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        }),
    );
    this.busy = this.runners.map(() => false);
  }

  async start(): Promise<void> {
    this.python.start();
    await Promise.all(this.runners.map((r) => r.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
    await this.python.settled();
  }

  capacity(): number {
    return this.runners.length;
  }

  async submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    const r = task.resources;
    if (!slotFits({ cores: Number.MAX_SAFE_INTEGER, gpus: 1 }, r)) {
      return failure('RESOURCES_UNAVAILABLE', 'ResourcesUnavailable', `the task asks for ${r?.gpus} GPUs; a pinned worker holds exactly one`);
    }
    if (task.function.runtime === 'mpi')
      return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', 'MPI functions run only on HPC providers (provider: slurm)');
    const slot = await this.acquire(task, signal);
    if (slot === undefined) return abortFailure(signal.reason);
    try {
      // what the call held: its worker's one pinned device (and one core), unless the task asked otherwise
      return { ...(await this.runners[slot]!.run(task, signal, context)), held: { cores: 1, gpus: 1 } };
    } finally {
      this.busy[slot] = false;
      this.release();
      this.options.onChange?.();
    }
  }

  status(): ProviderStatus {
    const busy = this.busy.filter(Boolean).length;
    const python = this.python.report();
    return {
      workers: { total: this.runners.length, busy, idle: this.runners.length - busy },
      pids: this.runners.flatMap((r) => r.pids()),
      processGroups: this.runners.flatMap((r) => r.processGroups()),
      devices: this.options.devices.map((d, i) => ({ device: d.id, worker: this.runners[i]!.id, busy: this.busy[i]! })),
      ...(this.options.acceleratorNote ? { acceleratorNote: this.options.acceleratorNote } : {}),
      ...(this.options.sandbox ? { sandbox: this.options.sandbox.reported } : {}),
      ...(this.options.sandbox?.note ? { sandboxNote: this.options.sandbox.note } : {}),
      ...(python ? { python } : {}),
    };
  }

  private acquire(task: TaskSpec, signal: AbortSignal): Promise<number | undefined> {
    const free = this.busy.indexOf(false);
    if (free >= 0) {
      this.busy[free] = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        task,
        grant: (slot) => {
          signal.removeEventListener('abort', onAbort);
          resolve(slot);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(): void {
    const free = this.busy.indexOf(false);
    const waiter = free >= 0 ? this.waiters.shift() : undefined;
    if (waiter) {
      this.busy[free] = true;
      waiter.grant(free);
    }
  }
}
