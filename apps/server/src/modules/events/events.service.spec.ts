import { MemoryBroker } from '../../storage/broker.memory.js';
import { CONSOLE_COALESCE_MS, EventsService, type ClusterEvents } from './events.service.js';

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('EventsService', () => {
  it('delivers an event once to every replica, its publisher included, and never before publish returns', async () => {
    const broker = new MemoryBroker();
    const a = new EventsService(broker);
    const b = new EventsService(broker);
    await a.onModuleInit();
    await b.onModuleInit();
    const seen: string[] = [];
    a.on('wake', ({ endpointIds }) => seen.push(`a:${endpointIds.join()}`));
    b.on('wake', ({ endpointIds }) => seen.push(`b:${endpointIds.join()}`));
    const publishing = a.publish('wake', { endpointIds: ['e1'] });
    expect(seen).toEqual([]);
    await publishing;
    await tick();
    expect(seen.sort()).toEqual(['a:e1', 'b:e1']);
    await b.publish('wake', { endpointIds: ['e2'] });
    await tick();
    expect(seen.filter((s) => s.endsWith('e2')).sort()).toEqual(['a:e2', 'b:e2']);
    await a.onModuleDestroy();
    await b.onModuleDestroy();
  });

  it('still delivers locally when the broker refuses the publish (the caller learns of the failure)', async () => {
    const broker = new MemoryBroker();
    const a = new EventsService(broker);
    await a.onModuleInit();
    const seen: string[][] = [];
    a.on('cancel', ({ taskIds }) => seen.push(taskIds));
    await broker.close();
    await expect(a.publish('cancel', { endpointId: 'e', taskIds: ['t'] })).rejects.toThrow();
    await tick();
    expect(seen).toEqual([['t']]);
  });
  it("says overflow for a user whose burst of task changes passes their share of a window, and keeps every other user's changes", async () => {
    const broker = new MemoryBroker();
    const a = new EventsService(broker);
    await a.onModuleInit();
    const windows: Array<ClusterEvents['console-changes']> = [];
    a.on('console-changes', (c) => windows.push(c));
    const tasks = (owner: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${owner}-${i}`, owner_id: owner }));
    a.noteTaskStates('running', 'ep-1', tasks('carol', 3));
    for (let i = 0; i < 5; i++)
      a.noteTaskStates(
        'waiting-for-endpoint',
        'ep-2',
        tasks(`mallory`, 10_000).map((t) => ({ ...t, id: `${t.id}-${i}` })),
      );
    a.noteTaskStates('running', 'ep-1', tasks('dave', 2));
    await new Promise((r) => setTimeout(r, CONSOLE_COALESCE_MS + 100));
    expect(windows).toHaveLength(1);
    const [w] = windows;
    expect(w!.overflow).toBe(false);
    expect(w!.overflowOwners).toEqual(['mallory']);
    expect(w!.tasks.map((g) => [g.ownerId, g.ids.length])).toEqual([
      ['carol', 3],
      ['dave', 2],
    ]);
    await a.onModuleDestroy();
  });
});
