import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, countingProxy, eventually, type CountingProxy } from '@fx/testing';

/**
 * The headline test (issue 15): a 1 GiB object put from a stream, given to a js task as a
 * Buffer, a 1 GiB Buffer returned and stored as the task's result object, and fetched back as a stream,
 * checksums equal at each end; on PostgreSQL + Redis with the server as its own process, whose resident
 * memory stays flat while the gigabytes pass (it streams them to and from disk, never holds them), and an
 * agent that fetches its input once (counted by a proxy between it and the server).
 */
jest.setTimeout(600_000);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SIZE = GiB;
const CHUNK = 4 * MiB;
/** Room the run needs on the temp filesystem: the server's upload and blob, the agent's cache, the result twice. */
const DISK_NEEDED = 8 * GiB;
/** How far the server's RSS may rise above where it was before the put: a small fraction of the object. */
const RSS_RISE_LIMIT = 256 * MiB;

/** Resident memory of a process (VmRSS in /proc/<pid>/status), in bytes; 0 once it is gone. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/** Samples a process's RSS every 200 ms until stopped; `peak()` is the highest seen. */
function rssSampler(pid: number) {
  let peak = 0;
  const timer = setInterval(() => void rssOf(pid).then((rss) => (peak = Math.max(peak, rss))), 200);
  return {
    peak: () => peak,
    stop: async () => {
      clearInterval(timer);
      peak = Math.max(peak, await rssOf(pid));
      return peak;
    },
  };
}

/** Each byte XOR 0xff, a word at a time (chunks are whole words). */
function invert(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length);
  const src = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
  const dst = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  for (let i = 0; i < src.length; i++) dst[i] = ~src[i]!;
  return out;
}

/**
 * SIZE bytes made as they are read, never held: a random seed with each chunk's index in its first word
 * (so no two chunks are alike). The sha256 of the bytes and of their inverse are known once read.
 */
function generated() {
  const seed = randomBytes(CHUNK);
  const input = createHash('sha256');
  const inverted = createHash('sha256');
  const out = {
    sha256: '',
    invertedSha256: '',
    async *[Symbol.asyncIterator]() {
      for (let sent = 0, i = 0; sent < SIZE; i++, sent += CHUNK) {
        const chunk = Buffer.from(seed);
        chunk.writeUInt32BE(i, 0);
        input.update(chunk);
        inverted.update(invert(chunk));
        yield chunk;
      }
      out.sha256 = input.digest('hex');
      out.invertedSha256 = inverted.digest('hex');
    },
  };
  return out;
}

const mibPerS = (bytes: number, ms: number) => Math.round(bytes / MiB / (ms / 1000));

let server: ServerProcess;
let endpoint: EndpointProcess;
let proxy: CountingProxy;
let alice: Client;
const logs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${endpoint?.log()}`;

beforeAll(async () => {
  const disk = await statfs(tmpdir());
  const free = disk.bavail * disk.bsize;
  if (free < DISK_NEEDED) {
    throw new Error(`the 1 GiB objects test needs ${DISK_NEEDED / GiB} GiB free under ${tmpdir()}; it has ${(free / GiB).toFixed(1)} GiB`);
  }
  server = await ServerProcess.start('postgres+redis', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'alice' });
  const token = (await admin.createToken(user.id)).token;
  admin.close();
  alice = new Client({ url: server.url, token });
  proxy = await countingProxy(new URL(server.url));
  endpoint = await EndpointProcess.configure(server, 'big', { workers: 1, token });
  // Through the proxy (to count what the agent fetches), and with room for a task holding its 1 GiB
  // input and its 1 GiB result at once (the default memory limit is 2 GiB).
  await endpoint.mergeConfig({ url: proxy.url, taskLimits: { memoryMB: { default: 4096, max: 4096 } } });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${logs()}`);
  });
});

afterAll(async () => {
  alice?.close();
  await endpoint?.stop();
  await proxy?.close();
  await server?.stop();
});

it('puts 1 GiB, runs a task on it that returns 1 GiB, gets the result back; checksums equal, server RSS flat, input fetched once', async () => {
  const serverPid = server.pid!;
  const agentPid = endpoint.pid!;
  const rssBefore = await rssOf(serverPid);
  expect(rssBefore).toBeGreaterThan(0);
  const serverRss = rssSampler(serverPid);
  const agentRss = rssSampler(agentPid);
  const started = Date.now();

  // put: a stream the test never holds whole, hashed as it is made
  const source = generated();
  const ref = await alice.put(source, { name: 'big/input.bin' });
  const putMs = Date.now() - started;
  expect(ref).toEqual({ $fx: 'object', id: expect.any(String), sha256: source.sha256, size: SIZE, encoding: 'bytes' });

  // the task: the input arrives as a Buffer, each byte inverted into a new 1 GiB Buffer
  const fn = await alice.registerFunction(
    (input: Buffer) => {
      const out = Buffer.allocUnsafe(input.length);
      for (let i = 0; i < input.length; i++) out[i] = input[i]! ^ 0xff;
      return out;
    },
    { name: 'invert' },
  );
  const fetchedBefore = proxy.down();
  const taskStarted = Date.now();
  const taskId = await alice.run(fn, endpoint.endpointId, [ref]);
  const resultRef = await alice.getResultRef(taskId, { timeoutMs: 300_000 }).catch((e: Error) => Promise.reject(new Error(`${e.message}\n${logs()}`)));
  const taskMs = Date.now() - taskStarted;
  const fetched = proxy.down() - fetchedBefore;
  expect(resultRef).toEqual({ $fx: 'object', id: expect.any(String), sha256: source.invertedSha256, size: SIZE, encoding: 'bytes' });

  // get: streamed, hashed as it comes
  const getStarted = Date.now();
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of alice.getStream(resultRef!)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const getMs = Date.now() - getStarted;
  const serverPeak = await serverRss.stop();
  const agentPeak = await agentRss.stop();
  expect({ bytes, sha256: hash.digest('hex') }).toEqual({ bytes: SIZE, sha256: source.invertedSha256 });

  console.log(
    [
      `objects 1 GiB: put ${mibPerS(SIZE, putMs)} MiB/s (${(putMs / 1000).toFixed(1)} s), task ${(taskMs / 1000).toFixed(1)} s, ` +
        `get ${mibPerS(SIZE, getMs)} MiB/s (${(getMs / 1000).toFixed(1)} s), all ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `server RSS ${Math.round(rssBefore / MiB)} MiB before, ${Math.round(serverPeak / MiB)} MiB at its peak; agent RSS peak ${Math.round(agentPeak / MiB)} MiB`,
      `agent fetched ${fetched} bytes from the server for a ${SIZE}-byte input`,
    ].join('\n'),
  );
  // the server streamed both gigabytes to and from disk: its memory never held an object
  expect(serverPeak - rssBefore).toBeLessThan(RSS_RISE_LIMIT);
  // the input crossed once (plus the task's frames), into the agent's content-addressed cache
  expect(fetched).toBeGreaterThanOrEqual(SIZE);
  expect(fetched).toBeLessThan(SIZE + 4 * MiB);
  // one entry of the input's size in the cache (named for the task's owner and the content: its partition)
  const cacheDir = join(endpoint.dir, 'objects', 'cache');
  const sizes = await Promise.all((await readdir(cacheDir)).map(async (name) => (await stat(join(cacheDir, name))).size));
  expect(sizes.filter((size) => size === SIZE)).toHaveLength(1);
});
