"""The opt-in ``pickle`` serializer: arguments and results of python functions as pickles.

JSON stays the default: any Python and any SDK read it. With ``serializer="pickle"`` the task's
``(args, kwargs)`` travel as one pickle (cloudpickle when this Python has it, else the stdlib's),
base64 in a tagged JSON object (``PickledValue`` in libs/protocol/src/serializers.ts) that names this
Python's major.minor. The endpoint's worker refuses a pickle of another version (SERIALIZER_MISMATCH)
and sends the result back as the same kind of object, which :func:`decode_result` turns into the value.
"""

from __future__ import annotations

import base64
import pickle
import sys
from typing import Any, Callable, Dict, Literal, Mapping, Optional, Sequence, Tuple

from ._refs import is_task_ref
from ._wire import json_args
from .errors import SerializationError, ValidationError

Serializer = Literal["json", "pickle"]

SERIALIZERS = ("json", "pickle")
#: The major.minor this Python pickles as; the endpoint's Python must be the same to read it.
PYTHON_VERSION = "%d.%d" % sys.version_info[:2]
TAG = "$fx"


def check_serializer(serializer: object) -> str:
    if serializer not in SERIALIZERS:
        raise ValidationError("VALIDATION_FAILED", f'serializer must be "json" or "pickle", got {serializer!r}')
    return str(serializer)


def _pickler() -> Tuple[str, Any]:
    try:
        import cloudpickle
    except ImportError:
        return "pickle", pickle
    return "cloudpickle", cloudpickle


def pickled_value(value: Any, what: str) -> Dict[str, Any]:
    """``value`` as a PickledValue, or SerializationError naming ``what``."""
    name, module = _pickler()
    try:
        data = module.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        raise SerializationError(what, f"{what} cannot be pickled ({name}): {type(err).__name__}: {err}") from err
    return {TAG: "pickle", "python": PYTHON_VERSION, "pickler": name, "data": base64.b64encode(data).decode("ascii")}


def argument_fields(
    args: Any, kwargs: Optional[Mapping[str, Any]], serializer: str, on_index: Optional[Callable[[int], None]] = None, trust_pickle: bool = False
) -> Dict[str, Any]:
    """The fields of a submission that carry its arguments: ``args``/``kwargs``, or ``serializer``/``pickledArgs``.

    Task references (futures as arguments) travel in JSON arguments only; ``on_index`` hears of batch-item ones.
    ``trust_pickle``: with pickle, the caller trusts the author of the function (another user's) with
    what unpickling its result runs here; the server refuses such a task without it.
    """
    if check_serializer(serializer) == "json":
        wire_args, wire_kwargs = json_args(args, kwargs, on_index)
        return {"args": wire_args, "kwargs": wire_kwargs}
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise ValidationError("VALIDATION_FAILED", f"args must be a tuple or a list, got {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ValidationError("VALIDATION_FAILED", f"kwargs must be a mapping, got {type(kwargs).__name__}")
    kw = dict(kwargs or {})
    for key in kw:
        if not isinstance(key, str):
            raise SerializationError(f"kwargs[{key!r}]", f"kwargs[{key!r}]: keyword names must be strings")
    if _holds_ref((args, kw)):
        raise ValidationError("VALIDATION_FAILED", 'task and object references (futures and ObjectRefs as arguments) travel in JSON arguments only, not with serializer "pickle"')
    fields: Dict[str, Any] = {"serializer": "pickle", "pickledArgs": pickled_value((tuple(args), kw), "the arguments")}
    if trust_pickle:
        fields["trustPickle"] = True
    return fields


def _holds_ref(value: Any, depth: int = 0) -> bool:
    """Whether a TaskRef or a task future sits in plain lists, tuples and dicts (a pickle would freeze it, not resolve it)."""
    if is_task_ref(value):
        return True
    if depth > 64:
        return False
    if isinstance(value, (list, tuple)):
        return any(_holds_ref(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_ref(v, depth + 1) for v in value.values())
    return False


def is_pickled(value: Any) -> bool:
    return isinstance(value, dict) and value.get(TAG) == "pickle" and isinstance(value.get("data"), str)


class ResultNotLoadable(Exception):
    """A pickled result this Python cannot load; ``str()`` says why and names both Pythons."""


def decode_result(value: Any) -> Any:
    """The value of a pickle task's result (a PickledValue); ResultNotLoadable when this Python cannot load it."""
    if not is_pickled(value):
        return value
    theirs = value.get("python")
    try:
        return pickle.loads(base64.b64decode(value["data"]))
    except Exception as err:
        raise ResultNotLoadable(
            f"the task's result, pickled by the endpoint's Python {theirs} ({value.get('pickler')}), cannot be loaded by this "
            f"Python {PYTHON_VERSION}: {type(err).__name__}: {err}"
            + ("" if theirs == PYTHON_VERSION else f"; load it with Python {theirs}, or run the task with serializer='json'")
        ) from err
