"""One background thread that collects the outcomes of every task a client waits on.

Whatever waits (``get_result``, ``results``, an Executor's futures) hands the poller task ids and a
callback. The poller long-polls POST /v1/tasks/results with all of them at once (up to the server's
10,000 ids a request), hands each final outcome to its callbacks and asks again for the rest; there
is never a request per task. New ids interrupt the request in flight, so they are not kept waiting
behind slow ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Union

from ._longpoll import Interrupted, LongPollConnection
from ._object_ref import ObjectRef
from ._transport import backoff_delay
from .errors import AuthenticationError, ForbiddenError, FxError, NotFoundError, RateLimitError, ServerError, TimeoutError, ValidationError
from .outcome import TaskOutcome

log = logging.getLogger("fx_sdk")

Delivery = Union[TaskOutcome, FxError]
Callback = Callable[[Delivery], None]


class Arrivals:
    """What a waiting iterator has been handed by the poller (``deliver`` is its callback), read one at a time until a deadline."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._queue: "queue.Queue[Delivery]" = queue.Queue()
        self.deliver: Callback = self._queue.put
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def next(self, timed_out: Callable[[], str]) -> TaskOutcome:
        """The next outcome. A delivered error is raised; past the deadline, TimeoutError(``timed_out()``)."""
        left = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        try:
            delivery = self._queue.get(timeout=left)
        except queue.Empty:
            raise TimeoutError(timed_out()) from None
        if isinstance(delivery, FxError):
            raise delivery
        return delivery


MAX_IDS_PER_REQUEST = 10_000
# Most outcomes kept from batches' answers (their cache hits); past it the oldest are polled for again.
MAX_INLINE_OUTCOMES = 100_000
# A finished poll that had outcomes is followed at once by the next; this gap lets outcomes that land
# together come back in one answer rather than in one request each.
_MIN_GAP = 0.05
# When more ids are watched than one request holds, each slice waits this long before the next is asked.
_SLICE_WAIT_MS = 1_000


