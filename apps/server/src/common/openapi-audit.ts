import { AuditPage } from '@fx/protocol';
import type { OperationDoc } from './openapi-operations.js';

/** /openapi.json's words on the audit log (see OPERATIONS). */
export const AUDIT_OPERATIONS: Record<string, OperationDoc> = {
  'GET /v1/audit': {
    summary: 'Read the audit log',
    description:
      'Security-relevant actions (users and tokens, functions, endpoints and their groups, submissions and cancels, objects, triggers, cache clears), oldest first after `after`, or newest first before `before` with `order=desc`; filtered by `action`, `actorId`, `targetType`, `targetId`, `since` and `until`. Admins see every entry; anyone else the entries about their own things and the ones they made. With `format=jsonl`, every matching entry as JSON lines (application/x-ndjson), streamed. The log is append-only: no route changes or deletes an entry.',
    response: AuditPage,
  },
};
