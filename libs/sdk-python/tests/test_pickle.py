"""The opt-in pickle serializer end to end: the SDK pickles, the real agent's python worker unpickles,
calls, pickles the result back, and the SDK unpickles it; a version mismatch is refused with a sentence."""

from __future__ import annotations

import base64
import pickle
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict

import numpy as np
import pytest

import fx_sdk
import fx_sdk._serializers
from fx_sdk import Client, Executor

from .conftest import Fx

THIS_PYTHON = "%d.%d" % sys.version_info[:2]


def scale(values: Any, factor: float = 1.0) -> Dict[str, Any]:
    import numpy as np

    return {"scaled": values * factor, "mean": np.float64(values.mean())}


def apply(fn: Callable[[Any], Any], value: Any) -> Any:
    return fn(value)


def looks_pickled() -> Dict[str, Any]:
    import base64
    import pickle

    return {"$fx": "pickle", "python": "3.11", "pickler": "pickle", "data": base64.b64encode(pickle.dumps("surprise")).decode()}


@dataclass
class Importable:
    """Pickled by reference (tests.test_pickle.Importable): a module the endpoint's Python does not have."""

    value: int


def test_numpy_arrays_travel_both_ways(client: Client, fx: Fx) -> None:
    fid = client.register_function(scale, name="py-pickle-scale")
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    tid = client.run(fid, fx.endpoint_id, args=(data,), kwargs={"factor": 2.5}, serializer="pickle")
    result = client.get_result(tid, timeout=120)
    assert isinstance(result["scaled"], np.ndarray) and result["scaled"].dtype == np.float32 and result["scaled"].shape == (2, 3)
    np.testing.assert_array_equal(result["scaled"], data * 2.5)
    assert isinstance(result["mean"], np.float64) and result["mean"] == 2.5
    # the server stores the arguments and the result as tagged JSON, and says which tasks are pickled
    task = client.get_task(tid)
    assert task["serializer"] == "pickle" and task["args"] == [] and task["kwargs"] == {}
    assert task["pickledArgs"]["python"] == THIS_PYTHON and task["pickledArgs"]["pickler"] == "cloudpickle"
    raw = client.get_task_results([tid])["tasks"][0]
    assert raw["serializer"] == "pickle" and raw["result"]["$fx"] == "pickle" and raw["result"]["python"] == THIS_PYTHON
    [outcome] = list(client.results([tid], timeout=120))
    np.testing.assert_array_equal(outcome.result["scaled"], data * 2.5)


def test_a_closure_and_a_dataclass_through_run_batch_and_executor(client: Client, fx: Fx) -> None:
    @dataclass
    class Point:
        x: float
        y: float

    def shifter(dx: float) -> Callable[[Point], Point]:
        def shift(p: Point) -> Point:
            return Point(p.x + dx, p.y)

        return shift

    fid = client.register_function(apply, name="py-pickle-apply")
    moved = client.get_result(client.run(fid, fx.endpoint_id, args=(shifter(10), Point(1, 2)), serializer="pickle"), timeout=120)
    assert isinstance(moved, Point) and moved == Point(11, 2)
    ids = client.batch_run(fx.endpoint_id, [(fid, (shifter(i), Point(0, i))) for i in range(3)], serializer="pickle")
    assert client.get_results(ids, timeout=120) == [Point(i, i) for i in range(3)]
    with Executor(fx.endpoint_id, client=client, serializer="pickle") as ex:
        assert ex.submit(apply, shifter(0.5), Point(0, 0)).result(timeout=120) == Point(0.5, 0)
        assert list(ex.map(apply, [shifter(1)] * 3, [Point(i, 0) for i in range(3)], timeout=120)) == [Point(i + 1, 0) for i in range(3)]


def test_another_python_version_is_refused_naming_both(client: Client, fx: Fx, monkeypatch: pytest.MonkeyPatch) -> None:
    fid = client.register_function(apply, name="py-pickle-apply")
    monkeypatch.setattr(fx_sdk._serializers, "PYTHON_VERSION", "3.99")
    tid = client.run(fid, fx.endpoint_id, args=(abs, -3), serializer="pickle")
    with pytest.raises(fx_sdk.SerializerMismatch) as caught:
        client.get_result(tid, timeout=120)
    error = caught.value
    assert isinstance(error, fx_sdk.TaskFailed) and error.code == "SERIALIZER_MISMATCH" and error.remote_name == "SerializerMismatch"
    assert "pickled by Python 3.99" in error.remote_message and f"(Python {THIS_PYTHON}," in error.remote_message
    assert "serializer='json'" in error.remote_message and "run the endpoint with Python 3.99" in error.remote_message
    # the worker is fine: the same function runs at once with this Python's own version
    monkeypatch.setattr(fx_sdk._serializers, "PYTHON_VERSION", THIS_PYTHON)
    assert client.get_result(client.run(fid, fx.endpoint_id, args=(abs, -3), serializer="pickle"), timeout=120) == 3


