"""Checks on what goes on the wire, made before anything is sent: ids, names and JSON arguments.

The patterns are the protocol's (libs/protocol/src/common.ts), so a malformed id or name is refused
here with a sentence instead of a round trip.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple
from urllib.parse import quote

from ._refs import as_wire_ref, escape_key
from .errors import SerializationError, ValidationError

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
RESOURCE_NAME_RE = re.compile(rf"^{_NAME}$")
FUNCTION_REF_RE = re.compile(rf"^(?:{_NAME}/)?{_NAME}(?:@[1-9][0-9]{{0,8}})?$")
ENDPOINT_REF_RE = re.compile(rf"^(?:{_NAME}/)?{_NAME}$")

# Integers past this lose digits on a JavaScript server (JSON numbers are doubles there).
_MAX_SAFE_INTEGER = 2**53 - 1


def task_id(value: object, what: str = "task id") -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise ValidationError("VALIDATION_FAILED", f"{what} must be a UUID, got {value!r}")
    return value.lower()


def function_ref(value: object) -> str:
    """A function id, or ``name``, ``name@version``, ``owner/name``, ``owner/name@version``."""
    if not isinstance(value, str) or not (UUID_RE.match(value) or FUNCTION_REF_RE.match(value)):
        raise ValidationError(
            "VALIDATION_FAILED",
            f'not a function id or name: {value!r} (a UUID, or "name", "name@version", "owner/name", "owner/name@version")',
        )
    return value


def endpoint_ref(value: object) -> str:
    """An endpoint id, or ``name`` (yours) or ``owner/name`` (admins)."""
    if not isinstance(value, str) or not (UUID_RE.match(value) or ENDPOINT_REF_RE.match(value)):
        raise ValidationError("VALIDATION_FAILED", f'not an endpoint id or name: {value!r} (a UUID, "name" or "owner/name")')
    return value


def as_given(value: Any) -> Any:
    """A field that goes on the wire as the caller gave it (for ``given_fields``)."""
    return value


def given_fields(fields: Dict[str, Any], given: Mapping[str, Tuple[Any, Callable[[Any], Any]]]) -> Dict[str, Any]:
    """``fields`` plus each optional field of ``given`` (wire name: value, how it is sent) whose value is
    not None; the server's defaults stand for the rest."""
    for name, (value, wire) in given.items():
        if value is not None:
            fields[name] = wire(value)
    return fields


def path_segment(ref: str) -> str:
    """A checked id or name for a URL path (``owner/name`` has a slash)."""
    return quote(ref, safe="")


def resource_name(raw: str, fallback: str) -> str:
    """A valid resource name made from anything (a function's ``__name__``), else ``fallback``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", raw)
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", cleaned)[:128]
    return cleaned if RESOURCE_NAME_RE.match(cleaned) and not UUID_RE.match(cleaned) else fallback


def json_args(args: Any, kwargs: Any, on_index: "Optional[Callable[[int], None]]" = None) -> "tuple[List[Any], Dict[str, Any]]":
    """Positional and keyword arguments as JSON values, refusing anything JSON would change.

    Task references (``client.ref``, an executor's future, ``item_ref``) become their wire form, and
    user keys ``$fx`` are escaped (see _refs.py); ``on_index`` hears of each batch-item reference.
    """
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise ValidationError("VALIDATION_FAILED", f"args must be a tuple or a list, got {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping):
        raise ValidationError("VALIDATION_FAILED", f"kwargs must be a mapping, got {type(kwargs).__name__}")
    checked_args = [check_json(v, f"args[{i}]", on_index=on_index) for i, v in enumerate(args)]
    checked_kwargs: Dict[str, Any] = {}
    for key, v in kwargs.items():
        if not isinstance(key, str):
            raise SerializationError(f"kwargs[{key!r}]", f"kwargs[{key!r}]: keyword names must be strings")
        checked_kwargs[escape_key(key)] = check_json(v, f"kwargs.{key}", on_index=on_index)
    return checked_args, checked_kwargs


def check_json(value: Any, path: str, _seen: "Set[int] | None" = None, *, on_index: "Optional[Callable[[int], None]]" = None) -> Any:
    """``value`` as JSON will carry it (tuples become lists), or SerializationError naming ``path``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    ref = as_wire_ref(value)
    if ref is not None:
        if "index" in ref and on_index is not None:
            on_index(ref["index"])
        elif "index" in ref:
            raise ValidationError("VALIDATION_FAILED", f"{path}: item_ref() refers to an item of the same batch; use it in batch_run")
        return ref
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise SerializationError(path, f"{path}: {value} is larger than JSON numbers carry exactly (2**53 - 1); send it as a string")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(path, f"{path}: {value} has no JSON form")
        return value
    seen = _seen if _seen is not None else set()
    if isinstance(value, (list, tuple, dict)):
        if id(value) in seen:
            raise SerializationError(path, f"{path}: the value contains itself (a cycle)")
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                out: Dict[str, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise SerializationError(f"{path}[{key!r}]", f"{path}: key {key!r} is not a string; JSON object keys are strings")
                    out[escape_key(key)] = check_json(item, f"{path}.{key}", seen, on_index=on_index)
                return out
            return [check_json(item, f"{path}[{i}]", seen, on_index=on_index) for i, item in enumerate(value)]
        finally:
            seen.discard(id(value))
    hint = " (convert it first, e.g. with .tolist())" if hasattr(value, "tolist") else ""
    raise SerializationError(path, f"{path}: a {type(value).__name__} is not JSON{hint}")
