"""Objects from Python (issue 15) against the real server: put and get with checksums, files streamed
in and out, an interrupted upload resumed, names, another user's objects refused, refs in task args."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import Dict, Iterator

import pytest

import fx_sdk
from fx_sdk import Client, Executor, ObjectRef

from .conftest import Fx

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def other(fx: Fx, admin: Client) -> Iterator[Client]:
    """Another user's client."""
    user = admin.create_user(f"py-other-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="other")["token"]) as c:
        yield c


def test_bytes_round_trip_in_parts_with_progress(client: Client) -> None:
    data = os.urandom(3 * MiB + 5)
    seen = []
    ref = client.put(data, part_bytes=MiB, on_progress=lambda held, total: seen.append((held, total)))
    assert isinstance(ref, ObjectRef)
    assert (ref.sha256, ref.size, ref.encoding) == (sha(data), len(data), "bytes")
    assert seen[-1] == (len(data), len(data)) and len(seen) == 4
    assert client.get(ref) == data
    assert b"".join(client.iter_object(ref.id)) == data


def test_values_and_str_are_json_unless_told_bytes(client: Client) -> None:
    value = {"samples": [1, 2.5, None], "$fx": "mine"}
    ref = client.put(value)
    assert ref.encoding == "json"
    assert client.get(ref) == value
    assert client.get(ref, raw=True) == b'{"samples":[1,2.5,null],"$fx":"mine"}'
    assert client.get(client.put("héllo")) == "héllo"
    assert client.get(client.put("héllo", encoding="bytes")) == "héllo".encode("utf-8")
    with pytest.raises(fx_sdk.SerializationError):
        client.put({"x": float("nan")})


def test_files_and_paths_stream_in_and_out(client: Client, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB + 1)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    from_path = client.put(src, name="py/in.bin", ttl_seconds=600)
    with open(src, "rb") as handle:
        from_file = client.put(handle)
    assert from_path.sha256 == from_file.sha256 == sha(data)
    out = tmp_path / "out.bin"
    assert client.get_to_file("py/in.bin", out) == from_path
    assert sha(out.read_bytes()) == sha(data)
    assert not list(tmp_path.glob("*.fx-part*"))
    # a link left at the old, predictable aside name (a shared directory) is not written through
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "out2.bin.fx-part").symlink_to(victim)
    client.get_to_file("py/in.bin", tmp_path / "out2.bin")
    assert victim.read_bytes() == b"keep" and sha((tmp_path / "out2.bin").read_bytes()) == sha(data)
    info = client.object_info(from_path)
    assert info["name"] == "py/in.bin" and info["expiresAt"] is not None


def test_an_interrupted_upload_resumes_from_the_servers_offset(client: Client) -> None:
    chunks = [os.urandom(MiB) for _ in range(5)]

    def failing() -> Iterator[bytes]:
        yield from chunks[:3]
        raise OSError("the disk went away")

    with pytest.raises(fx_sdk.ObjectUploadError) as caught:
        client.put(failing(), part_bytes=MiB)
    err = caught.value
    assert err.code == "UPLOAD_INCOMPLETE" and err.offset == 3 * MiB and err.upload_id
    assert "the disk went away" in str(err) and "upload_id=" in str(err)

    sent = []
    ref = client.put(io.BytesIO(b"".join(chunks)), part_bytes=MiB, upload_id=err.upload_id, on_progress=lambda held, _: sent.append(held))
    assert sent == [4 * MiB, 5 * MiB]  # only the parts the server lacked
    assert ref.sha256 == sha(b"".join(chunks))
    assert client.get(ref) == b"".join(chunks)


