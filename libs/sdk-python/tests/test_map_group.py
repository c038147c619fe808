"""Executor.map is lazy (a bounded window over any iterable, the rest cancelled on an early stop), and task groups re-attach."""

from __future__ import annotations

import time
from typing import Dict, Iterator

import pytest

from fx_sdk import Client, Executor, NotFoundError

from .conftest import Fx


def test_map_reads_a_generator_larger_than_the_window_only_as_results_are_taken(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    produced = 0

    def numbers() -> Iterator[int]:
        nonlocal produced
        for i in range(1_500):
            produced += 1
            yield i

    with Executor(fx.endpoint_id, client=client, batch_size=100) as ex:
        results = ex.map(js["double"], numbers(), timeout=300, buffersize=100)
        assert produced == 100  # the first window, submitted at once
        got = []
        for value in results:
            got.append(value)
            # never more than the window ahead of what was taken
            assert produced - len(got) <= 100
        assert got == [2 * i for i in range(1_500)]


def test_map_of_an_endless_generator_stopped_early_cancels_the_rest(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    produced = 0

    def forever() -> Iterator[int]:
        nonlocal produced
        i = 0
        while True:
            produced += 1
            yield 300 + i
            i += 1

    with Executor(fx.endpoint_id, client=client, batch_size=10) as ex:
        results = ex.map(js["sleep"], forever(), timeout=120, buffersize=20)
        first = [next(results) for _ in range(3)]
        assert first == [300, 301, 302]
        results.close()  # what a `break` out of a for loop does
        assert produced <= 23
        group = client.group(results.group)
        deadline = time.monotonic() + 60
        while True:
            counts = group.describe()["counts"]
            by = counts["byStatus"]
            if by.get("success", 0) + by.get("cancelled", 0) == counts["total"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert group.describe()["kind"] == "map"
        assert counts["total"] <= 23 and by.get("cancelled", 0) > 0, counts
        time.sleep(1)
        assert group.describe()["counts"]["total"] == counts["total"]  # nothing more was submitted


def test_a_new_client_reattaches_to_a_batch_by_its_group(client: Client, fx: Fx, js: Dict[str, str]) -> None:
    group = client.create_group()
    ids = client.batch_run(fx.endpoint_id, [(js["double"], [i]) for i in range(50)], group=group.id)
    client.batch_run(fx.endpoint_id, [(js["double"], [50])], group=group.id)
    with Client(fx.url, fx.user_token) as again:
        reattached = again.group(group.id)
        assert {t["id"] for t in reattached.list()} >= set(ids)
        outcomes = list(reattached.outcomes(timeout=120))
        assert len(outcomes) == 51 and all(o.ok for o in outcomes)
        assert sorted(o.result for o in outcomes) == [2 * i for i in range(51)]
        assert reattached.describe()["counts"] == {"byStatus": {"success": 51}, "total": 51}


def test_another_users_group_is_not_found(client: Client, admin: Client, fx: Fx) -> None:
    group = client.create_group()
    user = admin.create_user("py-other")
    with Client(fx.url, admin.create_token(user["id"])["token"]) as other:
        with pytest.raises(NotFoundError):
            other.group(group.id).describe()
        with pytest.raises(NotFoundError):
            other.group(group.id).cancel()
