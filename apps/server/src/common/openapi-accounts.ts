import { z } from 'zod';
import {
  ConsoleEndpoint,
  CreateTokenResponse,
  ListResponse,
  ListTokensResponse,
  ListUsersResponse,
  OverviewResponse,
  UserInfo,
  WhoAmIResponse,
} from '@fx/protocol';
import type { OperationDoc } from './openapi-operations.js';

const Health = z.object({ status: z.literal('ok') });
const Ready = z.object({
  status: z.string(),
  database: z.object({ kind: z.string(), ok: z.boolean() }),
  broker: z.object({ kind: z.string(), ok: z.boolean() }),
});

/** /openapi.json's words on health and readiness, the caller, users and tokens, and the console (see OPERATIONS). */
export const ACCOUNT_OPERATIONS: Record<string, OperationDoc> = {
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
  'GET /v1/users': {
    summary: 'List users (admin)',
    description:
      'Every user, oldest first. Keyset-paged: pass `nextCursor` back as `cursor`; a page holds at most `limit` (default and most 1000). Admins only.',
    response: ListUsersResponse,
  },
  'POST /v1/users/{id}/tokens': {
    summary: 'Issue a token (admin)',
    description: 'Issues a user token for this user; the token is in the answer only, never shown again. Admins only.',
    response: CreateTokenResponse,
    body: true,
    id: true,
  },
  'GET /v1/users/{id}/tokens': {
    summary: "List a user's tokens (admin)",
    description:
      'Token metadata, never the tokens themselves, oldest first. Keyset-paged: pass `nextCursor` back as `cursor`; a page holds at most `limit` (default and most 1000). Admins only.',
    response: ListTokensResponse,
    id: true,
  },
  'DELETE /v1/tokens/{id}': {
    summary: 'Revoke a token (admin)',
    description: 'The token stops working at once, and every socket opened with it closes. Admins only.',
    response: null,
    id: true,
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
