import type {
  AuditPage,
  ConsoleEndpoint,
  CreateTokenResponse,
  EndpointInfo,
  FunctionInfo,
  ListObjectsResponse,
  ListTasksResponse,
  TriggerInfo,
  OverviewResponse,
  TaskInfo,
  TaskLogsResponse,
  TaskProgressResponse,
  TokenInfo,
  UsageBucket,
  UsageBy,
  UsageResponse,
  UserInfo,
  WhoAmIResponse,
} from '@fx/protocol';

/** A refused request: the server's stable code and its sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Unauthorized = (e: ApiError) => void;
let onUnauthorized: Unauthorized = () => undefined;
/** Called when any request is refused with 401 (token revoked or expired): the app signs out. */
export function setUnauthorizedHandler(h: Unauthorized): void {
  onUnauthorized = h;
}

async function request<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'UNAVAILABLE', 'The server cannot be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const b = (json ?? {}) as { code?: string; message?: string };
    const err = new ApiError(res.status, b.code ?? 'INTERNAL', b.message ?? `${res.status} ${res.statusText}`);
    if (res.status === 401) onUnauthorized(err);
    throw err;
  }
  return json as T;
}

/** The audit log's filters the console offers (AuditQuery). */
export type AuditFilters = { action?: string; targetType?: string; since?: string };

export type TaskFilters = {
  status?: string;
  endpointId?: string;
  functionId?: string;
  ownerId?: string;
  /** A task group: a batch, a graph or a map. */
  batchId?: string;
  since?: string;
  until?: string;
};

const qs = (o: Record<string, string | number | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** The JSON lines export of the audit log with these filters (GET /v1/audit?format=jsonl), oldest first. */
export const auditExportPath = (f: AuditFilters) => `/v1/audit${qs({ ...f, format: 'jsonl' })}`;

/** A response's body for the browser to save: fetched with the token, handed over as a blob. */
async function blobOf(token: string, path: string): Promise<Blob> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new ApiError(res.status, res.status === 404 ? 'NOT_FOUND' : 'INTERNAL', `${path.split('?')[0]} could not be read (${res.status})`);
  return res.blob();
}

/** How many functions the console lists (Functions, the task filters' choices and names): ten pages. */
export const MAX_LISTED_FUNCTIONS = 10_000;
/** How many users, and tokens of one user, the console lists: ten pages. */
export const MAX_LISTED_ACCOUNTS = 10_000;

/** The head of a keyset-paged list: `cut` when the server had more past what the console read. */
export interface Listed<T> {
  items: T[];
  cut: boolean;
}

/** The REST calls the console makes, bound to one token. */
export function api(token: string) {
  const r = <T>(method: string, path: string, body?: unknown) => request<T>(token, method, path, body);
  /** The pages of `path` (a keyset-paged GET, with `query`) until its end or `max` items. */
  const head = async <T>(path: string, max: number, query: Record<string, string> = {}): Promise<Listed<T>> => {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: T[]; nextCursor?: string | null } = await r('GET', `${path}${qs({ ...query, limit: 1000, cursor: cursor ?? undefined })}`);
      items.push(...page.items);
      cursor = page.nextCursor ?? null;
    } while (cursor && items.length < max);
    return { items, cut: cursor !== null };
  };
  return {
    whoami: () => r<WhoAmIResponse>('GET', '/v1/whoami'),
    overview: () => r<OverviewResponse>('GET', '/v1/console/overview'),
    endpoints: () => r<{ items: ConsoleEndpoint[] }>('GET', '/v1/console/endpoints').then((x) => x.items),
    lockEndpoint: (id: string, locked: boolean) => r<ConsoleEndpoint>('POST', `/v1/endpoints/${id}/${locked ? 'lock' : 'unlock'}`),
    deleteEndpoint: (id: string) => r<void>('DELETE', `/v1/endpoints/${id}`),
    // names, not sources (each source is the empty string: other users' public ones are theirs to make
    // large; the function's page reads its own)
    functions: () => head<FunctionInfo>('/v1/functions', MAX_LISTED_FUNCTIONS, { source: 'false' }),
    deleteFunction: (id: string) => r<void>('DELETE', `/v1/functions/${id}`),
    function: (id: string) => r<FunctionInfo>('GET', `/v1/functions/${id}`),
    endpoint: (id: string) => r<EndpointInfo>('GET', `/v1/endpoints/${id}`),
    setFunctionPublic: (id: string, value: boolean) => r<FunctionInfo>('PATCH', `/v1/functions/${id}`, { public: value }),
    tasks: (f: TaskFilters & { limit?: number; cursor?: string; counts?: 'true' }) => r<ListTasksResponse>('GET', `/v1/tasks${qs(f)}`),
    task: (id: string) => r<TaskInfo>('GET', `/v1/tasks/${id}`),
    taskProgress: (id: string) => r<TaskProgressResponse>('GET', `/v1/tasks/${id}/progress`),
    // with the agent's lines (stream `agent`): the page shows them or not without reading again
    taskLogs: (id: string, afterSeq: number, limit: number) => r<TaskLogsResponse>('GET', `/v1/tasks/${id}/logs${qs({ afterSeq, limit, agent: 'true' })}`),
    cancelTask: (id: string) => r<{ cancelled: boolean; status: string }>('POST', `/v1/tasks/${id}/cancel`),
    users: () => head<UserInfo>('/v1/users', MAX_LISTED_ACCOUNTS),
    createUser: (name: string, admin: boolean) => r<UserInfo>('POST', '/v1/users', { name, admin }),
    tokens: (userId: string) => head<TokenInfo>(`/v1/users/${userId}/tokens`, MAX_LISTED_ACCOUNTS),
    issueToken: (userId: string, name: string, expiresInSeconds?: number) =>
      r<CreateTokenResponse>('POST', `/v1/users/${userId}/tokens`, { name, ...(expiresInSeconds ? { expiresInSeconds } : {}) }),
    revokeToken: (id: string) => r<void>('DELETE', `/v1/tokens/${id}`),
    objects: (f: { prefix?: string; cursor?: string; limit?: number }) => r<ListObjectsResponse>('GET', `/v1/objects${qs(f)}`),
    deleteObject: (id: string) => r<void>('DELETE', `/v1/objects/${id}`),
    /** An object's bytes, for the browser to save: fetched with the token, handed over as a blob URL. */
    objectContent: (id: string): Promise<Blob> => blobOf(token, `/v1/objects/${id}/content`),
    triggers: () => r<{ items: TriggerInfo[] }>('GET', '/v1/triggers').then((x) => x.items),
    deleteTrigger: (id: string) => r<void>('DELETE', `/v1/triggers/${id}`),
    /** Newest first, before the cursor `before` (the previous page's `next`). */
    audit: (f: AuditFilters & { before?: string; limit?: number }) => r<AuditPage>('GET', `/v1/audit${qs({ ...f, order: 'desc' })}`),
    /** Every matching entry as JSON lines, for the browser to save. */
    auditExport: (f: AuditFilters): Promise<Blob> => blobOf(token, auditExportPath(f)),
    usage: (q: { by: UsageBy; since?: string; until?: string; bucket: UsageBucket }) => r<UsageResponse>('GET', `/v1/usage${qs(q)}`),
  };
}
export type Api = ReturnType<typeof api>;
