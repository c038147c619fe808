"""What a finished task produced, and the exception a failed one raises."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from ._object_ref import ObjectRef
from ._serializers import ResultNotLoadable, decode_result
from .errors import RemoteTraceback, SerializerMismatch, TaskCancelled, TaskFailed

# Builtins a task never re-raises as themselves: the iteration protocol would swallow them, and
# BaseException-only ones (KeyboardInterrupt, SystemExit) would stop the caller's program.
_NOT_MAPPED = frozenset({"StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt", "SystemExit"})


@dataclass(frozen=True)
class RemoteError:
    """The error a failed or cancelled task carries: ``code`` (TASK_ERROR, WALLTIME_EXCEEDED...), the
    exception's ``name`` and ``message``, and its traceback (``stack``) as the worker saw it."""

    code: str
    name: str
    message: str
    stack: Optional[str] = None

    @staticmethod
    def from_wire(raw: Mapping[str, Any]) -> "RemoteError":
        stack = raw.get("stack")
        return RemoteError(
            code=str(raw.get("code", "TASK_ERROR")),
            name=str(raw.get("name", "Error")),
            message=str(raw.get("message", "")),
            stack=stack if isinstance(stack, str) else None,
        )


@dataclass(frozen=True)
class TaskOutput:
    """What a task printed (python functions; a shell function's failure): the tails of stdout and stderr."""

    stdout: str
    stderr: str
    truncated: bool = False

    @staticmethod
    def from_wire(raw: Any) -> "Optional[TaskOutput]":
        if not isinstance(raw, Mapping):
            return None
        return TaskOutput(str(raw.get("stdout", "")), str(raw.get("stderr", "")), bool(raw.get("truncated", False)))


@dataclass(frozen=True)
class TaskOutcome:
    """A final task: ``status`` is ``success`` (``result`` set), ``failed`` or ``cancelled`` (``error`` set).

    ``output`` is what the task printed, when the server has it (None otherwise). ``cached`` is True when a
    memoized result completed this one without running it, and ``cached_from`` names the task that
    produced that result: None when it ran, and when that task is not one the caller may read (another
    user's, through a shareable cache), though ``cached`` is True then. A task run with
    ``serializer="pickle"`` has its result unpickled here; one this Python cannot load is ``failed``
    with code ``SERIALIZER_MISMATCH`` saying why. A result stored as an object (large, bytes, a named
    output) has ``result_ref`` set and ``result`` None: ``value()`` fetches it (bytes, or the JSON value).
    """

    task_id: str
    status: str
    result: Any = None
    error: Optional[RemoteError] = None
    attempt: int = 0
    completed_at: Optional[str] = None
    output: Optional[TaskOutput] = None
    cached_from: Optional[str] = None
    result_ref: Optional[ObjectRef] = None
    cached: bool = False
    # reads a result stored as an object (the client's get); None where no client made the outcome
    _load: Optional[Callable[[ObjectRef], Any]] = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def value(self) -> Any:
        """The result (fetched when it is stored as an object), or raises what the task failed with (see :func:`exception_for`)."""
        if self.status == "success":
            if self.result_ref is not None and self._load is not None:
                return self._load(self.result_ref)
            return self.result
        raise exception_for(self)

    @staticmethod
    def from_wire(raw: Mapping[str, Any], load: Optional[Callable[[ObjectRef], Any]] = None) -> "TaskOutcome":
        error = raw.get("error")
        status, result = str(raw["status"]), raw.get("result")
        remote = RemoteError.from_wire(error) if isinstance(error, Mapping) else None
        # only a task submitted with pickle is unpickled, never a JSON result that merely looks like one
        if status == "success" and raw.get("serializer") == "pickle":
            try:
                result = decode_result(result)
            except ResultNotLoadable as err:
                status, result, remote = "failed", None, RemoteError("SERIALIZER_MISMATCH", "ResultNotLoadable", str(err))
        return TaskOutcome(
            task_id=str(raw["taskId"]),
            status=status,
            result=result,
            error=remote,
            attempt=int(raw.get("attempt", 0)),
            completed_at=raw.get("completedAt"),
            output=TaskOutput.from_wire(raw.get("output")),
            cached_from=raw.get("cachedFrom"),
            cached=raw.get("cached") is True,
            result_ref=ObjectRef.from_wire(raw["resultRef"]) if isinstance(raw.get("resultRef"), Mapping) else None,
            _load=load,
        )


def _builtin_exception(name: str) -> Optional[type]:
    """The builtin exception class a remote exception name denotes (``ValueError``, ``builtins.KeyError``), if any."""
    short = name[len("builtins.") :] if name.startswith("builtins.") else name
    if short in _NOT_MAPPED:
        return None
    found = getattr(builtins, short, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return None


def _instantiate(cls: type, message: str) -> Optional[BaseException]:
    if cls is KeyError:
        # str(KeyError('k')) is "'k'": give the key back rather than a doubly quoted string
        # the message is the remote side's: anything literal_eval raises (RecursionError for a deeply
        # nested one, MemoryError) keeps the message as it came rather than escaping the caller's settle
        try:
            return KeyError(ast.literal_eval(message))
        except Exception:
            return KeyError(message)
    try:
        made = cls(message)
    except Exception:  # a builtin with a constructor of its own (UnicodeDecodeError needs five arguments)
        return None
    return made if isinstance(made, BaseException) else None


def exception_for(outcome: TaskOutcome) -> BaseException:
    """The exception a failed or cancelled task raises.

    A task whose function raised a Python builtin exception (``code`` TASK_ERROR, ``name`` ``ValueError``)
    raises that type again; anything else raises :class:`TaskFailed` (:class:`SerializerMismatch` for
    SERIALIZER_MISMATCH). Either way the remote traceback
    is the exception's ``__cause__`` (a :class:`RemoteTraceback`) and its ``remote_traceback``
    attribute, with ``task_id``, ``code`` and ``output`` (what the task printed, or None) beside it. A cancelled task raises :class:`TaskCancelled`.
    """
    error = outcome.error
    if outcome.status == "cancelled" or (error is not None and error.code == "TASK_CANCELLED"):
        return TaskCancelled(outcome.task_id)
    if error is None:
        error = RemoteError("TASK_ERROR", "Error", "the task failed without an error report")
    exc: Optional[BaseException] = None
    if error.code == "TASK_ERROR":
        cls = _builtin_exception(error.name)
        if cls is not None:
            exc = _instantiate(cls, error.message)
    if exc is None:
        failure = SerializerMismatch if error.code == "SERIALIZER_MISMATCH" else TaskFailed
        exc = failure(outcome.task_id, error.code, error.name, error.message, error.stack)
        exc.output = outcome.output
    else:
        # builtin exceptions take attributes, so the same facts are there as on TaskFailed
        exc.task_id = outcome.task_id  # type: ignore[attr-defined]
        exc.code = error.code  # type: ignore[attr-defined]
        exc.remote_traceback = error.stack  # type: ignore[attr-defined]
        exc.output = outcome.output  # type: ignore[attr-defined]
    if error.stack:
        exc.__cause__ = RemoteTraceback(error.stack)
    return exc
