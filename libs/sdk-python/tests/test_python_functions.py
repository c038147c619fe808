"""Python functions end to end: registered from their source, run by the endpoint's python runtime.

These need the agent's `python` runtime and the server's `entrypoint` / `failOnNonZeroExit` fields.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Dict, List

import pytest

import fx_sdk
from fx_sdk import Client, Executor

from .conftest import Fx


def stats(values: List[float], bins: int = 10) -> Dict[str, Any]:
    import numpy as np

    data = np.array(values, dtype=float)
    return {"mean": float(data.mean()), "std": float(data.std()), "bins": bins}


def square(x: int) -> int:
    return x * x


def checked_sqrt(x: float) -> float:
    if x < 0:
        raise ValueError(f"no square root of {x}")
    return x**0.5


def custom_failure() -> None:
    class StatsError(Exception):
        pass

    raise StatsError("the data was bad")


def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


def _traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the decorator must not travel")

    return wrapper


@_traced
def decorated(a: int, b: int) -> int:
    return a * 10 + b


def test_numpy_function_with_args_and_kwargs(client: Client, fx: Fx) -> None:
    fid = client.register_function(stats, name="py-stats")
    info = client.get_function(fid)
    assert info["runtime"] == "python" and info["entrypoint"] == "stats"
    # annotated: sent with postponed annotations, since List is not defined on the endpoint
    assert info["source"].startswith("from __future__ import annotations\n\ndef stats(values: List[float], bins: int = 10)")
    tid = client.run(fid, fx.endpoint_id, args=([1.0, 2.0, 3.0, 4.0],), kwargs={"bins": 20})
    assert client.get_result(tid, timeout=120) == {"mean": 2.5, "std": pytest.approx(1.118033988749895), "bins": 20}


def test_decorators_are_stripped(client: Client, fx: Fx) -> None:
    fid = client.register_function(decorated)
    assert "@_traced" not in client.get_function(fid)["source"]
    assert client.get_result(client.run(fid, fx.endpoint_id, args=(4, 2)), timeout=120) == 42


def test_value_error_stays_value_error_with_the_users_line(client: Client, fx: Fx) -> None:
    fid = client.register_function(checked_sqrt)
    with pytest.raises(ValueError, match="no square root of -4") as caught:
        client.get_result(client.run(fid, fx.endpoint_id, args=(-4,)), timeout=120)
    remote = caught.value.remote_traceback  # type: ignore[attr-defined]
    assert "checked_sqrt" in remote and 'raise ValueError(f"no square root of {x}")' in remote
    assert isinstance(caught.value.__cause__, fx_sdk.RemoteTraceback)


def test_a_users_own_exception_is_task_failed(client: Client, fx: Fx) -> None:
    fid = client.register_function(custom_failure)
    with pytest.raises(fx_sdk.TaskFailed) as caught:
        client.get_result(client.run(fid, fx.endpoint_id), timeout=120)
    assert caught.value.remote_name.endswith("StatsError") and caught.value.remote_message == "the data was bad"


def test_executor_map_of_1000_python_calls_in_order(client: Client, fx: Fx) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        assert list(ex.map(square, range(1000), timeout=600)) == [i * i for i in range(1000)]
        assert ex.submit(square, 12).result(timeout=120) == 144
    # registered once, on first use, under <name>-<digest>
    names = [f["name"] for f in client.list_functions() if f["name"].startswith("square-")]
    assert len(names) == 1


def test_future_cancel_of_a_sleeping_python_task(client: Client, fx: Fx) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        future = ex.submit(nap, 60)
        deadline = time.monotonic() + 60
        while (future.task_id is None or client.get_task(future.task_id)["status"] != "running") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert future.cancel() is True
        assert client.get_task(future.task_id)["status"] == "cancelled"  # type: ignore[arg-type]
        assert ex.submit(square, 3).result(timeout=120) == 9  # the worker pool goes on


def test_shell_fail_on_non_zero_exit(client: Client, fx: Fx) -> None:
    lenient = client.register_shell_function("exit 3", name="py-exit-lenient")
    assert client.get_result(client.run(lenient, fx.endpoint_id), timeout=120)["returncode"] == 3
    strict = client.register_shell_function("echo oops >&2; exit 3", name="py-exit-strict", fail_on_non_zero_exit=True)
    with pytest.raises(fx_sdk.TaskFailed) as caught:
        client.get_result(client.run(strict, fx.endpoint_id), timeout=120)
    assert caught.value.code == "NON_ZERO_EXIT"
    assert caught.value.output is not None and "oops" in caught.value.output.stderr


def noisy(n: int) -> int:
    print("counting to", n)
    return n


def test_what_a_python_task_prints_comes_back(client: Client, fx: Fx) -> None:
    fid = client.register_function(noisy)
    [outcome] = list(client.results([client.run(fid, fx.endpoint_id, args=(3,))], timeout=120))
    assert outcome.ok and outcome.result == 3
    assert outcome.output is not None and outcome.output.stdout == "counting to 3\n"
