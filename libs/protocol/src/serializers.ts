import { z } from 'zod';
import { DEFAULT_LIMITS } from './common.js';

/**
 * How a task's arguments and result travel. `json` (the default) is portable: any SDK, any Python.
 * `pickle` (python functions only) carries what JSON cannot (numpy arrays, dataclasses, closures), at the
 * price of needing the same Python major.minor on both sides: the worker refuses a pickle of another
 * version with SERIALIZER_MISMATCH rather than guess.
 */
export const TaskSerializer = z.enum(['json', 'pickle']);
export type TaskSerializer = z.infer<typeof TaskSerializer>;

/** The library that wrote a pickle; the reader loads it with the same one (cloudpickle when it has it). */
export const Pickler = z.enum(['cloudpickle', 'pickle']);
export type Pickler = z.infer<typeof Pickler>;

/** A Python's major.minor, e.g. "3.11": what decides whether a pickle can be read. */
export const PythonVersion = z.string().regex(/^[0-9]{1,3}\.[0-9]{1,3}$/, 'must be a Python major.minor, e.g. "3.11"');
export type PythonVersion = z.infer<typeof PythonVersion>;

/** The tag that marks a JSON object as a pickled Python value rather than plain data. */
export const PICKLE_TAG = '$fx' as const;

/**
 * A pickled Python value as JSON: the pickle base64-encoded, tagged with the Python and the pickler that
 * wrote it. A pickle task's `pickledArgs` is one of these (the pair `(args, kwargs)`), and so is its result,
 * which the server stores and returns as it would any JSON result: the TypeScript SDK sees this object,
 * the Python SDK gives back the value. `data` is bounded by the request limit, like JSON arguments.
 */
export const PickledValue = z
  .object({
    [PICKLE_TAG]: z.literal('pickle'),
    python: PythonVersion,
    pickler: Pickler,
    data: z.base64().max(DEFAULT_LIMITS.maxRequestBytes),
  })
  .strict();
export type PickledValue = z.infer<typeof PickledValue>;

/** What a submitted task says of its serializer (a single submission or one batch item). */
interface SerializedTask {
  args?: unknown[] | undefined;
  kwargs?: Record<string, unknown> | undefined;
  serializer?: TaskSerializer | undefined;
  pickledArgs?: PickledValue | undefined;
}

/** A pickle task carries its arguments in `pickledArgs` alone; a json task carries none there. */
export function checkSerializer(task: SerializedTask, ctx: z.RefinementCtx): void {
  if (task.serializer === 'pickle') {
    if (task.pickledArgs === undefined)
      ctx.addIssue({ code: 'custom', path: ['pickledArgs'], message: 'serializer "pickle" needs pickledArgs: (args, kwargs) pickled as one PickledValue' });
    if ((task.args?.length ?? 0) > 0 || Object.keys(task.kwargs ?? {}).length > 0)
      ctx.addIssue({ code: 'custom', path: ['args'], message: 'with serializer "pickle" the arguments travel in pickledArgs: args and kwargs must be empty' });
  } else if (task.pickledArgs !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['pickledArgs'], message: 'pickledArgs applies to serializer "pickle" only; set serializer: "pickle"' });
  }
}
