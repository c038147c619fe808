"""Functions, endpoints, users and tokens: the client's registry calls.

A mixin, so that client.py stays small: each call is one request and its answer. The Client supplies
``_request`` and ``_python`` (which notes the Python of every function it sees).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union, cast
from urllib.parse import urlencode

from ._calls import ClientCalls
from ._options import RegistrationOptions, registration_options
from ._python_check import PythonCheck
from ._source import python_source
from ._wire import endpoint_ref, function_ref, path_segment, resource_name, task_id
from .errors import ListTruncatedError, ValidationError
from .types import CreateTokenResponse, EndpointInfo, EndpointStatus, FunctionInfo, RegisterEndpointResponse, TokenInfo, UsageResponse, UserInfo, WhoAmI

if TYPE_CHECKING:  # type checkers know typing_extensions; at run time the annotations stay strings
    from typing_extensions import Unpack



# an argument left out (None means something: any function)
_KEEP: Any = object()

# list_functions without a limit reads at most this many functions; past it, ListTruncatedError
LIST_FUNCTIONS_MAX = 1000
# list_functions reads no page after the one that brings the sources it read to this many characters (64 Mi)
LIST_FUNCTIONS_SOURCE_CHARS = 64 * 1024 * 1024
# list_users and list_tokens without a limit read at most this many; past it, ListTruncatedError
LIST_ACCOUNTS_MAX = 1000


def _function_path(function: str) -> str:
    """The route of a function by id or name (``name@version``, ``owner/name``)."""
    return f"/v1/functions/{path_segment(function_ref(function))}"


def _endpoint_path(endpoint: str) -> str:
    """The route of an endpoint by id or name."""
    return f"/v1/endpoints/{path_segment(endpoint_ref(endpoint))}"


class RegistryMethods(ClientCalls):
    """The client's function, endpoint, user and token calls."""

    _python: PythonCheck  # the Client's own

    # ---- functions -----------------------------------------------------------------------------

    def register_function(
        self,
        fn: Callable[..., Any],
        name: Optional[str] = None,
        **options: Unpack[RegistrationOptions],
    ) -> str:
        """Registers a Python function (runtime ``python``) and returns its id; ``options`` (keywords,
        ``RegistrationOptions``: ``description``, ``walltime_seconds``, ``public``, ``retry``, ``cache``, ``idempotent``) go to the server as given.
        ``retry`` (a :class:`Retry`) is its tasks' default policy.
        ``cache={"ttlSeconds": 3600}`` memoizes its results (``"shareable": True``: shared, when public; see :meth:`clear_cache`).
        ``idempotent=True``: running it twice does no harm, so a batch or map with ``speculation`` may copy its stragglers.

        The source is the function's ``def`` (decorators stripped) and the entry point its name, so it
        must be self-contained: imports inside it, no variables of an enclosing function. Registering
        the same function under the same name again returns the existing id; a changed one adds a
        version of the name.
        """
        source, entrypoint = python_source(fn)
        request: Dict[str, Any] = {"name": name or resource_name(entrypoint, "function"), "runtime": "python", "source": source, "entrypoint": entrypoint}
        return self.create_function(registration_options(request, **options))["id"]

    def register_shell_function(
        self,
        template: str,
        name: str = "shell",
        *,
        fail_on_non_zero_exit: Optional[bool] = None,
        progress_prefix: Optional[str] = None,
        **options: Unpack[RegistrationOptions],
    ) -> str:
        """Registers a shell command template (``{name}`` placeholders are filled from kwargs, quoted) and returns its id;
        ``options`` as for :meth:`register_function`.

        A run returns ``{"cmd", "stdout", "stderr", "returncode"}``; with ``fail_on_non_zero_exit`` a
        non-zero exit fails the task instead. With ``progress_prefix``, a stdout line that starts with it is
        a progress value (the rest of the line, as JSON if it parses), left out of the task's logs.
        """
        request: Dict[str, Any] = {"name": name, "runtime": "shell", "source": template}
        if fail_on_non_zero_exit is not None:
            request["failOnNonZeroExit"] = fail_on_non_zero_exit
        if progress_prefix is not None:
            request["progressPrefix"] = progress_prefix
        return self.create_function(registration_options(request, **options))["id"]

    def create_function(self, request: Mapping[str, Any]) -> FunctionInfo:
        """Registers a function from a full RegisterFunctionRequest (any runtime); returns what the server stored."""
        info = cast(FunctionInfo, self._request("POST", "/v1/functions", dict(request)))
        self._python.note_function(info)
        return info

    def get_function(self, function: str) -> FunctionInfo:
        """A function by id or name: ``name`` (yours, newest version), ``name@version``, ``owner/name[@version]``."""
        info = cast(FunctionInfo, self._request("GET", _function_path(function)))
        self._python.note_function(info)
        return info

    def list_functions(self, *, limit: Optional[int] = None, source: bool = True) -> List[FunctionInfo]:
        """Your functions and the public ones (admins: all), oldest first. ``source=False``: each ``source``
        is ``""`` (names only).

        With ``limit``, at most that many, without an error whether or not there are more. The SDK bounds
        what it reads, since other users choose how many public functions there are and how large: without
        ``limit``, more than ``LIST_FUNCTIONS_MAX`` (1,000) functions raise :class:`ListTruncatedError`, and
        so do more after the page that brings the sources read to 64 MiB. It never returns part of the
        list as the whole; the error's ``items`` are the functions read."""
        bound = LIST_FUNCTIONS_MAX if limit is None else limit
        items: List[FunctionInfo] = []
        cursor: Optional[str] = None
        chars = 0
        while True:
            query: Dict[str, Any] = {"limit": max(1, min(1000, bound - len(items)))}
            if not source:
                query["source"] = "false"
            if cursor is not None:
                query["cursor"] = cursor
            page = self._request("GET", f"/v1/functions?{urlencode(query)}")
            kept = page["items"][: bound - len(items)]
            items.extend(kept)
            chars += sum(len(f["source"]) for f in kept)
            cursor = page.get("nextCursor")
            # a server that answers more than it was asked for has more than was kept
            more = bool(cursor) or len(kept) < len(page["items"])
            if not cursor or len(items) >= bound or chars >= LIST_FUNCTIONS_SOURCE_CHARS:
                break
        if not more or (limit is not None and len(items) >= limit):
            return items
        if len(items) >= bound:
            raise ListTruncatedError(
                f"there are more than {bound} functions (the most listed without a limit): pass limit= to read more,"
                f" or a smaller one to take only the oldest (source=False reads names only); the first {len(items)} are in this error's items",
                items,
                "count",
            )
        raise ListTruncatedError(
            f"the first {len(items)} functions have {chars} characters of source, past the {LIST_FUNCTIONS_SOURCE_CHARS}-character bound,"
            f" and there are more: pass source=False to list names only (get_function reads one source), or a limit of at most {len(items)};"
            " the ones read are in this error's items",
            items,
            "source_bytes",
        )

    def delete_function(self, function: str) -> None:
        """Deletes a function by id, or the newest version of a name."""
        self._request("DELETE", _function_path(function))

    # ---- endpoints -----------------------------------------------------------------------------

    def register_endpoint(self, name: str, *, description: Optional[str] = None, allowed_functions: Optional[Sequence[str]] = None) -> RegisterEndpointResponse:
        """Registers an endpoint; the answer carries its token, shown only this once."""
        body: Dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if allowed_functions is not None:
            body["allowedFunctions"] = [task_id(f, "allowed function id") for f in allowed_functions]
        return cast(RegisterEndpointResponse, self._request("POST", "/v1/endpoints", body))

    def list_endpoints(self) -> List[EndpointInfo]:
        return cast(List[EndpointInfo], self._list("/v1/endpoints"))

    def get_endpoint(self, endpoint: str) -> EndpointInfo:
        """An endpoint by id or name (``name``, or ``owner/name`` for admins)."""
        return cast(EndpointInfo, self._request("GET", _endpoint_path(endpoint)))

    def get_endpoint_status(self, endpoint: str) -> EndpointStatus:
        """An endpoint's state and last heartbeat; ``status["python"]`` is its Python (version, executable,
        distributions digest) or why it has none."""
        return cast(EndpointStatus, self._request("GET", _endpoint_path(endpoint) + "/status"))

    def update_endpoint(self, endpoint: str, *, allowed_functions: Any = _KEEP, description: Any = _KEEP) -> EndpointInfo:
        """Changes what an endpoint may run (a list of function ids restricts it, ``None`` lets it run any)
        or its description; a connected agent picks the new list up at once. Arguments left out stay as they are."""
        body: Dict[str, Any] = {}
        if allowed_functions is not _KEEP:
            body["allowedFunctions"] = None if allowed_functions is None else [task_id(f, "allowed function id") for f in allowed_functions]
        if description is not _KEEP:
            body["description"] = description
        if not body:
            raise ValidationError("VALIDATION_FAILED", "update_endpoint: give allowed_functions or description")
        return cast(EndpointInfo, self._request("PATCH", _endpoint_path(endpoint), body))

    def delete_endpoint(self, endpoint: str) -> None:
        self._request("DELETE", _endpoint_path(endpoint))

    # ---- identity and administration -----------------------------------------------------------

    def whoami(self) -> WhoAmI:
        return cast(WhoAmI, self._request("GET", "/v1/whoami"))

    def get_usage(
        self,
        by: str = "user",
        since: Union[str, datetime, None] = None,
        until: Union[str, datetime, None] = None,
        bucket: str = "day",
    ) -> UsageResponse:
        """Core-, GPU- and CPU-hours of the attempts that ended in [since, until), one row per ``by``
        (user, endpoint or function; the most core-hours first, the rest summed in ``others``), per time
        bucket in ``series`` (``hour`` or ``day``, UTC), and the busy and idle node-hours of pilot blocks in
        ``blocks``. Yours only, unless you are an admin. ``until`` defaults to now, ``since`` to 7 days
        before it; a datetime without a zone is read as UTC. At most 366 days (31 with hourly buckets)."""
        if by not in _USAGE_BY:
            raise ValidationError("VALIDATION_FAILED", f"by must be one of {', '.join(_USAGE_BY)}, got {by!r}")
        if bucket not in _USAGE_BUCKETS:
            raise ValidationError("VALIDATION_FAILED", f"bucket must be one of {', '.join(_USAGE_BUCKETS)}, got {bucket!r}")
        query: Dict[str, str] = {"by": by, "bucket": bucket}
        for key, when in (("since", since), ("until", until)):
            if when is not None:
                query[key] = _instant(when)
        return cast(UsageResponse, self._request("GET", f"/v1/usage?{urlencode(query)}"))

    def create_user(self, name: str, admin: bool = False) -> UserInfo:
        """Admin only."""
        return cast(UserInfo, self._request("POST", "/v1/users", {"name": name, "admin": admin}))

    def list_users(self, *, limit: Optional[int] = None) -> List[UserInfo]:
        """Admin only. Every user, oldest first. With ``limit``, at most that many, without an error; without
        it, more than ``LIST_ACCOUNTS_MAX`` (1,000) raise :class:`ListTruncatedError`, whose ``items`` are
        the users read: never a part returned as the whole."""
        return cast(List[UserInfo], self._account_pages("/v1/users", "users", limit))

    def list_tokens(self, user_id: str, *, limit: Optional[int] = None) -> List[TokenInfo]:
        """Admin only. A user's tokens (their metadata, never the tokens), oldest first, bounded as ``list_users``."""
        return cast(List[TokenInfo], self._account_pages(f"/v1/users/{task_id(user_id, 'user id')}/tokens", "tokens of this user", limit))

    def create_token(self, user_id: str, name: str = "token", expires_in_seconds: Optional[int] = None) -> CreateTokenResponse:
        """Admin only. The answer carries the token, shown only this once."""
        body: Dict[str, Any] = {"name": name}
        if expires_in_seconds is not None:
            body["expiresInSeconds"] = expires_in_seconds
        return cast(CreateTokenResponse, self._request("POST", f"/v1/users/{task_id(user_id, 'user id')}/tokens", body))

    def revoke_token(self, token_id: str) -> None:
        """Admin only."""
        self._request("DELETE", f"/v1/tokens/{task_id(token_id, 'token id')}")

    def _account_pages(self, path: str, what: str, limit: Optional[int]) -> List[Any]:
        """The pages of an admin list up to ``limit`` items, or ``LIST_ACCOUNTS_MAX`` without one; stopping
        there while the server has more raises, so that no caller takes the head of the list for all of it."""
        bound = LIST_ACCOUNTS_MAX if limit is None else limit
        items: List[Any] = []
        cursor: Optional[str] = None
        more = False
        while len(items) < bound:
            query: Dict[str, Any] = {"limit": min(1000, bound - len(items))}
            if cursor is not None:
                query["cursor"] = cursor
            page = self._request("GET", f"{path}?{urlencode(query)}")
            room = bound - len(items)
            items.extend(page["items"][:room])
            cursor = page.get("nextCursor")
            # an older server answers its whole list at once: what did not fit is more
            more = bool(cursor) or len(page["items"]) > room
            if not cursor:
                break
        if not more or limit is not None:
            return items
        raise ListTruncatedError(
            f"there are more than {bound} {what} (the most listed without a limit): pass limit= to read more; the first {len(items)} are in this error's items",
            items,
            "count",
        )


_USAGE_BY = ("user", "endpoint", "function")
_USAGE_BUCKETS = ("hour", "day")


def _instant(when: Union[str, datetime]) -> str:
    """An ISO 8601 instant for the wire; a datetime without a zone is UTC (as FX shows every time)."""
    if isinstance(when, datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(when, str):
        return when
    raise ValidationError("VALIDATION_FAILED", f"a time must be an ISO 8601 string or a datetime, got {when!r}")
