"""The real `haproxy-py -db` keeps as many idle server connections as HAProxy 2.6 does.

A close-mode burst (2,000 requests from 50 concurrent clients, each on its own connection)
must leave about the concurrency's worth of server connections open, not one per request,
and they must decay every `pool-purge-delay` once the load stops (haproxy_py/lb/idle_policy.py
has the numbers measured on haproxy 2.6.12). Server connections are counted both ways: by
psutil on the haproxy-py process and by the test backend. Keep-alive reuse still works
with curl as the client. `show servers conn` reports the estimate.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.cli_tools import ask_cli
from tests.e2e.tcp_tools import ThreadedServer, read_head
from tests.e2e.test_serve_tcp import serving
from tests.helpers import free_port

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLIENTS = 50
PER_CLIENT = 40  # 2,000 requests in all


class KeepAliveBackend(ThreadedServer):
    """Answers every request head, keeps each connection open until the peer closes it;
    `open` counts the connections open now."""

    def __init__(self) -> None:
        self.open = 0
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.open += 1
        try:
            with conn:
                pending = b""
                while True:
                    while b"\r\n\r\n" not in pending:
                        head = read_head(conn)
                        if head is None:
                            return
                        pending += head
                    _, _, pending = pending.partition(b"\r\n\r\n")
                    with self._lock:
                        self.requests += 1
                    conn.sendall(RESPONSE)
        except OSError:
            pass
        finally:
            with self._lock:
                self.open -= 1


def _config(port: int, backend: int, sock: Path, reuse: str = "safe") -> str:
    return (
        "global\n"
        f"    stats socket {sock} level admin\n"
        "defaults\n    mode http\n"
        "    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\n"
        f"listen app\n    bind 127.0.0.1:{port}\n    http-reuse {reuse}\n"
        f"    server s1 127.0.0.1:{backend} pool-purge-delay 1s\n"
    )


def _server_conns(pid: int, backend: int) -> int:
    """haproxy-py's established connections to the backend's port."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sum(
        1
        for conn in conns
        if conn.raddr and conn.raddr.port == backend and conn.status == psutil.CONN_ESTABLISHED
    )


def _close_mode_client(port: int, failures: list[str]) -> None:
    for _ in range(PER_CLIENT):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := client.recv(4096):
                    answer += chunk
            if not answer.startswith(b"HTTP/1.1 200"):
                failures.append(answer[:40].decode("latin-1"))
        except OSError as error:
            failures.append(repr(error))


def _conn_row(sock: Path) -> dict[str, int]:
    text = ask_cli(sock, "show servers conn app")
    header, row = text.splitlines()[:2]
    names = header.lstrip("# ").split()
    values = row.split()
    return {
        name: int(value)
        for name, value in zip(names, values, strict=True)
        if value.lstrip("-").isdigit()
    }


def test_close_mode_burst_keeps_about_the_concurrency_and_decays(tmp_path: Path) -> None:
    backend = KeepAliveBackend()
    port = free_port()
    sock = tmp_path / "admin.sock"
    with serving(tmp_path, _config(port, backend.port, sock), port) as process:
        failures: list[str] = []
        clients = [
            threading.Thread(target=_close_mode_client, args=(port, failures))
            for _ in range(CLIENTS)
        ]
        peak = 0
        for thread in clients:
            thread.start()
        while any(thread.is_alive() for thread in clients):
            peak = max(peak, _server_conns(process.pid, backend.port), backend.open)
            time.sleep(0.05)
        for thread in clients:
            thread.join()
        assert not failures, failures[:5]
        assert backend.requests == CLIENTS * PER_CLIENT
        # `http-reuse safe`: each first request of a client connection gets a new server
        # connection, as in HAProxy; but they are not all kept: at most about the
        # concurrency is open at once (HAProxy 2.6: 50-67 in the same kind of run).
        assert backend.accepted == CLIENTS * PER_CLIENT
        assert 1 <= peak <= 2 * CLIENTS, peak
        after = _server_conns(process.pid, backend.port)
        assert 1 <= after <= CLIENTS + 5, after
        row = _conn_row(sock)
        assert row["used_cur"] == 0
        assert 1 <= row["idle_cur"] <= CLIENTS + 5
        assert row["idle_lim"] == -1 and row["purge_delay"] == 1000
        # Then every second the pool shrinks toward the recent need, down to nothing.
        counts = [after]
        deadline = time.monotonic() + 15
        while counts[-1] and time.monotonic() < deadline:
            time.sleep(0.25)
            counts.append(_server_conns(process.pid, backend.port))
        assert counts[-1] == 0, counts
        assert all(b <= a for a, b in itertools.pairwise(counts)), counts
        assert len(set(counts)) >= 3, counts  # in steps, not all at once
        deadline = time.monotonic() + 5
        while backend.open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.open == 0
        assert _conn_row(sock)["idle_cur"] == 0
    backend.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_idle_connection_reused_by_later_clients_with_curl(tmp_path: Path) -> None:
    backend = KeepAliveBackend()
    port = free_port()
    sock = tmp_path / "admin.sock"
    with serving(tmp_path, _config(port, backend.port, sock, "always"), port) as process:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(5):  # five clients one after the other, two requests each
            done = subprocess.run(
                ["curl", "-sS", "--max-time", "5", url, url],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0 and done.stdout == "okok", done
        # One server connection served all ten: the pool always keeps one warm connection.
        assert backend.requests == 10
        assert backend.accepted == 1
        assert _server_conns(process.pid, backend.port) == 1
        row = _conn_row(sock)
        assert (row["used_cur"], row["idle_cur"]) == (0, 1)
    backend.close()
