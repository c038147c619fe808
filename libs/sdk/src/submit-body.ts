import { SubmitTaskRequest } from '@fx/protocol';
import type { RunOptions } from './client.options.js';
import { assertFaithfulJson } from './json-faithful.js';
import { encodeArgs } from './task-ref.js';
import { checkInput } from './validate.js';

/** The body of `POST /v1/tasks` for `client.run`: task handles and refs encoded, JSON checked, options that are set. */
export function submitBody(functionId: string, endpointId: string, args: unknown[], kwargs: Record<string, unknown>, options: RunOptions): SubmitTaskRequest {
  assertFaithfulJson((args = encodeArgs(args)), 'args');
  assertFaithfulJson((kwargs = encodeArgs(kwargs)), 'kwargs');
  const body = {
    functionId,
    endpointId,
    args,
    kwargs,
    ...(options.resources ? { resources: options.resources } : {}),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
  };
  return checkInput(SubmitTaskRequest, body, 'task');
}
