import { z } from 'zod';
import { pageQuery, pageResponse, TaskStatus, Uuid } from './common.js';
import { TaskSummary, csv } from './console.js';
import { Speculation } from './speculation.js';

/**
 * Task groups: every batch is one (its `batchId` is the group id), and so is every map and every graph
 * submitted as a batch. A group belongs to the user who made it; another user's group id is a 404.
 * A client that restarts re-attaches to a group by listing its tasks and awaiting their outcomes.
 */

/** What made the group: a batch request (or runBatch of several requests), or a map. */
export const GroupKind = z.enum(['batch', 'map']);
export type GroupKind = z.infer<typeof GroupKind>;

/** `POST /v1/groups`: an empty group, to which batches then add tasks with `groupId`. */
export const CreateGroupRequest = z.object({ kind: GroupKind.default('batch'), speculation: Speculation.optional() }).strict();
export type CreateGroupRequest = z.input<typeof CreateGroupRequest>;

export const GroupInfo = z.object({
  id: Uuid,
  ownerId: Uuid,
  kind: GroupKind,
  createdAt: z.string(),
  /** Copies of stragglers, when the group asked for them; null: none. */
  speculation: Speculation.nullable().default(null),
  /** Its tasks per state, and how many it holds. */
  counts: z.object({ byStatus: z.partialRecord(TaskStatus, z.number().int()), total: z.number().int() }),
});
export type GroupInfo = z.infer<typeof GroupInfo>;

/** `GET /v1/groups/:id/tasks`: oldest first (tasks added later come at the end), keyset-paged. */
export const GroupTasksQuery = z
  .object({
    /** One state or several, comma-separated. */
    status: csv(TaskStatus).optional(),
    ...pageQuery(1000),
  })
  .strict();
export type GroupTasksQuery = z.input<typeof GroupTasksQuery>;

/** A null `nextCursor` means this page reached the end: more tasks may be added to the group later. */
export const GroupTasksResponse = z.object(pageResponse(TaskSummary));
export type GroupTasksResponse = z.infer<typeof GroupTasksResponse>;

/** `POST /v1/groups/:id/cancel`: how many of its unfinished tasks this call cancelled (their dependents go with them). */
export const CancelGroupResponse = z.object({ groupId: Uuid, cancelled: z.number().int() });
export type CancelGroupResponse = z.infer<typeof CancelGroupResponse>;
