import type { LiveSink } from '../provider.js';
import { WORKER_FLUSH_MS, type LiveMessage, type WorkerLogs, type WorkerProgress } from '../../runtimes/js/js.live.js';

/**
 * A running task's live streams on a node of a block, on their way to the agent over the node's socket:
 * the latest progress value and the text printed since the last message, sent at most every
 * WORKER_FLUSH_MS (a burst of emits costs the network one message per flush), and `end()` sends what is
 * left before the task's `done`.
 */
export class NodeLive implements LiveSink {
  private latest?: WorkerProgress;
  private logged: WorkerLogs[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly taskId: string,
    private readonly send: (message: LiveMessage) => void,
  ) {}

  progress(p: WorkerProgress): void {
    this.latest = p;
    this.schedule();
  }

  logs(chunks: WorkerLogs[]): void {
    this.logged.push(...chunks);
    this.schedule();
  }

  end(): void {
    this.flush();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), WORKER_FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.latest && this.logged.length === 0) return;
    const message: LiveMessage = {
      type: 'live',
      taskId: this.taskId,
      ...(this.latest ? { progress: this.latest } : {}),
      ...(this.logged.length ? { logs: this.logged } : {}),
    };
    this.latest = undefined;
    this.logged = [];
    this.send(message);
  }
}
