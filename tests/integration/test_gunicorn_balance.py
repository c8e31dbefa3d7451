"""gunicorn.conf.py's workers share a burst of keep-alive connections evenly."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.storage_fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONNECTIONS = 24


@pytest.fixture
def server():
    """The project's gunicorn settings, two workers, serving tests/pid_app.py."""
    port = free_port()
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--access-logfile", "/dev/null",
         "--error-logfile", "/dev/null", "tests.pid_app:app"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        pids: set[bytes] = set()
        # Up when both workers have answered (each on a connection of its own).
        while len(pids) < 2:
            assert time.monotonic() < deadline, "gunicorn did not start two workers"
            try:
                pids.add(_get(http.client.HTTPConnection("127.0.0.1", port, timeout=5)))
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/")
    return conn.getresponse().read()


def test_a_burst_of_keep_alive_connections_splits_evenly(server):
    # All connected before any request: stock gthread workers take them as they wake, often
    # 20 to 4 on two workers.
    conns = [
        http.client.HTTPConnection("127.0.0.1", server, timeout=10) for _ in range(CONNECTIONS)
    ]
    for conn in conns:
        conn.connect()
    served = Counter(_get(conn) for conn in conns)
    # Kept alive: each connection stays with its worker.
    assert Counter(_get(conn) for conn in conns) == served
    for conn in conns:
        conn.close()
    assert len(served) == 2
    assert sorted(served.values())[0] >= CONNECTIONS // 2 - 2, served
