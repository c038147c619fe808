import {
  CancelGroupResponse,
  CancelTaskResponse,
  GroupInfo,
  GroupTasksResponse,
  ListTasksResponse,
  SubmitBatchResponse,
  SubmitTaskResponse,
  TaskInfo,
  TaskLogsResponse,
  TaskProgressResponse,
  TaskResultsResponse,
  TaskStatusManyResponse,
  type ErrorCode,
} from '@fx/protocol';
import type { OperationDoc } from './openapi-operations.js';

const SUBMIT_ERRORS: ErrorCode[] = ['NOT_FOUND', 'FORBIDDEN', 'FUNCTION_NOT_ALLOWED', 'ENDPOINT_LOCKED', 'ISOLATION_REQUIRED', 'QUOTA_EXCEEDED'];

/** /openapi.json's words on tasks and task groups (see OPERATIONS). */
export const TASK_OPERATIONS: Record<string, OperationDoc> = {
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
    description:
      'An empty group of yours; batches join it with `groupId` (a map makes one, and adds each chunk it submits). At most FX_GROUP_QUOTA of your groups made here may hold no task yet: past it 429 QUOTA_EXCEEDED.',
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
};
