/**
 * How the workers of one pool are started: the js worker (Node) or a worker of another language (a
 * program of its own); every kind speaks the same link (worker.link.ts). The pool's supervision (owners, depth, walltime,
 * cancel, memory, replacement) is the same for every kind.
 */
export interface WorkerLauncher {
  /** `js`, `python`: for logs and messages. */
  readonly kind: string;
  /** The worker program, which must exist before the pool starts. */
  readonly entry: string;
  /** The program to spawn and its arguments (the sandbox then wraps them). */
  command(): { file: string; args: string[] };
  /**
   * A started task that must stop (walltime, cancel) is interrupted (an `interrupt` message), and its
   * worker is kept when it reports back within this many ms, else killed. Absent: killed at once (a js
   * worker cannot interrupt synchronous code).
   */
  readonly interruptGraceMs?: number;
}

/** The js worker: this Node, running the compiled worker entry. */
export function nodeWorkerLauncher(script: string, execArgv: string[] = []): WorkerLauncher {
  return {
    kind: 'js',
    entry: script,
    // The js runtime's import() (vm's USE_MAIN_CONTEXT_DEFAULT_LOADER) is "experimental": its warning would land in the agent's log.
    command: () => ({ file: process.execPath, args: ['--disable-warning=ExperimentalWarning', ...execArgv, script] }),
  };
}
