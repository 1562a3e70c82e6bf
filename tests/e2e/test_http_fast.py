"""The HTTP fast path (worker/http_fast.py) seen from outside: the same bytes as the general one.

The real `haproxy-py -db` runs one configuration twice: as is (plain exchanges take the fast
path) and with a `monitor-uri` nobody asks for, which makes no difference to these requests
but keeps every exchange on the general path. A scripted backend answers each path with a
chosen response (plain, chunked, bodiless, split in two, close-delimited, Connection: close),
so one client connection walks in and out of the fast path. Both runs must give the client the
same bytes, the backend the same bytes, and `show stat` the same counters; curl's keep-alive
requests reach the backend byte for byte (HTTP/1.0 ones, as ab sends them, with
`Connection: keep-alive` added as the general path adds it); keep-alive and http-request
timeouts after a fast exchange answer as the general path does. The walk runs with and
without `option forwardfor` (which the fast path applies itself), and with `option httplog`
to a UDP target: both paths must then send the same log lines (timers masked to "set or -1").
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.http_tools import answer_requests, read_one
from tests.e2e.tcp_tools import ThreadedServer
from tests.e2e.test_checks_shared import stat_rows
from tests.e2e.test_logging import receive, syslog_socket
from tests.e2e.test_serve_http import backend as recording_backend
from tests.e2e.test_serve_tcp import serving
from tests.helpers import free_port

PLAIN = b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
# path -> (response, then close the connection, seconds between the head and the rest)
SCRIPT: dict[bytes, tuple[bytes, bool, float]] = {
    b"/plain": (PLAIN, False, 0.0),
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        False,
        0.0,
    ),
    b"/empty": (b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", False, 0.0),
    b"/head": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", False, 0.0),
    b"/closing": (
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnot",
        True,
        0.0,
    ),
    b"/split": (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nsplit", False, 0.05),
    b"/busy": (b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", False, 0.0),
    b"/eof": (b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nuntil the end", True, 0.0),
}
REQUESTS = [
    b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nx-client: 192.0.2.1\r\nX-Forwarded-For: 192.0.2.2\r\n\r\n",
    b"POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /closing HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nhost:  a \r\nX-Odd:x\r\n\r\n",
    b"GET /split HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /busy HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /plain HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    b"GET /plain HTTP/1.0\r\nHost: a\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
    b"HEAD /head HTTP/1.0\r\n\r\n",
    b"GET /closing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /empty HTTP/1.0\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\r\n",
    b"GET /closing HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n",
    b"GET /eof HTTP/1.1\r\nHost: a\r\n\r\n",
]
COUNTERS = ("stot", "bin", "bout", "req_tot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx", "eresp", "wretr")


class ScriptedBackend(ThreadedServer):
    """Answers each request head (reading a Content-Length body) from SCRIPT by its path;
    records every byte received."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lock = threading.Lock()
        super().__init__()

    def _record(self, data: bytes) -> None:
        with self.lock:
            self.received += data

    def _serve(self, conn: socket.socket) -> None:
        def answer(head: bytes) -> bool:
            response, close, pause = SCRIPT[head.split(b" ")[1]]
            if pause:
                cut = response.index(b"\r\n\r\n") + 4
                conn.sendall(response[:cut])
                time.sleep(pause)
                response = response[cut:]
            conn.sendall(response)
            return not close

        answer_requests(conn, answer, self._record)


def walk(port: int) -> list[bytes]:
    """REQUESTS on one connection (a new one when the proxy closed it): every response."""
    answers: list[bytes] = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for request in REQUESTS:
            sock.sendall(request)
            buffer = b""
            for _ in range(request.count(b" HTTP/1.")):
                answer, buffer = read_one(sock, buffer, request.startswith(b"HEAD"))
                answers.append(answer)
            if b"HTTP/1.0" in request or b"connection: close" in answers[-1].lower():
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    finally:
        sock.close()
    return answers


def config(port: int, server_port: int, stats: Path, extra: str = "") -> str:
    return (
        f"global\n    stats socket {stats} level admin\n"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 3s\n"
        "    timeout connect 2s\n    timeout http-request 1s\n    timeout http-keep-alive 400ms\n"
        f"listen app\n    bind 127.0.0.1:{port}\n{extra}    server s1 127.0.0.1:{server_port}\n"
    )


