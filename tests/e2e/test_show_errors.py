"""`show errors` on a real haproxy-py: invalid requests (sent raw and with curl) and invalid
responses (from a server thread that answers badly) are refused, captured, and shown as HAProxy
2.6 shows them; side by side with the installed haproxy, the answers are equal once the dates,
the client ports and HAProxy's internal H1 flags are masked. With two workers under a master,
any worker answers with every worker's captures.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import Side, both_running, needs_haproxy
from tests.e2e.tcp_tools import wait_listening
from tests.helpers import free_port

SOCAT = shutil.which("socat")
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed")

BAD_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n"
LONG_URI = b"GET /" + b"a" * 150 + b"\x01\x7f\xff\\\t\x1b HTTP/1.1\r\nHost: x\r\nX-\x02: 1\r\n\r\n"
RESPONSES = {
    b"/chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n",
    b"/hdr": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad(Name: x\r\n\r\nok",
}
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
COMMANDS = [
    "show errors",
    "show errors fe",
    "show errors be request",
    "show errors -1 response",
    "show errors 3",
    "show errors #2 request",
    "show errors fe foo",
    "show errors 99",
    "show errors nope",
    "show errors request",
    "show errors 0",
]


@contextmanager
def bad_server() -> Iterator[int]:
    """A server answering /chunk and /hdr with invalid responses, anything else with 200."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                path = request.split(b" ")[1] if request.count(b" ") > 1 else b""
                conn.sendall(RESPONSES.get(path, GOOD))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def config(port: int, server_port: int, sock: Path, workers: int = 1) -> str:
    return (
        f"global\n    nbthread {workers}\n    stats socket {sock} level admin\n"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        # Explicit ids: HAProxy numbers proxies from 2 when a stats socket exists (MIGRATING.md)
        f"frontend fe\n    id 2\n    bind 127.0.0.1:{port}\n    default_backend be\n"
        f"backend be\n    id 3\n    server s1 127.0.0.1:{server_port}\n"
    )


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        return conn.recv(100)


def bad_chunk(port: int) -> bool:
    """HAProxy reads the whole response before forwarding and answers 502; haproxy-py has
    sent nothing yet when the body turns out bad and closes (docs/MIGRATING.md)."""
    answer = raw(port, b"GET /chunk HTTP/1.1\r\nHost: x\r\n\r\n")
    return answer == b"" or answer.startswith(b"HTTP/1.1 502 ")


