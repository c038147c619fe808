import { functionContentHash } from '@fx/protocol/node';
import type { TaskSpec } from '@fx/protocol';
import { failure, type ExecutionOutcome } from '../runtimes/task.errors.js';

/**
 * Whether an agent whose tasks run under `sandbox` runs only its owner's: anything but bubblewrap run by
 * a user other than root (see TaskAdmission.owner). Under bubblewrap, a root agent's tasks are root
 * without capabilities: still the owner of root's files (/etc/shadow, the host's SSH keys), which
 * another user's task could read.
 */
export const runsOwnersOnly = (sandbox: string | undefined): boolean => sandbox !== 'bwrap' || process.getuid?.() === 0;

/**
 * What the agent checks before it runs a task, whatever the server sent: the endpoint's allowed
 * functions (checked at submit too), the function's content hash, that pickled arguments go to a
 * python function, and that another user's task runs only where tasks are isolated from one another.
 * A refused task fails with a sentence and never reaches a worker.
 */
export class TaskAdmission {
  /** runtime + settings + content hash → a source verified against it (see verifiedSource). */
  private readonly verifiedSources = new Map<string, string>();
  /** From `welcome`: the functions this endpoint may run, or null for any. */
  private allowedFunctions: ReadonlySet<string> | null = null;

  /** From `welcome`: the endpoint's owner (absent: an older server, and no check). */
  private ownerId: string | undefined;
  /** Why another user's task may not run here (the rest of a sentence naming the endpoint), or null when it may. */
  private unisolated: string | null = null;

  /** @param endpointLabel names the endpoint in refusals */
  constructor(private readonly endpointLabel: string) {}

  /** The allow-list a `welcome` carries (absent: any function). */
  allow(functionIds: readonly string[] | undefined | null): void {
    this.allowedFunctions = functionIds ? new Set(functionIds) : null;
  }

  /**
   * Whose tasks may run here: `sandbox` is what the provider runs tasks under. Only bubblewrap gives
   * each task its own /tmp, pids, System V IPC and view of the files; under `none` or a Slurm block
   * every task runs as the agent's user, so another user's task (sent through an endpoint group) could
   * read or change this endpoint's token, cache and spool and the other tasks' files, and under `uid`
   * tasks have users of their own but share /tmp, IPC and the host's files. Such an endpoint runs only
   * its owner's tasks (and says so in its hello and heartbeats: `ownerOnly`, so that routing sends it no other).
   */
  owner(ownerId: string | undefined, sandbox: string | undefined): void {
    this.ownerId = ownerId;
    if (!runsOwnersOnly(sandbox)) this.unisolated = null;
    else if (sandbox === 'bwrap-userns')
      this.unisolated =
        "runs tasks under bubblewrap that lets them make user namespaces (sandboxUserNamespaces, or a bubblewrap older than 0.8), in which a task reads past the modes of the agent's files, so it runs only its owner's tasks and this one is another user's: its owner may turn that off to take tasks of other users' endpoint groups";
    else if (sandbox === 'bwrap')
      this.unisolated =
        "runs tasks under bubblewrap as root, where a task still owns root's files, so it runs only its owner's tasks and this one is another user's: its owner may run the agent as an unprivileged user to take tasks of other users' endpoint groups";
    else
      this.unisolated = `runs tasks without bubblewrap (${sandbox ? `sandbox: ${sandbox}` : 'no sandbox'}), where every task shares one Unix user with the agent, so it runs only its owner's tasks and this one is another user's: its owner may enable bubblewrap (sandbox: bwrap) to take tasks of other users' endpoint groups`;
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
    if (this.unisolated && this.ownerId && task.ownerId && task.ownerId !== this.ownerId) {
      return failure('ISOLATION_REQUIRED', 'IsolationRequired', `endpoint ${this.endpointLabel} ${this.unisolated}`);
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
