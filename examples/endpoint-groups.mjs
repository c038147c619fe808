// Endpoint groups (docs/endpoint-groups.md): several endpoints under one name; a task sent to the group
// goes to an online member with free capacity, and a member's waiting tasks move to the others when it
// goes offline. Run like the quickstart, naming your endpoints (comma-separated):
// FX_URL=… FX_TOKEN=… FX_ENDPOINTS=laptop,cluster node examples/endpoint-groups.mjs
import { Client } from '@fx/sdk';

const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
const members = (process.env.FX_ENDPOINTS ?? process.env.FX_ENDPOINT).split(',');

const group = await client.endpointGroups.create('example-pool', members);
console.log(group.members.map((m) => m.state)); // [ 'active', … ]: your own endpoints join at once

// The group's name (or id) goes wherever an endpoint's does: run, runBatch, map, executor.
const square = await client.registerFunction((x) => x * x, { name: 'example-square' });
const ids = await client.runBatch(
  'example-pool',
  [1, 2, 3, 4].map((x) => ({ functionId: square, args: [x] })),
);
console.log(await Promise.all(ids.map((id) => client.getResult(id)))); // [ 1, 4, 9, 16 ]
const task = await client.getTask(ids[0]);
console.log(task.endpointGroupId === group.id, members.length === 1 ? task.endpointId === group.members[0].endpointId : true); // true true

await client.endpointGroups.delete('example-pool');
client.close();