def test_a_pickle_the_worker_cannot_load_fails_with_a_sentence(client: Client, fx: Fx) -> None:
    fid = client.register_function(apply, name="py-pickle-apply")
    with pytest.raises(ModuleNotFoundError) as caught:
        client.get_result(client.run(fid, fx.endpoint_id, args=(repr, Importable(1)), serializer="pickle"), timeout=120)
    message = str(caught.value)
    assert "pickled arguments (cloudpickle) could not be loaded by this endpoint's python worker" in message and "No module named 'tests'" in message
    assert caught.value.code == "TASK_ERROR"  # type: ignore[attr-defined]


def test_a_result_pickle_cannot_carry_fails_the_task(client: Client, fx: Fx) -> None:
    fid = client.register_function(apply, name="py-pickle-apply")
    with pytest.raises(fx_sdk.TaskFailed) as caught:
        client.get_result(client.run(fid, fx.endpoint_id, args=(lambda v: (x for x in v), [1, 2]), serializer="pickle"), timeout=120)
    assert caught.value.remote_name == "ResultNotSerializable"
    assert caught.value.remote_message == "the result cannot be pickled (cloudpickle): TypeError: cannot pickle 'generator' object"


def test_pickle_is_refused_for_a_js_function(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with pytest.raises(fx_sdk.ValidationError) as caught:
        client.run(js["add"], fx.endpoint_id, args=(1, 2), serializer="pickle")
    assert caught.value.status == 400 and caught.value.code == "VALIDATION_FAILED"
    assert 'serializer "pickle" applies to python functions only' in caught.value.message and "is a js function" in caught.value.message
    with pytest.raises(fx_sdk.ValidationError, match=r"^tasks\[1\]: serializer \"pickle\" applies to python functions only"):
        # the whole batch is refused, the python item with it: nothing is stored
        client.batch_run(fx.endpoint_id, [(client.register_function(apply, name="py-pickle-apply"), (abs, -1)), (js["add"], (1, 2))], serializer="pickle")


def test_another_users_function_runs_with_pickle_only_when_trusted(client: Client, fx: Fx, admin: Client) -> None:
    user = admin.create_user(f"py-pickle-author-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="author")["token"]) as author:
        theirs = author.register_function(scale, name="py-pickle-public", public=True)
    data = np.arange(3, dtype=np.float64)
    # its result would be a pickle its author's code wrote, unpickled here: refused unless trusted
    with pytest.raises(fx_sdk.ForbiddenError) as caught:
        client.run(theirs, fx.endpoint_id, args=(data,), serializer="pickle")
    assert caught.value.status == 403 and "trust_pickle=True" in caught.value.message
    with pytest.raises(fx_sdk.ForbiddenError, match=r"^tasks\[0\]: function py-pickle-public"):
        client.batch_run(fx.endpoint_id, [(theirs, (data,))], serializer="pickle")
    with pytest.raises(fx_sdk.ForbiddenError):
        with Executor(fx.endpoint_id, client, serializer="pickle") as ex:
            ex.submit(theirs, data).result(timeout=120)
    tid = client.run(theirs, fx.endpoint_id, args=(data,), serializer="pickle", trust_pickle=True)
    np.testing.assert_array_equal(client.get_result(tid, timeout=120)["scaled"], data)
    [bid] = client.batch_run(fx.endpoint_id, [(theirs, (data,), {"factor": 2.0})], serializer="pickle", trust_pickle=True)
    np.testing.assert_array_equal(client.get_result(bid, timeout=120)["scaled"], data * 2)
    with Executor(fx.endpoint_id, client, serializer="pickle", trust_pickle=True) as ex:
        np.testing.assert_array_equal(ex.submit(theirs, data).result(timeout=120)["scaled"], data)


def test_a_json_result_that_looks_pickled_is_left_alone(client: Client, fx: Fx) -> None:
    fid = client.register_function(looks_pickled, name="py-looks-pickled")
    result = client.get_result(client.run(fid, fx.endpoint_id), timeout=120)
    assert result["$fx"] == "pickle" and pickle.loads(base64.b64decode(result["data"])) == "surprise"


def test_the_sdk_refuses_an_unknown_serializer_before_sending(client: Client, fx: Fx) -> None:
    with pytest.raises(fx_sdk.ValidationError, match='serializer must be "json" or "pickle"'):
        client.run("py-pickle-apply", fx.endpoint_id, serializer="dill")  # type: ignore[arg-type]


def test_a_pickled_result_fails_its_json_dependents_before_they_run(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    # a JSON task's arguments cannot carry a pickle: the dependent fails naming the input, its own dependent downstream
    fid = client.register_function(apply, name="py-pickle-apply")
    source = client.run(fid, fx.endpoint_id, args=(abs, -3), serializer="pickle")
    child = client.run(js["double"], fx.endpoint_id, (client.ref(source),))
    grandchild = client.run(js["double"], fx.endpoint_id, (client.ref(child),))
    with pytest.raises(fx_sdk.SerializerMismatch) as caught:
        client.get_result(child, timeout=120)
    assert caught.value.remote_name == "PickledInput" and f"input {source} returned a pickled result" in caught.value.remote_message
    assert client.get_task(child)["timeline"]["dispatchedAt"] is None
    with pytest.raises(fx_sdk.TaskFailed) as downstream:
        client.get_result(grandchild, timeout=60)
    assert downstream.value.code == "DEPENDENCY_FAILED" and child in str(downstream.value)
    assert client.get_result(source, timeout=60) == 3
