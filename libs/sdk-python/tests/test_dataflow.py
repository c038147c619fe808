"""Futures as arguments from Python: executor futures, client.ref and item_ref against the real server."""

from __future__ import annotations

from typing import Dict

import pytest

import fx_sdk
from fx_sdk import Client, Executor, item_ref

from .conftest import Fx


def test_executor_futures_as_arguments_build_a_map_reduce(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        squares = [ex.submit(js["double"], i) for i in range(50)]
        # a list of futures at depth: the reduce runs once all 50 have succeeded, with their values
        total = ex.submit(js["add"], {"$fx": "mine", "xs": squares}, 0)
        assert total.result(timeout=120) == "[object Object]0"
        summed = ex.submit(js["kw"], squares[3], b=squares[4])
        assert summed.result(timeout=60) == {"a": 6, "b": 8}
        task = client.get_task(total.task_id)  # type: ignore[arg-type]
        assert task["args"][0] == {"$fx": "mine", "xs": [2 * i for i in range(50)]}
        assert task["timeline"]["readyAt"] is not None


def test_client_ref_and_item_ref_in_one_batch(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    first = client.run(js["add"], fx.endpoint_id, (20, 1))
    ids = client.batch_run(
        fx.endpoint_id,
        [
            (js["double"], (client.ref(first),)),
            (js["add"], (item_ref(0), client.ref(first))),
            (js["kw"], (item_ref(1),), {"b": [item_ref(0)]}),
        ],
    )
    assert client.get_results(ids, timeout=60) == [42, 63, {"a": 63, "b": [42]}]
    with pytest.raises(fx_sdk.ValidationError, match="only to items before it"):
        client.batch_run(fx.endpoint_id, [(js["double"], (item_ref(0),))])


def test_a_failed_input_fails_its_dependents_naming_it(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with Executor(fx.endpoint_id, client=client) as ex:
        bad = ex.submit(js["range-error"], "upstream")
        child = ex.submit(js["double"], bad)
        grandchild = ex.submit(js["double"], child)
        err = grandchild.exception(timeout=60)
        assert isinstance(err, fx_sdk.TaskFailed) and err.code == "DEPENDENCY_FAILED"
        assert f"input {child.task_id} failed with DEPENDENCY_FAILED" in str(err)
        assert bad.task_id in str(err)


def test_a_ref_to_an_unknown_task_is_not_found(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with pytest.raises(fx_sdk.NotFoundError):
        client.run(js["double"], fx.endpoint_id, (client.ref("00000000-0000-4000-8000-000000000000"),))


def test_a_ref_in_pickled_arguments_is_refused(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    with pytest.raises(fx_sdk.ValidationError, match="JSON arguments only"):
        client.run(js["double"], fx.endpoint_id, ([client.ref("00000000-0000-4000-8000-000000000000")],), serializer="pickle")
