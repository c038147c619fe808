"""Task priorities from Python: run, batch_run (a batch's priority, an item's own) and Executor, against the real server."""

from __future__ import annotations

from typing import Dict

import pytest

import fx_sdk
from fx_sdk import Client, Executor

from .conftest import Fx


def test_run_batch_run_and_executor_send_their_priority(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    urgent = client.run(js["add"], fx.endpoint_id, (1, 2), priority=9)
    plain = client.run(js["add"], fx.endpoint_id, (1, 2))
    ids = client.batch_run(
        fx.endpoint_id,
        [(js["add"], (1, 1)), {"functionId": js["add"], "args": [2, 2], "priority": 0}],
        priority=7,
    )
    with Executor(fx.endpoint_id, client=client, priority=8) as ex:
        future = ex.submit(js["add"], 3, 3)
        assert future.result(timeout=60) == 6
        from_executor = future.task_id  # type: ignore[attr-defined]
    assert client.get_results([urgent, plain, *ids], timeout=60) == [3, 3, 2, 4]
    priorities = [client.get_task(t)["priority"] for t in (urgent, plain, *ids, from_executor)]
    assert priorities == [9, 5, 7, 0, 8]


@pytest.mark.parametrize("bad", [10, -1, 2.5, True, "9"])
def test_a_priority_outside_0_to_9_is_refused_before_anything_is_sent(client: Client, fx: Fx, js: Dict[str, str], bad: object) -> None:
    with pytest.raises(fx_sdk.ValidationError, match="from 0 to 9"):
        client.run(js["add"], fx.endpoint_id, (1, 2), priority=bad)  # type: ignore[arg-type]
    with pytest.raises(fx_sdk.ValidationError, match="from 0 to 9"):
        client.batch_run(fx.endpoint_id, [(js["add"], (1, 2))], priority=bad)  # type: ignore[arg-type]
    with pytest.raises(fx_sdk.ValidationError, match="batch item 0: priority must be"):
        client.batch_run(fx.endpoint_id, [{"functionId": js["add"], "args": [1, 2], "priority": bad}])
    with pytest.raises(fx_sdk.ValidationError, match="from 0 to 9"):
        Executor(fx.endpoint_id, client=client, priority=bad)  # type: ignore[arg-type]
