"""Live sessions on a real `haproxy-py -W`: `show sess`, `shutdown session`, `shutdown sessions
server`, and the server options `on-marked-down shutdown-sessions` / `on-marked-up
shutdown-backup-sessions` closing established sessions when a health check changes a
server's state (in every worker).

Clients are real: curl (an idle `telnet://` connection), socat for the stats socket and the
master CLI, and Python sockets (a TCP connection and an HTTP keep-alive connection).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import Side, both_running, needs_haproxy
from tests.e2e.tcp_tools import EchoServer, ThreadedServer, echo_servers, wait_listening
from tests.helpers import TIMEOUTS, free_port

SOCAT = shutil.which("socat")
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(SOCAT is None or CURL is None, reason="needs socat and curl")
LINE = re.compile(
    r"^(0x[0-9a-f]+): proto=(\S+) src=(\S+) fe=(\S+) be=(\S+) srv=(\S+) ts=00 epoch=0 age=\d+s"
    r" calls=\d+ rate=\d+ cpu=\d+ lat=\d+ rq\[[^]]*\] rp\[[^]]*\] scf=\[8,0h,fd=\d+\]"
    r" scb=\[8,1h,fd=-?\d+\] exp=\S* rc=0 c_exp=$"
)


def sessions(path: Path, command: str = "show sess") -> list[tuple[str, ...]]:
    """(id, proto, src, fe, be, srv) of every line of `show sess`."""
    text = socat(path, command)
    assert text.endswith("\n\n") or text == "\n", text
    found = []
    for line in text.splitlines():
        if line:
            match = LINE.match(line)
            assert match is not None, line
            found.append(match.groups())
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def closed_by_peer(sock: socket.socket, timeout: float = 5) -> bool:
    """True when the peer closes (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


class HttpServer(ThreadedServer):
    """Answers every request of a keep-alive connection with a small 200."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
                while b"\r\n\r\n" in data:
                    _, _, data = data.partition(b"\r\n\r\n")
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_show_and_shutdown_sessions(tmp_path: Path) -> None:
    tcp_port, http_port = free_port(), free_port()
    admin, operator = tmp_path / "admin.sock", tmp_path / "operator.sock"
    web = HttpServer()
    with echo_servers(b"1:") as (echo,):
        text = (
            f"global\n    nbthread 1\n    stats socket {admin} level admin\n"
            f"    stats socket {operator} level operator\n    log stderr format raw local0\n"
            f"defaults\n    mode tcp\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{tcp_port}\n    log global\n    option tcplog\n"
            f"    server s1 127.0.0.1:{echo.port}\n"
            f"frontend web\n    mode http\n    bind 127.0.0.1:{http_port}\n"
            "    default_backend pages\n"
            f"backend pages\n    mode http\n    server w1 127.0.0.1:{web.port}\n"
        )
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as running:
            running.wait_ready()
            wait_listening(tcp_port, running.process)
            wait_listening(http_port, running.process)
            wait_until(lambda: not [s for s in sessions(admin) if s[3] != "GLOBAL"])
            # A real client idle on a TCP session: curl on telnet:// waits for its stdin.
            curl = subprocess.Popen(
                [CURL, "-s", f"telnet://127.0.0.1:{tcp_port}"],  # type: ignore[list-item]
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            python = socket.create_connection(("127.0.0.1", tcp_port))
            python.sendall(b"hi")
            assert python.recv(100) == b"1:hi"
            keepalive = socket.create_connection(("127.0.0.1", http_port))
            keepalive.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert keepalive.recv(1000).endswith(b"\r\n\r\nok")
            try:
                wait_until(lambda: len([s for s in sessions(admin) if s[3] == "app"]) == 2)
                listed = sessions(operator)  # operator level may look
                app = [s for s in listed if s[3] == "app"]
                assert all(s[1:2] == ("tcpv4",) and s[4:] == ("app", "s1") for s in app)
                mine = next(s for s in app if s[2] == f"127.0.0.1:{python.getsockname()[1]}")
                web_rows = [s for s in listed if s[3] == "web"]
                assert [s[4:] for s in web_rows] == [("pages", "w1")]
                cli_rows = [s for s in listed if s[3] == "GLOBAL"]  # the asking CLI session
                assert [(s[1], s[2], s[4], s[5]) for s in cli_rows] == [
                    ("unix_stream", "unix:1", "<NONE>", "<none>")
                ]
                # The master CLI reaches the worker's list too.
                through_master = socat(tmp_path / "m.sock", "@1 show sess")
                assert mine[0] in through_master
                detail = socat(admin, f"show sess {mine[0]}")
                assert detail.startswith(f"{mine[0]}: [")
                assert f"source={mine[2]}" in detail and "  server=s1 addr=127.0.0.1:" in detail
                assert socat(admin, "show sess 0x1") == "Session not found.\n\n"
                # Errors and levels, HAProxy's words.
                assert socat(operator, f"shutdown session {mine[0]}") == "Permission denied\n\n"
                assert socat(admin, "shutdown session") == (
                    "Session pointer expected (use 'show sess').\n\n"
                )
                assert socat(admin, "shutdown session 0x1") == (
                    "No such session (use 'show sess').\n\n"
                )
                assert socat(admin, "shutdown sessions server pages") == (
                    "Require 'backend/server'.\n\n"
                )
                assert socat(admin, "shutdown sessions server nope/w1") == "No such backend.\n\n"
                assert socat(admin, "shutdown sessions server pages/nope") == "No such server.\n\n"
                assert socat(admin, "shutdown sessions").startswith("Unknown command")
                # shutdown session ID closes that one, and only that one.
                assert socat(admin, f"shutdown session {mine[0]}") == "\n"
                assert closed_by_peer(python)
                wait_until(lambda: mine[0] not in socat(admin, "show sess"))
                port = python.getsockname()[1]  # its log line: killed (K) in the data phase (D)
                running.wait_for(
                    lambda: any(f":{port} " in ln and " KD " in ln for ln in running.lines)
                )
                assert curl.poll() is None  # the other session lives on
                # shutdown sessions server closes the HTTP keep-alive connection.
                assert socat(admin, "shutdown sessions server pages/w1") == "\n"
                assert closed_by_peer(keepalive)
                # and the curl client's session, by its id.
                (left,) = [s for s in sessions(admin) if s[3] == "app"]
                assert socat(admin, f"shutdown session {left[0]}") == "\n"
                # (curl's telnet mode waits for its stdin even once the peer has closed)
                wait_until(lambda: not [s for s in sessions(admin) if s[3] != "GLOBAL"])
            finally:
                curl.kill()
                curl.wait()
                python.close()
                keepalive.close()
    web.close()


class Switchable:
    """An echo server on a fixed port that can stop and start listening (its health check
    then fails or passes), keeping its established connections served."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.server: EchoServer | None = EchoServer(tag)
        self.port = self.server.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def start(self) -> None:
        server = EchoServer.__new__(EchoServer)
        server.tag = self.tag
        server.sock = socket.create_server(("127.0.0.1", self.port))
        server.port = self.port
        server.accepted = 0
        import threading

        threading.Thread(target=server._run, daemon=True).start()
        self.server = server


def _connect_many(port: int, count: int, tag: bytes) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"x")
        assert client.recv(100) == tag + b"x"
        clients.append(client)
    return clients


