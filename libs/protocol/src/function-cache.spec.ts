import { FunctionSpecCache } from './function-cache.js';

const spec = (n: number, size: number) => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  runtime: 'js' as const,
  source: 'x'.repeat(size),
  contentHash: `h${n}`,
});

describe('FunctionSpecCache', () => {
  it('evicts the least recently used past either limit', () => {
    const c = new FunctionSpecCache({ maxEntries: 2, maxSourceChars: 100 });
    c.use(spec(1, 10));
    c.use(spec(2, 10));
    c.use(spec(1, 10));
    c.use(spec(3, 10));
    expect([c.has(spec(1, 0).id), c.has(spec(2, 0).id), c.has(spec(3, 0).id)]).toEqual([true, false, true]);
    c.use(spec(4, 95));
    expect(c.size).toBe(1);
    c.use(spec(5, 200)); // larger than the whole budget: kept by nobody
    expect(c.size).toBe(0);
  });

  it('a larger or older-stuffed cache fed the same uses always holds what a fresh one holds', () => {
    const limits = { maxEntries: 5, maxSourceChars: 60 };
    const server = new FunctionSpecCache(limits);
    const agent = new FunctionSpecCache(limits);
    for (let i = 100; i < 104; i++) agent.use(spec(i, 7)); // left over from an earlier connection
    let seed = 7;
    const rnd = () => (seed = (seed * 48271) % 2147483647);
    for (let step = 0; step < 5_000; step++) {
      const n = rnd() % 12;
      const s = spec(n, (n * 7) % 31);
      server.use(s);
      agent.use(s);
      for (let k = 0; k < 12; k++) if (server.has(spec(k, 0).id)) expect(agent.has(spec(k, 0).id)).toBe(true);
    }
  });
});
