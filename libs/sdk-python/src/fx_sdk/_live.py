"""Live streams from running tasks: what a task emits as progress (``fx_sdk.emit(value)`` in it) and what it prints.

The client's calls live here (a mixin, so that client.py stays small): ``progress``, ``logs`` and the
single requests under them, ``get_task_progress`` and ``get_task_logs``. The Python SDK has no
websocket (results ride a REST long-poll), so it follows a running task by polling
``GET /v1/tasks/:id/progress`` and ``GET /v1/tasks/:id/logs``: again at once while a page comes back
full, then after ``_FAST_DELAY``, backing off to ``_SLOW_DELAY`` while nothing new arrives. The server
keeps the last 16 progress values of a task and its logs up to a bound, so a late or slow reader misses
only values that were replaced (``seq`` shows the gaps), never ones out of order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, cast

from ._calls import ClientCalls
from ._wire import task_id
from .errors import FxError, TimeoutError, ValidationError

log = logging.getLogger("fx_sdk")

_FAST_DELAY = 0.1
_SLOW_DELAY = 1.0
_LOGS_PAGE = 1_000
_STREAMS = ("stdout", "stderr", "agent")


def _stamp(raw: Dict[str, Any]) -> Dict[str, Any]:
    """What every live item carries on the wire: its task, the attempt, its place in order and when."""
    return {"task_id": str(raw["taskId"]), "attempt": int(raw["attempt"]), "seq": int(raw["seq"]), "at": float(raw["at"])}


@dataclass(frozen=True)
class ProgressEvent:
    """One value a task emitted (libs/protocol ``ProgressEvent``). ``seq`` counts the emits of ``attempt``
    from 1; ``coalesced`` says how many earlier emits this one replaced when the task emitted faster
    than the agent sends (0: none). ``at`` is when it was emitted, in epoch milliseconds (the agent's clock)."""

    task_id: str
    attempt: int
    seq: int
    at: float
    value: Any
    coalesced: int = 0

    @staticmethod
    def from_wire(raw: Dict[str, Any]) -> "ProgressEvent":
        return ProgressEvent(**_stamp(raw), value=raw.get("value"), coalesced=int(raw.get("coalesced") or 0))


@dataclass(frozen=True)
class LogChunk:
    """A piece of what a task printed on ``stream`` (``"stdout"`` or ``"stderr"``), in the order printed:
    ``seq`` orders the chunks of one attempt across the streams. ``at``: epoch milliseconds. Stream
    ``"agent"`` holds the endpoint agent's own lines about the task (received, started on which worker,
    finished…), read only when asked for (``logs(task, agent=True)``)."""

    task_id: str
    attempt: int
    stream: str
    seq: int
    at: float
    text: str

    @staticmethod
    def from_wire(raw: Dict[str, Any]) -> "LogChunk":
        return LogChunk(**_stamp(raw), stream=str(raw["stream"]), text=str(raw["text"]))


class _Pace:
    """When to ask again: at once after a full page, soon after a partial one, slower while nothing comes."""

    def __init__(self, timeout: Optional[float], what: str) -> None:
        self._delay = _FAST_DELAY
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._timeout = timeout
        self._what = what

    def wait(self, got: int, full: bool) -> None:
        if full:
            return
        self._delay = _FAST_DELAY if got else min(_SLOW_DELAY, self._delay * 2)
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self._what} did not finish within {self._timeout:g} s")
            time.sleep(min(self._delay, left))
        else:
            time.sleep(self._delay)


def check_stream(stream: Optional[str]) -> Optional[str]:
    if stream is not None and stream not in _STREAMS:
        raise ValidationError("VALIDATION_FAILED", f'stream must be "stdout", "stderr" or "agent", not {stream!r}')
    return stream


