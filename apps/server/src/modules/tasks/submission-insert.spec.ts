import { randomUUID } from 'node:crypto';
import { openTestStore } from '../../testing/test-store.js';
import { TasksRepository } from './tasks.repository.js';
import { insertRow, sharedRow, type NewTask } from './task-records.js';

/**
 * A submission's columns that all its tasks share travel once (sharedRow), not in each row: the rows
 * stored must be the same whichever columns were shared, on both stores FX runs on.
 */
const task = (over: Partial<NewTask> = {}): NewTask => ({ id: randomUUID(), functionId: fnA, endpointId: epA, args: [1], kwargs: {}, ...over });
const fnA = randomUUID();
const fnB = randomUUID();
const epA = randomUUID();
const epB = randomUUID();
const group = randomUUID();

describe('sharedRow and insertRow', () => {
  it('shares a column only when every task has one same value in it', () => {
    const cache = { key: 'k', scope: 's', ttlSeconds: 60 };
    expect(sharedRow([task({ priority: 7, cache }), task({ priority: 7, cache: { ...cache, key: 'k2' } })])).toEqual({
      function_id: fnA,
      endpoint_id: epA,
      serializer: 'json',
      priority: 7,
      cache_scope: 's',
      cache_ttl_seconds: 60,
    });
    // an absent priority reads as the default one, so it is the same as an explicit 5
    expect(sharedRow([task(), task({ priority: 5 })]).priority).toBe(5);
    // one task without the column, or with another value, and the column travels in every row
    const mixed = [task({ endpointGroupId: group, cache }), task({ functionId: fnB, priority: 1 })];
    expect(sharedRow(mixed)).toEqual({ endpoint_id: epA, serializer: 'json' });
    expect(sharedRow([])).toEqual({});
  });

  it('leaves the shared columns out of each row and keeps the rest', () => {
    const t = task({ priority: 2, endpointGroupId: group, outputName: 'out' });
    expect(insertRow(t, { function_id: fnA, endpoint_id: epA, priority: 2, endpoint_group_id: group })).toEqual({
      id: t.id,
      args: [1],
      kwargs: {},
      serializer: 'json',
      output_name: 'out',
    });
    expect(insertRow(t)).toMatchObject({ function_id: fnA, endpoint_id: epA, priority: 2, endpoint_group_id: group, serializer: 'json' });
  });
});

describe.each(['postgres', 'pglite'] as const)('the submission insert on %s', (kind) => {
  let store: Awaited<ReturnType<typeof openTestStore>> | undefined;
  let tasks: TasksRepository;
  const owner = randomUUID();

  beforeAll(async () => {
    store = await openTestStore(kind);
    tasks = new TasksRepository(store.db);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  const stored = async (ids: string[]) => {
    const rows = await Promise.all(ids.map((id) => tasks.findById(id)));
    return rows.map((r) => ({
      function_id: r!.function_id,
      endpoint_id: r!.endpoint_id,
      endpoint_group_id: r!.endpoint_group_id,
      priority: r!.priority,
      serializer: r!.serializer,
      args: r!.args,
    }));
  };

  it('stores each task with its own columns, shared or not', async () => {
    const alike = [task({ priority: 8, endpointGroupId: group }), task({ priority: 8, endpointGroupId: group, args: [2] })];
    await tasks.insertMany(owner, randomUUID(), alike);
    expect(await stored(alike.map((t) => t.id))).toEqual([
      { function_id: fnA, endpoint_id: epA, endpoint_group_id: group, priority: 8, serializer: 'json', args: [1] },
      { function_id: fnA, endpoint_id: epA, endpoint_group_id: group, priority: 8, serializer: 'json', args: [2] },
    ]);

    const unlike = [task({ endpointGroupId: group }), task({ functionId: fnB, endpointId: epB, priority: 0 }), task({ priority: 9, args: [3] })];
    await tasks.insertMany(owner, randomUUID(), unlike);
    expect(await stored(unlike.map((t) => t.id))).toEqual([
      { function_id: fnA, endpoint_id: epA, endpoint_group_id: group, priority: 5, serializer: 'json', args: [1] },
      { function_id: fnB, endpoint_id: epB, endpoint_group_id: null, priority: 0, serializer: 'json', args: [1] },
      { function_id: fnA, endpoint_id: epA, endpoint_group_id: null, priority: 9, serializer: 'json', args: [3] },
    ]);
  });
});