class ResultPoller:
    def __init__(
        self,
        connection: LongPollConnection,
        *,
        wait: float,
        retry_base_delay: float,
        retry_max_delay: float,
        load: Optional[Callable[[ObjectRef], Any]] = None,
    ) -> None:
        self._conn = connection
        self._load = load  # reads results stored as objects, when an outcome's value() is asked for
        self._wait_ms = max(0, min(60_000, int(wait * 1000)))
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._watchers: Dict[str, List[Callback]] = {}
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        # set by close() only, so new watches do not cut a backoff or a Retry-After short
        self._stop = threading.Event()
        self._asking: "set[str]" = set()
        # ids some answer has already mentioned; a request with others does not wait, because the
        # server holds a long-poll until a task is final, and an unknown id never will be
        self._known: "set[str]" = set()
        self._waiting = False
        self._offset = 0
        # outcomes batches' answers carried (cachedResults): a wait on one is answered at once, no poll
        self._inline: "OrderedDict[str, TaskOutcome]" = OrderedDict()

    def accept(self, entries: Any) -> None:
        """The outcomes a batch's answer carried (its cache hits): handed to whoever waits, and kept for later waits."""
        if not isinstance(entries, list):
            return
        outcomes = [TaskOutcome.from_wire(e, self._load) for e in entries if isinstance(e, dict) and e.get("status") in ("success", "failed", "cancelled")]
        with self._cond:
            for outcome in outcomes:
                self._inline[outcome.task_id] = outcome
                self._inline.move_to_end(outcome.task_id)
            while len(self._inline) > MAX_INLINE_OUTCOMES:
                self._inline.popitem(last=False)
        for outcome in outcomes:
            for callback in self._take(outcome.task_id):
                self._call(callback, outcome)

    def watch(self, task_ids: "list[str]", callback: Callback) -> None:
        """Calls ``callback`` once per id with its outcome (or the error that ends the wait), from the poller thread."""
        self.watch_each([(tid, callback) for tid in task_ids])

    def watch_each(self, pairs: "list[tuple[str, Callback]]") -> None:
        """``watch`` for many ids with a callback each, in one step (one interrupt at most)."""
        if not pairs:
            return
        with self._cond:
            if self._closed:
                raise FxError("CLIENT_CLOSED", "the client was closed")
            fresh = False
            ready: "list[tuple[Callback, TaskOutcome]]" = []
            for tid, callback in pairs:
                inline = self._inline.get(tid)
                if inline is not None:
                    ready.append((callback, inline))
                    continue
                self._watchers.setdefault(tid, []).append(callback)
                fresh = fresh or tid not in self._asking
            if self._thread is None and len(ready) < len(pairs):
                self._thread = threading.Thread(target=self._run, name="fx-sdk-results", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            interrupt = fresh and self._waiting
        if interrupt:
            self._conn.interrupt()
        for callback, outcome in ready:
            self._call(callback, outcome)

    def unwatch(self, task_ids: "list[str]", callback: Callback) -> None:
        """Stops delivering these ids to ``callback`` (a wait that timed out)."""
        with self._cond:
            for tid in task_ids:
                callbacks = self._watchers.get(tid)
                if callbacks is None:
                    continue
                try:
                    callbacks.remove(callback)
                except ValueError:
                    pass
                if not callbacks:
                    del self._watchers[tid]
                    self._known.discard(tid)

    def close(self, error: FxError) -> None:
        """Stops the thread; every wait still open gets ``error``."""
        with self._cond:
            self._closed = True
            self._stop.set()
            left = self._watchers
            self._watchers = {}
            self._cond.notify_all()
        self._conn.close()
        self._deliver_error(list(left.items()), error)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # ---- the thread ----------------------------------------------------------------------------

    def _next_request(self) -> "Optional[tuple[list[str], int]]":
        with self._cond:
            while not self._watchers and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            ids = list(self._watchers)
            if len(ids) <= MAX_IDS_PER_REQUEST:
                chosen, wait_ms = ids, self._wait_ms
            else:
                start = self._offset % len(ids)
                chosen = (ids[start:] + ids[:start])[:MAX_IDS_PER_REQUEST]
                self._offset = start + MAX_IDS_PER_REQUEST
                wait_ms = min(self._wait_ms, _SLICE_WAIT_MS)
            if not self._known.issuperset(chosen):
                wait_ms = 0
            self._asking = set(chosen)
            self._waiting = wait_ms > 0
            # under the same lock as watch(): ids added after this choice interrupt the request
            self._conn.arm()
            return chosen, wait_ms

    def _run(self) -> None:
        failures = 0
        while True:
            request = self._next_request()
            if request is None:
                return
            ids, wait_ms = request
            started = time.monotonic()
            try:
                answer = self._conn.post_json("/v1/tasks/results", {"taskIds": ids, "waitMs": wait_ms}, timeout=wait_ms / 1000 + 30)
            except Interrupted:
                continue
            except (AuthenticationError, ForbiddenError, ValidationError) as err:
                # no retry cures these: the waits on these ids end with the error
                self._fail(ids, err)
                continue
            except FxError as err:
                delay = err.retry_after if isinstance(err, RateLimitError) and err.retry_after is not None else None
                delay = delay if delay is not None else backoff_delay(failures, self._retry_base_delay, self._retry_max_delay)
                failures += 1
                log.debug("results poll failed (%s); retrying in %.2f s", err, delay)
                self._pause(delay)
                continue
            except Exception:  # a bug must not end the thread: every wait would hang
                log.exception("results poll failed unexpectedly; retrying")
                self._pause(backoff_delay(failures, self._retry_base_delay, self._retry_max_delay))
                failures += 1
                continue
            finally:
                with self._cond:
                    self._asking = set()
                    self._waiting = False
            failures = 0
            with self._cond:
                self._known.update(tid for tid in ids if tid in self._watchers)
            try:
                delivered = self._deliver(answer)
            except Exception as err:  # an answer off the protocol: these waits end with it
                self._fail(ids, ServerError("BAD_RESPONSE", f"the results answer does not follow the protocol ({type(err).__name__}: {err})"))
                continue
            elapsed = time.monotonic() - started
            if delivered and elapsed < _MIN_GAP:
                self._pause(_MIN_GAP - elapsed)

    def _pause(self, seconds: float) -> None:
        self._stop.wait(timeout=seconds)

    def _take(self, task_id: str) -> List[Callback]:
        with self._cond:
            self._known.discard(task_id)
            return self._watchers.pop(task_id, [])

    def _deliver(self, answer: object) -> int:
        if not isinstance(answer, dict):
            return 0
        delivered = 0
        for entry in answer.get("tasks", []):
            if entry.get("status") not in ("success", "failed", "cancelled") or entry.get("resultOmitted"):
                continue  # not final yet, or final but its result did not fit this answer: ask again
            outcome = TaskOutcome.from_wire(entry, self._load)
            for callback in self._take(outcome.task_id):
                self._call(callback, outcome)
            delivered += 1
        for task_id in answer.get("notFound", []):
            error = NotFoundError("NOT_FOUND", f"task {task_id} was not found, or is not yours")
            for callback in self._take(task_id):
                self._call(callback, error)
            delivered += 1
        return delivered

    def _fail(self, ids: "list[str]", error: FxError) -> None:
        self._deliver_error([(tid, self._take(tid)) for tid in ids], error)

    def _deliver_error(self, entries: "list[tuple[str, List[Callback]]]", error: FxError) -> None:
        for _tid, callbacks in entries:
            for callback in callbacks:
                self._call(callback, error)

    @staticmethod
    def _call(callback: Callback, delivery: Delivery) -> None:
        try:
            callback(delivery)
        except Exception:  # a waiter's bug must not stop the results of every other waiter
            log.exception("an fx_sdk result callback raised")
