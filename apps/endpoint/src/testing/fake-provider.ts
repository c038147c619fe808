import type { TaskSpec } from '@fx/protocol';
import { TaskLostError, type Provider, type ProviderStatus, type SubmitContext } from '../providers/provider.js';
import { abortFailure, type ExecutionOutcome } from '../runtimes/task.errors.js';

/**
 * An in-process provider for agent specs: `echo` answers each task with its args; `manual` waits for
 * release() (or lose(), as a block that ended under the task). `workerId`: reported through onStart, as
 * providers that start tasks later do.
 */
export class FakeProvider implements Provider {
  readonly name = 'fake';
  active = 0;
  maxActive = 0;
  readonly aborted: { taskId: string; reason: unknown }[] = [];
  private readonly held = new Map<string, { done: (outcome: ExecutionOutcome) => void; lose: (error: TaskLostError) => void }>();

  constructor(
    private readonly slots: number,
    private readonly mode: 'echo' | 'manual' = 'echo',
    private readonly workerId?: string,
  ) {}

  get startsLater(): boolean {
    return this.workerId !== undefined;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  capacity(): number {
    return this.slots;
  }

  submit(task: TaskSpec, signal: AbortSignal, context?: SubmitContext): Promise<ExecutionOutcome> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    if (this.workerId !== undefined) context?.onStart?.(this.workerId);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        this.active--;
        this.held.delete(task.taskId);
        return true;
      };
      const done = (outcome: ExecutionOutcome) => {
        if (settle()) resolve(outcome);
      };
      signal.addEventListener('abort', () => {
        this.aborted.push({ taskId: task.taskId, reason: signal.reason });
        done(abortFailure(signal.reason));
      });
      if (this.mode === 'echo') setTimeout(() => done({ status: 'success', result: task.args }), 1);
      else this.held.set(task.taskId, { done, lose: (error) => settle() && reject(error) });
    });
  }

  release(taskId: string, outcome: ExecutionOutcome = { status: 'success', result: 'released' }): void {
    const run = this.held.get(taskId);
    if (!run) throw new Error(`task ${taskId} is not running`);
    run.done(outcome);
  }

  /** What ran the task went away (TaskLostError): the agent hands it back. */
  lose(taskId: string, why: string): void {
    const run = this.held.get(taskId);
    if (!run) throw new Error(`task ${taskId} is not running`);
    run.lose(new TaskLostError(why));
  }

  isRunning(taskId: string): boolean {
    return this.held.has(taskId);
  }

  status(): ProviderStatus {
    return { workers: { total: this.slots, busy: this.active, idle: this.slots - this.active }, pids: [], processGroups: [] };
  }
}
