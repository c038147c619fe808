"""Settings of registrations and tasks as the wire has them: the retry policy, and a registration's options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, TypedDict, Union

from ._calls import ClientCalls
from ._wire import as_given, function_ref, given_fields, path_segment
from .errors import ValidationError

if TYPE_CHECKING:  # type checkers know typing_extensions; at run time these annotations stay strings
    from typing_extensions import Unpack

#: The failure codes a retry policy may name (RETRYABLE_CODES in libs/protocol/src/retry.ts).
RETRYABLE_CODES = ("TASK_ERROR", "NON_ZERO_EXIT", "WORKER_LOST", "WALLTIME_EXCEEDED", "MEMORY_EXCEEDED")


@dataclass(frozen=True)
class Retry:
    """How a task is run again after a failed attempt: an attempt that fails with a code in ``on``,
    while attempts remain (``max_attempts`` in all, the first included), is run again ``backoff_seconds``
    after it ended; only the last attempt's failure is final. Separate from the requeues after a lost
    lease, which the server counts on its own."""

    max_attempts: int
    backoff_seconds: float = 0.0
    on: Sequence[str] = RETRYABLE_CODES


RetryLike = Union[Retry, Mapping[str, Any]]


def retry_wire(retry: RetryLike) -> Dict[str, Any]:
    """A Retry (or a mapping with ``max_attempts``/``maxAttempts``, ...) as the wire's RetryPolicy, checked as the server checks it."""
    if isinstance(retry, Retry):
        attempts: Any = retry.max_attempts
        backoff: Any = retry.backoff_seconds
        on: Any = retry.on
    elif isinstance(retry, Mapping):
        attempts = retry.get("max_attempts", retry.get("maxAttempts"))
        backoff = retry.get("backoff_seconds", retry.get("backoffSeconds", 0))
        on = retry.get("on", RETRYABLE_CODES)
    else:
        raise ValidationError("VALIDATION_FAILED", "retry must be a fx_sdk.Retry or a mapping with max_attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ValidationError("VALIDATION_FAILED", f"retry max_attempts must be a whole number from 1 to 10, not {attempts!r}")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff <= 3600:
        raise ValidationError("VALIDATION_FAILED", f"retry backoff_seconds must be a number of seconds from 0 to 3600, not {backoff!r}")
    codes = [on] if isinstance(on, str) else list(on)
    bad = [c for c in codes if c not in RETRYABLE_CODES]
    if not codes or bad:
        raise ValidationError("VALIDATION_FAILED", f"retry on {bad or codes!r}: a retry policy retries only on {', '.join(RETRYABLE_CODES)}")
    return {"maxAttempts": attempts, "backoffSeconds": backoff, "on": codes}


class RegistrationOptions(TypedDict, total=False):
    """The keywords every ``register_*`` call takes (``register_function``, ``register_shell_function``):
    ``retry`` is the tasks' default policy, ``cache={"ttlSeconds": 3600}`` memoizes results,
    ``idempotent=True`` lets ``speculation`` copy stragglers."""

    description: Optional[str]
    walltime_seconds: Optional[float]
    public: Optional[bool]
    retry: Optional[RetryLike]
    cache: Optional[Mapping[str, Any]]
    idempotent: Optional[bool]


def registration_options(
    request: Dict[str, Any],
    description: Optional[str] = None,
    walltime_seconds: Optional[float] = None,
    public: Optional[bool] = None,
    retry: Optional[RetryLike] = None,
    cache: Optional[Mapping[str, Any]] = None,
    idempotent: Optional[bool] = None,
) -> Dict[str, Any]:
    """A RegisterFunctionRequest with the options that were given; the server's defaults for the rest."""
    return given_fields(
        request,
        {
            "description": (description, as_given),
            "walltimeSeconds": (walltime_seconds, as_given),
            "public": (public, as_given),
            "retry": (retry, retry_wire),
            "cache": (cache, dict),
            "idempotent": (idempotent, bool),
        },
    )


class CacheMethods(ClientCalls):
    """The client's memoized-result calls (kept apart so that client.py stays small)."""

    def clear_cache(self, function: str) -> int:
        """Drops a function's memoized results (yours, and the shared ones of a function you own); returns how many."""
        return int(self._request("DELETE", f"/v1/functions/{path_segment(function_ref(function))}/cache")["cleared"])
