// Data by reference (README, "Objects"): put data once, pass its reference to tasks, get results of any
// size back. Run like the quickstart: FX_URL=… FX_TOKEN=… FX_ENDPOINT=… node examples/objects.mjs
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Client } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const endpoint = process.env.FX_ENDPOINT;

// Bytes (a Buffer, a file's ReadStream, any stream) are stored as they are, streamed in parts and hashed
// on the way; any other value is stored as its JSON.
const lines = Readable.from(Array.from({ length: 100_000 }, (_, i) => `read-${i}\tACGTACGTAC\n`));
const reads = await client.put(lines, { name: 'examples/reads.tsv' });
const params = await client.put({ prefix: 'read-9' });
console.log(reads.size, reads.encoding); // 2188890 bytes

// An ObjectRef among the args is the object's content on the endpoint: a Buffer, or the JSON value.
const count = await client.registerFunction(
  (data, p) =>
    data
      .toString('utf8')
      .split('\n')
      .filter((l) => l.startsWith(p.prefix)).length,
  { name: 'count-reads' },
);
console.log(await client.getResult(await client.run(count, endpoint, [reads, params]), { timeoutMs: 60_000 })); // 11111

// A result returned as bytes (or larger than the inline limit) comes back as an object: getResult
// fetches it, resultRef() gives its reference (to pass on to the next task without downloading it).
const upper = await client.registerFunction((data) => Buffer.from(data.toString('utf8').toUpperCase()), { name: 'upper' });
const task = await client.submit(upper, endpoint, [reads]);
const result = await task.result({ timeoutMs: 60_000 });
console.log(result.length, (await task.resultRef())?.encoding); // 2188890 bytes

// Streamed back by name, checked against its sha256 on the way.
const sha = createHash('sha256');
for await (const chunk of client.getStream('examples/reads.tsv')) sha.update(chunk);
console.log(sha.digest('hex') === reads.sha256); // true

console.log((await client.objects.list({ prefix: 'examples/' })).items.map((o) => o.name)); // [ 'examples/reads.tsv' ]
await client.objects.delete('examples/reads.tsv');
client.close();
