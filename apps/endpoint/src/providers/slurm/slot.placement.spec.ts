import type { TaskResources } from '@fx/protocol';
import { busySlots, hasFreeSlot, placeTasks, type PlacementBlock } from './slot.placement.js';

interface TestSlot {
  id: string;
  cores: number;
  devices: string[];
  running?: string;
}

const NOW = 1_000_000;
const WALLTIME = 3600;
const slot = (id: string, extra: Partial<TestSlot> = {}): TestSlot => ({ id, cores: 1, devices: [], ...extra });
const block = (slots: TestSlot[], startedAt?: number): PlacementBlock<TestSlot> => ({ ...(startedAt !== undefined ? { startedAt } : {}), nodes: [{ slots }] });
const task = (name: string, resources?: TaskResources) => ({ name, task: { ...(resources ? { resources } : {}) } });
const place = (queue: ReturnType<typeof task>[], blocks: PlacementBlock<TestSlot>[], now = NOW) =>
  placeTasks({ now, blockWalltimeSeconds: WALLTIME, queue, blocks }).map((p) => `${p.index}:${p.task.name}->${p.slot.id}`);

describe('placeTasks', () => {
  it('places tasks in queue order on free slots, and stops when the slots run out', () => {
    expect(place([task('a'), task('b'), task('c')], [block([slot('s1'), slot('s2')])])).toEqual(['0:a->s1', '1:b->s2']);
  });

  it('skips busy slots and places nothing without a free one', () => {
    expect(place([task('a')], [block([slot('s1', { running: 'x' }), slot('s2')])])).toEqual(['0:a->s2']);
    expect(place([task('a')], [block([slot('s1', { running: 'x' })])])).toEqual([]);
    expect(place([task('a')], [])).toEqual([]);
  });

  it('fills the busiest block first, so idle blocks stay idle and can be scaled in', () => {
    const idle = block([slot('idle1'), slot('idle2')]);
    const busy = block([slot('busy1', { running: 'x' }), slot('busy2')]);
    expect(place([task('a'), task('b')], [idle, busy])).toEqual(['0:a->busy2', '1:b->idle1']);
  });

  it('keeps the given order of blocks equally busy, and of nodes and slots within a block', () => {
    const first: PlacementBlock<TestSlot> = { nodes: [{ slots: [slot('n1w0')] }, { slots: [slot('n2w0')] }] };
    expect(place([task('a'), task('b'), task('c')], [first, block([slot('other')])])).toEqual(['0:a->n1w0', '1:b->n2w0', '2:c->other']);
  });

  it('puts a task only where its cores and GPUs fit; one that fits nowhere does not hold back the next', () => {
    const blocks = [block([slot('small'), slot('big', { cores: 8 }), slot('gpu', { devices: ['0'] })])];
    expect(place([task('wide', { cores: 4 }), task('gpu', { gpus: 1 }), task('huge', { cores: 64 }), task('plain')], blocks)).toEqual([
      '0:wide->big',
      '1:gpu->gpu',
      '3:plain->small',
    ]);
  });

  it('puts a task with a walltime only in a block with that much time left', () => {
    const old = block([slot('old')], NOW - (WALLTIME - 60) * 1000);
    const young = block([slot('young')], NOW - 60 * 1000);
    expect(place([task('long', { walltimeSeconds: 600 })], [old, young])).toEqual(['0:long->young']);
    expect(place([task('short', { walltimeSeconds: 60 })], [old])).toEqual(['0:short->old']);
    expect(place([task('long', { walltimeSeconds: 600 })], [old])).toEqual([]);
    // A block whose start is not known yet counts as starting now.
    expect(place([task('long', { walltimeSeconds: WALLTIME })], [block([slot('new')])])).toEqual(['0:long->new']);
  });

  it('changes nothing it is given', () => {
    const blocks = [block([slot('s1')]), block([slot('s2', { running: 'x' })])];
    const queue = [task('a'), task('b')];
    const before = JSON.stringify({ blocks, queue });
    place(queue, blocks);
    expect(JSON.stringify({ blocks, queue })).toBe(before);
  });
});

describe('hasFreeSlot and busySlots', () => {
  it('count over every node of a block', () => {
    const b: PlacementBlock<TestSlot> = { nodes: [{ slots: [slot('a', { running: 'x' })] }, { slots: [slot('b', { running: 'y' }), slot('c')] }] };
    expect(busySlots(b)).toBe(2);
    expect(hasFreeSlot([b])).toBe(true);
    expect(hasFreeSlot([block([slot('d', { running: 'z' })])])).toBe(false);
  });
});
