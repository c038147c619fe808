import { z } from 'zod';
import {
  CancelGroupResponse,
  CancelTaskResponse,
  ConsoleEndpoint,
  CreateTokenResponse,
  EndpointInfo,
  EndpointGroupInfo,
  ListEndpointGroupsResponse,
  ListEndpointInvitationsResponse,
  EndpointStatusResponse,
  ClearCacheResponse,
  FunctionInfo,
  GroupInfo,
  GroupTasksResponse,
  ListObjectsResponse,
  ListTriggersResponse,
  TriggerInfo,
  ListResponse,
  ObjectInfo,
  ListTasksResponse,
  OverviewResponse,
  RegisterEndpointResponse,
  SubmitBatchResponse,
  SubmitTaskResponse,
  TaskInfo,
  TaskLogsResponse,
  TaskProgressResponse,
  TaskResultsResponse,
  TaskStatusManyResponse,
  TokenInfo,
  UploadInfo,
  UserInfo,
  WhoAmIResponse,
  type ErrorCode,
} from '@fx/protocol';

/**
 * What /openapi.json says of each operation: a summary, a description, the success body and the
 * error codes it may answer with. One table for every route, so a route without an entry is easy to
 * spot (test/e2e/openapi.e2e.ts fails on it); Nest's decorators still give paths, parameters and bodies.
 */
export interface OperationDoc {
  summary: string;
  description: string;
  /** The success body; null: no body (204). */
  response: z.ZodType | null;
  /** Codes beyond the ones every operation of its kind may answer (see commonErrors). */
  errors?: ErrorCode[];
  /** No token needed. */
  public?: boolean;
  /** Takes a JSON body. */
  body?: boolean;
  /** Has an `{id}` path parameter. */
  id?: boolean;
  /** The success body is raw bytes (`application/octet-stream`), not JSON. */
  binary?: boolean;
}

const Health = z.object({ status: z.literal('ok') });
const Ready = z.object({
  status: z.string(),
  database: z.object({ kind: z.string(), ok: z.boolean() }),
  broker: z.object({ kind: z.string(), ok: z.boolean() }),
});

const SUBMIT_ERRORS: ErrorCode[] = ['NOT_FOUND', 'FUNCTION_NOT_ALLOWED', 'ENDPOINT_LOCKED', 'QUOTA_EXCEEDED'];
/** The bytes of an upload part or a one-shot put. */
const Bytes = z.string().meta({ contentMediaType: 'application/octet-stream' });
const ENDPOINT_TOKENS = ' Endpoint tokens may call it too, for the tasks leased to their endpoint (see docs/objects.md).';

