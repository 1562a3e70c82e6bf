"""`show stat`'s bytes and response time in `mode http`, against the installed HAProxy 2.6.

The same requests go through the real `haproxy-py` (its fast path, and with a `monitor-uri`
nobody asks for, its general path) and through `haproxy`, to one scripted backend: a plain
response, a chunked one, a 204, a request with `Connection: keep-alive` and `option
forwardfor` (neither counted by HAProxy), a POST with a body and a 503 from a server that
refuses connections. `bin`/`bout` of the frontend, backend and server rows must be HAProxy's
(its internal message sizes, haproxy_py/proto/http1/sizes.py); `rtime` is the server's
response time: a response held 300 ms shows in `rtime_max` and in the average.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.http_tools import answer_requests, read_one
from tests.e2e.tcp_tools import ThreadedServer, wait_listening
from tests.e2e.test_checks_shared import stat_rows
from tests.e2e.test_serve_tcp import serving
from tests.helpers import free_port, write_cfg

ANSWERS = {
    b"/plain": b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\n\r\nhello",
    b"/kept": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"/empty": b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
    b"/slow": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow",
}
REQUESTS = [
    b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /kept HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nUser-Agent: t\r\n\r\n",
    b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n",
]
ROWS = (("app", "FRONTEND"), ("app", "BACKEND"), ("app", "s1"), ("dead", "BACKEND"))

pytestmark = pytest.mark.needs_haproxy


class Backend(ThreadedServer):
    """Answers each request head (after its Content-Length body) from ANSWERS by its path;
    /slow after 300 ms."""

    def _serve(self, conn: socket.socket) -> None:
        def answer(head: bytes) -> None:
            path = head.split(b" ")[1]
            if path == b"/slow":
                time.sleep(0.3)
            conn.sendall(ANSWERS[path])

        answer_requests(conn, answer)


def config(port: int, dead_port: int, server_port: int, stats: Path, extra: str) -> str:
    return (
        f"global\n    stats socket {stats} level admin\n"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 3s\n"
        "    timeout connect 2s\n    retries 0\n"
        f"listen app\n    bind 127.0.0.1:{port}\n    option forwardfor\n{extra}"
        f"    server s1 127.0.0.1:{server_port}\n"
        f"listen dead\n    bind 127.0.0.1:{dead_port}\n    server d1 127.0.0.1:{free_port()}\n"
    )


def traffic(port: int, dead_port: int) -> None:
    for request in REQUESTS:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            answer, _ = read_one(sock, b"", False)
            assert answer.startswith(b"HTTP/1.1 2"), answer
    with socket.create_connection(("127.0.0.1", dead_port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        answer, _ = read_one(sock, b"", False)
        assert answer.startswith(b"HTTP/1.1 503 "), answer


def counted(stats: Path) -> dict[tuple[str, str], dict[str, str]]:
    deadline = time.monotonic() + 5
    while True:  # the last exchange's counters land when its connection is done
        rows = stat_rows(cli(stats, "show stat"))
        if all(rows[row]["scur"] == "0" for row in ROWS) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def ours(tmp_path: Path, server: Backend, extra: str) -> dict[tuple[str, str], dict[str, str]]:
    port, dead_port, stats = free_port(), free_port(), tmp_path / "s.sock"
    with serving(tmp_path, config(port, dead_port, server.port, stats, extra), port):
        traffic(port, dead_port)
        return counted(stats)


def theirs(tmp_path: Path, server: Backend) -> dict[tuple[str, str], dict[str, str]]:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("the installed HAProxy 2.6 is the reference here")
    port, dead_port, stats = free_port(), free_port(), tmp_path / "h.sock"
    path = write_cfg(tmp_path, config(port, dead_port, server.port, stats, ""))
    process = subprocess.Popen(
        [haproxy, "-db", "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_listening(port, process)  # type: ignore[arg-type]
        traffic(port, dead_port)
        return counted(stats)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bytes_and_response_times_are_haproxys(tmp_path: Path) -> None:
    server = Backend()
    (tmp_path / "h").mkdir()
    (tmp_path / "fast").mkdir()
    (tmp_path / "general").mkdir()
    try:
        reference = theirs(tmp_path / "h", server)
        fast = ours(tmp_path / "fast", server, "")
        general = ours(tmp_path / "general", server, "    monitor-uri /nobody-asks-this\n")
    finally:
        server.close()
    for row in ROWS:
        expected = (reference[row]["bin"], reference[row]["bout"])
        assert int(expected[0]) > 0 and int(expected[1]) > 0, row
        assert (fast[row]["bin"], fast[row]["bout"]) == expected, (row, "fast path")
        assert (general[row]["bin"], general[row]["bout"]) == expected, (row, "general path")
    for rows in (reference, fast, general):
        for row in (("app", "s1"), ("app", "BACKEND")):
            assert 290 <= int(rows[row]["rtime_max"]) < 1500, (row, rows[row]["rtime_max"])
            # 300 ms among six responses: the average of the last samples shows it
            assert 40 <= int(rows[row]["rtime"]) < 300, (row, rows[row]["rtime"])
