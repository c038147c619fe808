// Memoized results (issue 14) under a 10,000-task batch: what a batch whose tasks are mostly cached
// costs against one whose tasks all run, and what the cache flag costs a batch that misses every time.
// Each phase submits one batch through runBatch and waits for every result over the result socket;
// `submitMs` is until the ids come back (the server's insert, lookup included), `totalMs` until the last
// result. Arguments carry a fresh prefix per phase, so no phase meets another's entries by accident.
import { randomUUID } from 'node:crypto';
import { withFx } from './systems.mjs';
import { fmt, medians, now, textTable } from './stats.mjs';

async function timedBatch(sys, fn, args, options = {}) {
  const items = args.map((a) => ({ functionId: fn, args: a }));
  const t0 = now();
  const ids = await sys.client.runBatch(sys.endpoint.endpointId, items, options);
  const submitMs = now() - t0;
  let seen = 0;
  for await (const _ of sys.client.results(ids, { timeoutMs: 600_000 })) seen++;
  if (seen !== ids.length) throw new Error(`saw ${seen} of ${ids.length} results`);
  return { submitMs, totalMs: now() - t0, ids };
}

/** One repetition on `backend` with batches of `n` (hits: 90 % of the mixed batch). */
export async function memoLoad(backend, n) {
  return withFx(backend, async (sys) => {
    const plain = sys.fn;
    const memo = await sys.client.registerFunction((...xs) => xs.length, { name: 'memo', cache: { ttlSeconds: 3600 } });
    const args = (prefix, count) => Array.from({ length: count }, (_, i) => [prefix, i]);
    const hits = Math.round(n * 0.9);
    const out = {};
    const record = (name, r) => Object.assign(out, { [`${name}SubmitMs`]: r.submitMs, [`${name}TotalMs`]: r.totalMs });
    // uncached, without and with the flag (every task misses, then stores its entry)
    record('plain', await timedBatch(sys, plain, args(randomUUID(), n)));
    const primed = randomUUID();
    record('flagMiss', await timedBatch(sys, memo, args(primed, n)));
    // 90 % of the batch is stored already, 10 % new; against a batch of only the new 10 %, uncached
    const mixed = [...args(primed, hits), ...args(randomUUID(), n - hits)];
    const m = await timedBatch(sys, memo, mixed);
    record('mixed', m);
    const cached = (await Promise.all(m.ids.slice(0, 50).map((id) => sys.client.getTask(id)))).filter((t) => t.cached).length;
    if (cached !== 50) throw new Error(`only ${cached} of the first 50 tasks of the mixed batch were cached`);
    record('small', await timedBatch(sys, plain, args(randomUUID(), n - hits)));
    return out;
  });
}

/** Medians per backend, as table lines. */
export function memoTable(runs, n) {
  const { systems: backends, med } = medians(runs);
  if (!backends.length) return [];
  const hits = Math.round(n * 0.9);
  const metrics = [
    [`${fmt(n)} uncached (no cache flag)`, 'plain'],
    [`${fmt(n)} with the cache flag, all misses`, 'flagMiss'],
    [`${fmt(hits)} cached + ${fmt(n - hits)} new`, 'mixed'],
    [`${fmt(n - hits)} uncached`, 'small'],
  ];
  const rows = metrics.flatMap(([label, k]) => [
    [`${label}: submit [ms]`, ...backends.map((s) => fmt(med(s, `${k}SubmitMs`)))],
    [`${label}: submit + results [ms]`, ...backends.map((s) => fmt(med(s, `${k}TotalMs`)))],
  ]);
  return textTable(['', ...backends], rows);
}
