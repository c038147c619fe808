"""The future of one FX task, as an :class:`~fx_sdk.Executor` hands it out (``fx_sdk.TaskFuture``)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ._live import ProgressEvent, ProgressRelay
from ._poller import Delivery
from .errors import FxError, TaskFailed, TimeoutError, ValidationError
from .outcome import TaskOutcome, exception_for

if TYPE_CHECKING:
    from .client import Client


# Longest a future passed as an argument is waited for until its own task is stored (it is sent within a batch interval).
_STORE_WAIT_SECONDS = 120.0


class TaskFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """The future of one FX task. ``task_id`` is set once the server has stored the task.

    ``cancel()`` cancels the FX task: a submission not sent yet is dropped; a task the server holds is
    cancelled there, and the future counts as cancelled when the server says it was (False when the
    task had already finished). A future stays pending until its outcome arrives, so ``running()``
    is False throughout.
    """

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.task_id: Optional[str] = None
        self._stored = threading.Event()  # set once task_id is, or once the submission failed
        self._client = client
        self._fx_lock = threading.RLock()
        self._notified = False
        self._progress: Optional[ProgressRelay] = None

    def cancel(self) -> bool:
        with self._fx_lock:
            tid = self.task_id
            if tid is None:
                return self._mark_cancelled()
        if self.done():
            return self.cancelled()
        answer = self._client.cancel(tid)
        if answer.get("cancelled") or answer.get("status") == "cancelled":
            return self._mark_cancelled()
        return False

    def result(self, timeout: Optional[float] = None) -> Any:
        """The task's result (fetched, the first time, when it is stored as an object), as ``Future.result``."""
        value = super().result(timeout)
        return value.load() if isinstance(value, _Stored) else value

    def on_progress(self, callback: Callable[[ProgressEvent], Any]) -> None:
        """Calls ``callback(event)`` with each :class:`ProgressEvent` of the task in ``seq`` order (those the server kept
        first) on a thread of this future's, until the task is final (a last call may come just after the future resolves)."""
        with self._fx_lock:
            if self._progress is None:
                self._progress = ProgressRelay(self._client.progress, self._wait_task_id)
        self._progress.add(callback)

    def _wait_task_id(self) -> Optional[str]:
        while not self._stored.wait(0.05) and not self.done():
            pass
        return self.task_id

    def _fx_task_ref(self) -> Dict[str, Any]:
        """As another task's argument: a reference to this task's result, once the server holds the task."""
        deadline = time.monotonic() + _STORE_WAIT_SECONDS
        while not self._stored.wait(0.05):
            if self.done():
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the future's task was not stored within {_STORE_WAIT_SECONDS} s, so it cannot be passed as an argument")
        if self.task_id is None:
            raise ValidationError("VALIDATION_FAILED", "the future's task was never submitted (cancelled or refused first), so its result cannot be an argument")
        return {"$fx": "ref", "taskId": self.task_id}

    # ---- for the Executor ----------------------------------------------------------------------

    def _attach(self, task_id: str) -> bool:
        """Records the task id; False when the future was cancelled while its submission was in flight."""
        with self._fx_lock:
            self.task_id = task_id
            self._stored.set()
            return not self.cancelled()

    def _settle(self, delivery: Delivery) -> None:
        if isinstance(delivery, FxError):
            if self._notify_once():
                self.set_exception(delivery)
            return
        if delivery.status == "cancelled":
            self._mark_cancelled()
            return
        # built before the future is marked running: a failure to build it must not leave it running for good
        failure = None if delivery.ok else _failure_of(delivery)
        if not self._notify_once():
            return  # cancelled meanwhile
        if failure is None:
            # a result stored as an object is fetched by result(), in the caller's thread, not here in the poller's
            self.set_result(_Stored(delivery) if delivery.result_ref is not None else delivery.result)
        else:
            self.set_exception(failure)

    def _mark_cancelled(self) -> bool:
        if not super().cancel():
            return False
        # concurrent.futures.wait() and as_completed() learn of a cancellation only from this call
        self._notify_once()
        return True

    def _notify_once(self) -> bool:
        """set_running_or_notify_cancel(), which may be called once: True when the future may be resolved."""
        with self._fx_lock:
            if self._notified:
                return False
            self._notified = True
        return self.set_running_or_notify_cancel()


class _Stored:
    """A result stored as an object, read once on first demand and kept."""

    def __init__(self, outcome: TaskOutcome) -> None:
        self._outcome = outcome
        self._lock = threading.Lock()
        self._value: Any = None
        self._loaded = False

    def load(self) -> Any:
        with self._lock:
            if not self._loaded:
                self._value = self._outcome.value()
                self._loaded = True
            return self._value


def _failure_of(outcome: TaskOutcome) -> BaseException:
    """The exception a failed task's future holds; a plain TaskFailed where the error it reports cannot be rebuilt."""
    try:
        return exception_for(outcome)
    except Exception:
        error = outcome.error
        code, name, message = (error.code, error.name, error.message) if error else ("TASK_ERROR", "Error", "")
        return TaskFailed(outcome.task_id, code, name, message, error.stack if error else None)
