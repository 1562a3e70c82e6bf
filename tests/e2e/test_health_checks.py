"""Health checks end to end: the real `haproxy-py -db` checking real servers.

The log lines asserted here are HAProxy 2.6.12's, recorded from `haproxy -db` on the same
kind of configuration (tests/unit/checks/ keeps the byte-for-byte texts).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.tcp_tools import ThreadedServer, read_head, wait_listening
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command, write_cfg

HEAD = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"


class HealthServer(ThreadedServer):
    """An HTTP/1.0 server answering `tag` on every path, and 404 on /health while `broken`."""

    def __init__(self, tag: str) -> None:
        self.tag = tag.encode()
        self.broken = False
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = read_head(conn)
                if data is None:
                    return
                path = data.split(b" ", 2)[1]
                if path == b"/health" and self.broken:
                    conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(self.tag)}\r\n\r\n"
                    conn.sendall(head.encode() + self.tag)
            except OSError:
                return


@contextmanager
def serving(tmp_path: Path, text: str, port: int) -> Iterator[Path]:
    """haproxy-py -db on `text`; yields the file its stderr goes to."""
    path = write_cfg(tmp_path, text)
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stream:
        process = subprocess.Popen(
            [*haproxy_py_command(), "-db", "-f", str(path)],
            env=base_env(),
            stdout=subprocess.DEVNULL,
            stderr=stream,
            text=True,
        )
        try:
            wait_listening(port, process)
            yield errors
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    assert TRACEBACK not in errors.read_text()


def wait_for(errors: Path, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = errors.read_text()
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not seen in:\n{errors.read_text()}")


def get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data.rpartition(b"\r\n\r\n")[2]


def test_http_check_404_down_then_up_and_backup(tmp_path: Path) -> None:
    port = free_port()
    s1, s2, b1 = HealthServer("s1"), HealthServer("s2"), HealthServer("b1")
    check = "check inter 100 rise 2 fall 2"
    text = (
        HEAD + f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        "backend be\n  option httpchk GET /health\n  option log-health-checks\n"
        f"  server s1 127.0.0.1:{s1.port} {check}\n"
        f"  server s2 127.0.0.1:{s2.port} {check}\n"
        f"  server b1 127.0.0.1:{b1.port} {check} backup\n"
    )
    try:
        with serving(tmp_path, text, port) as errors:
            wait_for(errors, r"be/s1 succeeded.*status: 2/2 UP")
            assert {get(port) for _ in range(6)} == {b"s1", b"s2"}
            s1.broken = True
            wait_for(
                errors,
                r"\[WARNING\]  \(\d+\) : Health check for server be/s1 failed, reason: Layer7"
                r' wrong status, code: 404, info: "Not Found", check duration: \d+ms,'
                r" status: 1/2 UP\.\n.*Health check for server be/s1 failed, reason: Layer7"
                r' wrong status, code: 404, info: "Not Found", check duration: \d+ms,'
                r" status: 0/2 DOWN\.\n.*Server be/s1 is DOWN\. 1 active and 1 backup servers"
                r" left\. 0 sessions active, 0 requeued, 0 remaining in queue\.",
            )
            assert {get(port) for _ in range(6)} == {b"s2"}  # traffic avoids s1
            s1.broken = False
            wait_for(
                errors,
                r"status: 1/2 DOWN\.\n.*be/s1 succeeded.*status: 2/2 UP\.\n.*Server be/s1 is UP\."
                r" 2 active and 1 backup servers online\. 0 sessions requeued, 0 total in queue\.",
            )
            assert {get(port) for _ in range(6)} == {b"s1", b"s2"}
            s1.broken = s2.broken = True
            wait_for(errors, r"Server be/s2 is DOWN\..*")
            wait_for(errors, r"Server be/s1 is DOWN\. 0 active and 1 backup servers left\. Running"
                     r" on backup\.|Server be/s2 is DOWN\. 0 active and 1 backup servers left\."
                     r" Running on backup\.")  # fmt: skip
            assert {get(port) for _ in range(4)} == {b"b1"}  # only now the backup serves
    finally:
        for server in (s1, s2, b1):
            server.close()


def test_timeout_and_refused_and_no_server_left(tmp_path: Path) -> None:
    port = free_port()
    # A blackhole: a listening socket whose backlog is full never completes a handshake.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    bh_port = blackhole.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", bh_port))
        fillers.append(filler)
    refused = free_port()
    text = (
        HEAD + f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        "backend be\n  mode http\n"
        f"  server bh 127.0.0.1:{bh_port} check inter 300 fall 1\n"
        f"  server refused 127.0.0.1:{refused} check inter 300 fall 1\n"
    )
    try:
        with serving(tmp_path, text, port) as errors:
            wait_for(
                errors,
                r"Server be/refused is DOWN, reason: Layer4 connection problem, info: \"Connection"
                r" refused\", check duration: \d+ms\. 1 active and 0 backup servers left\."
                r" 0 sessions active, 0 requeued, 0 remaining in queue\.",
            )
            text = wait_for(
                errors,
                r"Server be/bh is DOWN, reason: Layer4 timeout, check duration: 3\d\dms\."
                r" 0 active and 0 backup servers left\. 0 sessions active, 0 requeued,"
                r" 0 remaining in queue\.\n\[ALERT\]    \(\d+\) : backend 'be' has no server"
                r" available!",
            )
    finally:
        blackhole.close()
        for filler in fillers:
            filler.close()
    assert "Health check for" not in text  # no option log-health-checks


def test_tcp_check_rules(tmp_path: Path) -> None:
    port = free_port()
    banner = socket.create_server(("127.0.0.1", 0))
    banner_port = banner.getsockname()[1]

    def serve_banner() -> None:
        while True:
            try:
                conn, _ = banner.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 hello\r\n")
                conn.settimeout(2)
                try:
                    if conn.recv(100).startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                except OSError:
                    pass

    threading.Thread(target=serve_banner, daemon=True).start()
    text = (
        HEAD + f"frontend fe\n  mode tcp\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        "backend be\n  mode tcp\n  option tcp-check\n  option log-health-checks\n"
        "  tcp-check expect string 220\n  tcp-check send QUIT\\r\\n\n"
        "  tcp-check expect string 221\n"
        f"  server ok 127.0.0.1:{banner_port} check inter 200 rise 1 fall 1\n"
        f"  server bad 127.0.0.1:{free_port()} check inter 200 rise 1 fall 1\n"
    )
    try:
        with serving(tmp_path, text, port) as errors:
            wait_for(
                errors,
                r"Health check for server be/ok succeeded, reason: Layer7 check passed, code: 0,"
                r' info: "\(tcp-check\)", check duration: \d+ms, status: 1/1 UP\.',
            )
            wait_for(
                errors,
                r'be/bad failed, reason: Layer4 connection problem, info: "Connection refused at'
                r' initial connection step of tcp-check", check duration: \d+ms, status: 0/1 DOWN',
            )
    finally:
        banner.close()
