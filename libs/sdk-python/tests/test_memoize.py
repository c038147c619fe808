"""Memoized results from Python: register_function(cache=...), run(cache=...), batch_run, clear_cache.

Each function answers a fresh random nonce, so a task that ran again could not return the stored one:
equal nonces prove that the later task completed from the stored result without running.
"""

from __future__ import annotations

import uuid

from fx_sdk import Client

from .conftest import Fx


def nonce(x: int) -> list:
    import uuid

    return [x, uuid.uuid4().hex]


def test_an_identical_task_completes_from_the_stored_result_without_running(client: Client, fx: Fx) -> None:
    fn = client.register_function(nonce, f"memo-{uuid.uuid4().hex[:8]}", cache={"ttlSeconds": 600})
    assert client.get_function(fn)["cache"] == {"ttlSeconds": 600, "shareable": False}
    first = client.run(fn, fx.endpoint_id, (1,))
    value = client.get_result(first, timeout=60)
    again = client.run(fn, fx.endpoint_id, (1,))
    assert client.get_result(again, timeout=60) == value
    info = client.get_task(again)
    assert info["cached"] is True and info["cachedFrom"] == first
    assert info["timeline"]["dispatchedAt"] is None
    outcome = next(client.results([again], timeout=60))
    assert outcome.cached is True and outcome.cached_from == first and outcome.value() == value

    # cache=False runs anyway; other arguments run; a batch mixes hits and new work
    forced = client.run(fn, fx.endpoint_id, (1,), cache=False)
    assert client.get_result(forced, timeout=60) != value
    ids = client.batch_run(fx.endpoint_id, [(fn, (1,)), (fn, (2,))])
    results = client.get_results(ids, timeout=60)
    assert results[0] == value and results[1][0] == 2
    assert client.get_task(ids[0])["cachedFrom"] == first


def plain_nonce(x: int) -> list:
    import uuid

    return [x, uuid.uuid4().hex]


def test_cache_true_memoizes_a_plain_function_and_clear_cache_forgets(client: Client, fx: Fx) -> None:
    name = f"plain-{uuid.uuid4().hex[:8]}"
    # its own function: entries are keyed by a function's content, and clear_cache drops those of its content
    fn = client.register_function(plain_nonce, name)
    a = client.run(fn, fx.endpoint_id, (3,), cache=True)
    value = client.get_result(a, timeout=60)
    b = client.run(fn, fx.endpoint_id, (3,), cache=True)
    assert client.get_result(b, timeout=60) == value
    assert client.get_task(b)["cachedFrom"] == a
    # without the flag the function is not memoized
    assert client.get_result(client.run(fn, fx.endpoint_id, (3,)), timeout=60) != value
    assert client.clear_cache(name) == 1
    c = client.run(fn, fx.endpoint_id, (3,), cache=True)
    assert client.get_result(c, timeout=60) != value
    assert client.get_task(c)["cached"] is False


def test_identical_tasks_in_one_batch_share_one_execution(client: Client, fx: Fx) -> None:
    fn = client.register_function(nonce, f"flight-{uuid.uuid4().hex[:8]}", cache={"ttlSeconds": 600})
    ids = client.batch_run(fx.endpoint_id, [(fn, (7,))] * 5)
    results = client.get_results(ids, timeout=60)
    assert all(r == results[0] for r in results)
    infos = [client.get_task(i) for i in ids]
    assert sum(1 for t in infos if not t["cached"]) == 1


def pickled_nonce(x: int) -> tuple:
    import uuid

    return (x, uuid.uuid4().hex)


def inline_nonce(x: int) -> list:
    import uuid  # its own content: entries are keyed by content, and nonce's hold other tests' tasks

    return [x, uuid.uuid4().hex]


def test_a_batch_resolves_its_cache_hits_from_the_answer_without_polling_for_them(client: Client, fx: Fx) -> None:
    fn = client.register_function(inline_nonce, f"inline-{uuid.uuid4().hex[:8]}", cache={"ttlSeconds": 600})
    primed = client.batch_run(fx.endpoint_id, [(fn, (i,)) for i in range(4)])
    values = client.get_results(primed, timeout=60)
    asked: "set[str]" = set()
    post_json = client.poller._conn.post_json

    def recording(path: str, body: dict, **kw: object) -> object:
        asked.update(body.get("taskIds", []))
        return post_json(path, body, **kw)

    client.poller._conn.post_json = recording  # type: ignore[method-assign]
    ids = client.batch_run(fx.endpoint_id, [(fn, (i,)) for i in range(6)])
    outcomes = {o.task_id: o for o in client.results(ids, timeout=60)}
    assert [outcomes[i].value() for i in ids[:4]] == values
    assert [outcomes[i].cached_from for i in ids[:4]] == primed
    assert all(outcomes[i].cached for i in ids[:4])
    assert outcomes[ids[4]].cached is False and outcomes[ids[4]].cached_from is None and outcomes[ids[4]].value()[0] == 4
    # the hits came with the answer: the poller never asked for them, only for the two new tasks
    assert asked.isdisjoint(ids[:4]) and set(ids[4:]) <= asked
    assert client.get_results(ids[:4], timeout=60) == values

    # a pickled result in the answer is unpickled as a polled one is
    pfn = client.register_function(pickled_nonce, f"inline-pickle-{uuid.uuid4().hex[:8]}", cache={"ttlSeconds": 600})
    first = client.batch_run(fx.endpoint_id, [(pfn, (1,))], serializer="pickle")
    value = client.get_result(first[0], timeout=120)
    assert isinstance(value, tuple)
    again = client.batch_run(fx.endpoint_id, [(pfn, (1,))], serializer="pickle")
    assert client.get_result(again[0], timeout=60) == value and again[0] not in asked
