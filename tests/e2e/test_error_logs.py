"""HTTP error paths, haproxy-py against the installed HAProxy 2.6: what the client receives and
the log line, case by case, on the same configuration.

Both proxies run `-db` with `log stdout format raw`; a threaded backend decides what to do from
the request path (answer, answer slowly, never answer, close). Each case drives raw sockets,
then sends a marker request: the log lines before the marker's are the case's. Lines are
compared once the date and client port are masked; timers that depend on timing are compared
loosely (-1 against -1, else within a margin).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.e2e.tcp_tools import ThreadedServer, read_head
from tests.helpers import base_env, haproxy_command, haproxy_py_command, write_cfg

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs_haproxy,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="HAProxy 2.6 not installed: differential test"
    ),
]

# Ports 19850-19899 belong to this test: HAProxy gets the first block, haproxy-py the second.
THEIRS_BASE, OURS_BASE = 19850, 19870
MARGIN_MS = 150  # timers measured on a loaded machine: compared within this


class SmartBackend(ThreadedServer):
    """Reads a request head; the path says what to do: /slow answers after 0.6 s, /hang
    never answers, /close closes without a byte, anything else answers at once."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = read_head(conn)
                if data is None:
                    return
                path = data.split(b" ", 2)[1] if data.count(b" ") >= 2 else b"/"
                if path == b"/close":
                    return
                if path == b"/hang":
                    time.sleep(2.5)
                    return
                if path == b"/slow":
                    time.sleep(0.6)
                body = b"x" * 2000 if path == b"/slow" else b"ok"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                time.sleep(0.2)  # let the proxy close first
            except OSError:
                return


def config(base: int, server: int, extra: str = "") -> str:
    refused = _closed_port()
    return (
        "global\n    log stdout format raw local0\n"
        "defaults\n    mode http\n    log global\n    option httplog\n"
        "    timeout client 5s\n    timeout server 1s\n    timeout connect 1s\n"
        "    timeout http-request 1s\n    timeout queue 1s\n    timeout http-keep-alive 500ms\n"
        f"{extra}"
        f"frontend fe\n    bind 127.0.0.1:{base}\n    default_backend be\n"
        f"frontend fe_refused\n    bind 127.0.0.1:{base + 1}\n    default_backend be_refused\n"
        f"frontend fe_queue\n    bind 127.0.0.1:{base + 2}\n    default_backend be_queue\n"
        f"backend be\n    server s1 127.0.0.1:{server}\n"
        f"backend be_refused\n    server s1 127.0.0.1:{refused}\n"
        f"backend be_queue\n    server s1 127.0.0.1:{server} maxconn 1\n"
    )


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _listening(port: int) -> bool:
    want = f":{port:04X} "
    with open("/proc/net/tcp") as table:
        return any(want in line and line.split()[3] == "0A" for line in table)


