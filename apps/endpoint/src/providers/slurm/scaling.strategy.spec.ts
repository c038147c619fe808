import { decideScaling, type ScalingBlock, type ScalingConfig } from './scaling.strategy.js';

const config: ScalingConfig = { minBlocks: 0, maxBlocks: 2, maxIdleSeconds: 10, slotsPerBlock: 4 };
const NOW = 1_000_000;
const running = (id: string, busy: number, idleSince?: number): ScalingBlock => ({
  id,
  state: 'running',
  slots: 4,
  busy,
  ...(idleSince !== undefined ? { idleSince } : {}),
});
const pending = (id: string): ScalingBlock => ({ id, state: 'pending', slots: 4, busy: 0, idleSince: NOW });

describe('decideScaling', () => {
  it('does nothing with no blocks and no work at minBlocks 0', () => {
    expect(decideScaling({ now: NOW, queued: 0, blocks: [], config })).toEqual({ submit: 0, cancel: [] });
  });

  it('scales out from zero to what the queue needs, capped at maxBlocks', () => {
    expect(decideScaling({ now: NOW, queued: 1, blocks: [], config })).toEqual({ submit: 1, cancel: [] });
    expect(decideScaling({ now: NOW, queued: 5, blocks: [], config })).toEqual({ submit: 2, cancel: [] });
    expect(decideScaling({ now: NOW, queued: 200, blocks: [], config })).toEqual({ submit: 2, cancel: [] });
  });

  it('counts the capacity of pending blocks, so a poll during a slow start submits nothing more', () => {
    expect(decideScaling({ now: NOW, queued: 4, blocks: [pending('a')], config })).toEqual({ submit: 0, cancel: [] });
    expect(decideScaling({ now: NOW, queued: 8, blocks: [pending('a')], config })).toEqual({ submit: 1, cancel: [] });
    expect(decideScaling({ now: NOW, queued: 8, blocks: [pending('a'), pending('b')], config })).toEqual({ submit: 0, cancel: [] });
  });

  it('counts only free slots of running blocks', () => {
    expect(decideScaling({ now: NOW, queued: 2, blocks: [running('a', 2)], config })).toEqual({ submit: 0, cancel: [] });
    expect(decideScaling({ now: NOW, queued: 2, blocks: [running('a', 4)], config })).toEqual({ submit: 1, cancel: [] });
  });

  it('keeps minBlocks up even with nothing to do', () => {
    expect(decideScaling({ now: NOW, queued: 0, blocks: [], config: { ...config, minBlocks: 1 } })).toEqual({ submit: 1, cancel: [] });
  });

  it('scales in blocks idle past maxIdleSeconds, oldest first, down to minBlocks', () => {
    const blocks = [running('young', 0, NOW - 5_000), running('old', 0, NOW - 30_000), running('older', 0, NOW - 60_000)];
    expect(decideScaling({ now: NOW, queued: 0, blocks, config: { ...config, maxBlocks: 3 } })).toEqual({ submit: 0, cancel: ['older', 'old'] });
    expect(decideScaling({ now: NOW, queued: 0, blocks, config: { ...config, maxBlocks: 3, minBlocks: 2 } })).toEqual({ submit: 0, cancel: ['older'] });
  });

  it('never cancels a busy block or any block while tasks are queued', () => {
    expect(decideScaling({ now: NOW, queued: 0, blocks: [running('a', 1, NOW - 60_000)], config }).cancel).toEqual([]);
    expect(decideScaling({ now: NOW, queued: 1, blocks: [running('a', 4), running('b', 0, NOW - 60_000)], config }).cancel).toEqual([]);
  });

  it('cancels a pending block that nobody needs any more once it has been idle long enough', () => {
    expect(decideScaling({ now: NOW + 11_000, queued: 0, blocks: [pending('a')], config })).toEqual({ submit: 0, cancel: ['a'] });
  });
});
