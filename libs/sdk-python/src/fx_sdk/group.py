"""Task groups: a batch, a graph submitted as one batch, or an ``Executor.map``, re-attached to by id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, cast
from urllib.parse import urlencode

from ._poller import Arrivals
from ._wire import task_id
from .outcome import TaskOutcome

if TYPE_CHECKING:
    from .client import Client

_PAGE = 1_000


class TaskGroup:
    """One task group by id (``client.group(id)``; making one sends nothing).

    Another user's group raises :class:`~fx_sdk.NotFoundError` on the first call. :meth:`outcomes`
    streams the outcome of every task the group holds, so a program that restarted picks up where the
    one before it stopped (Globus Compute's ``reload_tasks``).
    """

    def __init__(self, client: "Client", group_id: str) -> None:
        self._client = client
        self.id = task_id(group_id, "group id")

    def __repr__(self) -> str:
        return f"TaskGroup({self.id!r})"

    def describe(self) -> Dict[str, Any]:
        """``id``, ``ownerId``, ``kind`` (batch or map), ``createdAt``, and ``counts`` (``byStatus``, ``total``)."""
        return cast(Dict[str, Any], self._client._request("GET", f"/v1/groups/{self.id}"))

    def tasks(self, *, status: Optional[Sequence[str]] = None, limit: int = _PAGE, cursor: Optional[str] = None) -> Dict[str, Any]:
        """One page of its tasks, oldest first: ``items`` (id, status, attempt...) and ``nextCursor`` (None at the end)."""
        query: Dict[str, Any] = {"limit": limit}
        if status:
            query["status"] = ",".join(status)
        if cursor:
            query["cursor"] = cursor
        return cast(Dict[str, Any], self._client._request("GET", f"/v1/groups/{self.id}/tasks?{urlencode(query)}"))

    def list(self, *, status: Optional[Sequence[str]] = None) -> Iterator[Dict[str, Any]]:
        """Every task of the group as it is now, page after page."""
        cursor: Optional[str] = None
        while True:
            page = self.tasks(status=status, cursor=cursor)
            yield from page["items"]
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def cancel(self) -> Dict[str, Any]:
        """Cancels every unfinished task of the group (their dependents too): ``{"groupId", "cancelled"}``."""
        return cast(Dict[str, Any], self._client._request("POST", f"/v1/groups/{self.id}/cancel", idempotent=True))

    def outcomes(self, timeout: Optional[float] = None, *, window: int = 10_000) -> Iterator[TaskOutcome]:
        """Yields every task's :class:`TaskOutcome` in completion order, each once; failed and cancelled ones too.

        The group is listed a page at a time, and the next page is read only while fewer than
        ``window`` tasks are awaited, so a group of any size costs bounded memory. ``timeout`` (seconds,
        for the whole iteration) raises TimeoutError.
        """
        window = max(_PAGE, window)
        arrived = Arrivals(timeout)
        pending: "set[str]" = set()
        cursor: Optional[str] = None
        end = False
        poller = self._client.poller
        try:
            while True:
                while not end and len(pending) + _PAGE <= window:
                    page = self.tasks(cursor=cursor)
                    ids: List[str] = [t["id"] for t in page["items"] if t["id"] not in pending]
                    pending.update(ids)
                    if ids:
                        poller.watch(ids, arrived.deliver)
                    cursor = page.get("nextCursor")
                    end = not cursor
                if end and not pending:
                    return
                delivery = arrived.next(lambda: f"{len(pending)} tasks of group {self.id} did not finish within {timeout:g} s")
                if delivery.task_id in pending:
                    pending.discard(delivery.task_id)
                    yield delivery
        finally:
            if pending:
                poller.unwatch(list(pending), arrived.deliver)
