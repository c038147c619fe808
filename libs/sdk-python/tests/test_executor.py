"""The Executor as a concurrent.futures.Executor, with registered (js) functions on the real agent."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Dict

import pytest

import fx_sdk
from fx_sdk import Client, Executor

from .conftest import Fx


def test_map_of_1000_keeps_order(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        assert list(ex.map(js["double"], range(1000), timeout=300)) == [2 * i for i in range(1000)]


def test_submit_by_name_resolves_a_future(client: Client, fx: Fx) -> None:
    with client.executor(fx.endpoint_name) as ex:
        future = ex.submit("js-add", 19, 23)
        assert isinstance(future, fx_sdk.TaskFuture)
        assert future.result(timeout=60) == 42
        assert future.task_id is not None and client.get_task(future.task_id)["status"] == "success"


def test_futures_work_with_wait_and_as_completed(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        slow = ex.submit(js["sleep"], 2_000)
        fast = [ex.submit(js["double"], i) for i in range(5)]
        done, pending = concurrent.futures.wait(fast, timeout=60)
        assert done == set(fast) and not pending
        order = list(concurrent.futures.as_completed([slow, *fast], timeout=60))
        assert order[-1] is slow
        failing = ex.submit(js["type-error"], "from a future")
        assert isinstance(failing.exception(timeout=60), TypeError)
        with pytest.raises(TypeError, match="from a future"):
            failing.result()


def test_future_cancel_cancels_the_task(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        future = ex.submit(js["sleep"], 30_000)
        deadline = time.monotonic() + 30
        while future.task_id is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert future.task_id is not None
        assert future.cancel() is True
        assert future.cancelled() and future.done()
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(timeout=1)
        # as_completed sees a cancelled future as done
        assert list(concurrent.futures.as_completed([future], timeout=5)) == [future]
        assert client.get_task(future.task_id)["status"] == "cancelled"
        finished = ex.submit(js["double"], 1)
        assert finished.result(timeout=60) == 2
        assert finished.cancel() is False  # too late: it finished


def test_cancel_before_the_batch_is_sent(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ex = Executor(fx.endpoint_id, client=client, batch_interval=2.0)
    future = ex.submit(js["double"], 5)
    assert future.cancel() is True and future.task_id is None
    kept = ex.submit(js["double"], 6)
    ex.shutdown(wait=True)
    assert kept.result() == 12 and future.cancelled()


def test_shutdown_semantics(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ex = Executor(fx.endpoint_id, client=client)
    futures = [ex.submit(js["sleep"], 300) for _ in range(4)]
    ex.shutdown(wait=True)
    assert all(f.done() and f.result() == 300 for f in futures)
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(js["double"], 1)

    ex = Executor(fx.endpoint_id, client=client)
    long = [ex.submit(js["sleep"], 30_000) for _ in range(3)]
    started = time.monotonic()
    ex.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - started < 30
    assert all(f.cancelled() for f in long)

    ex = Executor(fx.endpoint_id, client=client)
    later = ex.submit(js["double"], 21)
    ex.shutdown(wait=False)
    assert later.result(timeout=60) == 42  # a submission made before shutdown(wait=False) still completes


def test_submit_refuses_what_json_cannot_carry(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        with pytest.raises(fx_sdk.SerializationError):
            ex.submit(js["double"], {1, 2})
        with pytest.raises(fx_sdk.ValidationError):
            ex.submit("not a valid name!", 1)


def test_errors_of_a_batch_reach_its_futures(client: Client, fx: Fx) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        future = ex.submit("no-such-function", 1)
        assert isinstance(future.exception(timeout=60), fx_sdk.NotFoundError)


def test_an_executor_with_its_own_client(fx: Fx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FX_URL", fx.url)
    monkeypatch.setenv("FX_TOKEN", fx.user_token)
    with Executor(fx.endpoint_name) as ex:
        assert ex.submit("js-add", 2, 3).result(timeout=60) == 5
    with pytest.raises(fx_sdk.ConnectionError):
        ex.client.whoami()  # closed with the executor that made it
