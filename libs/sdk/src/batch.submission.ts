import type { SubmitBatchResponse } from '@fx/protocol';
import type { RunBatchOptions } from './client.options.js';
import type { EncodedBatchRequest } from './batch.encoding.js';
import { FxError, PartialBatchError, ServerError } from './errors.js';

/**
 * Sends a batch's requests one after another and concatenates their task ids in order. If a later
 * request fails, the earlier ones' tasks exist: the PartialBatchError carries their ids. The requests
 * after the first join the first one's group (unless the bodies already name one: `groupId`), so
 * a batch is one group however many requests it takes.
 */
export async function sendBatch(
  requests: EncodedBatchRequest[],
  send: (encodedBody: string) => Promise<SubmitBatchResponse>,
  options: Pick<RunBatchOptions, 'onAccepted' | 'onWarning' | 'groupId'>,
): Promise<string[]> {
  const taskIds: string[] = [];
  const warned = new Set<string>();
  let joined: string | undefined;
  for (const { body, count } of requests) {
    try {
      const res = await send(joined === undefined ? body : `{"groupId":${JSON.stringify(joined)},${body.slice(1)}`);
      if (options.groupId === undefined) joined ??= res.batchId;
      if (res.taskIds.length !== count) {
        throw new ServerError('BAD_RESPONSE', `the server returned ${res.taskIds.length} task ids for a batch of ${count}`);
      }
      for (const id of res.taskIds) taskIds.push(id);
      options.onAccepted?.({ batchId: res.batchId, taskIds: res.taskIds });
      // one warning per endpoint for the whole batch, not one per request
      for (const w of res.warnings ?? []) {
        if (warned.has(w.endpointId)) continue;
        warned.add(w.endpointId);
        options.onWarning?.(w);
      }
    } catch (err) {
      if (taskIds.length > 0 && err instanceof FxError) throw new PartialBatchError(taskIds, err);
      throw err;
    }
  }
  return taskIds;
}
