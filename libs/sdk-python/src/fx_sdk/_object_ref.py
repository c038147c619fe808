"""References to objects: what ``put`` returns and what a task's arguments may hold (libs/protocol/src/objects.ts).

On the wire a reference is ``{"$fx": "object", "id": ..., "sha256": ..., "size": ..., "encoding": ...}``;
the id alone is enough in arguments (the server completes the rest). Anywhere in a task's args or
kwargs it stands for the object's content: the endpoint's agent fetches it (once per endpoint) and
hands the function ``bytes`` (encoding ``bytes``) or the value (encoding ``json``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REF_KEYS = frozenset({"$fx", "id", "sha256", "size", "encoding"})


class ObjectRef:
    """An object: its ``id``, and (as the server fills them in) its ``sha256``, ``size`` and ``encoding``.

    Pass it among a task's arguments to hand the task the object's content; ``client.get(ref)`` reads
    it here. ``wire()`` is its JSON form, which is also what ``ObjectRef.from_wire`` reads back.
    """

    __slots__ = ("id", "sha256", "size", "encoding")

    def __init__(self, id: str, sha256: Optional[str] = None, size: Optional[int] = None, encoding: Optional[str] = None) -> None:
        self.id = id
        self.sha256 = sha256
        self.size = size
        self.encoding = encoding

    def wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"$fx": "object", "id": self.id}
        for key in ("sha256", "size", "encoding"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @staticmethod
    def from_wire(raw: Mapping[str, Any]) -> "ObjectRef":
        return ObjectRef(str(raw["id"]), raw.get("sha256"), raw.get("size"), raw.get("encoding"))

    def __repr__(self) -> str:
        return f"ObjectRef(id={self.id!r}, size={self.size!r}, encoding={self.encoding!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and self.id == other.id

    def __hash__(self) -> int:
        return hash(("object", self.id))


def is_wire_object_ref(value: Any) -> bool:
    """A dict that is exactly a wire reference (a user's own dict with a ``$fx`` key is data, and is escaped)."""
    if not isinstance(value, dict) or value.get("$fx") != "object" or not set(value) <= _REF_KEYS:
        return False
    if not isinstance(value.get("id"), str) or not _UUID.match(value["id"]):
        return False
    sha, size, encoding = value.get("sha256"), value.get("size"), value.get("encoding")
    return (
        (sha is None or (isinstance(sha, str) and bool(_SHA256.match(sha))))
        and (size is None or (isinstance(size, int) and not isinstance(size, bool) and size >= 0))
        and encoding in (None, "bytes", "json")
    )


def object_wire_ref(value: Any) -> Optional[Dict[str, Any]]:
    """The wire reference for an ObjectRef, a wire-shaped dict, or an object's info (``list_objects``); else None."""
    if isinstance(value, ObjectRef):
        return value.wire()
    if isinstance(value, dict):
        if is_wire_object_ref(value):
            return dict(value)
        ref = value.get("ref")
        if isinstance(value.get("ownerId"), str) and is_wire_object_ref(ref) and ref.get("id") == value.get("id"):  # type: ignore[union-attr]
            return dict(ref)  # type: ignore[arg-type]
    return None