def test_on_marked_down_and_up_close_sessions_in_every_worker(tmp_path: Path) -> None:
    down_port, up_port = free_port(), free_port()
    admin = tmp_path / "admin.sock"
    main, spare, primary = Switchable(b"m:"), Switchable(b"b:"), Switchable(b"p:")
    check = "check inter 100 fall 1 rise 1"
    text = (
        f"global\n    nbthread 2\n    stats socket {admin} level admin\n"
        f"defaults\n    mode tcp\n{TIMEOUTS}"
        f"listen down\n    bind 127.0.0.1:{down_port}\n"
        f"    server m 127.0.0.1:{main.port} {check} on-marked-down shutdown-sessions\n"
        f"listen up\n    bind 127.0.0.1:{up_port}\n"
        f"    server p 127.0.0.1:{primary.port} {check} on-marked-up shutdown-backup-sessions\n"
        f"    server b 127.0.0.1:{spare.port} backup\n"
    )
    try:
        with master(tmp_path, text) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_listening(down_port, running.process)
            wait_listening(up_port, running.process)
            # Several connections: with two workers accepting, both hold some.
            clients = _connect_many(down_port, 8, b"m:")
            primary.stop()
            running.wait_for(lambda: running.count("Server up/p is DOWN") >= 1)
            backups = _connect_many(up_port, 6, b"b:")
            main.stop()  # its check fails: DOWN, and every worker closes its sessions
            running.wait_for(lambda: running.count("Server down/m is DOWN") >= 1)
            assert all(closed_by_peer(client) for client in clients)
            primary.start()  # UP again: the backup's sessions are closed
            running.wait_for(lambda: running.count("Server up/p is UP") >= 1)
            assert all(closed_by_peer(client) for client in backups)
            for client in clients + backups:
                client.close()
    finally:
        for server in (main, spare, primary):
            server.stop()


