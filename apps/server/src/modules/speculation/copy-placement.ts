import type { Straggler } from './copies.repository.js';

/**
 * Where a straggler's copy runs. Today: on the task's own endpoint, where the agent runs it on another
 * worker than the original (a worker runs one task at a time, and the original holds its worker).
 * This is the one place that changes when tasks can run on an endpoint group: there the copy belongs on
 * another member endpoint of the task's group, when one is online.
 */
export function copyEndpoint(task: Straggler): string {
  return task.endpoint_id;
}
