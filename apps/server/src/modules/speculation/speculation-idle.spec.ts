import { jest } from '@jest/globals';
import { MemoryBroker } from '../../storage/broker.memory.js';
import { EventsService } from '../events/events.service.js';
import type { CopiesRepository } from './copies.repository.js';
import type { CopyPlacement } from './copy-placement.js';
import type { CopyPlacementsRepository } from './copy-placements.repository.js';
import type { LeaseService } from '../leases/lease.service.js';
import { IDLE_LOOK_EVERY, SpeculationService } from './speculation.service.js';

const INTERVAL_MS = 100;

/**
 * The speculation timer on an idle replica (its statements are speculation.spec's, on PostgreSQL): with
 * nothing to do it looks once in IDLE_LOOK_EVERY intervals, and a group asking for speculation, on this
 * replica or another, brings the look back on the next tick. Fake timers, and a repository that only
 * answers whether anything is active.
 */
describe('the speculation sweep on an idle replica', () => {
  let active: boolean;
  let looks: number;
  let broker: MemoryBroker;
  let events: EventsService;
  let other: EventsService;
  let sweep: SpeculationService;

  beforeEach(async () => {
    jest.useFakeTimers();
    active = false;
    looks = 0;
    const copies = {
      anyActive: async () => {
        looks++;
        return active;
      },
      endStale: async () => [],
      speculatingGroups: async () => [],
      settleGroups: async () => undefined,
      endpointsWithQueuedCopies: async () => [],
    } as unknown as CopiesRepository;
    broker = new MemoryBroker();
    events = new EventsService(broker);
    other = new EventsService(broker);
    await events.onModuleInit();
    await other.onModuleInit();
    sweep = new SpeculationService(
      { FX_SPECULATION_INTERVAL_MS: INTERVAL_MS },
      copies,
      events,
      {} as CopyPlacement,
      {} as LeaseService,
      {
        refused: async () => [],
      } as unknown as CopyPlacementsRepository,
    );
    sweep.onApplicationBootstrap();
  });

  afterEach(async () => {
    sweep.onModuleDestroy();
    await events.onModuleDestroy();
    await other.onModuleDestroy();
    jest.useRealTimers();
  });

  it(`looks once in ${IDLE_LOOK_EVERY} intervals while nothing is active`, async () => {
    await jest.advanceTimersByTimeAsync(INTERVAL_MS * IDLE_LOOK_EVERY * 4);
    expect(looks).toBe(4);
  });

  it('looks every interval while something is active', async () => {
    active = true;
    await jest.advanceTimersByTimeAsync(INTERVAL_MS * 10);
    expect(looks).toBe(10);
  });

  it('looks on the next tick after a group asks, on this replica or another; explicit sweeps never wait', async () => {
    await jest.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(looks).toBe(1);
    // skipping now: a group asks on another replica
    await other.publish('speculation-asked', { groupId: 'g1' });
    await jest.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(looks).toBe(2);
    await jest.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(looks).toBe(2);
    await events.publish('speculation-asked', { groupId: 'g2' });
    await jest.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(looks).toBe(3);
    await sweep.sweep();
    expect(looks).toBe(4);
  });
});
