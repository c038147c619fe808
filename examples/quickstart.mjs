// Registers a function, runs it on an endpoint, prints the result; then a batch and a shell function.
//   FX_URL=http://127.0.0.1:8080 FX_TOKEN=… FX_ENDPOINT=… node examples/quickstart.mjs
import { Client } from '@fx/sdk';

const { FX_URL, FX_TOKEN, FX_ENDPOINT } = process.env;
if (!FX_URL || !FX_TOKEN || !FX_ENDPOINT) {
  console.error('set FX_URL, FX_TOKEN and FX_ENDPOINT (npm start prints all three)');
  process.exit(2);
}
const client = new Client({ url: FX_URL, token: FX_TOKEN });
try {
  const add = await client.registerFunction((a, b) => a + b, { name: 'add' });
  const taskId = await client.run(add, FX_ENDPOINT, [1, 2]);
  console.log('add(1, 2) =', await client.getResult(taskId, { timeoutMs: 30_000 }));

  const ids = await client.runBatch(
    FX_ENDPOINT,
    Array.from({ length: 100 }, (_, i) => ({ functionId: add, args: [i, i] })),
  );
  const sums = await client.getResults(ids, { timeoutMs: 60_000 });
  console.log('a batch of 100: first', sums.slice(0, 5), 'last', sums.at(-1));

  const echo = await client.registerShellFunction('echo hello {name}', { name: 'hello', walltimeSeconds: 10 });
  const shell = await client.getResult(await client.run(echo, FX_ENDPOINT, [], { name: 'FX' }), { timeoutMs: 30_000 });
  console.log('shell:', shell.stdout.trim(), `(returncode ${shell.returncode})`);
} finally {
  client.close();
}
