"""The Client against the real server and agent: runs, names, results, batches, cancel, errors."""

from __future__ import annotations

import builtins
import concurrent.futures
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import pytest

import fx_sdk
from fx_sdk import Client

from .conftest import Fx


def test_run_and_get_result(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["add"], fx.endpoint_id, args=(1, 2))
    assert client.get_result(tid, timeout=60) == 3
    task = client.get_task(tid)
    assert task["status"] == "success" and task["result"] == 3 and task["args"] == [1, 2]


def test_names_stand_for_ids(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run("js-add", fx.endpoint_name, args=[20, 22])
    assert client.get_result(tid, timeout=60) == 42
    assert client.get_task(tid)["functionId"] == js["add"]
    assert client.get_function("js-add")["id"] == js["add"]
    assert client.get_endpoint(fx.endpoint_name)["id"] == fx.endpoint_id


def test_kwargs_travel(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["kw"], fx.endpoint_id, args=(1,), kwargs={"b": [1.5, None, "x"]})
    assert client.get_result(tid, timeout=60) == {"a": 1, "b": [1.5, None, "x"]}


def test_shell_function(client: Client, fx: Fx) -> None:
    fid = client.register_shell_function("echo {msg}", name="py-echo", walltime_seconds=30)
    out = client.get_result(client.run(fid, fx.endpoint_id, kwargs={"msg": "hello from python"}), timeout=60)
    assert out["stdout"] == "hello from python\n" and out["returncode"] == 0


def test_builtin_exception_type_is_kept_with_the_remote_traceback(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["type-error"], fx.endpoint_id, args=("not a number",))
    with pytest.raises(TypeError, match="not a number") as caught:
        client.get_result(tid, timeout=60)
    err = caught.value
    assert not isinstance(err, fx_sdk.FxError)
    assert err.task_id == tid and err.code == "TASK_ERROR"  # type: ignore[attr-defined]
    assert isinstance(err.__cause__, fx_sdk.RemoteTraceback)
    assert "not a number" in err.remote_traceback  # type: ignore[attr-defined]
    assert err.__cause__.traceback == err.remote_traceback  # type: ignore[attr-defined]


def test_other_exceptions_raise_task_failed(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["range-error"], fx.endpoint_id, args=("out of range",))
    with pytest.raises(fx_sdk.TaskFailed) as caught:
        client.get_result(tid, timeout=60)
    err = caught.value
    assert (err.task_id, err.code, err.remote_name, err.remote_message) == (tid, "TASK_ERROR", "RangeError", "out of range")
    assert err.remote_traceback and "RangeError" in err.remote_traceback
    assert isinstance(err.__cause__, fx_sdk.RemoteTraceback)


def test_walltime_is_a_task_failure(client: Client, fx: Fx) -> None:
    fid = client.create_function(
        {"name": "js-slow", "runtime": "js", "source": "async () => { await new Promise((r) => setTimeout(r, 30000)); }", "walltimeSeconds": 1}
    )["id"]
    with pytest.raises(fx_sdk.TaskFailed) as caught:
        client.get_result(client.run(fid, fx.endpoint_id), timeout=60)
    assert caught.value.code == "WALLTIME_EXCEEDED"


def test_cancel_a_running_task(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["sleep"], fx.endpoint_id, args=(30_000,))
    deadline = time.monotonic() + 30
    while client.get_task(tid)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    answer = client.cancel(tid)
    assert answer["cancelled"] is True and answer["status"] == "cancelled"
    with pytest.raises(fx_sdk.TaskCancelled):
        client.get_result(tid, timeout=30)
    with pytest.raises(concurrent.futures.CancelledError):  # the stdlib's, for code that knows only it
        client.get_result(tid, timeout=30)
    assert time.monotonic() - started < 20
    assert client.cancel(tid)["cancelled"] is False  # already final


def test_get_result_times_out(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["sleep"], fx.endpoint_id, args=(3_000,))
    started = time.monotonic()
    with pytest.raises(fx_sdk.TimeoutError) as caught:
        client.get_result(tid, timeout=0.5)
    assert caught.value.code == "TIMEOUT"
    assert isinstance(caught.value, builtins.TimeoutError)  # what `except TimeoutError` catches
    assert time.monotonic() - started < 5
    assert client.get_result(tid, timeout=60) == 3_000  # the task went on; a later wait gets it


def test_a_new_wait_is_not_held_behind_a_slow_one(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    # the results thread long-polls for the slow task; the fast one must interrupt that poll, not queue behind it
    slow = client.run(js["sleep"], fx.endpoint_id, args=(20_000,))
    ended: List[BaseException] = []

    def wait_for_slow() -> None:
        try:
            client.get_result(slow, timeout=15)
        except (fx_sdk.TaskCancelled, fx_sdk.TimeoutError) as err:
            ended.append(err)

    waiter = threading.Thread(target=wait_for_slow)
    waiter.start()
    try:
        time.sleep(1.5)
        started = time.monotonic()
        assert client.get_result(client.run(js["double"], fx.endpoint_id, args=(21,)), timeout=30) == 42
        assert time.monotonic() - started < 8
    finally:
        client.cancel(slow)
        waiter.join()
    assert len(ended) == 1 and isinstance(ended[0], fx_sdk.TaskCancelled)


def test_results_in_completion_order(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ids = client.batch_run(fx.endpoint_id, [(js["sleep"], (2_500,), {}), (js["sleep"], (10,)), (js["type-error"], ("late",))])
    outcomes = list(client.results(ids, timeout=60))
    assert sorted(o.task_id for o in outcomes) == sorted(ids)
    assert outcomes[-1].task_id == ids[0] and outcomes[-1].result == 2_500  # the slow one last
    failed = next(o for o in outcomes if o.task_id == ids[2])
    assert failed.status == "failed" and failed.error is not None and failed.error.name == "TypeError"
    with pytest.raises(TypeError):
        failed.value()


def test_results_times_out_and_get_results_keeps_order(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ids = client.batch_run(fx.endpoint_id, [(js["sleep"], (1_500,)), (js["double"], (4,))])
    with pytest.raises(fx_sdk.TimeoutError):
        list(client.results(ids, timeout=0.3))
    assert client.get_results(ids, timeout=60) == [1_500, 8]


def test_batch_larger_than_the_server_limit_is_split(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    from .conftest import MAX_BATCH_TASKS

    n = MAX_BATCH_TASKS * 2 + 17
    ids = client.batch_run(fx.endpoint_id, [(js["add"], (i, 1)) for i in range(n)])
    assert len(ids) == n and len(set(ids)) == n
    assert client.get_results(ids, timeout=180) == [i + 1 for i in range(n)]


def test_list_functions_reads_every_page(client: Client) -> None:
    # a page of GET /v1/functions ends at 8 MiB of source: 9 functions of 1 MiB take two pages
    names = [f"big-{uuid.uuid4().hex[:8]}" for _ in range(9)]
    for name in names:
        client.register_shell_function("echo " + "x" * (1024 * 1024 - 16), name=name)
    first = client._request("GET", "/v1/functions?limit=1000")
    assert first["nextCursor"] is not None
    listed = [f["name"] for f in client.list_functions()]
    assert all(listed.count(name) == 1 for name in names)


def test_list_functions_is_bounded_and_lists_names_without_sources(client: Client) -> None:
    # other users' public functions are in the list, with sources of their choosing: limit bounds the count,
    # source=False reads names only (one small page where the sources took two)
    names = [f"big-{uuid.uuid4().hex[:8]}" for _ in range(9)]
    for name in names:
        client.register_shell_function("echo " + "x" * (1024 * 1024 - 16), name=name)
    assert len(client.list_functions(limit=3)) == 3
    plain = client.list_functions()
    bare = client.list_functions(source=False)
    assert [f["id"] for f in bare] == [f["id"] for f in plain]
    assert all(f["source"] == "" for f in bare)
    assert all(bare.count(f) == 1 for f in bare) and all([f["name"] for f in bare].count(n) == 1 for n in names)
    first = client._request("GET", "/v1/functions?limit=1000&source=false")
    assert first["nextCursor"] is None


def test_list_functions_never_returns_a_silent_part(fx: Fx, admin: Client) -> None:
    # a user of their own, so that the 1,001 functions are in no other test's list
    user = admin.create_user(f"many-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="many")["token"]) as many:
        for i in range(fx_sdk.LIST_FUNCTIONS_MAX):
            many.register_shell_function(f"echo {i}", name=f"f{i}")
        assert len(many.list_functions()) == 1000
        many.register_shell_function("echo last", name="last")
        with pytest.raises(fx_sdk.ListTruncatedError) as cut:
            many.list_functions(source=False)
        err = cut.value
        assert isinstance(err, fx_sdk.FxError) and err.code == "LIST_TRUNCATED" and err.bound == "count"
        assert "more than 1000 functions (the most listed without a limit): pass limit= to read more" in err.message
        assert [f["name"] for f in err.items] == [f"f{i}" for i in range(1000)]
        # asked for: at most that many, no error
        assert len(many.list_functions(limit=1001)) == 1001
        assert [f["name"] for f in many.list_functions(limit=2)] == ["f0", "f1"]


def test_authentication_error(fx: Fx) -> None:
    with Client(fx.url, "not-a-token") as bad:
        with pytest.raises(fx_sdk.AuthenticationError) as caught:
            bad.whoami()
        assert caught.value.status == 401 and caught.value.code == "UNAUTHENTICATED"
        with pytest.raises(fx_sdk.AuthenticationError):
            bad.run("js-add", fx.endpoint_name, args=(1, 2))
        with pytest.raises(fx_sdk.AuthenticationError):  # the results thread ends the wait with it too
            bad.get_result(str(uuid.uuid4()), timeout=30)


def test_forbidden_error(client: Client) -> None:
    with pytest.raises(fx_sdk.ForbiddenError) as caught:
        client.create_user("not-allowed")  # an ordinary user is no admin
    assert caught.value.status == 403


def test_not_found(client: Client, fx: Fx) -> None:
    with pytest.raises(fx_sdk.NotFoundError):
        client.get_task(str(uuid.uuid4()))
    with pytest.raises(fx_sdk.NotFoundError):
        client.run("no-such-function", fx.endpoint_id)
    with pytest.raises(fx_sdk.NotFoundError):
        client.run("js-add", "no-such-endpoint")
    with pytest.raises(fx_sdk.NotFoundError):
        client.get_result(str(uuid.uuid4()), timeout=30)


def test_validation_errors(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with pytest.raises(fx_sdk.SerializationError) as caught:
        client.run(js["add"], fx.endpoint_id, args=(1, {"x": [math.nan]}))
    assert caught.value.path == "args[1].x[0]"
    with pytest.raises(fx_sdk.SerializationError):
        client.batch_run(fx.endpoint_id, [(js["add"], (1, 2)), (js["add"], ({1, 2}, 3))])
    with pytest.raises(fx_sdk.ValidationError):
        client.get_task("not-a-uuid")
    with pytest.raises(fx_sdk.ValidationError) as server_side:
        client.create_function({"name": "bad name!", "runtime": "js", "source": "() => 1"})
    assert server_side.value.status == 400 and server_side.value.code == "VALIDATION_FAILED"


def test_rate_limit_is_waited_out(admin: Client, fx: Fx, caplog: pytest.LogCaptureFixture) -> None:
    from .conftest import RATE_LIMIT_BURST, RATE_LIMIT_PER_SECOND

    user = admin.create_user(f"burst-{uuid.uuid4().hex[:8]}")
    token = admin.create_token(user["id"])["token"]  # a bucket of its own
    with Client(fx.url, token, max_retries=0) as impatient:
        with pytest.raises(fx_sdk.RateLimitError) as caught:
            for _ in range(50 * RATE_LIMIT_BURST):
                impatient.whoami()
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        assert caught.value.status == 429 and caught.value.code == "RATE_LIMITED"
    # The same token, its bucket just emptied, from 16 threads at once (a single loop on a loaded machine
    # may not outrun the refill): some answers are 429, each waited out and repeated, and every call succeeds.
    caplog.set_level("DEBUG", logger="fx_sdk")
    with Client(fx.url, token, max_retries=10) as patient, ThreadPoolExecutor(16) as pool:
        users = list(pool.map(lambda _: patient.whoami()["user"]["id"], range(RATE_LIMIT_BURST + 3 * RATE_LIMIT_PER_SECOND)))
    assert users == [user["id"]] * (RATE_LIMIT_BURST + 3 * RATE_LIMIT_PER_SECOND)
    retries = [r for r in caplog.records if "RATE_LIMITED" in r.getMessage()]
    assert retries, "no request was rate limited: the loop did not outrun the bucket"


def test_url_and_token_from_the_environment(fx: Fx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FX_URL", fx.url + "/")
    monkeypatch.setenv("FX_TOKEN", fx.user_token)
    with Client() as c:
        assert c.url == fx.url and c.whoami()["user"]["admin"] is False
    monkeypatch.delenv("FX_URL")
    with pytest.raises(fx_sdk.ValidationError, match="FX_URL"):
        Client()


def test_closed_client_refuses(fx: Fx) -> None:
    c = Client(fx.url, fx.user_token)
    c.close()
    with pytest.raises(fx_sdk.ConnectionError) as caught:
        c.whoami()
    assert caught.value.code == "CLIENT_CLOSED"


def test_an_unreadable_builtin_error_still_settles_the_future(client: Client, fx: Fx) -> None:
    # A task's error is the remote side's text: a KeyError's message is read back as its key, and one
    # nested too deeply for Python's parser (RecursionError) left the future running for good
    fid = client.create_function(
        {"name": "js-deep-key-error", "runtime": "js", "source": "() => { const e = new Error('-'.repeat(3000) + '1'); e.name = 'KeyError'; throw e; }"}
    )["id"]
    with pytest.raises(KeyError):
        client.get_result(client.run(fid, fx.endpoint_id), timeout=60)
    ex = fx_sdk.Executor(fx.endpoint_id, client=client)
    try:
        with pytest.raises(KeyError) as caught:
            ex.submit(fid).result(timeout=60)
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
    assert caught.value.args[0] == "-" * 3000 + "1"
