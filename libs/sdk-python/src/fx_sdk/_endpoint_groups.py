"""Endpoint groups: several endpoints under one name, usable wherever an endpoint is.

The client's endpoint group calls live here (a mixin, so that client.py stays small). A group's id or
name goes wherever an endpoint's does (``run``, ``run_batch``, ``map``, ``Executor``): each task goes to
an online member with free capacity that can hold its resources, preferring one that already has its
input objects, and a member's waiting tasks move to the others when it goes offline. Your endpoints
join at once; another user's endpoint is invited until its owner accepts (``accept_endpoint_invitation``).
"""

from __future__ import annotations

from typing import List, Sequence, cast

from ._calls import ClientCalls, Collection
from ._wire import endpoint_ref, path_segment, task_id
from .types import EndpointGroupInfo, EndpointInvitation


_GROUPS: Collection[EndpointGroupInfo] = Collection("/v1/endpoint-groups", lambda group: path_segment(endpoint_ref(group)))


class EndpointGroupMethods(ClientCalls):
    """The client's endpoint group calls."""

    def create_endpoint_group(self, name: str, members: Sequence[str] = ()) -> EndpointGroupInfo:
        """A new group named ``name``; ``members`` are endpoint ids or names of yours (they join), or other
        users' endpoint ids (invited until their owners accept). ``ConflictError`` for a name you use already."""
        body = {"name": name, "members": [endpoint_ref(m) for m in members]}
        return cast(EndpointGroupInfo, self._request("POST", "/v1/endpoint-groups", body))

    list_endpoint_groups = _GROUPS.lister("Your live groups, oldest first, with their members.")
    get_endpoint_group = _GROUPS.getter("A group (id or name) with its members, their states and whether each is online.")
    delete_endpoint_group = _GROUPS.deleter("It takes no more tasks; tasks already sent to it run on the members chosen for them.")

    def add_endpoint_group_member(self, group: str, endpoint: str) -> EndpointGroupInfo:
        """Your endpoint (id or name) joins at once; another user's endpoint id is invited."""
        body = {"endpointId": endpoint_ref(endpoint)}
        return cast(EndpointGroupInfo, self._request("POST", _GROUPS.route(group) + "/members", body))

    def remove_endpoint_group_member(self, group: str, endpoint_id: str) -> None:
        """The group's owner removes a member; an endpoint's owner takes their endpoint out of any group (by its id).
        The group's tasks waiting on it move to the other members."""
        self._request("DELETE", _GROUPS.route(group) + f"/members/{task_id(endpoint_id, 'endpoint id')}")

    def accept_endpoint_invitation(self, group_id: str, endpoint_id: str) -> None:
        """Lets your endpoint join another user's group that invited it."""
        self._request("POST", f"/v1/endpoint-groups/{task_id(group_id, 'group id')}/members/{task_id(endpoint_id, 'endpoint id')}/accept")

    def decline_endpoint_invitation(self, group_id: str, endpoint_id: str) -> None:
        """Refuses an invitation of your endpoint."""
        self._request("POST", f"/v1/endpoint-groups/{task_id(group_id, 'group id')}/members/{task_id(endpoint_id, 'endpoint id')}/decline")

    def list_endpoint_invitations(self) -> List[EndpointInvitation]:
        """Invitations of your endpoints into other users' groups."""
        return cast(List[EndpointInvitation], self._list("/v1/endpoint-invitations"))
