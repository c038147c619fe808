"""``Client.get_usage`` (issue 17) against a real server of its own, on a fresh PostgreSQL database
(FX_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test), whose usage rows and pilot
blocks are written with ``psql``, as agents' results and heartbeats would have recorded them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from fx_sdk import Client, ValidationError

from .conftest import SERVER_MAIN, _free_port, _start, _tail, _wait

ADMIN_URL = os.environ.get("FX_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
HOUR_MS = 3_600_000


def _psql(url: str, sql: str) -> None:
    run = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise RuntimeError(f"psql failed ({run.returncode}): {run.stderr}")


def _db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@dataclass
class Usage:
    admin: Client
    alice: Client
    alice_id: str
    function_id: str
    endpoint_id: str


def _seed(url: str, attempts: List[Dict[str, Any]], blocks: List[Dict[str, Any]]) -> None:
    """One INSERT per table, the rows as JSON (jsonb_to_recordset), as the server's own seeding helper does."""
    _psql(
        url,
        "INSERT INTO usage_records (task_id, attempt, owner_id, endpoint_id, function_id, status, ended_at, wall_ms, cores, gpus, cpu_ms, max_rss_bytes) "
        "SELECT task_id, 1, owner_id, endpoint_id, function_id, 'success', ended_at, wall_ms, cores, gpus, cpu_ms, max_rss_bytes "
        f"FROM jsonb_to_recordset('{json.dumps(attempts)}'::jsonb) AS r(task_id uuid, owner_id uuid, endpoint_id uuid, function_id uuid, "
        "ended_at timestamptz, wall_ms bigint, cores int, gpus int, cpu_ms bigint, max_rss_bytes bigint)",
    )
    _psql(
        url,
        "INSERT INTO endpoint_blocks (endpoint_id, block_id, state, nodes, started_at, ended_at, busy_ms, idle_ms, updated_at) "
        "SELECT endpoint_id, block_id, 'ended', nodes, started_at, ended_at, busy_ms, idle_ms, ended_at "
        f"FROM jsonb_to_recordset('{json.dumps(blocks)}'::jsonb) AS r(endpoint_id uuid, block_id text, nodes int, started_at timestamptz, "
        "ended_at timestamptz, busy_ms bigint, idle_ms bigint)",
    )


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


@pytest.fixture(scope="module")
def usage() -> Iterator[Usage]:
    if not SERVER_MAIN.exists():
        raise RuntimeError(f"{SERVER_MAIN} is missing: run `npm run build` first")
    name = f"fx_py_usage_{uuid.uuid4().hex[:12]}"
    _psql(ADMIN_URL, f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    tmp = Path(tempfile.mkdtemp(prefix="fx-pytest-usage-"))
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp)),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "FX_DATA_DIR": str(tmp),
        "FX_LOG_LEVEL": "warn",
        "DATABASE_URL": url,
    }
    server = _start("usage server", [str(SERVER_MAIN)], env, tmp / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("the server did not answer /readyz", lambda: requests.get(f"{base}/readyz", timeout=2).ok, 90, lambda: _tail(server.log))
        with Client(base, (tmp / "admin.token").read_text().strip()) as admin:
            alice_id = admin.create_user("alice")["id"]
            bob_id = admin.create_user("bob")["id"]
            with Client(base, admin.create_token(alice_id, name="usage")["token"]) as alice:
                function_id = alice.create_function({"name": "square", "runtime": "js", "source": "(x) => x * x"})["id"]
                endpoint_id = alice.register_endpoint("hpc")["endpoint"]["id"]
                mine = {"owner_id": alice_id, "function_id": function_id, "endpoint_id": endpoint_id, "max_rss_bytes": None}
                recent = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
                _seed(
                    url,
                    [
                        {**mine, "task_id": str(uuid.uuid4()), "ended_at": _at(1), "wall_ms": 2 * HOUR_MS, "cores": 8, "gpus": 2, "cpu_ms": 10 * HOUR_MS, "max_rss_bytes": 2**30},
                        {**mine, "task_id": str(uuid.uuid4()), "ended_at": _at(30), "wall_ms": HOUR_MS, "cores": 4, "gpus": 0, "cpu_ms": None},
                        {**mine, "task_id": str(uuid.uuid4()), "ended_at": recent, "wall_ms": HOUR_MS, "cores": 3, "gpus": 0, "cpu_ms": None},
                        {**mine, "owner_id": bob_id, "task_id": str(uuid.uuid4()), "ended_at": _at(2), "wall_ms": HOUR_MS, "cores": 64, "gpus": 0, "cpu_ms": None},
                    ],
                    [{"endpoint_id": endpoint_id, "block_id": "b1", "nodes": 2, "started_at": _at(0), "ended_at": _at(4), "busy_ms": 3 * HOUR_MS, "idle_ms": HOUR_MS}],
                )
                yield Usage(admin, alice, alice_id, function_id, endpoint_id)
    finally:
        server.stop(60)
        # the server is gone: nothing holds the database any more
        for _ in range(20):
            try:
                _psql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}"')
                break
            except RuntimeError:
                time.sleep(0.5)
        shutil.rmtree(tmp, ignore_errors=True)


