"""Repeated messages through the real haproxy-py: the plain path's remembered verdicts
(haproxy_py/proto/http1/plain.py, sizes.py) never answer for another message.

A backend answers HEAD with `Content-Length: 5` and no body, and GET with the very same head
bytes followed, 50 ms later, by the body: the head alone read after a GET must wait for the
body, read after a HEAD it is the whole response. Identical requests (a Python client and
curl, which send the same bytes each time) alternate HEAD and GET on kept connections, across
two frontends with different parser limits; every answer must be exact, and `show stat`'s
byte counts must be what the same exchanges count one by one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.http_tools import answer_requests, read_one
from tests.e2e.tcp_tools import ThreadedServer
from tests.e2e.test_checks_shared import stat_rows
from tests.e2e.test_serve_tcp import serving
from tests.helpers import free_port

HEAD = b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\n\r\n"
BODY = b"hello"


class HeadThenBody(ThreadedServer):
    def _serve(self, conn: socket.socket) -> None:
        def answer(head: bytes) -> None:
            conn.sendall(HEAD)
            if head.startswith(b"GET "):
                time.sleep(0.05)
                conn.sendall(BODY)

        answer_requests(conn, answer)


def config(ports: tuple[int, int], server: int, stats: Path) -> str:
    return (
        f"global\n    stats socket {stats} level admin\n"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 3s\n"
        "    timeout connect 2s\n"
        f"frontend a\n    bind 127.0.0.1:{ports[0]}\n    default_backend be\n"
        f"frontend b\n    bind 127.0.0.1:{ports[1]}\n    default_backend be\n"
        "    option accept-invalid-http-request\n"
        f"backend be\n    server s1 127.0.0.1:{server}\n"
    )


def test_identical_heads_after_head_and_get_requests(tmp_path: Path) -> None:
    ports = (free_port(), free_port())
    stats = tmp_path / "stats.sock"
    server = HeadThenBody()
    methods = [b"HEAD", b"GET", b"GET", b"HEAD", b"HEAD", b"GET"] * 3
    try:
        with serving(tmp_path, config(ports, server.port, stats), ports[0]):
            clients = [socket.create_connection(("127.0.0.1", p), timeout=5) for p in ports]
            for method in methods:
                for sock in clients:  # the same bytes on both frontends, one after the other
                    sock.sendall(method + b" /r HTTP/1.1\r\nHost: h\r\n\r\n")
                    answer, rest = read_one(sock, b"", method == b"HEAD")
                    assert rest == b""
                    assert answer == (HEAD if method == b"HEAD" else HEAD + BODY), method
            for sock in clients:
                sock.close()
            time.sleep(0.2)
            rows = stat_rows(cli(stats, "show stat"))
            if shutil.which("curl") is not None:  # curl: identical GETs on one connection
                url = f"http://127.0.0.1:{ports[0]}/r"
                done = subprocess.run(
                    ["curl", "-s", url, url, url], capture_output=True, timeout=30, check=False
                )
                assert done.stdout == BODY * 3
    finally:
        server.close()
    # HAProxy's sizes (sizes.py): request `GET /r HTTP/1.1` + Host: 20+3+2+8 + 5 + 1 = 39
    # (HEAD: 40); response head 20+8+3+2 (version, status, reason) + 6+1 + 14+1 + 1 = 56,
    # + 5 with its body. Frontend a takes the plain path, b (accept-invalid) the general one.
    gets, heads = methods.count(b"GET"), methods.count(b"HEAD")
    for name in ("a", "b"):
        row = rows[(name, "FRONTEND")]
        assert (row["bin"], row["bout"], row["hrsp_2xx"]) == (
            str(39 * gets + 40 * heads),
            str(61 * gets + 56 * heads),
            str(len(methods)),
        )
    assert rows[("be", "s1")]["hrsp_2xx"] == str(2 * len(methods))