class LiveMethods(ClientCalls):
    """The client's calls for progress and logs."""

    def get_task_progress(self, task: str) -> Dict[str, Any]:
        """One GET /v1/tasks/:id/progress as the server answers it: ``items`` (the kept values, oldest
        first, as wire dicts), ``emitted`` (the highest seq) and ``final``; see :meth:`progress` to follow."""
        return cast(Dict[str, Any], self._request("GET", f"/v1/tasks/{task_id(task)}/progress"))

    def get_task_logs(
        self, task: str, after_seq: int = 0, limit: int = _LOGS_PAGE, stream: Optional[str] = None, *, agent: bool = False
    ) -> Dict[str, Any]:
        """One GET /v1/tasks/:id/logs as the server answers it: ``items`` after ``after_seq`` (wire dicts),
        ``nextSeq``, ``final`` and ``truncated``; ``agent``: the agent's lines too. See :meth:`logs` to read
        them all or follow."""
        query = f"afterSeq={int(after_seq)}&limit={int(limit)}"
        if check_stream(stream) is not None:
            query += f"&stream={stream}"
        if agent:
            query += "&agent=true"
        return cast(Dict[str, Any], self._request("GET", f"/v1/tasks/{task_id(task)}/logs?{query}"))

    def progress(self, task: str, timeout: Optional[float] = None) -> Iterator[ProgressEvent]:
        """Yields the task's progress events in ``seq`` order (the kept ones first), until the task is final.

        A retried task starts a new ``attempt`` whose ``seq`` counts from 1 again. ``timeout`` (seconds,
        for the whole iteration) raises TimeoutError; another user's task NotFoundError. Nothing is
        requested until iteration starts.
        """
        tid = task_id(task)
        return self._follow_progress(tid, timeout)

    def _follow_progress(self, tid: str, timeout: Optional[float]) -> Iterator[ProgressEvent]:
        pace = _Pace(timeout, f"task {tid}")
        last: Tuple[int, int] = (-1, 0)
        while True:
            page = self.get_task_progress(tid)
            fresh = [e for e in (ProgressEvent.from_wire(raw) for raw in page.get("items", [])) if (e.attempt, e.seq) > last]
            for event in fresh:
                last = (event.attempt, event.seq)
                yield event
            if page.get("final"):
                return
            pace.wait(len(fresh), False)

    def logs(
        self,
        task: str,
        follow: bool = False,
        stream: Optional[str] = None,
        *,
        after_seq: int = 0,
        timeout: Optional[float] = None,
        agent: bool = False,
    ) -> Iterator[LogChunk]:
        """Yields what the task printed, chunk by chunk in the order printed (``stream``: only ``"stdout"``,
        ``"stderr"`` or ``"agent"``).

        ``agent=True`` interleaves the endpoint agent's own lines about the task (stream ``"agent"``:
        received, started on which worker, finished, requeued…) in ``seq`` order. Without ``follow`` it
        ends with the last chunk stored now; with it, once the task is final and every chunk was read.
        ``after_seq`` starts after a chunk already seen (a reader that comes back). Text past the server's
        per-task bound is dropped (``get_task_logs(...)["truncated"]`` says so).
        """
        tid = task_id(task)
        return self._follow_logs(tid, follow, check_stream(stream), int(after_seq), timeout, bool(agent))

    def _follow_logs(self, tid: str, follow: bool, stream: Optional[str], after: int, timeout: Optional[float], agent: bool) -> Iterator[LogChunk]:
        pace = _Pace(timeout, f"task {tid}")
        while True:
            page = self.get_task_logs(tid, after, _LOGS_PAGE, stream, agent=agent)
            items: List[Dict[str, Any]] = page.get("items", [])
            for raw in items:
                yield LogChunk.from_wire(raw)
            after = max(after, int(page.get("nextSeq", after)))
            full = len(items) >= _LOGS_PAGE
            if page.get("final") or (not follow and not full):
                return
            pace.wait(len(items), full)


class ProgressRelay:
    """Calls a future's progress callbacks from one thread of its own, which follows the task's progress
    until it is final (or the client is closed); a callback that raises is logged and kept."""

    def __init__(self, follow: Callable[[str], Iterator[ProgressEvent]], task_id_when_stored: Callable[[], Optional[str]]) -> None:
        self._follow = follow
        self._task_id = task_id_when_stored
        self._callbacks: List[Callable[[ProgressEvent], Any]] = []
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def add(self, callback: Callable[[ProgressEvent], Any]) -> None:
        with self._lock:
            self._callbacks.append(callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fx-progress", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        tid = self._task_id()
        if tid is None:
            return  # never submitted: there is nothing to follow
        try:
            for event in self._follow(tid):
                with self._lock:
                    callbacks = list(self._callbacks)
                for callback in callbacks:
                    try:
                        callback(event)
                    except Exception:
                        log.exception("a progress callback of task %s raised; it stays registered", tid)
        except FxError as err:
            log.debug("stopped following the progress of task %s (%s: %s)", tid, err.code, err.message)
