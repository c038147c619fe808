// A dataflow graph in one request (README, "Dataflows"): a map stage, a reduce over its results, and a
// step after it. The server runs each task when its inputs have succeeded; this script could exit right
// after runBatch and the graph would still finish.
import { Client, itemRef } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const endpoint = process.env.FX_ENDPOINT;
const square = await client.registerFunction((x) => x * x, { name: 'square' });
const sum = await client.registerFunction((xs) => xs.reduce((a, b) => a + b, 0), { name: 'sum' });
const half = await client.registerFunction((x) => x / 2, { name: 'half' });

const n = 100;
const ids = await client.runBatch(endpoint, [
  ...Array.from({ length: n }, (_, i) => ({ functionId: square, args: [i] })), // items 0..n-1
  { functionId: sum, args: [Array.from({ length: n }, (_, i) => itemRef(i))] }, // item n: waits for all of them
  { functionId: half, args: [itemRef(n)] }, // item n+1 (may name another endpoint)
]);
console.log(await client.getResult(ids[n + 1], { timeoutMs: 60_000 })); // 164175
const later = await client.run(half, endpoint, [client.ref(ids[n])]); // a later task may refer to any of yours
console.log(await client.getResult(later, { timeoutMs: 60_000 })); // 164175
client.close();
