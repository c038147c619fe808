import {
  AddEndpointGroupMemberRequest,
  CreateEndpointGroupRequest,
  EndpointGroupInfo,
  EndpointRef,
  ListEndpointGroupsResponse,
  ListEndpointInvitationsResponse,
  Uuid,
  type EndpointInvitation,
} from '@fx/protocol';
import type { RestRequest } from './rest-transport.js';
import { checkInput } from './validate.js';

/**
 * Endpoint groups: several endpoints under one name. A group's id or name goes wherever an endpoint's
 * does (`client.run`, `runBatch`, `map`, `executor`): each task goes to an online member with free
 * capacity that can hold its resources, preferring one that already has its input objects, and a
 * member's waiting tasks move to the others when it goes offline. Your endpoints join at once;
 * another user's endpoint is invited until its owner accepts (`accept`, from their client).
 * `client.endpointGroups`.
 */
export class EndpointGroupsClient {
  constructor(private readonly request: <T>(req: RestRequest<T>) => Promise<T>) {}

  /** A new group; `members` are endpoint ids or names of yours, or other users' endpoint ids (invited). */
  create(name: string, members: readonly string[] = []): Promise<EndpointGroupInfo> {
    const body = checkInput(CreateEndpointGroupRequest, { name, members: [...members] }, 'endpoint group');
    return this.request({ method: 'POST', path: '/v1/endpoint-groups', body, response: EndpointGroupInfo });
  }

  /** Your live groups, oldest first, with their members. */
  async list(): Promise<EndpointGroupInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/endpoint-groups', response: ListEndpointGroupsResponse })).items;
  }

  /** A group (by id or name) with its members, their states and whether each is online; NotFoundError for one that is not yours. */
  get(group: string): Promise<EndpointGroupInfo> {
    return this.request({ method: 'GET', path: `/v1/endpoint-groups/${ref(group)}`, response: EndpointGroupInfo });
  }

  /** It takes no more tasks; tasks already sent to it run on the members chosen for them. */
  async delete(group: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/endpoint-groups/${ref(group)}` });
  }

  /** Your endpoint joins at once; another user's endpoint id is invited until its owner accepts. */
  addMember(group: string, endpointId: string): Promise<EndpointGroupInfo> {
    const body = checkInput(AddEndpointGroupMemberRequest, { endpointId }, 'member');
    return this.request({ method: 'POST', path: `/v1/endpoint-groups/${ref(group)}/members`, body, response: EndpointGroupInfo });
  }

  /** The group's owner removes a member; an endpoint's owner takes their endpoint out of any group (by the group's id). */
  async removeMember(group: string, endpointId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/endpoint-groups/${ref(group)}/members/${checkInput(Uuid, endpointId, 'endpointId')}` });
  }

  /** Lets your endpoint join another user's group that invited it. */
  async accept(groupId: string, endpointId: string): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/v1/endpoint-groups/${checkInput(Uuid, groupId, 'groupId')}/members/${checkInput(Uuid, endpointId, 'endpointId')}/accept`,
    });
  }

  /** Refuses an invitation of your endpoint. */
  async decline(groupId: string, endpointId: string): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/v1/endpoint-groups/${checkInput(Uuid, groupId, 'groupId')}/members/${checkInput(Uuid, endpointId, 'endpointId')}/decline`,
    });
  }

  /** Invitations of your endpoints into other users' groups. */
  async invitations(): Promise<EndpointInvitation[]> {
    return (await this.request({ method: 'GET', path: '/v1/endpoint-invitations', response: ListEndpointInvitationsResponse })).items;
  }
}

function ref(group: string): string {
  return encodeURIComponent(checkInput(EndpointRef, group, 'group'));
}
