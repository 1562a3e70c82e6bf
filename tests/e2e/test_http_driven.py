"""The HTTP keep-alive fast path driven by the edge poller (worker/driven.py), end to end.

A real `haproxy-py -W` in front of a threaded HTTP server; real clients: curl fetching
several URLs on one connection, wrk (when installed) on many keep-alive connections, Python
sockets for `timeout http-keep-alive` and for `shutdown session` of a connection parked
between two requests, socat on the stats socket. No run may print an [ALERT] (an internal
error: a trio operation met by the poller closes that connection).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_sessions import HttpServer, closed_by_peer, sessions, wait_until
from tests.helpers import free_port

CURL = shutil.which("curl")
SOCAT = shutil.which("socat")
WRK = shutil.which("wrk")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CURL is None or SOCAT is None, reason="needs curl and socat"),
]

KEEP_ALIVE = 0.6  # timeout http-keep-alive, seconds


def _config(port: int, server: int, admin: Path) -> str:
    return (
        f"global\n    nbthread 1\n    stats socket {admin} level admin\n"
        "defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n"
        f"    timeout connect 5s\n    timeout http-keep-alive {int(KEEP_ALIVE * 1000)}ms\n"
        f"frontend web\n    bind 127.0.0.1:{port}\n    default_backend pages\n"
        f"backend pages\n    server w1 127.0.0.1:{server}\n"
    )


def _get(sock: socket.socket, path: str = "/") -> bytes:
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(1000)
        assert chunk, data
        data += chunk
    return data


def test_keep_alive_connections_on_the_driven_path(tmp_path: Path) -> None:
    port = free_port()
    admin = tmp_path / "admin.sock"
    web = HttpServer()
    try:
        with master(tmp_path, _config(port, web.port, admin)) as running:
            running.wait_ready()
            wait_listening(port, running.process)
            base = f"http://127.0.0.1:{port}"

            # curl: several URLs, one connection (curl says it re-used it).
            urls = [f"{base}/{n}" for n in range(5)]
            done = subprocess.run(
                [CURL, "-sv", *urls],  # type: ignore[list-item]
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout == "ok" * 5
            assert done.stderr.count("Connected to") == 1
            assert done.stderr.count("Re-using existing connection") == 4

            # wrk: many keep-alive connections at once, every answer a 200.
            if WRK is not None:
                out = subprocess.run(
                    [WRK, "-t1", "-c20", "-d1s", f"{base}/small"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                ).stdout
                match = re.search(r"(\d+) requests in", out)
                assert match is not None and int(match.group(1)) > 100, out
                assert "Non-2xx" not in out and "Socket errors" not in out, out

            # A client silent after its answer is closed at timeout http-keep-alive.
            with socket.create_connection(("127.0.0.1", port)) as idle:
                _get(idle)
                _get(idle)
                began = time.monotonic()
                assert closed_by_peer(idle, timeout=5)
                waited = time.monotonic() - began
                assert KEEP_ALIVE - 0.1 <= waited < KEEP_ALIVE + 2, waited

            # shutdown session ends a connection parked between two requests.
            with socket.create_connection(("127.0.0.1", port)) as parked:
                _get(parked)
                _get(parked)
                mine = f"127.0.0.1:{parked.getsockname()[1]}"
                wait_until(lambda: any(s[2] == mine for s in sessions(admin)))
                (row,) = [s for s in sessions(admin) if s[2] == mine]
                assert socat(admin, f"shutdown session {row[0]}") == "\n"
                assert closed_by_peer(parked, timeout=0.5)  # at once, not at the timeout
                wait_until(lambda: not any(s[2] == mine for s in sessions(admin)))

            # The server side is still fine for the next client.
            with socket.create_connection(("127.0.0.1", port)) as client:
                assert _get(client).startswith(b"HTTP/1.1 200 ")
            assert running.count("[ALERT]") == 0, running.text()
    finally:
        web.close()
