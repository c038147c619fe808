import { FunctionRef, Uuid, type TaskOutcome } from '@fx/protocol';
import type { Client } from './client.js';
import type { MapOptions } from './client.options.js';
import { runMapWindow, type MapOutcome } from './map-window.js';
import { outcomeValue } from './result-stream.js';
import { TaskGroup, createGroup, type GroupTransport } from './task-group.js';
import { checkInput } from './validate.js';

export type { MapOutcome } from './map-window.js';

/**
 * `client.mapOutcomes`: runs `functionId` on `endpointId` once per item, submitting as the source is
 * consumed (see runMapWindow for the window), and yields each task's outcome with its item's index.
 * The tasks form one task group.
 */
export async function* mapOutcomes<T>(
  client: Client,
  transport: GroupTransport,
  functionId: string,
  endpointId: string,
  items: Iterable<T> | AsyncIterable<T>,
  options: MapOptions<T> = {},
): AsyncGenerator<MapOutcome, void, undefined> {
  const fnRef = checkInput(FunctionRef, functionId, 'functionId');
  const chunkSize = options.chunkSize ?? 1000;
  const toArgs = options.toArgs ?? ((item: T) => [item]);
  let resolved: { fn: string; group: TaskGroup } | undefined;
  // Lazily, on the first chunk: a map over an empty source makes nothing. One function version for the
  // whole map, even if the name gets a new version meanwhile.
  const setup = async () => {
    const fn = Uuid.safeParse(fnRef).success ? fnRef : (await client.getFunction(fnRef)).id;
    const groupId = options.groupId ?? (await createGroup(transport, 'map', options.speculation)).id;
    options.onGroup?.(groupId);
    return { fn, group: new TaskGroup(transport, checkInput(Uuid, groupId, 'groupId')) };
  };
  let index = 0;
  yield* runMapWindow(
    items,
    {
      async submit(chunk) {
        resolved ??= await setup();
        const { fn, group } = resolved;
        const batch = chunk.map((item) => ({ functionId: fn, args: toArgs(item, index++) }));
        return client.runBatch(endpointId, batch, {
          groupId: group.id,
          ...(options.resources ? { resources: options.resources } : {}),
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
          ...(options.cache !== undefined ? { cache: options.cache } : {}),
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
          // a group of the caller's joined: it asks for speculation from now on
          ...(options.speculation && options.groupId ? { speculation: options.speculation } : {}),
        });
      },
      watch: (ids, sink) => transport.channel.watch(ids, sink),
      async cancelRest() {
        if (resolved && options.cancelOnStop !== false) await resolved.group.cancel();
      },
    },
    { chunkSize, window: options.window ?? Math.max(10_000, chunkSize), ordered: options.ordered ?? true, lingerMs: options.lingerMs ?? 50 },
  );
}

/**
 * `client.map`: the results' values, in order or as they finish; a failed or cancelled task throws (and the rest is cancelled).
 * `valueOf` reads an outcome's value (fetching a result stored as an object).
 */
export async function* mapValues<R>(
  outcomes: AsyncGenerator<MapOutcome, void, undefined>,
  valueOf: (outcome: TaskOutcome) => R | Promise<R> = outcomeValue,
): AsyncGenerator<R, void, undefined> {
  for await (const { outcome } of outcomes) yield await valueOf(outcome);
}
