import { FunctionRef, type TaskResources } from '@fx/protocol';
import type { Client } from './client.js';
import type { BatchItem } from './client.options.js';
import { FxError, PartialBatchError, ValidationError } from './errors.js';
import { functionSource, sourceDigest, toResourceName } from './function-source.js';

export interface ExecutorOptions {
  /**
   * Walltime given to the functions this executor registers.
   * @default the server's default
   */
  walltimeSeconds?: number;
  /**
   * Longest each submitted task's result is awaited before its promise rejects with TimeoutError.
   * @default undefined (wait until the task finishes)
   */
  resultTimeoutMs?: number;
  /**
   * What each submitted task asks of its worker (`{ cores, gpus, walltimeSeconds }`).
   * @default undefined (any worker)
   */
  resources?: TaskResources;
  /**
   * 0–9: higher goes first within the endpoint's queue (see RunOptions.priority).
   * @default 5
   */
  priority?: number;
}

interface Pending {
  source: string | undefined;
  name: string;
  functionId: string | undefined;
  args: unknown[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs JS functions on one endpoint, like a pool: `submit(fn, ...args)` resolves with the result.
 *
 * - Each distinct function (by source) is registered once per executor, under the name
 *   `<fn.name>-<digest of the source>`; the server returns the function it already holds when an
 *   earlier executor registered the same one.
 * - Everything submitted in one turn of the event loop (up to the next `setImmediate`) goes out as
 *   one batch request; results come back over the client's shared websocket.
 * - `close()` stops new submissions; what was already submitted still settles.
 */
export class Executor {
  private readonly functionIds = new Map<string, Promise<string>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private queue: Pending[] = [];
  private flushQueued = false;
  private closed = false;

  constructor(
    private readonly client: Client,
    readonly endpointId: string,
    private readonly options: ExecutorOptions = {},
  ) {}

  /** Runs `fn(...args)` on the endpoint. */
  submit<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Awaited<R>>;
  /** Runs an already registered function (by id, or by name: `name`, `name@version`, `owner/name`) on the endpoint. */
  submit<R = unknown>(functionId: string, ...args: unknown[]): Promise<R>;
  submit(fnOrId: ((...args: never[]) => unknown) | string, ...args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new FxError('CLIENT_CLOSED', 'the executor was closed; submit to a new one'));
    let pending: Omit<Pending, 'resolve' | 'reject'>;
    try {
      if (typeof fnOrId === 'string') {
        if (!FunctionRef.safeParse(fnOrId).success) throw new ValidationError('VALIDATION_FAILED', `not a function id or name: ${fnOrId}`);
        pending = { source: undefined, name: '', functionId: fnOrId, args };
      } else {
        const source = functionSource(fnOrId);
        const name = `${toResourceName(fnOrId.name, 'fn').slice(0, 100)}-${sourceDigest(source)}`;
        pending = { source, name, functionId: undefined, args };
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const future = new Promise<unknown>((resolve, reject) => this.queue.push({ ...pending, resolve, reject }));
    this.inFlight.add(future);
    const forget = () => this.inFlight.delete(future);
    future.then(forget, forget);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // setImmediate rather than a microtask: submissions made after awaiting an already-settled
      // promise in the same turn still share the batch.
      setImmediate(() => {
        this.flushQueued = false;
        void this.flush();
      });
    }
    return future;
  }

  /** Stops accepting submissions. Resolves once every earlier submission has settled; never rejects. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Same as close(). */
  shutdown(): Promise<void> {
    return this.close();
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;

    const ready: Array<Pending & { functionId: string }> = [];
    await Promise.all(
      batch.map(async (p) => {
        try {
          const functionId = p.functionId ?? (await this.functionIdFor(p.source!, p.name));
          ready.push({ ...p, functionId });
        } catch (err) {
          p.reject(err);
        }
      }),
    );
    if (ready.length === 0) return;

    const items: BatchItem[] = ready.map((p) => ({ functionId: p.functionId, args: p.args }));
    let taskIds: string[];
    try {
      const { resources, priority } = this.options;
      taskIds = await this.client.runBatch(this.endpointId, items, { ...(resources ? { resources } : {}), ...(priority !== undefined ? { priority } : {}) });
    } catch (err) {
      // Tasks a partial batch did create still run; their submitters get their results.
      const accepted = err instanceof PartialBatchError ? err.acceptedTaskIds : [];
      ready.slice(accepted.length).forEach((p) => p.reject(err));
      taskIds = accepted;
    }
    const timeoutMs = this.options.resultTimeoutMs;
    taskIds.forEach((taskId, i) => {
      const p = ready[i]!;
      this.client.getResult(taskId, timeoutMs === undefined ? {} : { timeoutMs }).then(p.resolve, p.reject);
    });
  }

  private functionIdFor(source: string, name: string): Promise<string> {
    let id = this.functionIds.get(source);
    if (!id) {
      id = this.register(source, name);
      this.functionIds.set(source, id);
      // A failed registration is not cached, so a later submission tries again.
      id.catch(() => this.functionIds.delete(source));
    }
    return id;
  }

  private async register(source: string, name: string): Promise<string> {
    const extras = this.options.walltimeSeconds === undefined ? {} : { walltimeSeconds: this.options.walltimeSeconds };
    // The same registration again returns the existing function, so executors share it.
    return (await this.client.createFunction({ name, runtime: 'js', source, ...extras })).id;
  }
}
