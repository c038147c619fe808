import {
  ConsoleEndpoint,
  EndpointInfo,
  EndpointGroupInfo,
  ListEndpointGroupsResponse,
  ListEndpointInvitationsResponse,
  EndpointStatusResponse,
  ClearCacheResponse,
  FunctionInfo,
  ListFunctionsResponse,
  ListResponse,
  RegisterEndpointResponse,
} from '@fx/protocol';
import type { OperationDoc } from './openapi-operations.js';

/** /openapi.json's words on functions, endpoints and endpoint groups (see OPERATIONS). */
export const FUNCTION_OPERATIONS: Record<string, OperationDoc> = {
  'POST /v1/functions': {
    summary: 'Register a function',
    description: 'Registers a js function (the source of one function expression) or a shell/mpi command template. The source is checked before it is stored.',
    response: FunctionInfo,
    body: true,
  },
  'GET /v1/functions': {
    summary: 'List functions',
    description:
      'Your functions and public ones (admins: all), oldest first; with `name`, the versions of that name, newest first. Keyset-paged: pass `nextCursor` back as `cursor`; a page holds at most `limit` functions and ends at 8 MiB of source. With `source=false` every source is the empty string (a list of names), and only `limit` ends a page.',
    response: ListFunctionsResponse,
  },
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
  'PATCH /v1/endpoints/{id}': {
    summary: "Change an endpoint's allow-list or description",
    description:
      '`allowedFunctions`: a list restricts the endpoint to those functions, `null` lets it run any. A connected agent is reconnected (close 1012) so that its own check uses the new list at once; queued tasks the new list refuses fail FUNCTION_NOT_ALLOWED at the agent. Recorded in the audit log as `endpoint.allowlist-changed`.',
    response: EndpointInfo,
    body: true,
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
};
