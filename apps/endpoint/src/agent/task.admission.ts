import { functionContentHash } from '@fx/protocol/node';
import type { TaskSpec } from '@fx/protocol';
import { failure, type ExecutionOutcome } from '../runtimes/task.errors.js';

/**
 * What the agent checks before it runs a task, whatever the server sent: the endpoint's allowed
 * functions (checked at submit too), the function's content hash, and that pickled arguments go to a
 * python function. A refused task fails with a sentence and never reaches a worker.
 */
export class TaskAdmission {
  /** runtime + settings + content hash → a source verified against it (see verifiedSource). */
  private readonly verifiedSources = new Map<string, string>();
  /** From `welcome`: the functions this endpoint may run, or null for any. */
  private allowedFunctions: ReadonlySet<string> | null = null;

  /** @param endpointLabel names the endpoint in refusals */
  constructor(private readonly endpointLabel: string) {}

  /** The allow-list a `welcome` carries (absent: any function). */
  allow(functionIds: readonly string[] | undefined | null): void {
    this.allowedFunctions = functionIds ? new Set(functionIds) : null;
  }

  /** Why the task must not run (a failed outcome), or undefined when it may. */
  refusal(task: TaskSpec): ExecutionOutcome | undefined {
    const fn = task.function;
    if (this.allowedFunctions && !this.allowedFunctions.has(fn.id)) {
      return failure('FUNCTION_NOT_ALLOWED', 'FunctionNotAllowed', `endpoint ${this.endpointLabel} does not allow function ${fn.id}; refusing to run it`);
    }
    if (!this.verifiedSource(fn)) {
      return failure(
        'CONTENT_HASH_MISMATCH',
        'ContentHashMismatch',
        `the function's source does not match its content hash ${fn.contentHash}; refusing to run it`,
      );
    }
    // The server refuses these at submit; a js or shell runtime would otherwise run the task with no arguments.
    if (task.pickledArgs && fn.runtime !== 'python') {
      return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', `pickled arguments are for python functions; this is a ${fn.runtime} one`);
    }
    return undefined;
  }

  /**
   * Whether the function's source (with its entry point, exit policy and progress prefix) matches its content hash. The
   * same function usually arrives many times in a row, so the last few verified (hash, source) pairs are
   * remembered: a string compare instead of a sha256 per task.
   */
  private verifiedSource(fn: TaskSpec['function']): boolean {
    const settings = { entrypoint: fn.entrypoint, failOnNonZeroExit: fn.failOnNonZeroExit, progressPrefix: fn.progressPrefix };
    const key = `${fn.runtime}\n${JSON.stringify(fn.entrypoint ?? null)}\n${fn.failOnNonZeroExit === true}\n${JSON.stringify(fn.progressPrefix ?? null)}\n${fn.contentHash}`;
    if (this.verifiedSources.get(key) === fn.source) return true;
    if (functionContentHash(fn.runtime, fn.source, settings) !== fn.contentHash) return false;
    if (this.verifiedSources.size >= 256) this.verifiedSources.clear();
    this.verifiedSources.set(key, fn.source);
    return true;
  }
}
