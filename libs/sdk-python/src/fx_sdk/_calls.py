"""The base of the client's mixins (``AuditMethods``, ``RegistryMethods``, …): what they call the Client for.

Each mixin keeps one area's calls out of client.py; they all send through the Client's ``_request``, and
the list routes all answer ``{"items": [...]}``, so both are written here once.
"""

from __future__ import annotations

from typing import Any, List, cast


class ClientCalls:
    """Declares the Client's ``_request`` for the mixins, and unwraps the list routes' answers."""

    def _request(self, method: str, path: str, body: Any = None) -> Any:  # the Client's own
        raise NotImplementedError

    def _list(self, path: str) -> List[Any]:
        """``GET path`` of a route that answers ``{"items": [...]}``: its items."""
        return cast(List[Any], self._request("GET", path)["items"])
