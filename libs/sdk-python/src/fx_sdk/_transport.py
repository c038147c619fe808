"""JSON over HTTP with the bearer token: timeouts, retries with backoff, and error mapping."""

from __future__ import annotations

import email.utils
from http.cookiejar import DefaultCookiePolicy
import json
import logging
import random
import time
from typing import Any, NamedTuple, Optional, Union

import requests
import requests.adapters

from ._version import __version__
from .errors import ConnectionError, FxError, ServerError, TimeoutError, error_from_response

# "Not accepted, come back later": safe to repeat for any method.
_RETRY_ANY = frozenset({429, 503})
# Worth repeating only when repeating is harmless.
_RETRY_IDEMPOTENT = frozenset({500, 502, 504})

USER_AGENT = f"fx-sdk-python/{__version__}"

log = logging.getLogger("fx_sdk")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """The protocol's SDK backoff: ceiling ``base * 2**attempt`` capped at ``cap``, drawn in [ceiling/2, ceiling]."""
    ceiling = min(cap, base * float(2 ** min(attempt, 30)))
    return ceiling / 2 + random.random() * ceiling / 2


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; anything else is None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        at = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, at.timestamp() - time.time())


def error_for(status: int, text: str, retry_after: Optional[float], what: str) -> FxError:
    """The SDK error for a non-2xx answer whose body is ``text``."""
    body = None
    try:
        parsed = json.loads(text) if text else None
        if isinstance(parsed, dict) and isinstance(parsed.get("code"), str) and isinstance(parsed.get("message"), str):
            body = parsed
    except ValueError:
        pass  # a proxy's HTML page, say: the status still tells what happened
    snippet = text if len(text) <= 200 else text[:200] + "…"
    return error_from_response(status, body, retry_after=retry_after, fallback=f"{what} answered HTTP {status}" + (f": {snippet}" if snippet else ""))


def decode_json(status: int, text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise ServerError("BAD_RESPONSE", f"{what} answered {status} with a body that is not JSON", status=status) from err


class _Attempt(NamedTuple):
    value: Any = None
    error: Optional[FxError] = None
    retryable: bool = False
    retry_after: Optional[float] = None


class Transport:
    """One server's REST API over a pooled ``requests.Session``; safe to use from many threads."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float,
        max_retries: int,
        retry_base_delay: float,
        retry_max_delay: float,
        verify: Union[bool, str],
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.verify = verify
        # one pooled session for every thread: it is set up here and never changed afterwards (no
        # cookies, no adapters mounted later), which is what sharing one across threads needs
        self._session = requests.Session()
        self._session.headers.update(self.headers())
        self._session.verify = verify
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # keeps none
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=32)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def headers(self) -> "dict[str, str]":
        return {"authorization": f"Bearer {self.token}", "accept": "application/json", "user-agent": USER_AGENT}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        encoded: Optional[bytes] = None,
        idempotent: Optional[bool] = None,
    ) -> Any:
        """Sends ``body`` (JSON-encoded, or ``encoded`` as is) and returns the decoded answer (None for 204).

        Idempotent requests (GET by default) retry on network errors, timeouts and 5xx; every request
        retries on 429 and 503, which by contract were not accepted (QUOTA_EXCEEDED aside). A
        ``Retry-After`` longer than ``retry_max_delay`` is not waited out: the error is raised at once.
        """
        can_repeat = method == "GET" if idempotent is None else idempotent
        data = encoded if encoded is not None else (None if body is None else json.dumps(body, allow_nan=False).encode("utf-8"))
        attempt = 0
        while True:
            outcome = self._attempt(method, path, data)
            error, retry_after = outcome.error, outcome.retry_after
            if error is None:
                return outcome.value
            repeatable = outcome.retryable and (can_repeat or (error.status is not None and error.status in _RETRY_ANY))
            if not repeatable or attempt >= self.max_retries:
                raise error
            if retry_after is not None and retry_after > self.retry_max_delay:
                raise error
            delay = retry_after if retry_after is not None else backoff_delay(attempt, self.retry_base_delay, self.retry_max_delay)
            log.debug("%s %s failed (%s: %s); retry %d in %.2f s", method, path, error.code, error.message, attempt + 1, delay)
            time.sleep(delay)
            attempt += 1

    def _attempt(self, method: str, path: str, data: Optional[bytes]) -> _Attempt:
        what = f"{method} {path}"
        headers = {"content-type": "application/json"} if data is not None else {}
        try:
            res = self._session.request(method, self.base_url + path, data=data, headers=headers, timeout=self.timeout)
            text = res.text
        except requests.Timeout as err:
            error: FxError = TimeoutError(f"{what} got no response within {self.timeout:g} s")
            error.__cause__ = err
            return _Attempt(error=error, retryable=True)
        except requests.RequestException as err:
            error = ConnectionError("CONNECTION_FAILED", f"{what} failed: could not reach {self.base_url} ({type(err).__name__})")
            error.__cause__ = err
            return _Attempt(error=error, retryable=True)
        if 200 <= res.status_code < 300:
            if res.status_code == 204 or not text:
                return _Attempt()
            try:
                return _Attempt(value=decode_json(res.status_code, text, what))
            except FxError as err:
                return _Attempt(error=err)
        retry_after = parse_retry_after(res.headers.get("retry-after"))
        error = error_for(res.status_code, text, retry_after, what)
        retryable = (res.status_code in _RETRY_ANY or res.status_code in _RETRY_IDEMPOTENT) and error.code != "QUOTA_EXCEEDED"
        return _Attempt(error=error, retryable=retryable, retry_after=retry_after if retryable else None)

    def send(
        self,
        method: str,
        path: str,
        *,
        data: Optional[bytes] = None,
        headers: Optional["dict[str, str]"] = None,
        stream: bool = False,
        timeout: Optional[float] = None,
    ) -> requests.Response:
        """One raw request (object bytes), sent once: the 2xx response (its body unread when ``stream``), else the
        matching FxError; a network failure or timeout a ConnectionError or TimeoutError. The caller decides on retries."""
        what = f"{method} {path}"
        limit = self.timeout if timeout is None else timeout
        try:
            res = self._session.request(method, self.base_url + path, data=data, headers=headers, timeout=limit, stream=stream)
        except requests.Timeout as err:
            raise TimeoutError(f"{what} got no response within {limit:g} s") from err
        except requests.RequestException as err:
            raise ConnectionError("CONNECTION_FAILED", f"{what} failed: could not reach {self.base_url} ({type(err).__name__})") from err
        if 200 <= res.status_code < 300:
            return res
        try:
            text = res.text
        except requests.RequestException:
            text = ""
        finally:
            res.close()
        raise error_for(res.status_code, text, parse_retry_after(res.headers.get("retry-after")), what)

    def close(self) -> None:
        self._session.close()
