import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_PYTHON_EXECUTABLE_CHARS, MAX_PYTHON_REASON_CHARS, type PythonReport } from '@fx/protocol';
import { inheritedEnv, type InheritedEnv } from '../../config/env.js';
import { WorkerSandbox } from '../../providers/sandbox/worker.sandbox.js';
import type { Logger } from '../../agent/logger.js';
import { DEFAULT_PYTHON } from './python.runtime.js';

/** The interpreter `python:` names, as found in the agent's environment. */
export interface PythonInstallation {
  /** Its real executable (a pyenv shim or a name on PATH resolved): what the workers run. */
  executable: string;
  version: string;
  /** Where it and its packages live (sys.prefix, sys.base_prefix): kept visible under bwrap. */
  prefixes: string[];
}

/** A python that works for workers: where it is, and what they see of it. */
export interface PythonInspection {
  installation: PythonInstallation;
  report: Extract<PythonReport, { available: true }>;
}

/** Shipped beside the python worker (apps/endpoint/python/), and run the way a worker is. */
export const PYTHON_REPORT_SCRIPT = fileURLToPath(new URL('../../../python/fx_python_report.py', import.meta.url));

const PROBE_TIMEOUT_MS = 15_000;
/** After a failed probe, the failure stands this long before an interpreter is looked for again. */
const PROBE_RETRY_MS = 10_000;

const LOCATE = 'import json, sys; print(json.dumps([sys.executable, sys.version_info[:2] >= (3, 8), sys.version.split()[0], sys.prefix, sys.base_prefix]))';

interface Run {
  file: string;
  args: string[];
  env: InheritedEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** stdout of a short program, or an Error saying why it did not answer (its code kept: ENOENT, EACCES). */
function output(run: Run): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { env: run.env, timeout: PROBE_TIMEOUT_MS, encoding: 'utf8' as const, ...(run.cwd ? { cwd: run.cwd } : {}) };
    const ids = run.uid !== undefined ? { uid: run.uid, gid: run.gid ?? run.uid } : {};
    execFile(run.file, run.args, { ...options, ...ids }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such program' : `${error.message.split('\n')[0]} ${stderr.trim().slice(-300)}`.trim();
      reject(Object.assign(new Error(why), { code }));
    });
  });
}

function lastJsonLine<T>(stdout: string): T {
  try {
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new Error(`it did not answer like a Python interpreter: ${stdout.slice(0, 200)}`);
  }
}

/**
 * Finds the interpreter `python` names the way the person who configured it would (the agent's own
 * environment, outside any sandbox), checks it is Python 3.8 or newer, and says where it lives: a pyenv
 * shim or a conda env under the home dir, which bwrap hides from tasks, then still works.
 */
export async function locatePython(python: string, environment: InheritedEnv = inheritedEnv()): Promise<PythonInstallation> {
  const [executable, recent, version, prefix, basePrefix] = lastJsonLine<[string, boolean, string, string, string]>(
    await output({ file: python, args: ['-c', LOCATE], env: environment }),
  );
  if (!recent) throw new Error(`it is Python ${version}; the python worker needs 3.8 or newer`);
  const exe = executable || python;
  return { executable: exe, version, prefixes: [...new Set([prefix, basePrefix, dirname(dirname(exe))].filter((p) => p.startsWith('/')))] };
}

/**
 * Locates `python` (see locatePython), then runs fx_python_report.py with it exactly as a python worker
 * starts (the sandbox's command, user, environment and private dir), so that what is reported is what
 * tasks see, and an interpreter the sandbox cannot run is found now, with a sentence, rather than as a
 * worker that never starts: as an unprivileged user (agent root, no bubblewrap) a Python under /root is
 * unreadable.
 */
