"""The warning that python functions go to an endpoint whose Python is not this one's (major.minor).

Globus Compute's most reported pain is a task that dies far away because the worker's Python is not the
submitter's. FX endpoints report their Python in their status (``status.python``: version, executable,
digest of installed distributions); a client looks once per endpoint, when it first submits a python
function there, and warns with :class:`PythonVersionMismatchWarning` when the versions differ.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Set, Tuple

from .errors import FxError

# An endpoint that has not reported its Python yet (offline, just started) is asked again after this long.
RETRY_SECONDS = 30.0


class PythonVersionMismatchWarning(UserWarning):
    """Python functions were submitted to an endpoint whose Python major.minor differs from the caller's.

    JSON arguments and results still travel, but code that runs here may not run there (syntax, the
    standard library, installed packages), and pickled data does not cross versions. Issued once per
    endpoint per client; ``endpoint_id``, ``endpoint_version`` and ``local_version`` say which.
    """

    def __init__(self, message: str, endpoint_id: str, endpoint_version: str, local_version: str) -> None:
        super().__init__(message)
        self.endpoint_id = endpoint_id
        self.endpoint_version = endpoint_version
        self.local_version = local_version


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


class PythonCheck:
    """Per client: which functions are python (from registrations and look-ups) and which endpoints were checked."""

    def __init__(self, endpoint_status: Callable[[str], Mapping[str, Any]], function_info: Callable[[str], Mapping[str, Any]]) -> None:
        self._endpoint_status = endpoint_status
        self._function_info = function_info
        self._lock = threading.Lock()
        self._runtimes: Dict[str, str] = {}
        self._checked: Set[str] = set()  # references (ids, names) of endpoints already checked
        self._checked_ids: Set[str] = set()
        self._ask_again: Dict[str, float] = {}
        self.local_version = "%d.%d.%d" % sys.version_info[:3]

    def note_function(self, info: Mapping[str, Any]) -> None:
        """A function the client registered or read: its runtime needs no look-up later."""
        runtime = str(info.get("runtime", ""))
        for ref in (info.get("id"), info.get("name")):
            if isinstance(ref, str):
                self._runtimes[ref] = runtime

    def submitted(self, pairs: Iterable[Tuple[str, str]]) -> None:
        """After tasks were accepted: (endpoint, function) pairs. Never raises for the check itself."""
        by_endpoint: Dict[str, Set[str]] = {}
        for endpoint, function in pairs:
            by_endpoint.setdefault(endpoint, set()).add(function)
        for endpoint, functions in by_endpoint.items():
            with self._lock:
                if endpoint in self._checked or self._ask_again.get(endpoint, 0.0) > time.monotonic():
                    continue
                if any(self._is_python(f) for f in functions):
                    self._check(endpoint)

    def _is_python(self, function: str) -> bool:
        runtime = self._runtimes.get(function)
        if runtime is None:
            try:
                runtime = str(self._function_info(function).get("runtime", ""))
            except FxError:
                return False  # the check must never fail a submission; the next one looks again
            self._runtimes[function] = runtime
        return runtime == "python"

    def _check(self, endpoint: str) -> None:
        try:
            answer = self._endpoint_status(endpoint)
        except FxError:
            self._ask_again[endpoint] = time.monotonic() + RETRY_SECONDS
            return
        # an offline endpoint's last report still says which Python it runs
        python: Optional[Mapping[str, Any]] = (answer.get("status") or answer.get("lastStatus") or {}).get("python")
        if not python:
            self._ask_again[endpoint] = time.monotonic() + RETRY_SECONDS
            return
        endpoint_id = str(answer.get("id", endpoint))
        self._checked.update((endpoint, endpoint_id))
        if endpoint_id in self._checked_ids:
            return  # checked before under another reference (its name)
        self._checked_ids.add(endpoint_id)
        if not python.get("available"):
            return
        version = str(python.get("version", ""))
        if _minor(version) == _minor(self.local_version):
            return
        message = (
            f"endpoint {endpoint} runs python functions on Python {version} ({python.get('executable')}), "
            f"but this is Python {self.local_version}: code and packages that work here may not work there"
        )
        warnings.warn(PythonVersionMismatchWarning(message, endpoint_id, version, self.local_version), stacklevel=4)
