"""Every error the SDK raises, with the same codes as the TypeScript SDK (`@fx/sdk`).

Raw transport errors (requests', socket's) never escape: they become ``__cause__`` of a
:class:`ConnectionError` or :class:`TimeoutError`. Several classes also derive from the builtin that
Python code already catches, so ``except TimeoutError`` (builtin) catches an FX timeout, and
``except concurrent.futures.CancelledError`` a cancelled task.
"""

from __future__ import annotations

import builtins
import concurrent.futures
from typing import Any, Generic, List, Mapping, Optional, Sequence, TypeVar

T = TypeVar("T")


class FxError(Exception):
    """Base of every error the SDK raises.

    ``code`` is the wire code (``NOT_FOUND``, ``RATE_LIMITED``, ``TASK_ERROR``...) or one of the few
    that exist only on this side of the wire (``CONNECTION_FAILED``, ``TIMEOUT``, ``BAD_RESPONSE``,
    ``CLIENT_CLOSED``, ``SERIALIZATION_FAILED``). ``status`` is the HTTP status of the response that
    produced it, when there was one; ``details`` the server's ``details``, untouched.
    """

    def __init__(self, code: str, message: str, *, status: Optional[int] = None, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def __str__(self) -> str:
        return self.message


class AuthenticationError(FxError):
    """401: the token is missing, malformed, expired or revoked."""


class ForbiddenError(FxError):
    """403: the token is valid but may not do this (an admin route, a function an endpoint refuses)."""


class NotFoundError(FxError):
    """404: the resource does not exist or is not yours; also a task id the results call did not know."""


class ValidationError(FxError):
    """400, or an input the SDK refused before sending it."""


class SerializationError(ValidationError):
    """An argument JSON cannot carry faithfully (NaN, a set, bytes, a non-string key, a cycle...).

    Refused before anything was sent; ``path`` names it: ``args[0]``, ``kwargs.x.y``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__("SERIALIZATION_FAILED", message)
        self.path = path


class ConflictError(FxError):
    """409: the request conflicts with the current state (a name already taken, a locked endpoint)."""


class PayloadTooLargeError(FxError):
    """413: the request body or batch was larger than the server accepts."""


class RateLimitError(FxError):
    """429 RATE_LIMITED, raised once retries are spent or when the server asks for a longer wait than allowed.

    ``retry_after`` is how long the server asked the caller to wait, in seconds (None when it did not say).
    """

    def __init__(self, message: str, retry_after: Optional[float], *, status: Optional[int] = None, details: Any = None) -> None:
        super().__init__("RATE_LIMITED", message, status=status, details=details)
        self.retry_after = retry_after


class QuotaExceededError(FxError):
    """QUOTA_EXCEEDED (429, or 403 for storage): as many unfinished tasks, or bytes in objects, as the server allows.

    Never retried: it frees up as tasks finish or objects are deleted."""


class ServerError(FxError):
    """5xx, or a response that does not match the protocol."""


class ConnectionError(FxError, builtins.ConnectionError):
    """The server could not be reached, or the connection broke before a response arrived."""


class TimeoutError(FxError, builtins.TimeoutError):
    """A request or a wait did not finish in time (also ``concurrent.futures.TimeoutError``)."""

    def __init__(self, message: str) -> None:
        super().__init__("TIMEOUT", message)


class RemoteTraceback(Exception):
    """The traceback of a remote failure, as the worker printed it.

    Attached as ``__cause__`` of the exception a failed task raises (as ``ProcessPoolExecutor`` does
    with its workers' tracebacks), so an uncaught failure prints the remote frames above the local ones.
    """

    def __init__(self, traceback: str) -> None:
        super().__init__(traceback)
        self.traceback = traceback

    def __str__(self) -> str:
        return f'\n"""\n{self.traceback.rstrip()}\n"""'


class TaskFailed(FxError):
    """The remote function failed and its exception is not a Python builtin (or the failure is FX's).

    ``code`` is the remote failure code (``TASK_ERROR``, ``WALLTIME_EXCEEDED``, ``WORKER_LOST``,
    ``NON_ZERO_EXIT``...); ``remote_name``, ``remote_message`` and ``remote_traceback`` are the remote
    exception's; ``output`` is what the task printed (a :class:`~fx_sdk.outcome.TaskOutput`), when known.
    """

    def __init__(self, task_id: str, code: str, remote_name: str, remote_message: str, remote_traceback: Optional[str]) -> None:
        super().__init__(code, f"task {task_id} failed: {remote_name}: {remote_message}")
        self.task_id = task_id
        self.remote_name = remote_name
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.output: Any = None


class SerializerMismatch(TaskFailed):
    """SERIALIZER_MISMATCH: a ``serializer="pickle"`` task met a Python that cannot read its pickle.

    The endpoint's worker runs another Python major.minor than the one that pickled the arguments (the
    message names both), or lacks cloudpickle for arguments cloudpickle wrote; or this Python cannot load
    the pickled result. Use ``serializer="json"``, or the same Python on both sides.
    """


class TaskCancelled(FxError, concurrent.futures.CancelledError):
    """The task was cancelled before it produced a result (also ``concurrent.futures.CancelledError``)."""

    def __init__(self, task_id: str) -> None:
        super().__init__("TASK_CANCELLED", f"task {task_id} was cancelled")
        self.task_id = task_id


class PartialBatchError(FxError):
    """A batch larger than one request was split, and a later request failed after earlier ones were accepted.

    The accepted tasks exist and will run: ``accepted_task_ids`` holds their ids, in order (a prefix
    of the batch); ``__cause__`` is the error of the failed request.
    """

    def __init__(self, accepted_task_ids: Sequence[str], cause: FxError) -> None:
        super().__init__(
            cause.code,
            f"{len(accepted_task_ids)} tasks were accepted before a batch request failed: {cause.message}",
            status=cause.status,
            details=cause.details,
        )
        self.accepted_task_ids = list(accepted_task_ids)
        self.__cause__ = cause


class ListTruncatedError(FxError, Generic[T]):
    """LIST_TRUNCATED: a list met the SDK's own bound while the server had more, so it raised rather than return a part as the whole.

    ``list_functions`` without ``limit`` reads at most ``LIST_FUNCTIONS_MAX`` (1,000) functions, and no
    page after the one that brings the sources read to 64 MiB; ``list_users`` and ``list_tokens`` at most
    ``LIST_ACCOUNTS_MAX`` (1,000). ``items`` holds what was read (the head of
    the list, in order); ``bound`` is ``"count"`` or ``"source_bytes"``. A ``limit`` the caller passes is
    not this bound: the list then ends at it without an error.
    """

    def __init__(self, message: str, items: Sequence[T], bound: str) -> None:
        super().__init__("LIST_TRUNCATED", message)
        self.items: List[T] = list(items)
        self.bound = bound


class ObjectIntegrityError(FxError):
    """CHECKSUM_MISMATCH: an object's bytes did not match their sha256 (or size), so they were refused rather than returned.

    ``expected_sha256`` is what the server vouches for, ``actual_sha256`` what was read (or sent).
    """

    def __init__(self, message: str, expected_sha256: Optional[str], actual_sha256: Optional[str]) -> None:
        super().__init__("CHECKSUM_MISMATCH", message)
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class ObjectUploadError(FxError):
    """A put failed before its object existed; the server keeps the ``offset`` bytes it received until the upload expires.

    ``client.put(same_data, upload_id=err.upload_id)`` sends only the rest. ``__cause__`` is what failed
    (the network after its retries, the data, a refusal); ``code`` is its code when it is an FxError,
    else ``UPLOAD_INCOMPLETE``.
    """

    def __init__(self, message: str, upload_id: Optional[str], offset: int, cause: Optional[BaseException]) -> None:
        fx = cause if isinstance(cause, FxError) else None
        super().__init__(fx.code if fx else "UPLOAD_INCOMPLETE", message, status=fx.status if fx else None, details=fx.details if fx else None)
        self.upload_id = upload_id
        self.offset = offset
        self.__cause__ = cause


# The TypeScript SDK's names, for code that moves between the two.
TaskFailedError = TaskFailed
TaskCancelledError = TaskCancelled


# The class and default code of each HTTP error status (429 and 5xx are decided below).
_BY_STATUS = {
    400: (ValidationError, "VALIDATION_FAILED"),
    401: (AuthenticationError, "UNAUTHENTICATED"),
    403: (ForbiddenError, "FORBIDDEN"),
    404: (NotFoundError, "NOT_FOUND"),
    409: (ConflictError, "CONFLICT"),
    413: (PayloadTooLargeError, "PAYLOAD_TOO_LARGE"),
}


def error_from_response(status: int, body: Optional[Mapping[str, Any]], *, retry_after: Optional[float] = None, fallback: str = "") -> FxError:
    """The SDK error for an HTTP error status and the server's ``{code, message, details}`` body (None when unreadable)."""
    raw_code = body.get("code") if body else None
    code = raw_code if isinstance(raw_code, str) else None
    message = (body.get("message") if body else None) or fallback or f"the server answered HTTP {status}"
    details = body.get("details") if body else None
    if code == "QUOTA_EXCEEDED" and status in (403, 429):
        return QuotaExceededError(code, message, status=status, details=details)
    if status in _BY_STATUS:
        cls, default = _BY_STATUS[status]
        return cls(code or default, message, status=status, details=details)
    if status == 429:
        return RateLimitError(message, retry_after, status=status, details=details)
    if status >= 500:
        return ServerError(code or ("UNAVAILABLE" if status == 503 else "INTERNAL"), message, status=status, details=details)
    return FxError(code or "INTERNAL", message, status=status, details=details)


class EndpointOfflineWarning(UserWarning):
    """A submission went to an endpoint with no agent connected: its tasks wait until one connects."""
