"""One real FX for the whole session: the built server on a free port with its embedded store, and a
real agent (`fx-endpoint`) with an FX_HOME of its own, both stopped at the end (SIGTERM, then wait).

Needs `npm run build` first (apps/server/dist, apps/endpoint/dist). The server runs with a low rate
limit and a small batch limit, so that retries on 429 and the splitting of batches are exercised.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional

import pytest
import requests

from fx_sdk import Client

REPO = Path(__file__).resolve().parents[3]
SERVER_MAIN = REPO / "apps/server/dist/main.js"
ENDPOINT_CLI = REPO / "apps/endpoint/dist/cli/index.js"
NODE = shutil.which("node") or "node"

# Server settings the suite relies on (see test_limits.py).
RATE_LIMIT_PER_SECOND = 100
RATE_LIMIT_BURST = 100
MAX_BATCH_TASKS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, chars: int = 6000) -> str:
    try:
        return path.read_text("utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Proc:
    """A child process whose output goes to a file; stop() is SIGTERM, then a wait, then SIGKILL."""

    name: str
    popen: subprocess.Popen  # type: ignore[type-arg]
    log: Path
    out: IO[bytes]

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.out.close()


def _start(name: str, args: List[str], env: Dict[str, str], log: Path) -> Proc:
    out = open(log, "wb")
    popen = subprocess.Popen([NODE, *args], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Proc(name, popen, log, out)


def _stop_leftover_postgres(store: Path) -> None:
    """A server that did not stop cleanly leaves its embedded PostgreSQL running: stop that one (its pid file's)."""
    try:
        pid = int((store / "data" / "postmaster.pid").read_text().split("\n")[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"postgres" not in cmdline:
        return  # the pid was reused by something else
    os.kill(pid, signal.SIGINT)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def configure_endpoint(url: str, token: str, name: str, env: Dict[str, str], tmp: Path, workers: int) -> Path:
    """`fx-endpoint configure` in env's FX_HOME (the token through a file in ``tmp``); returns its config.yaml."""
    token_file = tmp / "user.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    configure = subprocess.run(
        [NODE, str(ENDPOINT_CLI), "configure", name, "--url", url, "--token-file", str(token_file), "--workers", str(workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if configure.returncode != 0:
        raise RuntimeError(f"fx-endpoint configure failed ({configure.returncode}): {configure.stderr}{configure.stdout}")
    return Path(env["FX_HOME"]) / "endpoints" / name / "config.yaml"


@dataclass
class Fx:
    url: str
    admin_token: str
    user_token: str
    endpoint_id: str
    endpoint_name: str
    server: Proc
    agent: Proc

    def logs(self) -> str:
        return f"--- server ---\n{_tail(self.server.log)}\n--- agent ---\n{_tail(self.agent.log)}"


def _wait(what: str, check, timeout: float, logs) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} within {timeout:g} s\n{logs()}")


@pytest.fixture(scope="session")
def fx() -> Iterator[Fx]:
    for built in (SERVER_MAIN, ENDPOINT_CLI):
        if not built.exists():
            raise RuntimeError(f"{built} is missing: run `npm run build` first")
    tmp = Path(tempfile.mkdtemp(prefix="fx-pytest-"))
    data_dir, fx_home = tmp / "data", tmp / "home"
    data_dir.mkdir()
    fx_home.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp))}
    server_env = {
        **base_env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "FX_DATA_DIR": str(data_dir),
        "FX_LOG_LEVEL": "warn",
        "FX_RATE_LIMIT_PER_SECOND": str(RATE_LIMIT_PER_SECOND),
        "FX_RATE_LIMIT_BURST": str(RATE_LIMIT_BURST),
        "FX_MAX_BATCH_TASKS": str(MAX_BATCH_TASKS),
    }
    server = _start("server", [str(SERVER_MAIN)], server_env, tmp / "server.log")
    agent: Optional[Proc] = None
    try:
        _wait("the server did not answer /readyz", lambda: requests.get(f"{url}/readyz", timeout=2).ok, 90, lambda: _tail(server.log))
        admin_token = (data_dir / "admin.token").read_text().strip()
        with Client(url, admin_token) as admin:
            user = admin.create_user(f"py-{uuid.uuid4().hex[:8]}")
            user_token = admin.create_token(user["id"], name="pytest")["token"]
        name = f"py-ep-{uuid.uuid4().hex[:8]}"
        agent_env = {**base_env, "FX_HOME": str(fx_home)}
        configure_endpoint(url, user_token, name, agent_env, tmp, workers=4)
        agent = _start("agent", [str(ENDPOINT_CLI), "start", name], agent_env, tmp / "agent.log")
        with Client(url, user_token) as user_client:
            endpoint_id = user_client.get_endpoint(name)["id"]
            _wait(
                "the agent did not come online",
                lambda: user_client.get_endpoint(name)["state"] == "online",
                90,
                lambda: f"{_tail(server.log)}\n--- agent ---\n{_tail(agent.log) if agent else ''}",
            )
        yield Fx(url, admin_token, user_token, endpoint_id, name, server, agent)
    finally:
        if agent is not None:
            agent.stop(60)
        server.stop(60)
        _stop_leftover_postgres(data_dir / "postgres")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def client(fx: Fx) -> Iterator[Client]:
    """The test user's client, shared by the suite (one results thread, as an application would have)."""
    with Client(fx.url, fx.user_token) as c:
        yield c


@pytest.fixture(scope="session")
def admin(fx: Fx) -> Iterator[Client]:
    with Client(fx.url, fx.admin_token) as c:
        yield c


@pytest.fixture(scope="session")
def js(client: Client) -> Dict[str, str]:
    """JS functions the suite runs (the python runtime's tests are in test_python_functions.py), by name."""
    sources = {
        "add": "(a, b) => a + b",
        "double": "(x) => x * 2",
        "sleep": "async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms; }",
        "type-error": "(msg) => { throw new TypeError(msg); }",
        "range-error": "(msg) => { throw new RangeError(msg); }",
        "kw": "(a, kwargs) => ({ a, b: kwargs.b })",
    }
    return {name: client.create_function({"name": f"js-{name}", "runtime": "js", "source": src})["id"] for name, src in sources.items()}