export async function inspectPython(python: string, sandbox: WorkerSandbox = new WorkerSandbox()): Promise<PythonInspection> {
  // Looked up as the person who configured it would (their HOME, for a pyenv shim), but with no more
  // of the agent's environment than a task gets: no token reaches even a sitecustomize.
  const home = inheritedEnv().HOME;
  const installation = await locatePython(python, { ...sandbox.env(tmpdir()), ...(home ? { HOME: home } : {}) });
  const shown = sandbox.showing(installation.prefixes);
  const workDir = await shown.workDir('fx-python-probe-');
  let stdout: string;
  try {
    const command = shown.command(installation.executable, ['-B', PYTHON_REPORT_SCRIPT], workDir, { tasks: false });
    stdout = await output({ ...command, env: shown.env(workDir), cwd: workDir });
  } catch (error) {
    throw new Error(sandboxedFailure(python, installation.executable, sandbox, error as Error & { code?: string }), { cause: error });
  } finally {
    await shown.release(workDir);
  }
  const seen = lastJsonLine<{ version?: string; executable?: string; distributions?: { count: number; sha256: string } }>(stdout);
  if (!seen.version || !seen.distributions) throw new Error(`it did not report its version and distributions: ${stdout.slice(0, 200)}`);
  return {
    installation,
    report: {
      available: true,
      version: seen.version.slice(0, 64),
      executable: (seen.executable || installation.executable).slice(0, MAX_PYTHON_EXECUTABLE_CHARS),
      distributions: seen.distributions,
    },
  };
}

function sandboxedFailure(python: string, executable: string, sandbox: WorkerSandbox, error: Error & { code?: string }): string {
  const it = `${python} at ${executable}`;
  if (sandbox.kind === 'uid') {
    const user = 'the unprivileged users tasks run as';
    const fix =
      'tasks run as unprivileged users (a uid of their own per worker) because the agent runs as root and bubblewrap does not work here; ' +
      'set config.yaml\'s "python:" to an interpreter every user can read (e.g. /usr/bin/python3, or one installed under /opt), ' +
      'install bubblewrap, or run the agent as another user';
    return error.code === 'EACCES' ? `${it} is not readable by ${user}: ${error.message}; ${fix}` : `${it} does not run as ${user}: ${error.message}; ${fix}`;
  }
  if (sandbox.kind === 'bwrap') {
    return `${it} does not run inside the sandbox (bubblewrap): ${error.message}; if it needs a hidden directory, list that in config.yaml's "sandboxShow:"`;
  }
  return `${it} does not run with the workers' environment: ${error.message}`;
}

export interface PythonProbeOptions {
  /** config.yaml's `python:`. @default DEFAULT_PYTHON */
  python?: string;
  /** How python workers start. @default no sandbox */
  sandbox?: WorkerSandbox;
  logger?: Logger;
}

/**
 * The endpoint's Python, probed once (at agent start, in the background) for its status and for the
 * python workers that start from it. A failure stands for PROBE_RETRY_MS, then the next ask probes
 * again (the interpreter may have been installed meanwhile).
 */
export class PythonProbe {
  readonly python: string;
  private inFlight?: Promise<PythonInspection>;
  private last?: { at: number; outcome: PythonInspection | Error };

  constructor(private readonly options: PythonProbeOptions = {}) {
    this.python = options.python ?? DEFAULT_PYTHON;
  }

  /** The inspection, or a rejection whose message says why there is no usable Python. */
  inspect(): Promise<PythonInspection> {
    const last = this.last;
    if (last && !(last.outcome instanceof Error)) return Promise.resolve(last.outcome);
    if (last && Date.now() - last.at < PROBE_RETRY_MS) return Promise.reject(last.outcome as Error);
    this.inFlight ??= inspectPython(this.python, this.options.sandbox).then(
      (found) => {
        this.last = { at: Date.now(), outcome: found };
        this.inFlight = undefined;
        const { version, executable, distributions } = found.report;
        this.options.logger?.info(`python: ${executable} (Python ${version}, ${distributions.count} distributions)`);
        return found;
      },
      (error: unknown) => {
        const failed = error instanceof Error ? error : new Error(String(error));
        this.last = { at: Date.now(), outcome: failed };
        this.inFlight = undefined;
        this.options.logger?.info(`python functions cannot run here: ${this.reason(failed)}`);
        throw failed;
      },
    );
    return this.inFlight;
  }

  /** Starts a probe and leaves it running (an endpoint without Python starts all the same). */
  start(): void {
    this.inspect().catch(() => undefined);
  }

  /** What the status and heartbeat say; undefined until the first probe has ended. */
  report(): PythonReport | undefined {
    const outcome = this.last?.outcome;
    if (outcome === undefined) return undefined;
    return outcome instanceof Error ? { available: false, reason: this.reason(outcome) } : outcome.report;
  }

  /** Resolves once no probe is under way (its child has exited). */
  async settled(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  private reason(error: Error): string {
    const reason = `"${this.python}" (config.yaml "python:"): ${error.message}`;
    return reason.length <= MAX_PYTHON_REASON_CHARS ? reason : `${reason.slice(0, MAX_PYTHON_REASON_CHARS - 1)}…`;
  }
}
