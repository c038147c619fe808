// Live streams (docs/live.md): a task's progress and what it prints, while it runs. Run like the
// quickstart: FX_URL=… FX_TOKEN=… FX_ENDPOINT=… node examples/progress.mjs
/* global ctx -- the task's context, a global of the worker that runs the function */
import { Client } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const endpoint = process.env.FX_ENDPOINT;

// `ctx.emit(value)` reports progress (cheap: a burst of emits sends only the latest now and then);
// what the function prints streams as its logs.
const work = await client.registerFunction(
  async (n) => {
    for (let i = 1; i <= n; i++) {
      ctx.emit({ done: i, of: n });
      if (i % 100 === 0) console.log(`batch ${i / 100} done`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return n;
  },
  { name: 'progress-demo' },
);
const task = await client.submit(work, endpoint, [300]);

// Values arrive in order (seq only increases; `coalesced` counts those a faster emitter skipped), and the
// iteration ends when the task is final: the last value is the last emitted.
let last;
for await (const event of task.progress()) {
  last = event;
  process.stderr.write(`\r${event.value.done}/${event.value.of}`);
}
process.stderr.write('\n');
console.log(last.value); // { done: 300, of: 300 }
console.log(await task.result()); // 300

// What it printed: stored now (or `{ follow: true }` while it runs).
for await (const chunk of task.logs()) process.stdout.write(`${chunk.stream}: ${chunk.text}`);
client.close();