export const OPERATIONS: Record<string, OperationDoc> = {
  'GET /healthz': { summary: 'Liveness', description: 'Answers 200 while the process runs. Needs no token.', response: Health, public: true },
  'GET /readyz': {
    summary: 'Readiness',
    description: 'Answers 200 when the database and the broker both answer, else 503 UNAVAILABLE with the same body in `details`. Needs no token.',
    response: Ready,
    public: true,
    errors: ['UNAVAILABLE'],
  },
  'GET /v1/whoami': { summary: 'The caller', description: "The user behind the bearer token, and the token's id.", response: WhoAmIResponse },
  'POST /v1/users': {
    summary: 'Create a user (admin)',
    description: 'Creates a user; names are unique. Admins only.',
    response: UserInfo,
    body: true,
    errors: ['CONFLICT'],
  },
  'GET /v1/users': { summary: 'List users (admin)', description: 'Every user. Admins only.', response: ListResponse(UserInfo) },
  'POST /v1/users/{id}/tokens': {
    summary: 'Issue a token (admin)',
    description: 'Issues a user token for this user; the token is in the answer only, never shown again. Admins only.',
    response: CreateTokenResponse,
    body: true,
    id: true,
  },
  'GET /v1/users/{id}/tokens': {
    summary: "List a user's tokens (admin)",
    description: 'Token metadata, never the tokens themselves. Admins only.',
    response: ListResponse(TokenInfo),
    id: true,
  },
  'DELETE /v1/tokens/{id}': {
    summary: 'Revoke a token (admin)',
    description: 'The token stops working at once, and every socket opened with it closes. Admins only.',
    response: null,
    id: true,
  },
  'POST /v1/functions': {
    summary: 'Register a function',
    description: 'Registers a js function (the source of one function expression) or a shell/mpi command template. The source is checked before it is stored.',
    response: FunctionInfo,
    body: true,
  },
  'GET /v1/functions': { summary: 'List functions', description: 'Your functions and public ones (admins: all).', response: ListResponse(FunctionInfo) },
  'GET /v1/functions/{id}': {
    summary: 'Get a function',
    description: 'A function you own or that is public (admins: any); others are 404.',
    response: FunctionInfo,
    id: true,
  },
  'PATCH /v1/functions/{id}': {
    summary: 'Make a function public or private',
    description: 'Sets `public`. Owner or admin.',
    response: FunctionInfo,
    body: true,
    id: true,
  },
  'DELETE /v1/functions/{id}': {
    summary: 'Delete a function',
    description: 'It leaves the lists, and new submissions naming it are refused with 404. Owner or admin.',
    response: null,
    id: true,
  },
  'DELETE /v1/functions/{id}/cache': {
    summary: "Clear a function's memoized results",
    description:
      "Drops the stored results of the function's content in the caller's scope, and the shared ones when the caller owns it (public, shareable functions). Results being computed are stored when they arrive. Answers how many were dropped.",
    response: ClearCacheResponse,
    id: true,
  },
  'POST /v1/endpoints': {
    summary: 'Register an endpoint',
    description: "Registers an endpoint and returns its endpoint token (shown once), which speaks only that endpoint's channel.",
    response: RegisterEndpointResponse,
    body: true,
    errors: ['CONFLICT'],
  },
  'GET /v1/endpoints': {
    summary: 'List endpoints',
    description: 'Your endpoints (admins: all), with `state` online/offline.',
    response: ListResponse(EndpointInfo),
  },
  'GET /v1/endpoints/{id}': {
    summary: 'Get an endpoint',
    description: "One endpoint. `status` is the agent's latest report while it is online and null when it is offline; `lastStatus` keeps the last report.",
    response: EndpointInfo,
    id: true,
  },
  'GET /v1/endpoints/{id}/status': {
    summary: "An endpoint's status and queue",
    description: 'State, last report and how many tasks wait for it or are held by it.',
    response: EndpointStatusResponse,
    id: true,
  },
  'DELETE /v1/endpoints/{id}': {
    summary: 'Delete an endpoint',
    description: 'Its tokens stop working, its agent is disconnected and its unfinished tasks fail ENDPOINT_DELETED.',
    response: null,
    id: true,
  },
  'POST /v1/endpoints/{id}/lock': {
    summary: 'Lock an endpoint',
    description: 'New submissions to it are refused with 409 ENDPOINT_LOCKED; queued tasks still run.',
    response: ConsoleEndpoint,
    id: true,
  },
  'POST /v1/endpoints/{id}/unlock': { summary: 'Unlock an endpoint', description: 'It takes new tasks again.', response: ConsoleEndpoint, id: true },
  'POST /v1/tasks': {
    summary: 'Submit a task',
    description:
      'Stores one task for one of your endpoints and answers with its id once it is durable. `warnings` says when the endpoint is offline (the task waits for it).',
    response: SubmitTaskResponse,
    body: true,
    errors: SUBMIT_ERRORS,
  },
  'POST /v1/tasks/batch': {
    summary: 'Submit a batch',
    description:
      'Stores up to FX_MAX_BATCH_TASKS tasks in one request, all or none, and answers with a batch id (the id of its task group) and the task ids in order. With `groupId` the tasks join that group of yours instead. `warnings` names endpoints that are offline.',
    response: SubmitBatchResponse,
    body: true,
    errors: [...SUBMIT_ERRORS, 'BATCH_TOO_LARGE'],
  },
  'POST /v1/tasks/status': {
    summary: 'Status of many tasks',
    description: 'Status and attempt of up to 10,000 of your tasks; ids that are not yours or do not exist come back in `notFound`.',
    response: TaskStatusManyResponse,
    body: true,
  },
  'POST /v1/tasks/results': {
    summary: 'Outcomes of many tasks, with an optional long-poll',
    description:
      'Status of up to 10,000 of your tasks, with the result (success) or error (failed, cancelled) of the final ones; ids that are not yours come back in `notFound`. ' +
      'With `waitMs` (up to 60000) the call answers as soon as at least one of the tasks is final — at once if one already is — or after `waitMs` with the tasks as they are. ' +
      'To collect a batch, ask again with the ids that are not final yet. Outcomes past FX_MAX_RESULTS_RESPONSE_BYTES come with `resultOmitted`: ask again for them. ' +
      'A user may have FX_MAX_LONG_POLLS_PER_USER waiting calls per server; one more is 429 RATE_LIMITED.',
    response: TaskResultsResponse,
    body: true,
  },
  'GET /v1/tasks': {
    summary: 'List tasks',
    description: 'Tasks you may see, newest first, filtered, keyset-paged: pass `nextCursor` back as `cursor`.',
    response: ListTasksResponse,
  },
  'GET /v1/tasks/{id}': {
    summary: 'Get a task',
    description: 'Timeline, attempt (0 on the first try), every attempt so far (where it ran, when, its error), arguments, and the result or error.',
    response: TaskInfo,
    id: true,
  },
  'GET /v1/tasks/{id}/progress': {
    summary: "Get a task's progress",
    description:
      'The latest progress values the task emitted (at most 16, oldest first, of its current attempt), how many it emitted in all, and whether it is final. Watch the client channel (`watch`) to be pushed them live.',
    response: TaskProgressResponse,
    id: true,
  },
  'GET /v1/tasks/{id}/logs': {
    summary: "Get a task's logs",
    description:
      'What the task printed while it ran (its latest attempt), in chunks after `afterSeq`, oldest first; pass `nextSeq` back to page or follow. `truncated`: text past the per-task bound was dropped.',
    response: TaskLogsResponse,
    id: true,
  },
  'POST /v1/tasks/{id}/cancel': {
    summary: 'Cancel a task',
    description: 'Cancels a task that has not finished; `cancelled: false` when it already had.',
    response: CancelTaskResponse,
    id: true,
  },
  'POST /v1/groups': {
    summary: 'Create a task group',
    description: 'An empty group of yours; batches join it with `groupId` (a map makes one, and adds each chunk it submits).',
    response: GroupInfo,
    body: true,
  },
  'GET /v1/groups/{id}': {
    summary: 'Get a task group',
    description: "A batch, graph or map by id, with its tasks counted per state. Another user's group is 404.",
    response: GroupInfo,
    id: true,
  },
  'GET /v1/groups/{id}/tasks': {
    summary: "List a group's tasks",
    description:
      'Oldest first (tasks added later come at the end), up to 1,000 a page: pass `nextCursor` back as `cursor`. How a client re-attaches to a group.',
    response: GroupTasksResponse,
    id: true,
  },
  'POST /v1/groups/{id}/cancel': {
    summary: 'Cancel a task group',
    description: 'Cancels every unfinished task of the group (and their dependents); says how many.',
    response: CancelGroupResponse,
    id: true,
  },
  'POST /v1/objects/uploads': {
    summary: 'Open a resumable upload',
    description:
      'Opens an upload of an object (optionally named, with a TTL, a declared size and sha256), checked against FX_MAX_OBJECT_BYTES and your quota before any byte is sent. The bytes then go in PUT parts.' +
      ENDPOINT_TOKENS,
    response: UploadInfo,
    body: true,
    errors: ['NOT_FOUND', 'QUOTA_EXCEEDED'],
  },
  'PUT /v1/objects/uploads/{id}': {
    summary: 'Send a part of an upload',
    description:
      'Streams the body (Content-Type: application/octet-stream) into the upload from the offset in the Upload-Offset header, which must be the bytes the server holds (409 CONFLICT with `details.offset` otherwise, or while another request writes to it). Answers with the new offset; a part cut off midway keeps the bytes that arrived.' +
      ENDPOINT_TOKENS,
    response: UploadInfo,
    body: true,
    id: true,
    errors: ['CONFLICT', 'QUOTA_EXCEEDED'],
  },
  'GET /v1/objects/uploads/{id}': {
    summary: 'Get an upload',
    description: 'How many bytes the server holds (where the next part starts), and until when the upload stays open.' + ENDPOINT_TOKENS,
    response: UploadInfo,
    id: true,
  },
  'POST /v1/objects/uploads/{id}/complete': {
    summary: 'Complete an upload',
    description:
      'Hashes what the server holds, checks it against the declared size and sha256, and creates the object (the same bytes are stored once). With a name you already use, the new object takes it over and the old one is deleted.' +
      ENDPOINT_TOKENS,
    response: ObjectInfo,
    id: true,
    errors: ['CONFLICT'],
  },
  'POST /v1/objects': {
    summary: 'Put an object',
    description:
      'The body (Content-Type: application/octet-stream) becomes an object in one request; `name`, `ttlSeconds` and `encoding` (bytes or json) go in the query string. For large objects prefer an upload, which can resume.',
    response: ObjectInfo,
    body: true,
    errors: ['QUOTA_EXCEEDED'],
  },
  'GET /v1/objects': {
    summary: 'List objects',
    description:
      'Your live objects (admins: `ownerId` for another user), newest first, filtered by `prefix` or `name`, keyset-paged; with your usage and quota.',
    response: ListObjectsResponse,
  },
  'GET /v1/objects/{id}': {
    summary: 'Get an object',
    description: "Its name, size, sha256, encoding, expiry, and the reference to put in task arguments. Another user's object is 404.",
    response: ObjectInfo,
    id: true,
  },
  'DELETE /v1/objects/{id}': {
    summary: 'Delete an object',
    description: 'It is gone for you at once; its bytes are collected once no task that can still run refers to it.',
    response: null,
    id: true,
  },
  'GET /v1/objects/{id}/content': {
    summary: "An object's bytes",
    description:
      'The content, `application/octet-stream` (or `application/json` for encoding json), with `ETag` (its sha256) and `X-Fx-Sha256`; `Range: bytes=N-` answers 206 with the bytes from N (resuming a download).' +
      ENDPOINT_TOKENS,
    response: Bytes,
    binary: true,
    id: true,
  },
  'POST /v1/triggers': {
    summary: 'Create a trigger',
    description:
      'An object you put with a name under `prefix` runs `function` on `endpoint` with its reference, exactly once per object (also when the endpoint was offline); with `outputPrefix` the result is stored as an object named `outputPrefix` + the rest of the input name. A trigger whose outputs would fire it again (directly or through your other triggers) is refused.',
    response: TriggerInfo,
    body: true,
    errors: ['NOT_FOUND', 'QUOTA_EXCEEDED', 'FUNCTION_NOT_ALLOWED', 'ENDPOINT_LOCKED'],
  },
  'GET /v1/triggers': {
    summary: 'List triggers',
    description: 'Your live triggers, oldest first, with how many times each has fired.',
    response: ListTriggersResponse,
  },
  'GET /v1/triggers/{id}': {
    summary: 'Get a trigger',
    description: "What it runs and how many times it has fired. Another user's trigger is 404.",
    response: TriggerInfo,
    id: true,
  },
  'DELETE /v1/triggers/{id}': {
    summary: 'Delete a trigger',
    description: 'It fires no more; the tasks it started run on.',
    response: null,
    id: true,
  },
  'POST /v1/endpoint-groups': {
    summary: 'Create an endpoint group',
    description:
      "Several endpoints under one name, which may be given wherever an endpoint is: each task goes to the online member with the most free capacity that can hold its resources, preferring one that already fetched its input objects, and a member's waiting tasks move to the others when it goes offline. `members`: your endpoints join at once; another user's endpoint id is invited until its owner accepts (the same answer whether it exists or not). Names are unique among your live groups.",
    response: EndpointGroupInfo,
    body: true,
    errors: ['NOT_FOUND', 'CONFLICT', 'QUOTA_EXCEEDED'],
  },
  'GET /v1/endpoint-groups': {
    summary: 'List endpoint groups',
    description: 'Your live endpoint groups, oldest first, with their members.',
    response: ListEndpointGroupsResponse,
  },
  'GET /v1/endpoint-groups/{id}': {
    summary: 'Get an endpoint group',
    description: "Its members, their states and whether each is online (an invited member of another user shows its id only). Another user's group is 404.",
    response: EndpointGroupInfo,
    id: true,
  },
  'DELETE /v1/endpoint-groups/{id}': {
    summary: 'Delete an endpoint group',
    description: 'It takes no more tasks; tasks already sent to it run on the members chosen for them.',
    response: null,
    id: true,
  },
  'POST /v1/endpoint-groups/{id}/members': {
    summary: 'Add a member',
    description:
      "Your endpoint (id or name) joins at once; another user's endpoint id is invited until its owner accepts (the same answer whether such an endpoint exists or not).",
    response: EndpointGroupInfo,
    body: true,
    id: true,
    errors: ['QUOTA_EXCEEDED'],
  },
  'DELETE /v1/endpoint-groups/{id}/members/{endpointId}': {
    summary: 'Remove a member',
    description:
      "The group's owner removes any member; an endpoint's owner takes their endpoint out of any group. The group's tasks waiting on it move to the other members.",
    response: null,
    id: true,
  },
  'POST /v1/endpoint-groups/{id}/members/{endpointId}/accept': {
    summary: 'Accept an invitation',
    description: "The endpoint's owner lets it join the group: the group's owner may then send tasks to it through the group.",
    response: null,
    id: true,
  },
  'POST /v1/endpoint-groups/{id}/members/{endpointId}/decline': {
    summary: 'Decline an invitation',
    description: "The endpoint's owner refuses: the invitation is removed.",
    response: null,
    id: true,
  },
  'GET /v1/endpoint-invitations': {
    summary: 'List invitations',
    description: "Invitations of your endpoints into other users' endpoint groups, oldest first.",
    response: ListEndpointInvitationsResponse,
  },
  'GET /v1/console/overview': {
    summary: 'Console overview',
    description: 'Endpoint and task counts and a per-minute throughput chart of the last hour, over what you may see.',
    response: OverviewResponse,
  },
  'GET /v1/console/endpoints': {
    summary: 'Console endpoint list',
    description: 'Endpoints with queue counts, owner name and lock state.',
    response: ListResponse(ConsoleEndpoint),
  },
};

/** The codes any operation of this kind may answer with, besides its own. */
export function commonErrors(op: OperationDoc): ErrorCode[] {
  const codes: ErrorCode[] = ['INTERNAL'];
  if (op.public) return codes;
  codes.push('UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'UNAVAILABLE');
  if (op.body) codes.push('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE');
  if (op.id) codes.push('VALIDATION_FAILED', 'NOT_FOUND');
  if (!op.body && !op.id) codes.push('VALIDATION_FAILED');
  return codes;
}