def run_walk(tmp_path: Path, extra: str) -> tuple[list[bytes], bytes, dict]:
    port = free_port()
    stats = tmp_path / "stats.sock"
    server = ScriptedBackend()
    try:
        with serving(tmp_path, config(port, server.port, stats, extra), port):
            answers = walk(port)
            time.sleep(0.2)
            rows = stat_rows(cli(stats, "show stat"))
    finally:
        server.close()
    counters = {
        name: {c: rows[("app", name)][c] for c in COUNTERS}
        for name in ("FRONTEND", "s1", "BACKEND")
    }
    return answers, bytes(server.received), counters


@pytest.mark.parametrize(
    "options", ["", "    option forwardfor\n", "    option forwardfor header X-Client if-none\n"]
)
def test_fast_and_general_paths_give_the_same_bytes_and_counters(
    tmp_path: Path, options: str
) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "general").mkdir()
    fast = run_walk(tmp_path / "fast", options)
    general = run_walk(tmp_path / "general", options + "    monitor-uri /nobody-asks-this\n")
    answers, _, counters = fast
    assert len(answers) == len(REQUESTS) + 1
    assert answers[0] == PLAIN.replace(b"Connection: keep-alive\r\n", b"")
    assert answers[1].endswith(b"5\r\nhello\r\n0\r\n\r\n")
    assert answers[-1].endswith(b"until the end")
    # The wait for the server's connection probe (wait_listening) may add one session.
    for side in (counters, general[2]):
        side["FRONTEND"].pop("stot")
        side["BACKEND"].pop("stot")
    assert fast == general
    assert int(counters["FRONTEND"]["req_tot"]) >= len(REQUESTS)
    if "forwardfor\n" in options:
        assert b"Host: a\r\nx-forwarded-for: 127.0.0.1\r\n\r\n" in fast[1]


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_curl_keep_alive_requests_reach_the_server_unchanged(tmp_path: Path) -> None:
    port = free_port()
    stats = tmp_path / "stats.sock"
    with recording_backend() as server, serving(tmp_path, config(port, server.port, stats), port):
        urls = [f"http://127.0.0.1:{port}/x?{i}" for i in range(20)]
        done = subprocess.run(["curl", "-s", *urls], capture_output=True, timeout=30, check=False)
        assert done.stdout == b"ok" * 20
        heads = server.received.split(b"\r\n\r\n")[:-1]
        rows = stat_rows(cli(stats, "show stat"))
    assert len(heads) == 20
    for i, head in enumerate(heads):
        assert head.startswith(f"GET /x?{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        assert head.endswith(b"\r\nAccept: */*")
    assert server.accepted == 1  # one server connection kept for all of them
    assert int(rows[("app", "BACKEND")]["req_tot"]) == 20
    assert int(rows[("app", "s1")]["hrsp_2xx"]) == 20


@needs_curl
def test_http_1_0_requests_reach_the_server_as_the_general_path_sends_them(
    tmp_path: Path,
) -> None:
    # curl --http1.0 (what ab sends, one connection per request) and -H keep-alive.
    port = free_port()
    stats = tmp_path / "stats.sock"
    with recording_backend() as server, serving(tmp_path, config(port, server.port, stats), port):
        urls = [f"http://127.0.0.1:{port}/x?{i}" for i in range(3)]
        done = subprocess.run(
            ["curl", "-s", "--http1.0", "-i", *urls], capture_output=True, timeout=30, check=False
        )
        kept = subprocess.run(
            ["curl", "-s", "--http1.0", "-i", "-H", "Connection: keep-alive", *urls],
            capture_output=True,
            timeout=30,
            check=False,
        )
        heads = server.received.split(b"\r\n\r\n")[:-1]
        rows = stat_rows(cli(stats, "show stat"))
    closing = done.stdout.split(b"HTTP/1.1 200")[1:]
    assert len(closing) == 3
    assert all(b"ok" in answer and b"Connection" not in answer for answer in closing)
    staying = kept.stdout.split(b"HTTP/1.1 200")[1:]
    assert len(staying) == 3
    assert all(b"\r\nConnection: keep-alive\r\n\r\nok" in answer for answer in staying)
    assert len(heads) == 6
    for i, head in enumerate(heads):
        assert head.startswith(f"GET /x?{i % 3} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n".encode())
        assert head.endswith(b"\r\nAccept: */*\r\nConnection: keep-alive"), head
    # `http-reuse safe`: a client connection's first request takes no pooled connection;
    # the kept-alive client's three requests go on its one server connection.
    assert server.accepted == 4
    assert int(rows[("app", "s1")]["hrsp_2xx"]) == 6


def _timeouts(tmp_path: Path, extra: str) -> tuple[bytes, float, bytes, float]:
    port = free_port()
    with (
        recording_backend() as server,
        serving(tmp_path, config(port, server.port, tmp_path / "s.sock", extra), port),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            first = idle.recv(65536)
            start = time.monotonic()
            idle_end = idle.recv(65536)  # the proxy closes the idle connection
            idle_after = time.monotonic() - start
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert slow.recv(65536) == first
            slow.sendall(b"GET / HTTP/1.1\r\nHo")
            start = time.monotonic()
            late = b""
            while chunk := slow.recv(65536):
                late += chunk
            late_after = time.monotonic() - start
    return idle_end, idle_after, late, late_after


def test_timeouts_after_a_fast_exchange_answer_as_the_general_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fast = _timeouts(tmp_path / "a", "")
    general = _timeouts(tmp_path / "b", "    monitor-uri /nobody-asks-this\n")
    for idle_end, idle_after, late, late_after in (fast, general):
        assert idle_end == b""
        assert 0.3 <= idle_after < 1.5  # timeout http-keep-alive 400ms
        assert late.startswith(b"HTTP/1.1 408 ")
        assert 0.8 <= late_after < 2.5  # timeout http-request 1s, from the first byte
    assert fast[2] == general[2]


# Masks for what differs from run to run in an httplog line: the syslog date and pid, the
# client's port, the accept date, the timers (each kept as "T" when set, "-1" when not) and the
# connection counts (the general path's connection may still be closing).
LOG_MASKS = [
    (re.compile(rb"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d [\w.-]+\[\d+\]: "), rb"<\1>DATE PID: "),
    (re.compile(rb"127\.0\.0\.1:\d+ "), rb"127.0.0.1:PORT "),
    (re.compile(rb"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]"), rb"[DATE]"),
    (re.compile(rb" (?:\d+/){4}\d+ (\d+/\d+ )"), rb" CONNS \1"),
]
TIMERS = re.compile(rb" ((?:-?\d+/){4}-?\d+) (\d{3}) ")


def _masked(line: bytes) -> bytes:
    for pattern, replacement in LOG_MASKS:
        line = pattern.sub(replacement, line)
    return TIMERS.sub(
        lambda match: (
            b" %s %s "
            % (
                b"/".join(b"-1" if t == b"-1" else b"T" for t in match[1].split(b"/")),
                match[2],
            )
        ),
        line,
    )


def test_fast_and_general_paths_log_the_same_lines(tmp_path: Path) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "general").mkdir()
    with syslog_socket() as sink:
        extra = f"    log 127.0.0.1:{sink.getsockname()[1]} local0\n    option httplog\n"
        fast = run_walk(tmp_path / "fast", extra)
        fast_lines = [_masked(line) for line in receive(sink, 100, wait=1.5)]
        general = run_walk(tmp_path / "general", extra + "    monitor-uri /nobody-asks-this\n")
        general_lines = [_masked(line) for line in receive(sink, 100, wait=1.5)]
    assert fast[:2] == general[:2]
    # One line per answered request (and, with both paths, one for the start-up probe's
    # connection that sent nothing, if that is logged).
    requests = [line for line in fast_lines if b'"<BADREQ>"' not in line]
    assert len(requests) == len(fast[0])
    assert b'"GET /plain HTTP/1.1"' in requests[0]
    assert b" 200 54 " in requests[0]  # the byte count is not masked
    assert fast_lines == general_lines
