// Stragglers (README, "Stragglers: speculative execution"): a batch of an idempotent function asks for
// copies of tasks that run far longer than their siblings. Run like the quickstart:
// FX_URL=… FX_TOKEN=… FX_ENDPOINT=… node examples/speculation.mjs
import { Client } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const endpoint = process.env.FX_ENDPOINT;

// Item 0 is a straggler when it starts within half a second of the submission (its first attempt);
// its copy starts later (after 5 siblings succeeded and it ran 3 × their median), and is quick.
const work = await client.registerFunction(
  async (i, submittedAt) => {
    const straggles = i === 0 && Date.now() - submittedAt < 500;
    await new Promise((r) => setTimeout(r, straggles ? 30_000 : 300));
    return i * i;
  },
  { name: 'squares-with-a-straggler', idempotent: true },
);

const submittedAt = Date.now();
const ids = await client.runBatch(
  endpoint,
  Array.from({ length: 12 }, (_, i) => ({ functionId: work, args: [i, submittedAt] })),
  { speculation: { afterFactor: 3, minSamples: 5 } },
);
console.log(JSON.stringify(await client.getResults(ids, { timeoutMs: 60_000 }))); // [0,1,4,…,121], well before 30 s

// The straggler's record: its first attempt was superseded by a speculative copy, which won.
const { attempts } = await client.getTask(ids[0]);
console.log(attempts.map((a) => `${a.number}${a.speculative ? ' (copy)' : ''}: ${a.status}`)); // [ '1: superseded', '1 (copy): success' ]
client.close();
