import { z } from 'zod';
import { EndpointRef, Uuid } from './common.js';

/**
 * Endpoint groups (not to be confused with task groups, groups.ts): several endpoints under one name,
 * which may be given wherever an endpoint is (`endpointId` of a task, a batch, a map). Each task sent to
 * a group goes to one member: an online one that can hold its resources, by free capacity, preferring
 * one that already holds its input objects. A member's waiting tasks move to the others when it goes
 * offline. A group belongs to its owner; another user's endpoint joins only when its owner accepts.
 */

/** Most live endpoint groups per user, and most members (active or invited) per group. */
export const MAX_ENDPOINT_GROUPS_PER_USER = 100;
export const MAX_ENDPOINT_GROUP_MEMBERS = 64;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const EndpointGroupName = z
  .string()
  .regex(NAME, 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((s) => !UUID_SHAPE.test(s), 'may not look like an id: ids and names are both accepted wherever a group is named');

/**
 * `active`: tasks may go to it (the group's owner owns the endpoint, or its owner accepted).
 * `invited`: another user's endpoint, until that user accepts.
 */
export const EndpointGroupMemberState = z.enum(['active', 'invited']);
export type EndpointGroupMemberState = z.infer<typeof EndpointGroupMemberState>;

/** `POST /v1/endpoint-groups`. Members as for `POST /v1/endpoint-groups/:id/members`. */
export const CreateEndpointGroupRequest = z
  .object({
    name: EndpointGroupName,
    members: z.array(EndpointRef).max(MAX_ENDPOINT_GROUP_MEMBERS).optional(),
  })
  .strict();
export type CreateEndpointGroupRequest = z.input<typeof CreateEndpointGroupRequest>;

/**
 * `POST /v1/endpoint-groups/:id/members`: one of your endpoints (id or name) joins at once; another
 * user's endpoint id is invited, and the answer is the same whether such an endpoint exists or not.
 */
export const AddEndpointGroupMemberRequest = z.object({ endpointId: EndpointRef }).strict();
export type AddEndpointGroupMemberRequest = z.input<typeof AddEndpointGroupMemberRequest>;

/**
 * A member as the group's owner sees it. An invited endpoint of another user shows its id only: its
 * name and state are its owner's until they accept.
 */
export const EndpointGroupMember = z.object({
  endpointId: Uuid,
  state: EndpointGroupMemberState,
  name: z.string().nullable(),
  /** Its agent is connected and heard from (null while invited). */
  online: z.boolean().nullable(),
  addedAt: z.string(),
});
export type EndpointGroupMember = z.infer<typeof EndpointGroupMember>;

export const EndpointGroupInfo = z.object({
  id: Uuid,
  ownerId: Uuid,
  name: z.string(),
  createdAt: z.string(),
  members: z.array(EndpointGroupMember),
});
export type EndpointGroupInfo = z.infer<typeof EndpointGroupInfo>;

export const ListEndpointGroupsResponse = z.object({ items: z.array(EndpointGroupInfo) });
export type ListEndpointGroupsResponse = z.infer<typeof ListEndpointGroupsResponse>;

/** An invitation of one of your endpoints into another user's group (`GET /v1/endpoint-invitations`). */
export const EndpointInvitation = z.object({
  groupId: Uuid,
  groupName: z.string(),
  /** Who asks: the group's owner. */
  ownerId: Uuid,
  ownerName: z.string().nullable(),
  endpointId: Uuid,
  endpointName: z.string(),
  invitedAt: z.string(),
});
export type EndpointInvitation = z.infer<typeof EndpointInvitation>;

export const ListEndpointInvitationsResponse = z.object({ items: z.array(EndpointInvitation) });
export type ListEndpointInvitationsResponse = z.infer<typeof ListEndpointInvitationsResponse>;
