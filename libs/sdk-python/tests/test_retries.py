"""Retry policies from Python: a function's default and a task's own, run again by the real server and
agent after failed attempts, every attempt in the task's history; bad policies refused before sending."""

from __future__ import annotations

import time

import pytest

import fx_sdk
from fx_sdk import Client, Retry

from .conftest import Fx


def not_before(when: float) -> str:
    import time

    if time.time() < when:
        raise RuntimeError("too early")
    return "on time"


def always_fails() -> None:
    raise ValueError("never works")


def test_a_function_policy_retries_until_an_attempt_succeeds(client: Client, fx: Fx) -> None:
    fid = client.register_function(not_before, "py-not-before", retry=Retry(max_attempts=6, backoff_seconds=1, on=["TASK_ERROR"]))
    assert client.get_function(fid)["retry"] == {"maxAttempts": 6, "backoffSeconds": 1, "on": ["TASK_ERROR"]}
    tid = client.run(fid, fx.endpoint_id, args=(time.time() + 1.5,))
    assert client.get_result(tid, timeout=90) == "on time"
    task = client.get_task(tid)
    attempts = task["attempts"]
    assert 2 <= len(attempts) <= 6 and task["attempt"] == len(attempts) - 1
    assert [a["status"] for a in attempts] == ["retried"] * (len(attempts) - 1) + ["success"]
    assert attempts[0]["error"]["code"] == "TASK_ERROR" and "too early" in attempts[0]["error"]["message"]
    assert all(a["number"] == i + 1 and a["endpointId"] == fx.endpoint_id for i, a in enumerate(attempts))


def test_a_task_policy_replaces_the_function_one_and_the_last_failure_is_final(client: Client, fx: Fx) -> None:
    fid = client.register_function(always_fails, "py-always-fails", retry={"max_attempts": 5, "backoff_seconds": 30})
    tid = client.run(fid, fx.endpoint_id, retry=Retry(max_attempts=2))
    with pytest.raises(ValueError, match="never works"):
        client.get_result(tid, timeout=60)
    task = client.get_task(tid)
    assert task["retry"] == {"maxAttempts": 2, "backoffSeconds": 0, "on": list(fx_sdk.RETRYABLE_CODES)}
    assert [a["status"] for a in task["attempts"]] == ["retried", "failed"]
    # a batch gives its policy to the items without their own
    ids = client.batch_run(fx.endpoint_id, [(fid,), {"functionId": fid, "retry": {"maxAttempts": 1}}], retry=Retry(max_attempts=3))
    for tid, n in zip(ids, (3, 1)):
        with pytest.raises(ValueError):
            client.get_result(tid, timeout=60)
        assert len(client.get_task(tid)["attempts"]) == n


@pytest.mark.parametrize(
    "retry",
    [Retry(max_attempts=0), Retry(max_attempts=11), Retry(max_attempts=2, backoff_seconds=3601), Retry(max_attempts=2, on=["TASK_CANCELLED"]), {"on": ["TASK_ERROR"]}],
)
def test_bad_policies_are_refused_before_sending(client: Client, fx: Fx, retry: object) -> None:
    with pytest.raises(fx_sdk.ValidationError, match="retry"):
        client.run("py-always-fails", fx.endpoint_id, retry=retry)  # type: ignore[arg-type]
