import { AuditPage, AuditQuery, type AuditEntry } from '@fx/protocol';
import type { RestRequest } from './rest-transport.js';
import { checkInput, queryString } from './validate.js';

/** What `client.audit` and `client.auditEntries` take: AuditQuery's filters and cursor (the JSON lines export is the CLI's and the REST route's). */
export type AuditQueryOptions = Omit<AuditQuery, 'format'>;

type Request = <T>(req: RestRequest<T>) => Promise<T>;

/** One page of the audit log as the caller may see it. */
export function auditPage(request: Request, query: AuditQueryOptions): Promise<AuditPage> {
  const params = queryString(checkInput(AuditQuery, { ...query, format: 'json' }, 'audit query'));
  return request({ method: 'GET', path: `/v1/audit?${params}`, response: AuditPage });
}

/** Every matching entry, page after page (each page one request): oldest first, or newest first with `order: 'desc'`. */
export async function* auditEntries(request: Request, query: AuditQueryOptions): AsyncGenerator<AuditEntry, void, undefined> {
  let cursor: string | null | undefined = query.order === 'desc' ? query.before : query.after;
  do {
    const page = await auditPage(request, { ...query, ...(cursor ? (query.order === 'desc' ? { before: cursor } : { after: cursor }) : {}) });
    yield* page.items;
    cursor = page.next;
  } while (cursor);
}
