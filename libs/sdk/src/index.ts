export { Client } from './client.js';
export { LIST_ACCOUNTS_MAX, LIST_FUNCTIONS_MAX, LIST_FUNCTIONS_SOURCE_BYTES } from './client.registry.js';
// Every options interface the client takes.
export type * from './client.options.js';
export { TaskHandle } from './task-handle.js';
export { TaskGroup } from './task-group.js';
export type { MapOutcome } from './map-window.js';
export { TaskRef, itemRef } from './task-ref.js';
export type { Progress } from './result-stream.js';
export { FOLLOW_BUFFER_BYTES, type FollowedLogChunk, type LogsOptions, type ProgressOptions } from './live.client.js';
export { Executor, type ExecutorOptions } from './executor.js';
export { ObjectsClient } from './objects.client.js';
export { TriggersClient } from './triggers.client.js';
export { EndpointGroupsClient } from './endpoint-groups.client.js';
export type { AuditQueryOptions } from './audit.client.js';
export type { ObjectLike } from './object-ref.js';
export {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  ForbiddenError,
  FxError,
  ListTruncatedError,
  NotFoundError,
  ObjectIntegrityError,
  ObjectUploadError,
  PartialBatchError,
  PayloadTooLargeError,
  QuotaExceededError,
  RateLimitError,
  SerializationError,
  ServerError,
  TaskCancelledError,
  TaskFailedError,
  TimeoutError,
  ValidationError,
  type FxErrorCode,
  type FxErrorOptions,
} from './errors.js';
export type {
  AuditAction,
  AuditActor,
  AuditEntry,
  AuditPage,
  AuditTargetType,
  CancelTaskResponse,
  CreateTokenRequest,
  CreateTokenResponse,
  CreateUserRequest,
  EndpointInfo,
  EndpointStatusResponse,
  FunctionInfo,
  CancelGroupResponse,
  GroupInfo,
  GroupKind,
  GroupTasksQuery,
  GroupTasksResponse,
  HeartbeatPayload as EndpointHeartbeat,
  ListObjectsQuery,
  ListObjectsResponse,
  ListTasksQuery,
  ListTasksResponse,
  ObjectEncoding,
  ObjectInfo,
  ObjectRef,
  ObjectRefInput,
  CreateTriggerRequest,
  TriggerInfo,
  EndpointGroupInfo,
  EndpointGroupMember,
  EndpointInvitation,
  CreateEndpointGroupRequest,
  PythonReport,
  RegisterEndpointResponse,
  RegisterFunctionRequest,
  RemoteError,
  RetryPolicy,
  RetryPolicyInput,
  RetryableCode,
  SubmitWarning,
  TaskAttempt,
  TaskInfo,
  LogChunk,
  LogStream,
  ProgressEvent,
  TaskLogsResponse,
  TaskProgressResponse,
  TaskOutcome,
  TaskOutput,
  TaskResultEntry,
  TaskResultsResponse,
  TaskStatus,
  TaskStatusManyResponse,
  TaskSummary,
  TokenInfo,
  BlockUsage,
  UsageFigures,
  UsagePoint,
  UsageResponse,
  UsageRow,
  UserInfo,
  WhoAmIResponse,
} from '@fx/protocol';
