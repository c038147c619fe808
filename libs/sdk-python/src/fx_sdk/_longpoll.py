"""The results long-poll's own HTTP connection, which another thread can interrupt.

A long-poll (POST /v1/tasks/results with waitMs) waits up to a minute for any of its task ids to
finish. When the poller is handed new ids meanwhile, waiting out the old request would delay their
results by as long, so :meth:`LongPollConnection.interrupt` shuts the socket down under the blocked
read: the read ends at once and the poller asks again with every id (the server stops a long-poll
whose client went away). requests exposes no socket to do that with, hence http.client here.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.request
from typing import Any, Dict, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._config import ca_bundle_from_env
from ._transport import decode_json, error_for, parse_retry_after
from .errors import ConnectionError, TimeoutError


class Interrupted(Exception):
    """The request was cut short by interrupt(); not an error."""


def _ssl_context(verify: Union[bool, str]) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    bundle = ca_bundle_from_env()
    if bundle is None:
        import requests.certs  # the same bundle requests trusts

        bundle = requests.certs.where()  # type: ignore[attr-defined]
    return ssl.create_default_context(cafile=bundle)


class LongPollConnection:
    """A keep-alive HTTP(S) connection for one thread's sequential requests, interruptible from others."""

    def __init__(self, base_url: str, headers: Dict[str, str], verify: Union[bool, str]) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._verify = verify
        self._proxy = self._proxy_for(base_url, self._host)
        self._conn: Optional[http.client.HTTPConnection] = None
        self._lock = threading.Lock()
        self._interrupted = False

    @staticmethod
    def _proxy_for(url: str, host: str) -> Optional[Tuple[str, int]]:
        """HTTP(S)_PROXY as requests would honour it (NO_PROXY respected)."""
        scheme = urlsplit(url).scheme
        proxy = urllib.request.getproxies().get(scheme)
        if not proxy or urllib.request.proxy_bypass(host):
            return None
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return (parts.hostname or "", parts.port or 3128) if parts.hostname else None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            context = _ssl_context(self._verify)
            if self._proxy:
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(self._proxy[0], self._proxy[1], timeout=timeout, context=context)
                conn.set_tunnel(self._host, self._port)
            else:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=context)
        elif self._proxy:
            conn = http.client.HTTPConnection(self._proxy[0], self._proxy[1], timeout=timeout)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        conn.connect()
        return conn

    def arm(self) -> None:
        """Clears an earlier interrupt; call it when choosing what the next request asks for."""
        with self._lock:
            self._interrupted = False

    def interrupt(self) -> None:
        """Ends the request in flight (or the next one, if none is): it raises Interrupted."""
        with self._lock:
            self._interrupted = True
            conn = self._conn
            self._conn = None
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
            conn.close()

    def post_json(self, path: str, body: Any, timeout: float) -> Any:
        """POSTs ``body`` and returns the decoded answer; raises the mapped FxError, or Interrupted."""
        data = json.dumps(body).encode("utf-8")
        target = self._prefix + path
        if self._proxy and not self._https:
            target = f"http://{self._host}:{self._port}{target}"
        headers = {**self._headers, "content-type": "application/json", "content-length": str(len(data))}
        for fresh in (False, True):
            with self._lock:
                if self._interrupted:
                    raise Interrupted()
                conn = self._conn
            reused = conn is not None and not fresh
            try:
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = self._connect(timeout)
                    with self._lock:
                        if self._interrupted:
                            conn.close()
                            raise Interrupted()
                        self._conn = conn
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request("POST", target, body=data, headers=headers)
                res = conn.getresponse()
                text = res.read().decode("utf-8", errors="replace")
            except Interrupted:
                raise
            except (OSError, http.client.HTTPException) as err:
                with self._lock:
                    if self._interrupted:
                        raise Interrupted() from err
                    self._conn = None
                if conn is not None:
                    conn.close()
                if reused:
                    continue  # the server closed an idle keep-alive connection: once more on a new one
                if isinstance(err, socket.timeout):
                    raise TimeoutError(f"POST {path} got no response within {timeout:g} s") from err
                raise ConnectionError("CONNECTION_FAILED", f"POST {path} failed: could not reach the server ({type(err).__name__})") from err
            if res.will_close:
                with self._lock:
                    self._conn = None
                conn.close()
            if 200 <= res.status < 300:
                return decode_json(res.status, text, f"POST {path}")
            raise error_for(res.status, text, parse_retry_after(res.getheader("retry-after")), f"POST {path}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.interrupt()
