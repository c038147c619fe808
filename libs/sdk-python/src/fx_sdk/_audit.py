"""The audit log: who did what (tokens, functions, endpoints and their groups, submissions, objects,
triggers). A mixin, so that client.py stays small: ``get_audit`` reads one page, ``audit_entries``
walks every page. An admin sees every entry; anyone else the entries about their things and the ones
they made. No call edits or deletes an entry (the server refuses it, whoever asks).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Optional, Union, cast
from urllib.parse import urlencode

from ._calls import ClientCalls
from .errors import ValidationError
from .types import AuditEntry, AuditPage

When = Union[str, datetime]


def _instant(value: When, what: str) -> str:
    """An ISO 8601 instant with its offset (a naive datetime is read as UTC, as FX shows every time)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, str) and value:
        return value
    raise ValidationError("VALIDATION_FAILED", f"{what} must be a datetime or an ISO 8601 string, not {value!r}")


class AuditMethods(ClientCalls):
    """The client's audit log calls."""

    def get_audit(
        self,
        *,
        action: Optional[str] = None,
        actor_id: Optional[str] = None,
        target_type: Optional[str] = None,
        target_id: Optional[str] = None,
        since: Optional[When] = None,
        until: Optional[When] = None,
        limit: int = 100,
        order: str = "asc",
        after: Optional[str] = None,
        before: Optional[str] = None,
    ) -> AuditPage:
        """One page of the audit log: oldest first after ``after``, or newest first before ``before`` with
        ``order="desc"``; at most ``limit`` (1..1000) entries. Pass the page's ``next`` back as ``after``
        (or ``before``) for the next page; it is None on the last. Filters: ``action``
        (``"tasks.submitted"``…), ``actor_id`` (a user id), ``target_type`` (``"function"``…),
        ``target_id``, ``since`` and ``until`` (datetimes or ISO 8601 strings)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationError("VALIDATION_FAILED", f"limit must be an integer from 1 to 1000, not {limit!r}")
        if order not in ("asc", "desc"):
            raise ValidationError("VALIDATION_FAILED", f'order must be "asc" or "desc", not {order!r}')
        query: Dict[str, Any] = {"limit": limit, "order": order}
        for key, value in (("action", action), ("actorId", actor_id), ("targetType", target_type), ("targetId", target_id), ("after", after), ("before", before)):
            if value is not None:
                query[key] = value
        if since is not None:
            query["since"] = _instant(since, "since")
        if until is not None:
            query["until"] = _instant(until, "until")
        return cast(AuditPage, self._request("GET", "/v1/audit?" + urlencode(query)))

    def audit_entries(self, *, order: str = "asc", page_size: int = 1000, **filters: Any) -> Iterator[AuditEntry]:
        """Every matching entry (the filters of ``get_audit``), fetched a page at a time as you iterate."""
        cursor: Optional[str] = filters.pop("before" if order == "desc" else "after", None)
        while True:
            page = self.get_audit(order=order, limit=page_size, **filters, **({"before" if order == "desc" else "after": cursor} if cursor else {}))
            yield from page["items"]
            cursor = page["next"]
            if not cursor:
                return