def test_usage_per_function_with_hourly_buckets_and_the_blocks_idle_share(usage: Usage) -> None:
    r = usage.alice.get_usage(by="function", since=T0, until=_at(48), bucket="hour")
    assert (r["by"], r["bucket"], r["since"], r["until"]) == ("function", "hour", "2026-06-01T00:00:00.000Z", "2026-06-03T00:00:00.000Z")
    assert [(x["key"], x["name"], x["attempts"], x["coreHours"], x["gpuHours"], x["cpuHours"], x["wallHours"]) for x in r["rows"]] == [
        (usage.function_id, "square@1", 2, 20, 4, 10, 3)
    ]
    assert r["total"]["measuredAttempts"] == 1
    assert r["total"]["maxRssBytes"] == 2**30
    assert "others" not in r
    assert [(p["at"], p["coreHours"], p["gpuHours"]) for p in r["series"]] == [("2026-06-01T01:00:00.000Z", 16, 4), ("2026-06-02T06:00:00.000Z", 4, 0)]
    assert r["blocks"] == [
        {"endpointId": usage.endpoint_id, "endpointName": "hpc", "blocks": 1, "nodeHours": 8, "busyNodeHours": 6, "idleNodeHours": 2, "idleShare": 0.25}
    ]


def test_a_user_sees_their_own_usage_and_an_admin_everyones(usage: Usage) -> None:
    mine = usage.alice.get_usage(since="2026-06-01T00:00:00Z", until="2026-06-03T00:00:00Z")
    assert [(x["key"], x["name"]) for x in mine["rows"]] == [(usage.alice_id, "alice")]
    everyone = usage.admin.get_usage(since=datetime(2026, 6, 1), until=datetime(2026, 6, 3))  # naive: UTC
    assert [(x["name"], x["coreHours"]) for x in everyone["rows"]] == [("bob", 64), ("alice", 20)]
    assert everyone["total"]["coreHours"] == 84


def test_the_window_defaults_to_the_last_seven_days(usage: Usage) -> None:
    r = usage.alice.get_usage(by="endpoint")
    since, until = (datetime.fromisoformat(r[k].replace("Z", "+00:00")) for k in ("since", "until"))
    assert until - since == timedelta(days=7)
    assert abs((datetime.now(timezone.utc) - until).total_seconds()) < 60
    assert [(x["name"], x["attempts"], x["coreHours"]) for x in r["rows"]] == [("hpc", 1, 3)]


def test_bad_queries_are_refused_with_validation_errors(usage: Usage) -> None:
    with pytest.raises(ValidationError, match="by must be one of"):
        usage.alice.get_usage(by="owner")
    with pytest.raises(ValidationError, match="bucket must be one of"):
        usage.alice.get_usage(bucket="week")
    with pytest.raises(ValidationError, match="must be before until"):
        usage.alice.get_usage(since=_at(2), until=_at(1))
    with pytest.raises(ValidationError, match="hourly buckets cover at most 31 days"):
        usage.alice.get_usage(since=T0, until=T0 + timedelta(days=40), bucket="hour")