def test_without_the_option_sessions_survive_a_down_server(tmp_path: Path) -> None:
    port = free_port()
    main = Switchable(b"m:")
    text = (
        f"defaults\n    mode tcp\n{TIMEOUTS}"
        f"listen app\n    bind 127.0.0.1:{port}\n"
        f"    server m 127.0.0.1:{main.port} check inter 100 fall 1 rise 1\n"
    )
    try:
        with master(tmp_path, text) as running:
            running.wait_ready()
            wait_listening(port, running.process)
            (client,) = _connect_many(port, 1, b"m:")
            main.stop()
            running.wait_for(lambda: running.count("Server app/m is DOWN") >= 1)
            assert not closed_by_peer(client, timeout=0.5)
            client.sendall(b"y")
            assert client.recv(100) == b"m:y"
            client.close()
    finally:
        main.stop()


def _fields(line: str) -> list[str]:
    """A `show sess` line's field names, in order."""
    return re.findall(r"(?:^|\s)([a-z_]+)[=\[]", line.split(": ", 1)[1])


@needs_haproxy
def test_same_fields_and_errors_as_haproxy(tmp_path: Path) -> None:
    """The same configuration under haproxy and haproxy-py, one idle TCP session each: the
    same field names in the same order, the same values where haproxy-py fills them, and the
    same error answers."""
    with echo_servers(b"1:") as (echo,):
        answers = {}
        text = (
            "global\n    stats socket {sock} level admin\n"
            f"defaults\n    mode tcp\n{TIMEOUTS}"
            "listen app\n    bind 127.0.0.1:{port}\n"
            f"    server s1 127.0.0.1:{echo.port}\n"
        )

        def config(side: Side) -> str:
            return text.format(sock=side.sock, port=side.port)

        with both_running(tmp_path, config, haproxy_py_flags=("-db",)) as sides:
            for side in sides:
                answers[side.name] = _one_session(side)
    (theirs, their_errors, their_closed, their_eof, their_end) = answers["haproxy"]
    (ours, our_errors, our_closed, our_eof, our_end) = answers["haproxy-py"]
    assert _fields(ours) == _fields(theirs)
    keep = re.compile(r" (proto|fe|be|srv)=(\S+)")
    assert keep.findall(ours) == keep.findall(theirs)
    assert our_errors == their_errors
    assert (
        (our_closed, our_eof, our_end) == (their_closed, their_eof, their_end) == ("\n", b"", True)
    )


def _one_session(side: Side) -> tuple[str, list[str], str, bytes | None, bool]:
    """A client's session on `side`: its `show sess` line, the error answers, the answer to
    `shutdown session ID`, what the client then reads (None: no close within 5 s), and
    whether the listing ended with an empty line."""
    with socket.create_connection(("127.0.0.1", side.port)) as client:
        client.sendall(b"x")
        assert client.recv(10) == b"1:x", side.name
        listing = socat(side.sock, "show sess")
        # This client's line, by its source port: not merely the first of `fe=app`, which
        # under load was an earlier connection's still listed (a readiness probe's).
        source = f" src=127.0.0.1:{client.getsockname()[1]} "
        (line,) = [ln for ln in listing.splitlines() if " fe=app " in ln and source in ln]
        errors = [
            socat(side.sock, command)
            for command in (
                "show sess 0x10",
                "shutdown session",
                "shutdown session 0x10",
                "shutdown sessions server app",
                "shutdown sessions server nope/s1",
                "shutdown sessions server app/nope",
            )
        ]
        session_id = line.split(":", 1)[0]
        closed = socat(side.sock, f"shutdown session {session_id}")
        client.settimeout(5)
        try:
            eof: bytes | None = client.recv(10)
        except TimeoutError:  # kept, so the comparison names the side
            eof = None
    return line, errors, closed, eof, listing.endswith("\n\n")
