"""Live streams from Python (issue 16) against the real server and agent: a running task's progress
(``ctx.emit`` in js, ``fx_sdk.emit`` in python) and what it prints, followed while it runs and read back
once it is final; another user's task is not found."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from fx_sdk import Client, Executor, LogChunk, NotFoundError, ProgressEvent, ValidationError

from .conftest import Fx, REPO

# Emits {step, of} n times; `hold` ms after the first emit keeps it running until the test has seen it.
STEPS_SOURCE = """async (n, hold) => {
  for (let i = 1; i <= n; i++) {
    ctx.emit({ step: i, of: n });
    await new Promise((r) => setTimeout(r, i === 1 ? hold : 5));
  }
  return n;
}"""


@pytest.fixture(scope="module")
def other(fx: Fx, admin: Client) -> Iterator[Client]:
    """Another user's client."""
    user = admin.create_user(f"py-live-other-{uuid.uuid4().hex[:8]}")
    with Client(fx.url, admin.create_token(user["id"], name="other")["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def steps(client: Client) -> str:
    return client.create_function({"name": "live-steps", "runtime": "js", "source": STEPS_SOURCE})["id"]


@pytest.fixture(scope="module")
def printer(client: Client) -> str:
    """Prints n lines on stdout and n on stderr, then `hold` seconds of silence, then a last line."""
    return client.register_shell_function(
        "seq 1 {n} | while read -r i; do echo out $i; echo err $i >&2; done; sleep {hold}; echo done",
        name="live-printer",
        fail_on_non_zero_exit=True,
    )


def check_order(events: List[ProgressEvent]) -> None:
    keys = [(e.attempt, e.seq) for e in events]
    assert keys == sorted(set(keys)), "progress events come once each, in seq order"


def test_progress_is_followed_to_the_end_and_read_back(client: Client, fx: Fx, steps: str) -> None:
    n = 40
    tid = client.run(steps, fx.endpoint_id, args=(n, 5))
    events = list(client.progress(tid, timeout=120))
    assert client.get_result(tid, timeout=60) == n
    check_order(events)
    assert all(isinstance(e, ProgressEvent) and e.task_id == tid and e.attempt == 0 for e in events)
    # seq is the emit count, so each value says which emit it was; coalesced ones are gaps, and the last emit always travels
    assert all(e.value == {"step": e.seq, "of": n} for e in events)
    assert events[-1].seq == n
    # once final, a new reader gets what the server kept (the latest 16), and the iteration ends at once
    kept = list(client.progress(tid))
    check_order(kept)
    assert kept[-1].seq == n and len(kept) <= 16
    page = client.get_task_progress(tid)
    assert page["final"] is True and page["emitted"] == n


def test_progress_arrives_while_the_task_runs(client: Client, fx: Fx, steps: str) -> None:
    tid = client.run(steps, fx.endpoint_id, args=(2, 120_000))  # emits once, then waits two minutes
    stream = client.progress(tid, timeout=120)
    first = next(stream)
    assert (first.seq, first.value) == (1, {"step": 1, "of": 2})
    assert client.get_task(tid)["status"] == "running"
    client.cancel(tid)
    assert list(stream) == []  # the task is final: the iteration ends


def test_a_future_reports_progress_to_its_callbacks(client: Client, fx: Fx, steps: str) -> None:
    n = 20
    seen: List[ProgressEvent] = []
    last = threading.Event()

    def on_event(event: ProgressEvent) -> None:
        seen.append(event)
        if event.seq == n:
            last.set()

    def raises(event: ProgressEvent) -> None:
        raise RuntimeError("a broken callback does not stop the others")

    with Executor(fx.endpoint_id, client=client) as ex:
        future = ex.submit(steps, n, 5)
        future.on_progress(raises)
        future.on_progress(on_event)
        assert future.result(timeout=120) == n
    assert last.wait(60), "the last emit reaches the callback"
    check_order(seen)
    assert all(e.value == {"step": e.seq, "of": n} for e in seen)


def test_a_shell_function_reports_progress_through_its_prefix(client: Client, fx: Fx) -> None:
    n = 5
    fid = client.register_shell_function(
        'seq 1 {n} | while read -r i; do echo "@step $i"; echo line $i; done', name="live-shell-steps", progress_prefix="@step "
    )
    assert client.get_function(fid)["progressPrefix"] == "@step "
    tid = client.run(fid, fx.endpoint_id, kwargs={"n": n})
    events = list(client.progress(tid, timeout=120))
    result = client.get_result(tid, timeout=60)
    check_order(events)
    # the rest of a progress line, parsed as JSON; the emit count is the number it printed
    assert all(e.value == e.seq for e in events) and events[-1].seq == n
    # the result keeps every line; the logs leave the progress lines out
    assert result["stdout"] == "".join(f"@step {i}\nline {i}\n" for i in range(1, n + 1))
    assert "".join(c.text for c in client.logs(tid)) == "".join(f"line {i}\n" for i in range(1, n + 1))


def test_logs_are_followed_and_read_back_by_stream(client: Client, fx: Fx, printer: str) -> None:
    n = 50
    tid = client.run(printer, fx.endpoint_id, kwargs={"n": n, "hold": 0})
    chunks = list(client.logs(tid, follow=True, timeout=120))
    assert client.get_result(tid, timeout=60)["returncode"] == 0
    assert all(isinstance(c, LogChunk) and c.task_id == tid for c in chunks)
    seqs = [c.seq for c in chunks]
    assert seqs == sorted(set(seqs))
    text = {s: "".join(c.text for c in chunks if c.stream == s) for s in ("stdout", "stderr")}
    assert text["stdout"] == "".join(f"out {i}\n" for i in range(1, n + 1)) + "done\n"
    assert text["stderr"] == "".join(f"err {i}\n" for i in range(1, n + 1))
    # read back once final: the same chunks, all of them or one stream's, and from a seq on
    assert list(client.logs(tid)) == chunks
    assert list(client.logs(tid, stream="stderr")) == [c for c in chunks if c.stream == "stderr"]
    # how many chunks the lines arrive in depends on timing (two, one per stream, on a slow machine)
    half = len(chunks) // 2
    assert half >= 1 and list(client.logs(tid, after_seq=chunks[half - 1].seq)) == chunks[half:]
    page = client.get_task_logs(tid)
    assert page["final"] is True and page["truncated"] is False


def test_logs_arrive_while_the_task_runs(client: Client, fx: Fx, printer: str) -> None:
    tid = client.run(printer, fx.endpoint_id, kwargs={"n": 1, "hold": 120})  # prints, then sleeps two minutes
    stream = client.logs(tid, follow=True, stream="stdout", timeout=120)
    first = next(stream)
    assert (first.stream, first.text) == ("stdout", "out 1\n")
    assert client.get_task(tid)["status"] == "running"
    assert "out 1\n" in "".join(c.text for c in client.logs(tid))  # read back while it runs, too
    client.cancel(tid)
    assert "done\n" not in "".join(c.text for c in stream)  # ends: the task is final


def test_another_users_task_is_not_found(client: Client, other: Client, fx: Fx, js: Dict[str, str]) -> None:
    tid = client.run(js["add"], fx.endpoint_id, args=(1, 2))
    client.get_result(tid, timeout=60)
    assert list(client.progress(tid)) == [] and list(client.logs(tid, follow=True)) == []  # final, and nothing emitted or printed
    for read in (lambda: list(other.progress(tid)), lambda: list(other.logs(tid)), lambda: other.get_task_progress(tid)):
        with pytest.raises(NotFoundError):
            read()


def test_the_agents_lines_about_a_task_come_only_when_asked_for(client: Client, fx: Fx, printer: str) -> None:
    tid = client.run(printer, fx.endpoint_id, kwargs={"n": 1, "hold": 0})
    assert client.get_result(tid, timeout=60)["returncode"] == 0
    both = list(client.logs(tid, agent=True))
    assert [c.seq for c in both] == sorted({c.seq for c in both})  # one order across the three streams
    said = "".join(c.text for c in both if c.stream == "agent")
    assert "received, queued" in said and "started" in said and "finished: success" in said
    assert said.index("received") < said.index("started") < said.index("finished")
    assert all(c.task_id == tid for c in both)
    printed = list(client.logs(tid))
    assert printed == [c for c in both if c.stream != "agent"] and printed  # without agent=True: only what it printed
    assert list(client.logs(tid, stream="agent")) == [c for c in both if c.stream == "agent"]
    assert any(raw["stream"] == "agent" for raw in client.get_task_logs(tid, agent=True)["items"])


def test_bad_arguments_are_refused_before_a_request(client: Client) -> None:
    with pytest.raises(ValidationError):
        client.logs(str(uuid.uuid4()), stream="stdin")
    with pytest.raises(ValidationError):
        client.progress("not-a-task")


def test_the_progress_example_runs(fx: Fx) -> None:
    """examples/progress.py as docs/live.md shows it: a python function emits, the caller prints what arrives."""
    env: Dict[str, str] = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO / "libs/sdk-python/src"),
        "FX_URL": fx.url,
        "FX_TOKEN": fx.user_token,
        "FX_ENDPOINT": fx.endpoint_name,
    }
    run = subprocess.run([sys.executable, str(Path(REPO) / "examples/progress.py")], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == "result 338350"
    assert lines[-2] == "100/100"
