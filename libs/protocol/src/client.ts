import { z } from 'zod';
import { DEFAULT_LIMITS, ErrorBody, TaskStatus, Uuid, type Payloads } from './common.js';
import { SubmitBatchRequest, SubmitBatchResponse, SubmitTaskRequest, SubmitTaskResponse, TaskOutcome } from './rest.js';
import { LogsFrame, ProgressFrame, UnwatchPayload, WatchEndedPayload, WatchPayload, WatchingPayload } from './live.js';

/** Client channel: `/v1/ws/client`, authenticated with a user token. */

export const SubscribePayload = z.object({ taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest) });
export type SubscribePayload = z.infer<typeof SubscribePayload>;

export const UnsubscribePayload = SubscribePayload;
export type UnsubscribePayload = z.infer<typeof UnsubscribePayload>;

export const ResultPayload = z.object({ results: z.array(TaskOutcome).min(1) });
export type ResultPayload = z.infer<typeof ResultPayload>;

export const SubscribedPayload = z.object({
  /** Ids the caller may not see (unknown or not theirs); they will never produce a result frame. */
  notFound: z.array(Uuid).default([]),
});
export type SubscribedPayload = z.infer<typeof SubscribedPayload>;

/**
 * Most bytes of one client frame the server reads (its websocket closes with 1009 past that). A
 * submission larger than this (or than the server's FX_MAX_REQUEST_BYTES) goes over REST.
 */
export const CLIENT_FRAME_MAX_BYTES = 1024 * 1024;

/**
 * `submit`: the body of POST /v1/tasks (`task`) or POST /v1/tasks/batch (`batch`) over the client
 * socket, answered under the frame's id by `submitted`, or by `error` with the code REST would answer.
 * The envelope only says which: the server validates the body with the REST route's own schema and
 * pipe, so a body is refused with the same VALIDATION_FAILED sentence on either path. `watch` also
 * subscribes the new ids on this socket before the answer goes out (one round trip, not two).
 * `takesCached`: the client takes a batch's cache hits from the answer's `cachedResults`, so `watch`
 * leaves them out; without it they are relayed as result frames too, as to a client that predates them.
 */
export const SubmitPayload = z
  .object({ task: z.unknown().optional(), batch: z.unknown().optional(), watch: z.boolean().optional(), takesCached: z.boolean().optional() })
  .strict()
  .refine((p) => (p.task === undefined) !== (p.batch === undefined), { message: 'a submit frame carries exactly one of "task" and "batch"' });
export type SubmitPayload = z.infer<typeof SubmitPayload>;

/** A submit frame as the SDK builds it: the REST bodies themselves. */
export const SubmitFrame = z.union([
  z.object({ task: SubmitTaskRequest, watch: z.boolean().optional() }).strict(),
  z.object({ batch: SubmitBatchRequest, watch: z.boolean().optional(), takesCached: z.boolean().optional() }).strict(),
]);
export type SubmitFrame = z.input<typeof SubmitFrame>;

/** The answer to `submit`: what the REST route answers (SubmitTaskResponse or SubmitBatchResponse). */
export const SubmittedPayload = z.union([z.object({ task: SubmitTaskResponse }).strict(), z.object({ batch: SubmitBatchResponse }).strict()]);
export type SubmittedPayload = z.infer<typeof SubmittedPayload>;

export const ClientToServerSchemas = {
  subscribe: SubscribePayload,
  unsubscribe: UnsubscribePayload,
  /** Live progress and logs of running tasks (live.ts). */
  watch: WatchPayload,
  unwatch: UnwatchPayload,
  submit: SubmitPayload,
} as const;
export type ClientToServer = Payloads<typeof ClientToServerSchemas>;

export const ServerToClientSchemas = {
  subscribed: SubscribedPayload,
  submitted: SubmittedPayload,
  result: ResultPayload,
  watching: WatchingPayload,
  progress: ProgressFrame,
  logs: LogsFrame,
  'watch-ended': WatchEndedPayload,
  error: ErrorBody,
} as const;
export type ServerToClient = Payloads<typeof ServerToClientSchemas>;

export { TaskStatus };
