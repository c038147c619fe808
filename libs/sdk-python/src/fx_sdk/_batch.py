"""Batch submissions: items checked and encoded once, then sent in requests the server accepts."""

from __future__ import annotations

import json
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ._options import RetryLike, retry_wire
from ._serializers import argument_fields
from ._wire import endpoint_ref, function_ref, given_fields
from .errors import EndpointOfflineWarning, FxError, PartialBatchError, ValidationError

class WireItem(Dict[str, Any]):
    """A batch item whose arguments are encoded already (``argument_fields``): sent as it is."""


# (function, args, kwargs), (function, args) or (function,); or the wire's own dict.
BatchItem = Union[Tuple[str], Tuple[str, Sequence[Any]], Tuple[str, Sequence[Any], Mapping[str, Any]], Mapping[str, Any]]


def encode_items(
    items: Iterable[BatchItem],
    resources: Optional[Mapping[str, Any]],
    serializer: str = "json",
    endpoint: str = "",
    pairs: "Optional[Set[Tuple[str, str]]]" = None,
    retry: Optional[RetryLike] = None,
    cache: Optional[bool] = None,
    trust_pickle: bool = False,
) -> Tuple[List[bytes], bool]:
    """Each item as its JSON bytes, every one checked (and pickled, with ``serializer="pickle"``) before any
    request is sent; and whether any item refers to another (``item_ref``), which holds the batch to one
    request. ``pairs`` gathers the distinct (endpoint, function) of the items (``endpoint`` for those that
    name none). ``cache`` goes to the items that do not say their own."""
    encoded: List[bytes] = []
    refers = [False]
    default_retry = retry_wire(retry) if retry is not None else None
    for i, item in enumerate(items):

        def on_index(index: int, i: int = i) -> None:
            if index >= i:
                raise ValidationError("VALIDATION_FAILED", f"batch item {i} refers to item {index}; an item may refer only to items before it")
            refers[0] = True

        wire: Dict[str, Any]
        if isinstance(item, Mapping):
            fid = item.get("functionId")
            if isinstance(item, WireItem):  # encoded already (the executor's): as the wire has it
                wire = {**item, "functionId": function_ref(fid)}
            elif item.get("pickledArgs") is not None:  # pickled already: as the wire has it
                wire = {"functionId": function_ref(fid), "serializer": "pickle", "pickledArgs": item["pickledArgs"]}
                if item.get("trustPickle", trust_pickle):
                    wire["trustPickle"] = True
            else:
                fields = argument_fields(
                    item.get("args", ()), item.get("kwargs"), item.get("serializer", serializer), on_index, bool(item.get("trustPickle", trust_pickle))
                )
                wire = {"functionId": function_ref(fid), **fields}
            if item.get("endpointId") is not None:
                wire["endpointId"] = endpoint_ref(item["endpointId"])
            if item.get("resources") is not None:
                wire["resources"] = dict(item["resources"])
            if item.get("priority") is not None:
                wire["priority"] = check_priority(item["priority"], f"batch item {i}: priority")
            if item.get("retry") is not None:
                wire["retry"] = retry_wire(item["retry"])
            if item.get("cache") is not None:
                wire["cache"] = bool(item["cache"])
        elif isinstance(item, tuple) and 1 <= len(item) <= 3:
            fields = argument_fields(item[1] if len(item) > 1 else (), item[2] if len(item) > 2 else None, serializer, on_index, trust_pickle)  # type: ignore[misc]
            wire = {"functionId": function_ref(item[0]), **fields}
        else:
            raise ValidationError("VALIDATION_FAILED", f"batch item {i} must be (function, args, kwargs), (function, args) or (function,)")
        if resources is not None and "resources" not in wire:
            wire["resources"] = dict(resources)
        if default_retry is not None and "retry" not in wire:
            wire["retry"] = default_retry
        if cache is not None and "cache" not in wire:
            wire["cache"] = bool(cache)
        if pairs is not None:
            pairs.add((wire.get("endpointId", endpoint), wire["functionId"]))
        encoded.append(json.dumps(wire, separators=(",", ":")).encode("utf-8"))
    return encoded, refers[0]


