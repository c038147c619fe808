// Triggers (docs/objects.md, "Triggers"): a file landing under an input prefix runs a function whose
// result lands under an output prefix, once per file. Run like the quickstart:
// FX_URL=… FX_TOKEN=… FX_ENDPOINT=… node examples/triggers.mjs
import { Client } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const endpoint = process.env.FX_ENDPOINT;

// The function gets the object's content (a Buffer for bytes); what it returns becomes the output object.
const stats = await client.registerFunction(
  (data) => {
    const text = data.toString('utf8');
    return { lines: text.split('\n').filter(Boolean).length, bytes: data.length };
  },
  { name: 'file-stats' },
);
const trigger = await client.createTrigger({ prefix: 'demo/input/', function: stats, endpoint, outputPrefix: 'demo/output/' });

// Every object put with a name under the prefix fires it once (durably: also while the endpoint is offline).
await client.put(Buffer.from('one\ntwo\n'), { name: 'demo/input/a.txt' });
await client.put(Buffer.from('three\n'), { name: 'demo/input/run-2/b.txt' });
await client.put(Buffer.from('not under the prefix'), { name: 'demo/notes.txt' });

// The results land as objects named output prefix + the rest of the input's name.
const outputs = async () => (await client.objects.list({ prefix: 'demo/output/' })).items.map((o) => o.name).sort();
const deadline = Date.now() + 60_000;
while ((await outputs()).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
console.log(await outputs()); // [ 'demo/output/a.txt', 'demo/output/run-2/b.txt' ]
console.log(await client.get('demo/output/run-2/b.txt')); // { lines: 1, bytes: 6 }
console.log((await client.triggers.get(trigger.id)).fired); // 2

// Deleted, it fires no more (the tasks it started run on).
await client.triggers.delete(trigger.id);
for (const o of (await client.objects.list({ prefix: 'demo/' })).items) await client.objects.delete(o.id);
client.close();
