// Objects (issue 15): what putting, getting and running on an object costs, against the disk's own
// sequential throughput measured in the same run on the same filesystem (the server's data directory
// lives under the OS temp dir, so the disk figure is taken there too).
// - disk: write `mib` MiB in 4 MiB blocks and fsync, then read it back, cold when the page cache can be
//   dropped (root on Linux), else from the cache (the table says which). The server's get may well be
//   served by the cache too, right after the put: compare it with care;
// - put / get: the SDK streams a `mib` MiB object up (hashing as it goes) and back (verifying);
// - shared input: `tasks` tasks each take the same object as their argument; the agent fetches it once
//   into its cache, so this is the task rate with a shared input, and the bytes the agent fetched.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { withFx } from './systems.mjs';
import { fmt, medians, now, textTable } from './stats.mjs';

const BLOCK = 4 * 1024 * 1024;

function diskThroughput(mib) {
  const dir = mkdtempSync(join(tmpdir(), 'fx-bench-disk-'));
  const file = join(dir, 'seq');
  const block = randomBytes(BLOCK);
  try {
    const t0 = now();
    const fd = openSync(file, 'w');
    for (let i = 0; i < (mib * 1024 * 1024) / BLOCK; i++) writeSync(fd, block);
    fsyncSync(fd);
    closeSync(fd);
    const writeMs = now() - t0;
    // a cold read where the page cache can be dropped (root on Linux); else the cache serves it
    let cold = 0;
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '1');
      cold = 1;
    } catch {
      // not permitted: the read figure is the page cache's
    }
    const t1 = now();
    const rd = openSync(file, 'r');
    const buf = Buffer.allocUnsafe(BLOCK);
    while (readSync(rd, buf, 0, BLOCK, null) > 0);
    closeSync(rd);
    return { diskWriteMiBps: mib / (writeMs / 1000), diskReadMiBps: mib / ((now() - t1) / 1000), diskReadCold: cold };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `mib` MiB of pseudo-random bytes, produced as it is read (never held whole). */
function source(mib, seed) {
  const block = createHash('sha512').update(seed).digest();
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  let left = mib;
  return Readable.from(
    (function* () {
      while (left-- > 0) {
        chunk.writeUInt32LE(left, 0);
        yield Buffer.from(chunk);
      }
    })(),
  );
}

/** One repetition on `backend`. */
export async function objectsLoad(backend, { mib, tasks }) {
  const out = diskThroughput(mib);
  return withFx(backend, async (sys) => {
    const { client } = sys;
    let t0 = now();
    const ref = await client.put(source(mib, `${backend}-${Date.now()}`), { encoding: 'bytes' });
    out.putMiBps = mib / ((now() - t0) / 1000);
    t0 = now();
    let got = 0;
    for await (const chunk of client.getStream(ref)) got += chunk.length;
    out.getMiBps = mib / ((now() - t0) / 1000);
    if (got !== mib * 1024 * 1024) throw new Error(`got ${got} bytes of ${mib * 1024 * 1024}`);
    // a shared input: one small object (1 MiB) read by every task
    const shared = await client.put(randomBytes(1024 * 1024));
    const size = await client.registerFunction((b) => b.length, { name: 'size' });
    t0 = now();
    const ids = await client.runBatch(
      sys.endpoint.endpointId,
      Array.from({ length: tasks }, () => ({ functionId: size, args: [shared] })),
    );
    const results = await client.getResults(ids, { timeoutMs: 600_000 });
    out.sharedInputTasksPerS = tasks / ((now() - t0) / 1000);
    if (results.some((r) => r !== 1024 * 1024)) throw new Error('a task saw another size of its shared input');
    return out;
  });
}

/** Medians per backend, as table lines. */
export function objectsTable(runs, sizes) {
  const { systems: backends, med } = medians(runs);
  if (!backends.length) return [];
  const metrics = [
    [`disk write, ${fmt(sizes.mib)} MiB + fsync`, 'diskWriteMiBps', 'MiB/s'],
    [
      `disk read, ${fmt(sizes.mib)} MiB (${backends.every((s) => med(s, 'diskReadCold') === 1) ? 'cold: page cache dropped' : 'page cache'})`,
      'diskReadMiBps',
      'MiB/s',
    ],
    [`put ${fmt(sizes.mib)} MiB (SDK stream → server → store)`, 'putMiBps', 'MiB/s'],
    [`get ${fmt(sizes.mib)} MiB (store → server → SDK, verified)`, 'getMiBps', 'MiB/s'],
    [`${fmt(sizes.tasks)} tasks sharing a 1 MiB input`, 'sharedInputTasksPerS', 'tasks/s'],
  ];
  const rows = metrics.map(([label, k, unit]) => [label, ...backends.map((s) => `${med(s, k).toFixed(1)} ${unit}`)]);
  const put = (s) => med(s, 'putMiBps') / med(s, 'diskWriteMiBps');
  const get = (s) => med(s, 'getMiBps') / med(s, 'diskReadMiBps');
  rows.push(['put / disk write', ...backends.map((s) => `${(put(s) * 100).toFixed(0)} %`)]);
  rows.push(['get / disk read', ...backends.map((s) => `${(get(s) * 100).toFixed(0)} %`)]);
  return textTable(['', ...backends], rows);
}