def check_sizes(encoded: Sequence[bytes], max_bytes: int, overhead: int) -> None:
    """Refuses, before anything is sent, an item no request could carry."""
    for i, item in enumerate(encoded):
        if overhead + len(item) > max_bytes:
            raise ValidationError("VALIDATION_FAILED", f"batch item {i} alone is {len(item)} bytes, more than one request may carry ({max_bytes})")


def next_stop(encoded: Sequence[bytes], start: int, max_tasks: int, max_bytes: int, overhead: int) -> int:
    """Where the request that begins at ``start`` ends: at most ``max_tasks`` items and ``max_bytes`` of body."""
    size = overhead
    stop = start
    while stop < len(encoded) and stop - start < max_tasks:
        item = encoded[stop]
        if stop > start and size + len(item) + 1 > max_bytes:
            break
        size += len(item) + 1
        stop += 1
    return stop


# a group id's length, for sizing requests before the first one's group is known
NO_GROUP = "00000000-0000-0000-0000-000000000000"


def check_priority(priority: Any, what: str = "priority") -> int:
    """A task priority: a whole number from 0 to 9 (higher goes first), or ValidationError before anything is sent."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
        raise ValidationError("VALIDATION_FAILED", f"{what} must be a whole number from 0 to 9 (higher goes first), got {priority!r}")
    return priority


def task_fields(resources: Optional[Mapping[str, Any]], priority: Optional[int], retry: "Optional[RetryLike]" = None, cache: Optional[bool] = None) -> Dict[str, Any]:
    """The optional fields of a task (or of a batch, for its items that name none), checked."""
    return given_fields({}, {"resources": (resources, dict), "priority": (priority, check_priority), "retry": (retry, retry_wire), "cache": (cache, bool)})


def speculation_wire(speculation: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """``{"afterFactor": > 1, "minSamples": >= 1}`` as the server takes it (either may be left out), checked here."""
    if speculation is None:
        return None
    unknown = set(speculation) - {"afterFactor", "minSamples", "after_factor", "min_samples"}
    if unknown:
        raise ValidationError("VALIDATION_FAILED", f"speculation takes afterFactor and minSamples, not {', '.join(sorted(unknown))}")
    wire: Dict[str, Any] = {}
    factor = speculation.get("afterFactor", speculation.get("after_factor"))
    samples = speculation.get("minSamples", speculation.get("min_samples"))
    if factor is not None:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
            raise ValidationError("VALIDATION_FAILED", f"speculation afterFactor must be a number more than 1, got {factor!r}")
        wire["afterFactor"] = factor
    if samples is not None:
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValidationError("VALIDATION_FAILED", f"speculation minSamples must be a whole number of at least 1, got {samples!r}")
        wire["minSamples"] = samples
    return wire


def request_body(
    endpoint: str, items: Sequence[bytes], group: Optional[str] = None, priority: Optional[int] = None, speculation: Optional[Mapping[str, Any]] = None
) -> bytes:
    head = b'{"endpointId":' + json.dumps(endpoint).encode("utf-8")
    if group is not None:
        head += b',"groupId":' + json.dumps(group).encode("utf-8")
    if priority is not None:
        head += b',"priority":' + str(priority).encode("ascii")
    if speculation is not None:
        head += b',"speculation":' + json.dumps(dict(speculation)).encode("utf-8")
    return head + b',"tasks":[' + b",".join(items) + b"]}"


def partial(accepted: List[str], error: FxError) -> FxError:
    return PartialBatchError(accepted, error) if accepted else error


def warn_offline(items: Any, seen: "set[str]") -> None:
    """One EndpointOfflineWarning per endpoint of a batch, however many requests it took."""
    for w in items or []:
        endpoint = str(w.get("endpointId", ""))
        if endpoint in seen:
            continue
        seen.add(endpoint)
        warnings.warn(str(w.get("message", "endpoint offline")), EndpointOfflineWarning, stacklevel=3)
