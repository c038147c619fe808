import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ObjectName, findJsonInfidelity, type ObjectEncoding } from '@fx/protocol';
import { isBytes } from './js.objects.js';

/** Most named outputs one task may write. */
export const MAX_NAMED_OUTPUTS = 1000;

/** A named output a worker wrote for the agent to store: `file` is its name in the worker's directory. */
export interface NamedOutputFile {
  name: string;
  file: string;
  encoding: ObjectEncoding;
  size: number;
}

/** The one name the agent accepts for a task's `index`th named output file (providers/local/worker.outcome.ts). */
export const outputFileName = (taskId: string, index: number): string => `fx-output-${taskId}-${index}`;

/** What a js function sees as the global `ctx` while it runs (worker.ts defines it). */
export interface TaskContext {
  /**
   * Stores `data` as an object named `name` (a path-like key such as `output/part-1.csv`) owned by the
   * task's owner, once the task succeeds: bytes (a Buffer, a typed array) as they are, anything else as
   * JSON. Await it: the write is done when the promise resolves. A name written twice keeps the last.
   */
  output(name: string, data: unknown): Promise<void>;
  /**
   * Reports `value` (JSON) as the task's latest progress, which clients watching it see while it runs
   * (docs/live.md). Cheap: a burst of emits sends only the latest value now and then, with how many it
   * replaced.
   */
  emit(value: unknown): void;
}

/**
 * The named outputs of one running task: written to files in the worker's directory (never over the worker's link),
 * which the agent uploads (with the task's id and the name) before the task's result is reported.
 */
export class TaskOutputs {
  private readonly written = new Map<string, NamedOutputFile>();
  /** Writes run one after another (the same name twice keeps the last, whatever the timing). */
  private tail: Promise<void> = Promise.resolve();
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly taskId: string,
    private readonly maxBytes: number,
  ) {}

  readonly context: Pick<TaskContext, 'output'> = { output: (name, data) => this.output(name, data) };

  output(name: string, data: unknown): Promise<void> {
    let content: { data: Buffer; encoding: ObjectEncoding };
    try {
      if (this.closed) throw new Error('ctx.output was called after the task ended');
      // taken now: the caller may change its Buffer before the write runs
      content = serialize(name, data);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const write = this.tail.then(() => this.write(name, content.data, content.encoding));
    this.tail = write.catch(() => undefined);
    return write;
  }

  /** The outputs written, once every write is done; after this, ctx.output refuses. */
  async settled(): Promise<NamedOutputFile[]> {
    this.closed = true;
    await this.tail;
    return [...this.written.values()];
  }

  private async write(name: string, content: Buffer, encoding: ObjectEncoding): Promise<void> {
    const previous = this.written.get(name);
    if (!previous && this.written.size >= MAX_NAMED_OUTPUTS) throw new RangeError(`ctx.output: a task may write at most ${MAX_NAMED_OUTPUTS} named outputs`);
    if (this.bytes - (previous?.size ?? 0) + content.length > this.maxBytes) {
      throw new RangeError(`ctx.output: the task's outputs would exceed the ${this.maxBytes} bytes this endpoint stores`);
    }
    const file = previous?.file ?? outputFileName(this.taskId, this.written.size);
    await writeFile(join(this.dir, file), content, { mode: 0o600 });
    this.bytes += content.length - (previous?.size ?? 0);
    this.written.set(name, { name, file: basename(file), encoding, size: content.length });
  }
}

function serialize(name: string, data: unknown): { data: Buffer; encoding: ObjectEncoding } {
  const valid = ObjectName.safeParse(name);
  if (!valid.success) throw new TypeError(`ctx.output: the name ${JSON.stringify(name)} ${valid.error.issues[0]?.message ?? 'is not valid'}`);
  if (isBytes(data)) {
    const view = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return { data: Buffer.from(view), encoding: 'bytes' };
  }
  const problem = data === undefined ? undefined : findJsonInfidelity(data, 'data');
  if (problem) throw new TypeError(`ctx.output: the data cannot be stored as JSON: ${problem.message}`);
  return { data: Buffer.from(JSON.stringify(data ?? null), 'utf8'), encoding: 'json' };
}
