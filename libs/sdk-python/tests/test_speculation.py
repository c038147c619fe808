"""Speculation from Python: the idempotent flag on register_function, and speculation on batch_run,
create_group and Executor.map (stored on the task group), against the real server."""

from __future__ import annotations

from typing import Dict

import pytest

import fx_sdk
from fx_sdk import Client, Executor

from .conftest import Fx


def square(x: int) -> int:
    return x * x


def test_register_function_idempotent_sets_the_flag_and_adds_a_version(client: Client) -> None:
    plain = client.register_function(square, "square-spec")
    marked = client.register_function(square, "square-spec", idempotent=True)
    assert marked != plain
    assert client.get_function(plain)["idempotent"] is False
    assert client.get_function(marked)["idempotent"] is True
    # the flag changes nothing of what runs: the content hash is the same
    assert client.get_function(marked)["contentHash"] == client.get_function(plain)["contentHash"]
    assert client.register_function(square, "square-spec", idempotent=True) == marked


def test_batch_run_create_group_and_executor_map_ask_for_speculation(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    ids = client.batch_run(fx.endpoint_id, [(js["add"], (i, i)) for i in range(3)], speculation={"afterFactor": 4, "minSamples": 2})
    assert client.get_results(ids, timeout=60) == [0, 2, 4]
    batch = client.get_task(ids[0])["batchId"]
    assert client.group(batch).describe()["speculation"] == {"afterFactor": 4, "minSamples": 2}
    # the defaults fill what is left out
    group = client.create_group("map", speculation={"after_factor": 2.5})
    assert group.describe()["speculation"] == {"afterFactor": 2.5, "minSamples": 5}
    with Executor(fx.endpoint_id, client=client) as ex:
        results = ex.map(js["add"], [1, 2], [1, 1], speculation={"minSamples": 1})
        assert list(results) == [2, 3]
        assert client.group(results.group).describe()["speculation"] == {"afterFactor": 3, "minSamples": 1}


@pytest.mark.parametrize("bad", [{"afterFactor": 1}, {"afterFactor": "3"}, {"minSamples": 0}, {"minSamples": 1.5}, {"after": 3}])
def test_a_bad_speculation_is_refused_before_anything_is_sent(client: Client, fx: Fx, js: Dict[str, str], bad: Dict[str, object]) -> None:
    with pytest.raises(fx_sdk.ValidationError, match="speculation"):
        client.batch_run(fx.endpoint_id, [(js["add"], (1, 2))], speculation=bad)
