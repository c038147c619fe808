import { z } from 'zod';
import { DEFAULT_LIMITS, ErrorBody, finalTaskFields, TaskStatus, Uuid, type Payloads } from './common.js';
import { ObjectRef } from './objects.js';
import { LogsFrame, ProgressFrame, UnwatchPayload, WatchEndedPayload, WatchPayload, WatchingPayload } from './live.js';

/** Client channel: `/v1/ws/client`, authenticated with a user token. */

export const SubscribePayload = z.object({ taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest) });
export type SubscribePayload = z.infer<typeof SubscribePayload>;

export const UnsubscribePayload = SubscribePayload;
export type UnsubscribePayload = z.infer<typeof UnsubscribePayload>;

/** The final outcome of a task as a client sees it. */
export const TaskOutcome = z.object({
  taskId: Uuid,
  status: z.enum(['success', 'failed', 'cancelled']),
  result: z.unknown().optional(),
  /** The result is this object (large, bytes, or a trigger's output): `result` is absent; fetch its content. */
  resultRef: ObjectRef.optional(),
  ...finalTaskFields,
});
export type TaskOutcome = z.infer<typeof TaskOutcome>;

export const ResultPayload = z.object({ results: z.array(TaskOutcome).min(1) });
export type ResultPayload = z.infer<typeof ResultPayload>;

export const SubscribedPayload = z.object({
  /** Ids the caller may not see (unknown or not theirs); they will never produce a result frame. */
  notFound: z.array(Uuid).default([]),
});
export type SubscribedPayload = z.infer<typeof SubscribedPayload>;

export const ClientToServerSchemas = {
  subscribe: SubscribePayload,
  unsubscribe: UnsubscribePayload,
  /** Live progress and logs of running tasks (live.ts). */
  watch: WatchPayload,
  unwatch: UnwatchPayload,
} as const;
export type ClientToServer = Payloads<typeof ClientToServerSchemas>;

export const ServerToClientSchemas = {
  subscribed: SubscribedPayload,
  result: ResultPayload,
  watching: WatchingPayload,
  progress: ProgressFrame,
  logs: LogsFrame,
  'watch-ended': WatchEndedPayload,
  error: ErrorBody,
} as const;
export type ServerToClient = Payloads<typeof ServerToClientSchemas>;

export { TaskStatus };
