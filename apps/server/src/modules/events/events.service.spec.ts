import { MemoryBroker } from '../../storage/broker.memory.js';
import { EventsService } from './events.service.js';

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
});
