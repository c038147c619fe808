"""Endpoint groups from Python (issue 16) against the real server and agent: a group of the session's
endpoint runs tasks sent to its name, another user's endpoint joins only when that user accepts, and
strangers see nothing."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from fx_sdk import Client, ConflictError, NotFoundError

from .conftest import Fx


@pytest.fixture(scope="module")
def other(fx: Fx, admin: Client) -> Iterator[Client]:
    """Another user's client."""
    user = admin.create_user(f"py-eg-other-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="other")["token"]) as c:
        yield c


def square(x):  # type: ignore[no-untyped-def]
    return x * x


def test_a_group_of_the_session_endpoint_runs_tasks_sent_to_its_name(client: Client, fx: Fx) -> None:
    name = f"py-pool-{uuid.uuid4().hex[:6]}"
    group = client.create_endpoint_group(name, [fx.endpoint_name])
    assert [(m["endpointId"], m["state"], m["online"]) for m in group["members"]] == [(fx.endpoint_id, "active", True)]
    with pytest.raises(ConflictError):
        client.create_endpoint_group(name)
    fn = client.register_function(square, name=f"sq-{uuid.uuid4().hex[:6]}")
    ids = client.batch_run(name, [(fn, [i], {}) for i in range(10)])
    assert client.get_results(ids, timeout=120) == [i * i for i in range(10)]
    info = client.get_task(ids[0])
    assert info["endpointGroupId"] == group["id"] and info["endpointId"] == fx.endpoint_id
    assert client.get_result(client.run(fn, group["id"], args=(7,)), timeout=120) == 49
    assert name in [g["name"] for g in client.list_endpoint_groups()]
    client.delete_endpoint_group(name)
    with pytest.raises(NotFoundError):
        client.get_endpoint_group(group["id"])


def test_another_users_endpoint_joins_only_when_its_owner_accepts(client: Client, other: Client) -> None:
    theirs = other.register_endpoint(f"py-eg-{uuid.uuid4().hex[:6]}")["endpoint"]
    group = client.create_endpoint_group(f"py-shared-{uuid.uuid4().hex[:6]}")
    added = client.add_endpoint_group_member(group["id"], theirs["id"])
    assert added["members"] == [{**added["members"][0], "endpointId": theirs["id"], "state": "invited", "name": None, "online": None}]
    with pytest.raises(NotFoundError):
        other.get_endpoint_group(group["id"])
    with pytest.raises(NotFoundError):
        client.accept_endpoint_invitation(group["id"], theirs["id"])
    invitations = other.list_endpoint_invitations()
    assert [(i["groupId"], i["endpointId"]) for i in invitations] == [(group["id"], theirs["id"])]
    other.accept_endpoint_invitation(group["id"], theirs["id"])
    assert client.get_endpoint_group(group["id"])["members"][0]["state"] == "active"
    # the endpoint's owner may leave at any time
    other.remove_endpoint_group_member(group["id"], theirs["id"])
    assert client.get_endpoint_group(group["id"])["members"] == []
    client.add_endpoint_group_member(group["id"], theirs["id"])
    other.decline_endpoint_invitation(group["id"], theirs["id"])
    assert other.list_endpoint_invitations() == []