def curl(port: int, path: str) -> str:
    assert CURL is not None
    done = subprocess.run(
        [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout


def make_errors(port: int) -> None:
    """Four refusals, two per direction; the last of each direction is what is kept."""
    assert raw(port, BAD_HEADER).startswith(b"HTTP/1.1 400 ")
    assert bad_chunk(port)
    assert raw(port, LONG_URI).startswith(b"HTTP/1.1 400 ")
    if CURL is not None:
        assert curl(port, "/hdr") == "502"
    else:
        assert raw(port, b"GET /hdr HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 502 ")
    assert raw(port, b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def masked(answer: str) -> str:
    """Dates, client ports and HAProxy's internal flag words (haproxy-py prints 0) hidden."""
    answer = re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]", "[DATE]", answer)
    answer = re.sub(r"src 127\.0\.0\.1:\d+", "src 127.0.0.1:PORT", answer)
    answer = re.sub(r"flags 0x[0-9a-f]{8}", "flags 0xF", answer)
    return re.sub(r"(chunk|body) len \d+ bytes", r"\1 len N bytes", answer)


EXPECTED_FE = """\
[DATE] frontend fe (#2): invalid request
  backend <NONE> (#-1), server <NONE> (#-1), event #2, src 127.0.0.1:PORT
  buffer starts at 0 (including 0 out), 16193 free,
  len 191, wraps at 16336, error at position 155
  H1 connection flags 0xF, H1 stream flags 0xF
  H1 msg state MSG_RQURI(4), H1 msg flags 0xF
  H1 chunk len N bytes, H1 body len N bytes :
  \n\
  00000  GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  00070+ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  00140+ aaaaaaaaaaaaaaa\\x01\\x7F\\xFF\\\\\\t\\e HTTP/1.1\\r\\n
  00172  Host: x\\r\\n
  00181  X-\\x02: 1\\r\\n
  00189  \\r\\n
"""
EXPECTED_BE = """\
[DATE] backend be (#3): invalid response
  frontend fe (#2), server s1 (#1), event #3, src 127.0.0.1:PORT
  buffer starts at 0 (including 0 out), 16331 free,
  len 53, wraps at 16336, error at position 39
  H1 connection flags 0xF, H1 stream flags 0xF
  H1 msg state MSG_HDR_NAME(17), H1 msg flags 0xF
  H1 chunk len N bytes, H1 body len N bytes :
  \n\
  00000  HTTP/1.1 200 OK\\r\\n
  00017  Content-Length: 2\\r\\n
  00036  Bad(Name: x\\r\\n
  00049  \\r\\n
  00051  ok
"""


def test_show_errors_captures(tmp_path: Path) -> None:
    """One worker: the layout, the filters and the errors, checked against fixed answers."""
    port = free_port()
    sock = tmp_path / "admin.sock"
    with bad_server() as server_port:
        text = config(port, server_port, sock)
        with master(tmp_path, text) as running:
            running.wait_ready()
            wait_listening(port, running.process)
            empty = masked(socat(sock, "show errors"))
            assert empty == "Total events captured on [DATE] : 0\n\n"
            make_errors(port)
            answer = masked(socat(sock, "show errors"))
            head = "Total events captured on [DATE] : 4\n"
            assert answer == head + " \n" + EXPECTED_FE + " \n" + EXPECTED_BE + "\n"
            assert masked(socat(sock, "show errors be")) == head + " \n" + EXPECTED_BE + "\n"
            assert masked(socat(sock, "show errors fe request")) == (
                head + " \n" + EXPECTED_FE + "\n"
            )
            assert masked(socat(sock, "show errors be request")) == head + "\n"
            assert socat(sock, "show errors nope") == "No such proxy.\n\n"
            assert socat(sock, "operator; show errors -1 response").count("invalid response") == 1
            assert socat(sock, "user; show errors") == "\nPermission denied\n\n"


def test_show_errors_every_worker(tmp_path: Path) -> None:
    """Two workers: whichever takes the CLI connection shows both workers' captures."""
    port = free_port()
    sock = tmp_path / "admin.sock"
    with bad_server() as server_port:
        text = config(port, server_port, sock, workers=2)
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_listening(port, running.process)
            for _ in range(6):  # spread over both workers by the kernel
                assert raw(port, BAD_HEADER).startswith(b"HTTP/1.1 400 ")
                assert bad_chunk(port)
            for asked in range(4):
                answer = socat(sock, "show errors")
                assert answer.startswith("Total events captured on ["), answer
                assert " : 12\n" in answer.splitlines()[0] + "\n", (asked, answer)
                assert answer.count("invalid request") == 1
                assert answer.count("invalid response") == 1
            mcli = tmp_path / "m.sock"
            for number in (1, 2):
                answer = socat(mcli, f"@{number} show errors be")
                assert " : 12\n" in answer.splitlines()[0] + "\n", answer
                assert "MSG_CHUNK_SIZE(26)" in answer
                assert "error at position 47\n" in answer


@needs_haproxy
def test_show_errors_match_haproxy(tmp_path: Path) -> None:
    with bad_server() as server_port:

        def both(side: Side) -> str:
            return config(side.port, server_port, side.sock)

        with both_running(tmp_path, both, haproxy_py_flags=("-W",)) as sides:
            answers = []
            for side in sides:
                make_errors(side.port)
                answers.append([masked(socat(side.sock, command)) for command in COMMANDS])
    theirs, ours = answers
    for command, expected, got in zip(COMMANDS, theirs, ours, strict=True):
        assert got == expected, command
