import { randomUUID } from 'node:crypto';
import type { FunctionRuntime, ObjectRef, TaskSpec } from '@fx/protocol';
import { functionContentHash } from '@fx/protocol/node';

/** A task for `source`, with a correct content hash unless one is given; `objects`: the references the server checked (TaskSpec.objects). */
export function makeTask(
  runtime: FunctionRuntime,
  source: string,
  options: {
    args?: unknown[];
    kwargs?: Record<string, unknown>;
    walltimeSeconds?: number;
    contentHash?: string;
    attempt?: number;
    objects?: ObjectRef[];
  } = {},
): TaskSpec {
  return {
    taskId: randomUUID(),
    attempt: options.attempt ?? 0,
    function: {
      id: randomUUID(),
      runtime,
      source,
      contentHash: options.contentHash ?? functionContentHash(runtime, source),
      ...(options.walltimeSeconds === undefined ? {} : { walltimeSeconds: options.walltimeSeconds }),
    },
    args: options.args ?? [],
    kwargs: options.kwargs ?? {},
    ...(options.objects ? { objects: options.objects } : {}),
  };
}
