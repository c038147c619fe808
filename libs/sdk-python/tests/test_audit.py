"""The audit log from Python (issue 17) against the real server and agent: a registration and a
submission leave entries the user reads with ``get_audit`` (one page) and ``audit_entries`` (every
page), with filters and both orders; another user sees none of them; an admin filters by actor."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

import fx_sdk
from fx_sdk import Client

from .conftest import Fx


@pytest.fixture(scope="module")
def other(fx: Fx, admin: Client) -> Iterator[Client]:
    """Another user's client."""
    user = admin.create_user(f"py-audit-other-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="other")["token"]) as c:
        yield c


def test_registration_and_submission_are_in_the_users_audit_log(client: Client, other: Client, admin: Client, fx: Fx) -> None:
    name = f"py-audit-{uuid.uuid4().hex[:6]}"
    fn = client.create_function({"name": name, "runtime": "js", "source": "(x) => x + 1"})
    tid = client.run(fn["id"], fx.endpoint_id, args=(1,))
    assert client.get_result(tid, timeout=60) == 2

    [registered] = client.get_audit(action="function.registered", target_id=fn["id"])["items"]
    assert registered["actor"]["kind"] == "user"
    assert registered["ownerId"] == registered["actor"]["id"]
    assert registered["details"]["name"] == name
    assert registered["details"]["version"] == 1
    assert registered["details"]["contentHash"] == fn["contentHash"]
    page = client.get_audit(action="tasks.submitted", target_type="task", target_id=tid)
    assert page["next"] is None
    [submitted] = page["items"]
    assert submitted["details"]["tasks"] == 1
    assert submitted["details"]["uses"] == [{"functionId": fn["id"], "functionName": name, "version": 1, "endpointId": fx.endpoint_id, "count": 1}]

    # every page, oldest first, is what one-entry pages walked by hand give; newest first is its reverse
    everything = list(client.audit_entries())
    walked, after = [], None
    while True:
        one = client.get_audit(limit=1, **({"after": after} if after else {}))
        walked.extend(one["items"])
        after = one["next"]
        if after is None:
            break
    assert walked == everything
    assert [e["id"] for e in everything][-2:] == [registered["id"], submitted["id"]]
    assert list(client.audit_entries(order="desc", page_size=2)) == everything[::-1]
    assert client.get_audit(order="desc", limit=1)["items"] == [submitted]
    assert client.get_audit(since=datetime.now(timezone.utc) + timedelta(hours=1))["items"] == []
    assert client.get_audit(until=datetime.now(timezone.utc) - timedelta(days=1))["items"] == []
    assert submitted in client.get_audit(since=datetime.now(timezone.utc) - timedelta(hours=1), limit=1000)["items"]

    # another user sees none of it; an admin sees it among the user's acts
    assert other.get_audit(target_id=tid)["items"] == []
    assert all(e["ownerId"] != registered["ownerId"] for e in other.audit_entries())
    assert admin.get_audit(actor_id=registered["actor"]["id"], target_id=tid)["items"] == [submitted]


def test_bad_queries_are_refused() -> None:
    with Client("http://127.0.0.1:9", "not-used") as c:
        with pytest.raises(fx_sdk.ValidationError, match="limit must be an integer from 1 to 1000"):
            c.get_audit(limit=0)
        with pytest.raises(fx_sdk.ValidationError, match='order must be "asc" or "desc"'):
            c.get_audit(order="up")


def test_an_unknown_action_is_the_servers_validation_error(client: Client) -> None:
    with pytest.raises(fx_sdk.ValidationError, match="action"):
        client.get_audit(action="tasks.deleted")


def test_update_endpoint_changes_the_allow_list_and_is_audited(client: Client, other: Client) -> None:
    fn = client.create_function({"name": f"py-allow-{uuid.uuid4().hex[:6]}", "runtime": "js", "source": "(x) => x"})
    reg = client.register_endpoint(f"py-allow-{uuid.uuid4().hex[:6]}")
    ep = reg["endpoint"]["id"]
    assert client.update_endpoint(ep, allowed_functions=[fn["id"]])["allowedFunctions"] == [fn["id"]]
    assert client.update_endpoint(ep, description="lab")["allowedFunctions"] == [fn["id"]]
    assert client.update_endpoint(ep, allowed_functions=None)["allowedFunctions"] is None
    with pytest.raises(fx_sdk.ValidationError):
        client.update_endpoint(ep)
    with pytest.raises(fx_sdk.NotFoundError):
        other.update_endpoint(ep, allowed_functions=None)
    changes = client.get_audit(action="endpoint.allowlist-changed", target_id=ep)["items"]
    assert [(e["details"]["before"], e["details"]["after"]) for e in changes] == [(None, [fn["id"]]), ([fn["id"]], None)]
