"""`observe layer7` counts a server's failures before its response, as HAProxy 2.6 does.

One `listen` per way a server can fail (reset, close, close inside the head, `timeout
server`, an invalid head, a body cut short) and per request kind (a plain GET, which takes
haproxy-py's fast path, and a POST with a body, which takes the general one); each server
is `observe layer7 error-limit 1 on-error mark-down` with its checks on a healthy port, so
one counted failure takes it DOWN with HAProxy's "last one was: ..." words. The same
configuration runs on haproxy when it is installed: the words must be the same.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import time
from pathlib import Path

import pytest

from tests.e2e.check_logs import logged_proxy
from tests.e2e.tcp_tools import ThreadedServer, read_head
from tests.e2e.test_health_checks import HealthServer
from tests.helpers import TRACEBACK, free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

MODES = ("reset", "close", "half_head", "timeout", "invalid", "cut_body")
EXPECTED = {
    "reset": "Read error (http)",
    "close": "Close from server (http)",
    "half_head": "Close from server (http)",
    "timeout": "Read timeout (http)",
    "invalid": "Invalid http response (headers)",
    "cut_body": "",  # the response was under way: HAProxy does not count it
}
_LINGER_RESET = struct.pack("ii", 1, 0)


class FailingServer(ThreadedServer):
    """Reads a request, then fails in the way `mode` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = read_head(conn)
                if request is None or not _read_body(conn, request):
                    return
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                elif self.mode == "half_head":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: b")
                elif self.mode == "timeout":
                    time.sleep(1.5)
                elif self.mode == "invalid":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n")
                elif self.mode == "cut_body":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            except OSError:
                return


def _read_body(conn: socket.socket, request: bytes) -> bool:
    """Read the rest of the request's body (its Content-Length) before failing: a reset
    with request bytes still unread raced the proxy's sending of them, and haproxy then
    sometimes did not count the failure as a read error. False when the client left."""
    head, _, body = request.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)", head)
    left = int(length.group(1)) - len(body) if length else 0
    while left > 0:
        chunk = conn.recv(left)
        if not chunk:
            return False
        left -= len(chunk)
    return True


def _request(port: int, post: bool) -> None:
    """One request; whatever comes back (502, 504, a cut body) is not looked at here."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    if post:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def _run(command: list[str], tmp_path: Path, name: str) -> dict[str, str]:
    """listen name -> the "last one was" words of its server's DOWN, "" when not DOWN."""
    health = HealthServer("ok")
    servers = {mode: FailingServer(mode) for mode in MODES}
    ports = {(mode, post): free_port() for mode in MODES for post in (False, True)}
    text = (
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 1s\n  option httpchk GET /health\n  option log-health-checks\n"
    )
    for (mode, post), port in ports.items():
        text += (
            f"listen {mode}_{'post' if post else 'get'}\n  bind 127.0.0.1:{port}\n"
            f"  server s 127.0.0.1:{servers[mode].port} check port {health.port} inter 1s"
            " observe layer7 error-limit 1 on-error mark-down\n"
        )
    path = tmp_path / f"{name}.cfg"
    path.write_text(text)
    try:
        with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
            for port in ports.values():
                proxy.wait_listening(port)
            # the first checks done
            proxy.wait_logged(lambda text: text.count("check passed") >= len(ports))
            for (_, post), port in ports.items():
                _request(port, post)
            time.sleep(0.5)
    finally:
        health.close()
        for server in servers.values():
            server.close()
    logged = proxy.text()
    assert TRACEBACK not in logged
    found = {}
    for mode, post in ports:
        listen = f"{mode}_{'post' if post else 'get'}"
        match = re.search(rf"server {listen}/s failed, .*last one was: ([^\"]*)\"", logged)
        found[listen] = match.group(1) if match else ""
    return found


def test_layer7_counts_server_failures_as_haproxy(tmp_path: Path) -> None:
    ours = _run(haproxy_py_command(), tmp_path, "ours")
    expected = {
        f"{mode}_{kind}": words for mode, words in EXPECTED.items() for kind in ("get", "post")
    }
    assert ours == expected
    if shutil.which("haproxy") is not None:
        assert _run(["haproxy"], tmp_path, "theirs") == expected
