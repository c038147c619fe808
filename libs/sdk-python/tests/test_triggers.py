"""Triggers from Python (issue 15) against the real server and agent: an object put under a trigger's
prefix runs its function once, the result lands under the output prefix, another user sees none of it,
and a deleted trigger fires no more."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Callable, Dict, Iterator, TypeVar

import pytest

import fx_sdk
from fx_sdk import Client

from .conftest import Fx

T = TypeVar("T")


@pytest.fixture(scope="module")
def other(fx: Fx, admin: Client) -> Iterator[Client]:
    """Another user's client."""
    user = admin.create_user(f"py-trig-other-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="other")["token"]) as c:
        yield c


def shout(data):  # type: ignore[no-untyped-def]
    return {"text": data.decode("utf-8").upper(), "size": len(data)}


def eventually(what: str, check: Callable[[], T], timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(0.2)


def firing_task_id(trigger_id: str, object_id: str) -> str:
    """The id of the task a trigger starts for an object (firingTaskId in apps/server/src/modules/triggers/trigger-rules.ts):
    derived from the pair, which is what makes a firing happen once."""
    b = bytearray(hashlib.sha256(f"fx-trigger:{trigger_id}:{object_id}".encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def outputs(client: Client, prefix: str) -> Dict[str, Dict]:  # type: ignore[type-arg]
    return {o["name"]: o for o in client.list_objects(prefix=prefix)}  # type: ignore[misc]


def test_a_trigger_runs_its_function_once_per_put_and_stores_the_result(client: Client, other: Client, fx: Fx) -> None:
    root = f"trig-{uuid.uuid4().hex[:6]}"
    fid = client.register_function(shout, name="py-shout")
    trigger = client.create_trigger(f"{root}/in/", "py-shout", fx.endpoint_name, output_prefix=f"{root}/out/")
    assert {k: trigger[k] for k in ("prefix", "functionId", "endpointId", "outputPrefix", "fired")} == {  # type: ignore[literal-required]
        "prefix": f"{root}/in/",
        "functionId": fid,
        "endpointId": fx.endpoint_id,
        "outputPrefix": f"{root}/out/",
        "fired": 0,
    }
    assert trigger["id"] in [t["id"] for t in client.list_triggers()]
    assert client.get_trigger(trigger["id"].upper())["id"] == trigger["id"]

    refs = {f"a/{i}.txt": client.put(f"sample {i}", name=f"{root}/in/a/{i}.txt", encoding="bytes") for i in range(3)}
    client.put(b"elsewhere", name=f"{root}/notes/0.txt")  # outside the prefix: fires nothing
    out = eventually("3 outputs", lambda: (lambda o: o if len(o) == 3 else None)(outputs(client, f"{root}/out/")))
    assert sorted(out) == [f"{root}/out/a/{i}.txt" for i in range(3)]
    for i in range(3):
        assert out[f"{root}/out/a/{i}.txt"]["encoding"] == "json"
        assert client.get(out[f"{root}/out/a/{i}.txt"]["id"]) == {"text": f"SAMPLE {i}", "size": len(f"sample {i}")}
    # once each: the task of each (trigger, object) pair, and no other
    assert client.get_trigger(trigger["id"])["fired"] == 3
    for ref in refs.values():
        assert client.get_task(firing_task_id(trigger["id"], ref.id))["status"] == "success"

    # another user sees none of it, and their puts under the same prefix fire nothing of ours
    assert other.list_triggers() == []
    for call in (lambda: other.get_trigger(trigger["id"]), lambda: other.delete_trigger(trigger["id"])):
        with pytest.raises(fx_sdk.NotFoundError):
            call()
    theirs = other.put(b"not yours", name=f"{root}/in/a/theirs.txt")
    client.put(b"four", name=f"{root}/in/a/4.txt")
    eventually("the fourth output", lambda: f"{root}/out/a/4.txt" in outputs(client, f"{root}/out/"))
    # their object was put first, so a firing for it would have been counted before ours
    assert client.get_trigger(trigger["id"])["fired"] == 4
    with pytest.raises(fx_sdk.NotFoundError):
        client.get_task(firing_task_id(trigger["id"], theirs.id))


def test_a_deleted_trigger_fires_no_more(client: Client, fx: Fx) -> None:
    root = f"trig-{uuid.uuid4().hex[:6]}"
    client.register_function(shout, name="py-shout")
    doomed = client.create_trigger(f"{root}/in/", "py-shout", fx.endpoint_id, output_prefix=f"{root}/gone/")
    # a second trigger on the same prefix: its firing for an object shows the first one's turn has passed
    witness = client.create_trigger(f"{root}/in/", "py-shout", fx.endpoint_id, output_prefix=f"{root}/seen/")
    client.delete_trigger(doomed["id"])
    assert doomed["id"] not in [t["id"] for t in client.list_triggers()]
    for call in (lambda: client.get_trigger(doomed["id"]), lambda: client.delete_trigger(doomed["id"])):
        with pytest.raises(fx_sdk.NotFoundError):
            call()

    late = client.put(b"late", name=f"{root}/in/late.txt")
    eventually("the witness's output", lambda: f"{root}/seen/late.txt" in outputs(client, f"{root}/seen/"))
    assert client.get_trigger(witness["id"])["fired"] == 1
    assert outputs(client, f"{root}/gone/") == {}
    with pytest.raises(fx_sdk.NotFoundError):
        client.get_task(firing_task_id(doomed["id"], late.id))
    client.delete_trigger(witness["id"])


def test_bad_arguments_and_loops_are_refused(client: Client, fx: Fx) -> None:
    client.register_function(shout, name="py-shout")
    with pytest.raises(fx_sdk.ValidationError, match="prefix"):
        client.create_trigger("in put/", "py-shout", fx.endpoint_id)
    with pytest.raises(fx_sdk.ValidationError, match="trigger id"):
        client.get_trigger("not-a-uuid")
    # a trigger whose outputs land under its own prefix would fire itself without end
    with pytest.raises(fx_sdk.ValidationError, match="would fire it again"):
        client.create_trigger("loop/", "py-shout", fx.endpoint_id, output_prefix="loop/out/")
