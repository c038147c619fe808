import { replaceRefs, type RemoteError, type TaskRefValue, type TaskStatus } from '@fx/protocol';
import { jsonProblem } from '../../common/json-safety.js';

/**
 * The rules of a dataflow graph, as pure functions (the SQL in dependencies.repository.ts only finds
 * the rows they apply to): when a dependent is ready, what it receives, and how a failure travels.
 */

export type InputState = { id: string; status: TaskStatus };

/** What a dependent does, given the states of its inputs (an input that no longer exists counts as failed). */
export type Readiness = { kind: 'waiting' } | { kind: 'ready' } | { kind: 'doomed'; input: string };

export function readiness(inputs: readonly string[], states: ReadonlyMap<string, TaskStatus>): Readiness {
  let waiting = false;
  for (const id of inputs) {
    const s = states.get(id);
    if (s === undefined || s === 'failed' || s === 'cancelled') return { kind: 'doomed', input: id };
    if (s !== 'success') waiting = true;
  }
  return waiting ? { kind: 'waiting' } : { kind: 'ready' };
}

/**
 * Whether the dependents of a task that just ended must be looked up (issue 18: a plain task pays no
 * statement for graphs). Only a statement that says so (`has_dependents` false, returned by the results'
 * statement) lets the lookup be skipped; any other (a resend, a cancel, a lost lease) looks, as before.
 *
 * Why no dependent is left waiting. A submission S records the edge (D, I) and, in the same statement,
 * sets I's has_dependents while I is open, after locking I's row (the lock re-checks that on I's latest
 * version); once set it is never cleared. After its commit S looks at I itself (`submitted`: D is
 * promoted, or failed, if I already ended). The statement R that ends I updates I's latest committed
 * version (READ COMMITTED: a row updated since R's snapshot is re-read once its writer commits, and R's
 * RETURNING is the row R wrote). Either S's look after its commit sees R committed, and D moves there; or
 * R commits after S's commit. Then R did not lock I before S wrote it (S would have waited for R, found I
 * final and written nothing, and committed after R, so its look would see R), so R's row carries the flag,
 * S's or an earlier submission's, which wrote it under the same lock: R's caller looks D up. The race
 * "S reads I open, R commits, S commits the edge" is the first case: S's look runs after its commit. The
 * sweep (`repair`) stays a backstop for a crash between a commit and its look, not this path.
 */
export function mayHaveDependents(row: { has_dependents?: boolean }): boolean {
  return row.has_dependents !== false;
}

/** An input that ended without success, as a dependent sees it; `error` null means it is gone (purged). */
export interface EndedInput {
  id: string;
  status: 'failed' | 'cancelled' | null;
  error: RemoteError | null;
}

/**
 * How a dependent ends when one of its inputs did not succeed: cancelled downstream of a cancelled
 * input (cancelling a task cancels everything downstream), failed otherwise, always DEPENDENCY_FAILED
 * naming the input and its code; `dependency` keeps the first failure upstream, however far.
 */
export function dependencyFailure(input: EndedInput): { status: 'failed' | 'cancelled'; error: RemoteError } {
  const code = input.error?.code ?? (input.status === 'cancelled' ? 'TASK_CANCELLED' : 'NOT_FOUND');
  const root = input.error?.dependency ?? { taskId: input.id, code };
  const what =
    input.status === null ? 'no longer exists (its result was purged)' : input.status === 'cancelled' ? `was cancelled (${code})` : `failed with ${code}`;
  const upstream = root.taskId === input.id ? '' : `; the first failure upstream: task ${root.taskId} (${root.code})`;
  return {
    status: input.status === 'cancelled' ? 'cancelled' : 'failed',
    error: { code: 'DEPENDENCY_FAILED', name: 'DependencyFailed', message: `input ${input.id} ${what}${upstream}`, dependency: root },
  };
}

/**
 * How a dependent ends when an input's result is a pickle (a `serializer: "pickle"` task's): its own
 * arguments are JSON (a pickle task cannot hold references), so the pickled value would reach its
 * function as an opaque `{"$fx": "pickle", …}` object. It fails before it runs instead, naming the input.
 */
export function pickledInput(inputId: string): { status: 'failed'; error: RemoteError } {
  return {
    status: 'failed',
    error: {
      code: 'SERIALIZER_MISMATCH',
      name: 'PickledInput',
      message: `input ${inputId} returned a pickled result (serializer "pickle"), which this task's JSON arguments cannot carry: submit the input with serializer "json" (its result must then be JSON), or pass its value yourself`,
    },
  };
}

/**
 * How many bytes a dependent's inputs' results take in its arguments once in place: each reference
 * counts its input's result size (`sizes`: bytes of its JSON), as often as it occurs. Known before
 * anything is built: ten thousand references to one 1 MB result are 10 GB to refuse, not to build.
 */
export function substitutedBytes(task: { args: unknown[]; kwargs: Record<string, unknown> }, sizes: ReadonlyMap<string, number>): number {
  let bytes = 0;
  const count = (ref: TaskRefValue) => {
    bytes += sizes.get('taskId' in ref ? ref.taskId : '') ?? 0;
    return null;
  };
  replaceRefs(task.args, count, false);
  replaceRefs(task.kwargs, count, false);
  return bytes;
}

/** Why the arguments are too large: the one sentence for a dependent whose inputs do not fit. */
export const tooLarge = (bytes: number, maxBytes: number): string =>
  `the arguments with their inputs' results in place are ${bytes} bytes; a task's may be at most ${maxBytes}`;

/** A dependent's args and kwargs with its inputs' results in place of the references, or why it cannot run. */
export type Substitution = { ok: true; args: unknown[]; kwargs: Record<string, unknown> } | { ok: false; missing: string } | { ok: false; problem: string };

/**
 * Puts the results in. `results` holds each successful input's result; an input missing from it is
 * gone. The outcome must still be storable (jsonb's depth) and fit in a frame to an agent. Callers
 * check substitutedBytes first: what this builds and walks is then bounded.
 */
export function substituteInputs(
  task: { args: unknown[]; kwargs: Record<string, unknown> },
  results: ReadonlyMap<string, unknown>,
  maxBytes: number,
): Substitution {
  let missing: string | undefined;
  // stored references are all by task id (task-graph.ts turned batch indexes into ids)
  const put = (ref: TaskRefValue) => {
    const id = 'taskId' in ref ? ref.taskId : '';
    if (!results.has(id)) missing ??= id;
    return results.get(id) ?? null;
  };
  const args = replaceRefs(task.args, put, true);
  const kwargs = replaceRefs(task.kwargs, put, true);
  if (missing) return { ok: false, missing };
  const problem = jsonProblem({ args, kwargs }, 'the arguments with their inputs in place');
  if (problem) return { ok: false, problem };
  const bytes = Buffer.byteLength(JSON.stringify(args)) + Buffer.byteLength(JSON.stringify(kwargs));
  if (bytes > maxBytes) return { ok: false, problem: tooLarge(bytes, maxBytes) };
  return { ok: true, args, kwargs };
}
