"""Futures as arguments: a task's result passed to another task before it exists.

Anywhere in a task's args or kwargs, a :class:`TaskRef` (``client.ref(task_id)``), an executor's
:class:`~fx_sdk.TaskFuture` or, inside ``batch_run``, ``item_ref(i)`` stands for that task's result: the
server runs the task once the input has succeeded, with the result in its place, and fails it with
``DEPENDENCY_FAILED`` (cancels it, for a cancelled input) otherwise. On the wire a reference is
``{"$fx": "ref", "taskId": ...}`` or ``{"$fx": "ref", "index": n}``; a key ``$fx`` of your own is sent
as ``$$fx`` and arrives unchanged (libs/protocol/src/task-refs.ts).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from ._object_ref import object_wire_ref

REF_KEY = "$fx"
_ESCAPABLE_KEY = re.compile(r"^\$+fx$")


class TaskRef:
    """The result of a task (``task_id``) or of an earlier item of the same batch (``index``)."""

    __slots__ = ("task_id", "index")

    def __init__(self, task_id: Optional[str] = None, index: Optional[int] = None) -> None:
        if (task_id is None) == (index is None):
            raise ValueError("a TaskRef names a task id or a batch item index, not both")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise ValueError(f"a batch item index is an integer of 0 or more, not {index!r}")
        self.task_id = task_id
        self.index = index

    def wire(self) -> Dict[str, Any]:
        return {REF_KEY: "ref", "taskId": self.task_id} if self.task_id is not None else {REF_KEY: "ref", "index": self.index}

    def __repr__(self) -> str:
        return f"TaskRef(task_id={self.task_id!r})" if self.task_id is not None else f"TaskRef(index={self.index})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskRef) and (self.task_id, self.index) == (other.task_id, other.index)

    def __hash__(self) -> int:
        return hash((self.task_id, self.index))


def item_ref(index: int) -> TaskRef:
    """The result of item ``index`` of the ``batch_run`` this argument is in (an item before this one)."""
    return TaskRef(index=index)


def escape_key(key: str) -> str:
    """User keys ``$fx``, ``$$fx``, … gain one ``$`` on the wire; the server takes it off again."""
    return "$" + key if _ESCAPABLE_KEY.match(key) else key


def as_wire_ref(value: Any) -> Optional[Dict[str, Any]]:
    """The wire reference for a TaskRef, a task future (anything with ``_fx_task_ref``) or an object
    (an ObjectRef, or an object's info), else None."""
    if isinstance(value, TaskRef):
        return value.wire()
    to_ref = getattr(type(value), "_fx_task_ref", None)
    return to_ref(value) if to_ref is not None else object_wire_ref(value)


def is_task_ref(value: Any) -> bool:
    """A TaskRef, a task future (without waiting for its task) or an object reference: what only JSON arguments carry."""
    return isinstance(value, TaskRef) or getattr(type(value), "_fx_task_ref", None) is not None or object_wire_ref(value) is not None