class Proxy:
    """One running proxy, its stdout lines in a queue (never connected to before a case:
    a probe connection would itself be logged)."""

    def __init__(self, command: list[str], cfg: Path, base: int) -> None:
        self.base = base
        self.process = subprocess.Popen(
            [*command, "-db", "-f", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=base_env(),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + 15
        while not all(_listening(base + i) for i in range(3)):
            assert self.process.poll() is None, "the proxy exited early"
            assert time.monotonic() < end, "the proxy did not start listening"
            time.sleep(0.05)
        time.sleep(1.0)  # listening is not accepting yet: haproxy-py's worker may still start
        self.case_lines()  # a first request: what a first connection costs is paid here

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def stop(self) -> None:
        self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def case_lines(self) -> list[str]:
        """The lines logged since the previous marker, up to this marker's (excluded)."""
        time.sleep(0.3)  # the case's connection is over and counted out
        got = exchange(self.base, b"GET /marker HTTP/1.1\r\nhost: m\r\n\r\n", close_after=True)
        assert got.startswith(b"HTTP/1.1 200"), got
        time.sleep(0.2)  # the marker's connection is over before the next case
        lines = []
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if '"GET /marker ' in line:
                return lines
            lines.append(line)
        raise AssertionError(f"no marker line; got {lines}")


# -- clients -------------------------------------------------------------------------------------


def received(sock: socket.socket, limit: float = 4.0) -> bytes:
    """Everything the proxy sends until it closes (or `limit` seconds)."""
    sock.settimeout(limit)
    data = b""
    with suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def exchange(port: int, payload: bytes, close_after: bool = False, wait: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if payload:
            sock.sendall(payload)
        if wait:
            time.sleep(wait)
        if close_after and not payload.endswith(b"\r\n\r\n"):
            sock.shutdown(socket.SHUT_WR)
        if close_after and payload.endswith(b"\r\n\r\n"):
            return _one_response(sock)
        return received(sock)


def _one_response(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    match = re.search(rb"(?i)content-length: *(\d+)", data)
    want = data.index(b"\r\n\r\n") + 4 + (int(match.group(1)) if match else 0)
    while len(data) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def connect_close(base: int) -> bytes:
    socket.create_connection(("127.0.0.1", base), timeout=5).close()
    return b""


def partial_close(base: int) -> bytes:
    with socket.create_connection(("127.0.0.1", base), timeout=5) as sock:
        sock.sendall(b"GET / HT")
        time.sleep(0.1)
    return b""


def silent(base: int) -> bytes:
    return exchange(base, b"")


def bad_request_line(base: int) -> bytes:
    return exchange(base, b"GET /a b c HTTP/1.1\r\nhost: x\r\n\r\n")


def header_too_big(base: int) -> bytes:
    return exchange(base, b"GET / HTTP/1.1\r\nx-big: " + b"a" * 20000 + b"\r\n\r\n")


def refused(base: int) -> bytes:
    return exchange(base + 1, b"GET /r HTTP/1.1\r\nhost: x\r\n\r\n", close_after=True)


def server_timeout(base: int) -> bytes:
    return exchange(base, b"GET /hang HTTP/1.1\r\nhost: x\r\n\r\n", close_after=True)


def server_closes(base: int) -> bytes:
    return exchange(base, b"GET /close HTTP/1.1\r\nhost: x\r\n\r\n", close_after=True)


def client_leaves_during_response(base: int) -> bytes:
    with socket.create_connection(("127.0.0.1", base), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.8)  # the server answers meanwhile: the proxy finds the client gone
    return b""


def client_leaves_queued(base: int) -> bytes:
    first = socket.create_connection(("127.0.0.1", base + 2), timeout=5)
    first.sendall(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
    time.sleep(0.2)  # /slow holds the only slot
    with socket.create_connection(("127.0.0.1", base + 2), timeout=5) as second:
        second.sendall(b"GET /q HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.2)
    got = _one_response(first)
    # The queued request is served once /slow frees the slot; `first` stays open until it is
    # logged, so both proxies count it in %ac/%fc (closing at once raced that line).
    time.sleep(0.2)
    first.close()
    time.sleep(0.3)
    return got[:12]


def keep_alive_idle(base: int) -> bytes:
    with socket.create_connection(("127.0.0.1", base), timeout=5) as sock:
        sock.sendall(b"GET /k HTTP/1.1\r\nhost: x\r\n\r\n")
        first = _one_response(sock)
        rest = received(sock)  # closed by `timeout http-keep-alive`
    return first[:12] + b"|" + rest


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def partial_reset(base: int) -> bytes:
    sock = socket.create_connection(("127.0.0.1", base), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nho")
    time.sleep(0.1)
    _reset(sock)
    return b""


def keep_alive_then_partial(base: int, close: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", base), timeout=5) as sock:
        sock.sendall(b"GET /k HTTP/1.1\r\nhost: x\r\n\r\n")
        first = _one_response(sock)
        sock.sendall(b"GET /k2 HT")
        if close:
            time.sleep(0.1)
            return first[:12]
        rest = received(sock)  # `timeout http-request` from the first byte of the second
    return first[:12] + b"|" + rest


CASES: dict[str, Callable[[int], bytes]] = {
    "partial_reset": partial_reset,
    "keep_alive_partial_close": lambda base: keep_alive_then_partial(base, True),
    "keep_alive_partial_timeout": lambda base: keep_alive_then_partial(base, False),
    "connect_close": connect_close,
    "partial_close": partial_close,
    "silent": silent,
    "bad_request_line": bad_request_line,
    "header_too_big": header_too_big,
    "refused": refused,
    "server_timeout": server_timeout,
    "server_closes": server_closes,
    "client_leaves_during_response": client_leaves_during_response,
    "client_leaves_queued": client_leaves_queued,
    "keep_alive_idle": keep_alive_idle,
}
QUEUED = ("client_leaves_queued",)
DONTLOGNULL_CASES = ("connect_close", "partial_close", "silent")
SERVER_CLOSE_CASES = ("keep_alive_idle", "server_timeout", "refused")

# -- comparing -----------------------------------------------------------------------------------

LINE = re.compile(
    r"127\.0\.0\.1:\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] (?P<fe>\S+) (?P<be>\S+) "
    r"(?P<timers>\S+) (?P<status>-?\d+) (?P<bytes>\d+) (?P<cookies>\S+ \S+) (?P<term>\S{4}) "
    r"(?P<conns>\d+/\d+/\d+/)(?P<srvconn>\d+)(?P<retries>/\d+) (?P<queues>\S+) (?P<request>.*)$"
)


def fields(line: str) -> dict[str, object]:
    match = LINE.match(line)
    assert match, line
    found: dict[str, object] = match.groupdict()
    found["timers"] = [int(t) for t in str(found["timers"]).split("/")]
    return found


def same_timers(theirs: list[int], ours: list[int]) -> bool:
    if len(theirs) != len(ours):
        return False
    for a, b in zip(theirs, ours, strict=True):
        if (a < 0) != (b < 0):
            return False
        if a >= 0 and abs(a - b) > MARGIN_MS:
            return False
    return True


def same_bytes(theirs: int, ours: int) -> bool:
    """%B: HAProxy counts its internal form of a response, a few bytes off the wire's
    (docs/MIGRATING.md); 0 (nothing logged as sent) must be 0 on both sides."""
    return theirs == ours or (theirs > 0 and ours > 0 and abs(theirs - ours) <= 16)


def differences(
    theirs: tuple[bytes, list[str]], ours: tuple[bytes, list[str]], queued: bool = False
) -> list[str]:
    """What differs; `queued`: a case with a queue, where %sc and %bq differ by design
    (docs/MIGRATING.md: a freed slot goes straight to the next waiter, and %bq is the
    queue's length at log time, not the request's position)."""
    problems = []
    if theirs[0] != ours[0]:
        problems.append(f"client got {theirs[0][:120]!r} from haproxy, {ours[0][:120]!r} from us")
    if len(theirs[1]) != len(ours[1]):
        problems.append(f"log lines: haproxy {theirs[1]} haproxy-py {ours[1]}")
        return problems
    for a, b in zip(theirs[1], ours[1], strict=True):
        fa, fb = fields(a), fields(b)
        timers_a, timers_b = fa.pop("timers"), fb.pop("timers")
        bytes_a, bytes_b = int(fa.pop("bytes")), int(fb.pop("bytes"))  # type: ignore[call-overload]
        if queued:
            for name in ("srvconn", "queues"):
                fa.pop(name), fb.pop(name)
        if fa != fb or not same_timers(timers_a, timers_b) or not same_bytes(bytes_a, bytes_b):  # type: ignore[arg-type]
            problems.append(f"log line:\n  haproxy    {a}\n  haproxy-py {b}")
    return problems


@contextmanager
def proxies(tmp_path: Path, extra: str = "") -> Iterator[tuple[Proxy, Proxy]]:
    server = SmartBackend()
    command = haproxy_command()
    assert command is not None
    started: list[Proxy] = []
    try:
        for name, cmd, base in (
            ("theirs", command, THEIRS_BASE),
            ("ours", haproxy_py_command(), OURS_BASE),
        ):
            cfg = write_cfg(tmp_path, config(base, server.port, extra), f"{name}.cfg")
            started.append(Proxy(cmd, cfg, base))
        yield started[0], started[1]
    finally:
        for proxy in started:
            proxy.stop()
        server.close()


def run_cases(tmp_path: Path, names: tuple[str, ...], extra: str = "") -> dict[str, list[str]]:
    """{case: differences}, the two proxies driven side by side (one thread each)."""
    results: dict[str, dict[str, tuple[bytes, list[str]]]] = {"theirs": {}, "ours": {}}
    with proxies(tmp_path, extra) as (theirs, ours):

        def drive(name: str, proxy: Proxy) -> None:
            for case in names:
                got = CASES[case](proxy.base)
                results[name][case] = (got, proxy.case_lines())

        threads = [
            threading.Thread(target=drive, args=("theirs", theirs)),
            threading.Thread(target=drive, args=("ours", ours)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    if os.environ.get("ERROR_LOGS_SHOW"):
        for case in names:
            print(case, results["theirs"].get(case), "\n   ", results["ours"].get(case))
    return {
        case: differences(results["theirs"][case], results["ours"][case], case in QUEUED)
        for case in names
    }


def test_error_cases_match_haproxy(tmp_path: Path) -> None:
    found = run_cases(tmp_path, tuple(CASES))
    assert not any(found.values()), "\n".join(
        f"{case}: {p}" for case, problems in found.items() for p in problems
    )


def test_dontlognull_matches_haproxy(tmp_path: Path) -> None:
    found = run_cases(tmp_path, DONTLOGNULL_CASES, "    option dontlognull\n")
    assert not any(found.values()), "\n".join(
        f"{case}: {p}" for case, problems in found.items() for p in problems
    )


def test_server_close_matches_haproxy(tmp_path: Path) -> None:
    found = run_cases(tmp_path, SERVER_CLOSE_CASES, "    option http-server-close\n")
    assert not any(found.values()), "\n".join(
        f"{case}: {p}" for case, problems in found.items() for p in problems
    )


def test_abortonclose_matches_haproxy(tmp_path: Path) -> None:
    found = run_cases(tmp_path, ("client_leaves_queued",), "    option abortonclose\n")
    assert not any(found.values()), "\n".join(
        f"{case}: {p}" for case, problems in found.items() for p in problems
    )


def test_http_ignore_probes_matches_haproxy(tmp_path: Path) -> None:
    found = run_cases(tmp_path, ("connect_close", "silent"), "    option http-ignore-probes\n")
    assert not any(found.values()), "\n".join(
        f"{case}: {p}" for case, problems in found.items() for p in problems
    )
