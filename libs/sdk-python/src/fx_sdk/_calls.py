"""The base of the client's mixins (``AuditMethods``, ``RegistryMethods``, …): what they call the Client for.

Each mixin keeps one area's calls out of client.py; they all send through the Client's ``_request``, and
the list routes all answer ``{"items": [...]}``, so both are written here once. So are the list, get and
delete calls of a collection of the caller's resources (``Collection``), which differ only in the route.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, List, Optional, Type, TypeVar, Union, cast, overload
from urllib.parse import urlencode

T = TypeVar("T")
C = TypeVar("C")


class ClientCalls:
    """Declares the Client's ``_request`` for the mixins, and unwraps the list routes' answers."""

    def _request(self, method: str, path: str, body: Any = None) -> Any:  # the Client's own
        raise NotImplementedError

    def _list(self, path: str) -> List[Any]:
        """``GET path`` of a route that answers ``{"items": [...]}``: its items, every page of them where the
        route is keyset-paged (its answer has a ``nextCursor``, passed back as ``cursor``)."""
        items: List[Any] = []
        cursor: Optional[str] = None
        while True:
            page = self._request("GET", path if cursor is None else f"{path}{'&' if '?' in path else '?'}{urlencode({'cursor': cursor})}")
            items.extend(page["items"])
            cursor = page.get("nextCursor")
            if not cursor:
                return items


class ClientCall(Generic[C]):
    """A call of the client that a ``Collection`` makes: on a client it is that client's call ``C``,
    named by the attribute it is assigned to and documented by ``doc``."""

    def __init__(self, bind: Callable[[ClientCalls], C], doc: str) -> None:
        self._bind = bind
        self.__doc__ = doc
        self.__name__ = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    @overload
    def __get__(self, client: None, owner: Optional[Type[Any]] = None) -> ClientCall[C]: ...

    @overload
    def __get__(self, client: ClientCalls, owner: Optional[Type[Any]] = None) -> C: ...

    def __get__(self, client: Optional[ClientCalls], owner: Optional[Type[Any]] = None) -> Union[ClientCall[C], C]:
        if client is None:
            return self
        call = self._bind(client)
        call.__name__ = self.__name__  # type: ignore[attr-defined]
        call.__doc__ = self.__doc__
        return call


class Collection(Generic[T]):
    """A collection route of the caller's resources (``/v1/triggers``) whose items are ``T``; ``ref``
    checks an id (or a name, where the route takes one) and makes it a path segment."""

    def __init__(self, path: str, ref: Callable[[str], str]) -> None:
        self.path = path
        self.ref = ref

    def route(self, resource: str) -> str:
        """The route of one resource."""
        return f"{self.path}/{self.ref(resource)}"

    def lister(self, doc: str) -> ClientCall[Callable[[], List[T]]]:
        """``GET path``: the items."""

        def bind(client: ClientCalls) -> Callable[[], List[T]]:
            return lambda: cast(List[T], client._list(self.path))

        return ClientCall(bind, doc)

    def getter(self, doc: str) -> ClientCall[Callable[[str], T]]:
        """``GET path/ref``: one resource."""

        def bind(client: ClientCalls) -> Callable[[str], T]:
            return lambda resource: cast(T, client._request("GET", self.route(resource)))

        return ClientCall(bind, doc)

    def deleter(self, doc: str) -> ClientCall[Callable[[str], None]]:
        """``DELETE path/ref``."""

        def bind(client: ClientCalls) -> Callable[[str], None]:
            def delete(resource: str) -> None:
                client._request("DELETE", self.route(resource))

            return delete

        return ClientCall(bind, doc)