def test_names_list_and_delete(client: Client) -> None:
    prefix = f"py-{uuid.uuid4().hex[:8]}/"
    first = client.put(b"one", name=prefix + "a.txt")
    client.put(b"two", name=prefix + "a.txt")
    client.put(b"three", name=prefix + "b.txt")
    assert client.get(prefix + "a.txt") == b"two"
    with pytest.raises(fx_sdk.NotFoundError):
        client.object_info(first)
    assert sorted(o["name"] for o in client.list_objects(prefix=prefix)) == [prefix + "a.txt", prefix + "b.txt"]
    assert len(client.list_objects(prefix=prefix, limit=1)) == 1
    client.delete_object(prefix + "a.txt")
    assert [o["name"] for o in client.list_objects(prefix=prefix)] == [prefix + "b.txt"]
    with pytest.raises(fx_sdk.NotFoundError, match="no object named"):
        client.get(prefix + "a.txt")


def test_another_users_object_is_not_found(client: Client, other: Client, fx: Fx, js: Dict[str, str]) -> None:
    ref = client.put(b"private")
    for call in (lambda: other.get(ref), lambda: other.object_info(ref.id), lambda: other.delete_object(ref)):
        with pytest.raises(fx_sdk.NotFoundError):
            call()
    assert other.list_objects() == []
    with pytest.raises(fx_sdk.NotFoundError):
        client.run(js["double"], fx.endpoint_id, ({"$fx": "object", "id": str(uuid.uuid4())},))
    assert client.get(ref) == b"private"


def test_refs_in_task_args_are_completed_by_the_server(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ref = client.put(b"input bytes")
    info = client.object_info(ref)
    tid = client.run(js["kw"], fx.endpoint_id, (ObjectRef(ref.id),), {"b": info})
    assert client.get_task(tid)["args"] == [ref.wire()]
    assert client.get_task(tid)["kwargs"] == {"b": ref.wire()}
    with Executor(fx.endpoint_id, client=client) as ex:
        mine = {"$fx": "object", "note": "a value of my own"}
        assert ex.submit(js["kw"], mine, b=1).result(timeout=60) == {"a": mine, "b": 1}
    with pytest.raises(fx_sdk.ValidationError, match="JSON arguments only"):
        client.run(js["double"], fx.endpoint_id, (ref,), serializer="pickle")


def test_a_reference_naming_other_bytes_is_refused(client: Client) -> None:
    ref = client.put(b"abc")
    with pytest.raises(fx_sdk.ObjectIntegrityError):
        client.get(ObjectRef(ref.id, sha(b"abd")))


def flip(data):  # type: ignore[no-untyped-def]
    return bytes(reversed(data))


def describe(data, params):  # type: ignore[no-untyped-def]
    return {"type": type(data).__name__, "length": len(data), "k": params["k"]}


def rows(n):  # type: ignore[no-untyped-def]
    return ["row-%d-%s" % (i, "x" * 90) for i in range(n)]


def test_tasks_get_the_content_and_results_come_back_as_objects(client: Client, fx: Fx) -> None:
    data = os.urandom(2 * MiB)
    ref = client.put(data)
    with Executor(fx.endpoint_id, client=client) as ex:
        assert ex.submit(describe, ref, client.put({"k": 3})).result(timeout=120) == {"type": "bytes", "length": 2 * MiB, "k": 3}
        future = ex.submit(flip, ref)
        assert future.result(timeout=120) == data[::-1]
        assert future.result() == data[::-1]  # read once, kept
        result_ref = client.get_result_ref(future.task_id)  # type: ignore[arg-type]
        assert result_ref is not None and (result_ref.encoding, result_ref.size) == ("bytes", 2 * MiB)
        # a future's stored result passes on to the next task as its reference, unread here
        assert ex.submit(describe, future, {"k": 4}).result(timeout=120) == {"type": "bytes", "length": 2 * MiB, "k": 4}

    fid = client.register_function(rows, name="py-rows")
    big, small = client.run(fid, fx.endpoint_id, (12_000,)), client.run(fid, fx.endpoint_id, (2,))
    assert client.get_results([big, small], timeout=120) == [rows(12_000), rows(2)]
    outcome = next(client.results([big]))
    assert outcome.result is None and outcome.result_ref is not None and outcome.result_ref.encoding == "json"
    assert outcome.value() == rows(12_000)
    assert client.get_result_ref(small) is None
