"""The endpoint's Python in its status, and the warning when python functions go to a different one.

A real mismatch: a second agent whose config.yaml ``python:`` is another interpreter installed here
(pyenv's versions), next to the session's agent, which runs this very ``python3``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import fx_sdk
from fx_sdk import Client, Executor, PythonVersionMismatchWarning

from .conftest import ENDPOINT_CLI, Fx, _start, _tail, _wait, configure_endpoint


def _version(python: str) -> str:
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, timeout=15).stdout.strip()


def other_python() -> Tuple[str, str]:
    """A Python 3.8+ of another major.minor than this one (pyenv's versions), nearest minor first."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found: List[Tuple[int, int, str, str]] = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        python = entry / "bin" / "python3"
        version = _version(str(python)) if python.exists() else ""
        parts = version.split(".")
        if len(parts) >= 2 and parts[0] == "3" and int(parts[1]) >= 8 and int(parts[1]) != sys.version_info[1]:
            found.append((abs(int(parts[1]) - sys.version_info[1]), -int(parts[1]), str(python), version))
    if not found:
        raise RuntimeError(
            f"this test needs a Python 3.8+ other than this {sys.version_info[0]}.{sys.version_info[1]} for a real mismatch; "
            f"none found in {root} (install one there, e.g. `pyenv install 3.12`)"
        )
    _, _, python, version = min(found)
    return python, version


class OtherEndpoint:
    def __init__(self, endpoint_id: str, name: str, python: str, version: str) -> None:
        self.endpoint_id, self.name, self.python, self.version = endpoint_id, name, python, version


@pytest.fixture(scope="module")
def other(fx: Fx) -> Iterator[OtherEndpoint]:
    python, version = other_python()
    tmp = Path(tempfile.mkdtemp(prefix="fx-pytest-other-"))
    fx_home = tmp / "home"
    fx_home.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp)), "FX_HOME": str(fx_home)}
    name = f"py-other-{uuid.uuid4().hex[:8]}"
    with open(configure_endpoint(fx.url, fx.user_token, name, env, tmp, workers=1), "a") as config:
        config.write(f"python: {python}\n")
    agent = _start("other agent", [str(ENDPOINT_CLI), "start", name], env, tmp / "agent.log")
    try:
        with Client(fx.url, fx.user_token) as c:
            endpoint_id = c.get_endpoint(name)["id"]
            _wait(
                "the other agent did not report its python",
                lambda: ((c.get_endpoint_status(name).get("status") or {}).get("python") or {}).get("available"),
                90,
                lambda: _tail(agent.log),
            )
        yield OtherEndpoint(endpoint_id, name, python, version)
    finally:
        agent.stop(60)
        shutil.rmtree(tmp, ignore_errors=True)


def _mismatches(caught: List[warnings.WarningMessage]) -> List[PythonVersionMismatchWarning]:
    return [w.message for w in caught if isinstance(w.message, PythonVersionMismatchWarning)]


def which_python() -> List[str]:
    import platform
    import sys

    return [platform.python_version(), sys.executable]


def test_status_carries_the_endpoints_python(client: Client, other: OtherEndpoint) -> None:
    status = client.get_endpoint_status(other.endpoint_id)
    python = (status["status"] or {})["python"]
    assert python["available"] is True and python["version"] == other.version and python["executable"] == other.python
    assert python["distributions"]["count"] > 0 and len(python["distributions"]["sha256"]) == 64


def test_python_functions_to_another_python_warn_once_per_endpoint_per_client(fx: Fx, other: OtherEndpoint) -> None:
    with Client(fx.url, fx.user_token) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so that "once" is the client's doing, not the warnings registry's
        fid = client.register_function(which_python, name="which-python")
        assert client.get_result(client.run(fid, other.endpoint_id), timeout=60) == [other.version, other.python]
        [warning] = _mismatches(caught)
        assert (warning.endpoint_id, warning.endpoint_version) == (other.endpoint_id, other.version)
        assert warning.local_version == "%d.%d.%d" % sys.version_info[:3]
        assert f"on Python {other.version} ({other.python})" in str(warning)
        # the same endpoint again, by id, by name, in a batch and through an executor: no second warning
        client.get_results(client.batch_run(other.name, [(fid,), (fid,)]), timeout=60)
        client.get_result(client.run(fid, other.name), timeout=60)
        with Executor(other.endpoint_id, client=client) as ex:
            assert ex.submit(which_python).result(timeout=60) == [other.version, other.python]
        # nor for the session's endpoint, whose Python is this one
        assert client.get_result(client.run(fid, fx.endpoint_id), timeout=60)[0] == "%d.%d.%d" % sys.version_info[:3]
        assert len(_mismatches(caught)) == 1


def test_another_client_warns_again_and_non_python_functions_do_not_warn(fx: Fx, other: OtherEndpoint, js: dict) -> None:
    with Client(fx.url, fx.user_token) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert client.get_result(client.run(js["double"], other.endpoint_id, args=(4,)), timeout=60) == 8
        assert _mismatches(caught) == []
        with Executor(other.endpoint_id, client=client) as ex:
            assert ex.submit(which_python).result(timeout=60)[0] == other.version
        assert len(_mismatches(caught)) == 1
    assert issubclass(fx_sdk.PythonVersionMismatchWarning, UserWarning)
