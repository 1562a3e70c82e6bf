"""Protocol health checks end to end: the real `haproxy-py -db` checking scripted servers.

Each fake server speaks just enough of its protocol (what HAProxy 2.6 sent and accepted
when recorded, tests/unit/checks/test_protocols.py) and records the bytes it got; the
verdicts are read back through the stats socket with socat, as an operator would.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from haproxy_py.checks.protocols import mysql_login, pgsql_startup
from tests.e2e.check_logs import logged_proxy, masked
from tests.e2e.mworker_tools import Master
from tests.e2e.tcp_tools import ThreadedServer, read_head, wait_listening
from tests.e2e.test_checks_shared import Agent
from tests.e2e.test_health_checks import HealthServer, serving, wait_for
from tests.helpers import free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

HEAD = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"


class Scripted(ThreadedServer):
    """Sends `greeting` on accept, then answers each chunk it receives with the next of
    `answers`, and closes when they are used up. `received` keeps every chunk."""

    def __init__(self, greeting: bytes, answers: list[bytes]) -> None:
        self.greeting = greeting
        self.answers = answers
        self.received: list[bytes] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                if self.greeting:
                    conn.sendall(self.greeting)
                for answer in self.answers:
                    data = conn.recv(65536)
                    if not data:
                        return
                    self.received.append(data)
                    conn.sendall(answer)
            except OSError:
                return


def show_stat(sock: Path) -> dict[str, dict[str, str]]:
    """`show stat` over the stats socket (socat): server name -> its fields."""
    text = subprocess.run(
        ["socat", "-t", "2", "-", f"UNIX-CONNECT:{sock}"],
        input="show stat\n",
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    lines = [line for line in text.splitlines() if line]
    names = lines[0].removeprefix("# ").split(",")
    rows = {}
    for values in csv.reader(lines[1:]):  # last_chk may be quoted
        fields = dict(zip(names, values, strict=True))
        rows[f"{fields['pxname']}/{fields['svname']}"] = fields
    return rows


def wait_status(sock: Path, server: str, status: str, timeout: float = 10.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    row: dict[str, str] = {}
    while time.monotonic() < deadline:
        row = show_stat(sock).get(server, {})
        if row.get("check_status") == status:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{server}: {status} not reached: {row}")


def test_protocol_checks_pass_and_fail(tmp_path: Path) -> None:
    port = free_port()
    sock = tmp_path / "stats.sock"
    greeting = bytes.fromhex("0c0000000a352e372e33332d6c6f6700")
    servers = {
        "redis": Scripted(b"", [b"+PONG\r\n"]),
        "redis_bad": Scripted(b"", [b"-NOAUTH Authentication required.\r\n"]),
        "smtp": Scripted(b"220 mx ESMTP\r\n", [b"250 mx\r\n", b"221 bye now\r\n"]),
        "smtp_bad": Scripted(b"554 go away\r\n", []),
        "pgsql": Scripted(b"", [bytes.fromhex("520000000c00000005aabbccdd")]),
        "ldap": Scripted(b"", [bytes.fromhex("300c02010161070a013104000400")]),
        "mysql": Scripted(greeting, [bytes.fromhex("0700000200000002000000")]),
    }
    options = {
        "redis": "option redis-check",
        "redis_bad": "option redis-check",
        "smtp": "option smtpchk EHLO example.org",
        "smtp_bad": "option smtpchk",
        "pgsql": "option pgsql-check user bob",
        "ldap": "option ldap-check",
        "mysql": "option mysql-check user haproxy",
    }
    text = (
        f"global\n  stats socket {sock} level admin\n" + HEAD
        + f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend redis\n"
    )  # fmt: skip
    for name, server in servers.items():
        text += (
            f"backend {name}\n  {options[name]}\n  option log-health-checks\n"
            f"  server s1 127.0.0.1:{server.port} check inter 200 rise 1 fall 1\n"
        )
    try:
        with serving(tmp_path, text, port) as errors:
            row = wait_status(sock, "redis/s1", "L7OK")
            assert (row["status"], row["check_code"], row["last_chk"]) == (
                "UP", "0", "Redis server is ok",
            )  # fmt: skip
            row = wait_status(sock, "smtp/s1", "L7OK")
            assert (row["check_code"], row["last_chk"]) == ("221", "bye now")
            row = wait_status(sock, "pgsql/s1", "L7OK")
            assert row["last_chk"] == "PostgreSQL server is ok"
            row = wait_status(sock, "mysql/s1", "L7OK")
            assert row["status"] == "UP"
            row = wait_status(sock, "ldap/s1", "L7STS")
            assert (row["status"], row["check_code"]) == ("DOWN", "49")
            row = wait_status(sock, "smtp_bad/s1", "L7STS")
            assert (row["status"], row["check_code"], row["last_chk"]) == ("DOWN", "554", "go away")
            wait_for(
                errors,
                r"Health check for server redis_bad/s1 failed, reason: Layer7 wrong status, code:"
                r' 0, info: "-NOAUTH Authentication required\.", check duration: \d+ms, status:'
                r" 0/1 DOWN\.\n.*Server redis_bad/s1 is DOWN\. 0 active",
            )
            wait_for(
                errors,
                r"Health check for server ldap/s1 failed, reason: Layer7 wrong status, code: 49,"
                r' info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"',
            )
    finally:
        for server in servers.values():
            server.close()
    # What the servers got, byte for byte.
    assert servers["redis"].received[0] == b"*1\r\n$4\r\nPING\r\n"
    assert servers["smtp"].received[:2] == [b"EHLO example.org\r\n", b"QUIT\r\n"]
    assert servers["pgsql"].received[0] == pgsql_startup("bob")
    assert servers["ldap"].received[0] == bytes.fromhex("300c020101600702010304008000")
    assert servers["mysql"].received[0] == mysql_login("haproxy", False)


# -- http-check disable-on-404 ------------------------------------------------------------------


def curl(port: int, *headers: str) -> str:
    """One request with curl, a new connection each time (the kernel picks the worker)."""
    args = ["curl", "-s", "--max-time", "5", f"http://127.0.0.1:{port}/"]
    for header in headers:
        args += ["-H", header]
    return subprocess.run(args, capture_output=True, text=True, timeout=10, check=True).stdout


def test_disable_on_404_takes_the_server_out_and_back(tmp_path: Path) -> None:
    port = free_port()
    sock = tmp_path / "stats.sock"
    s1, s2 = HealthServer("s1"), HealthServer("s2")
    check = "check inter 150 rise 2 fall 2"
    text = (
        f"global\n  nbthread 2\n  master-worker\n  stats socket {sock} level admin\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n"
        f"  timeout server 5s\nfrontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        "backend be\n  option httpchk GET /health\n  http-check disable-on-404\n"
        "  cookie SRV insert indirect nocache\n"
        f"  server s1 127.0.0.1:{s1.port} cookie s1 {check}\n"
        f"  server s2 127.0.0.1:{s2.port} cookie s2 {check}\n"
    )
    running = Master(tmp_path, text, "-S", str(tmp_path / "m.sock"))
    try:
        running.wait_ready()
        running.wait_for(lambda: len(running.workers()) == 2)
        wait_listening(port, running.process)
        wait_status(sock, "be/s1", "L7OK")
        assert {curl(port) for _ in range(20)} == {"s1", "s2"}

        s1.broken = True  # /health answers 404: NOLB, not DOWN
        row = wait_status(sock, "be/s1", "L7OKC")
        assert (row["status"], row["check_code"], row["check_desc"]) == (
            "NOLB", "404", "Layer7 check conditionally passed",
        )  # fmt: skip
        running.wait_for(lambda: "is stopping" in running.text())
        assert re.search(
            r"\[WARNING\] +\(\d+\) : Server be/s1 is stopping, reason: Layer7 check"
            r" conditionally passed, code: 404, check duration: \d+ms\. 1 active and 0 backup"
            r" servers online\. 0 sessions requeued, 0 total in queue\.",
            running.text(),
        ), running.text()
        # Both workers leave it out of load balancing (the row's op_state is STOPPING)...
        assert {curl(port) for _ in range(30)} == {"s2"}
        # ... but its persistent clients still reach it.
        assert {curl(port, "Cookie: SRV=s1") for _ in range(10)} == {"s1"}
        assert "has no server available" not in running.text()

        s1.broken = False
        wait_status(sock, "be/s1", "L7OK")
        running.wait_for(lambda: "Server be/s1 is UP" in running.text())
        assert re.search(
            r"Server be/s1 is UP, reason: Layer7 check passed, code: 200, check duration:"
            r" \d+ms\. 2 active and 0 backup servers online\.",
            running.text(),
        ), running.text()
        assert show_stat(sock)["be/s1"]["status"] == "UP"
        assert {curl(port) for _ in range(20)} == {"s1", "s2"}
        assert running.count("is stopping") == 1  # logged once, by the owner
    finally:
        running.stop()
        s1.close()
        s2.close()


# -- observe layer7 -----------------------------------------------------------------------------


class StatusServer(ThreadedServer):
    """HTTP/1.0: 200 on /health (its checks pass), `status` on anything else."""

    def __init__(self) -> None:
        self.status = 200
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = read_head(conn)
                if data is None:
                    return
                status = 200 if data.split(b" ", 2)[1] == b"/health" else self.status
                conn.sendall(f"HTTP/1.0 {status} X\r\ncontent-length: 2\r\n\r\nhi".encode())
            except OSError:
                return


def _layer7_run(command: list[str], tmp_path: Path, name: str) -> tuple[list[str], dict]:
    """A server answering 501 and 505 (not errors), then 500 (errors): `observe layer7
    error-limit 3 on-error mark-down` takes it down. Its check lines and show stat row."""
    sock, port = tmp_path / f"{name}.sock", free_port()
    server = StatusServer()
    path = tmp_path / f"{name}.cfg"
    path.write_text(
        f"global\n  stats socket {sock} level admin\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        "backend be\n  option httpchk GET /health\n  option log-health-checks\n"
        f"  server s1 127.0.0.1:{server.port} check inter 10s observe layer7 error-limit 3"
        " on-error mark-down\n"
    )
    try:
        with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
            proxy.wait_listening(port)
            time.sleep(0.5)  # the first check has passed
            for status in (500, 500, 501, 505, 404, 200):  # a run of 2 errors, then successes
                server.status = status
                curl(port)
            assert "is DOWN" not in proxy.text()
            server.status = 503
            for _ in range(3):
                curl(port)
            proxy.wait_logged("is DOWN", timeout=5)
            time.sleep(0.2)
            row = show_stat(sock)["be/s1"]
    finally:
        server.close()
    # The response that tripped it may still be under way (HAProxy: 1, here 0 or 1).
    lines = masked(proxy.text(), sessions=True)
    return [line for line in lines if "be/s1" in line], row


def test_observe_layer7_marks_down_as_haproxy(tmp_path: Path) -> None:
    lines, row = _layer7_run(haproxy_py_command(), tmp_path, "ours")
    assert lines[-2:] == [
        "[WARNING]  (PID) : Health check for server be/s1 failed, reason: Health analyze, info:"
        ' "Detected 3 consecutive errors, last one was: Wrong http response", status: 0/2 DOWN.',
        "[WARNING]  (PID) : Server be/s1 is DOWN. 0 active and 0 backup servers left. N sessions"
        " active, 0 requeued, 0 remaining in queue.",
    ]
    picked = {k: row[k] for k in ("status", "check_status", "hanafail", "hrsp_5xx")}
    assert picked == {"status": "DOWN", "check_status": "HANA", "hanafail": "1", "hrsp_5xx": "7"}
    if shutil.which("haproxy") is not None:
        their_lines, their_row = _layer7_run(["haproxy"], tmp_path, "theirs")
        assert their_lines == lines
        assert {k: their_row[k] for k in picked} == picked


# -- a `disabled` server enabled at run time ----------------------------------------------------


def _enable_run(command: list[str], tmp_path: Path, name: str) -> tuple[list[str], dict]:
    """Two `disabled` checked servers (one live, one refusing) enabled over the stats
    socket: their log lines and show stat rows once the checks have spoken."""
    sock, port, refused = tmp_path / f"{name}.sock", free_port(), free_port()
    live = StatusServer()
    path = tmp_path / f"{name}.cfg"
    path.write_text(
        f"global\n  stats socket {sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        f"backend be\n  server s1 127.0.0.1:{live.port} check inter 300 disabled\n"
        f"  server s2 127.0.0.1:{refused} check inter 300 disabled\n"
    )
    try:
        with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
            proxy.wait_listening(port)
            time.sleep(1)  # several intervals in maintenance
            before = show_stat(sock)
            assert [before[f"be/{s}"]["status"] for s in ("s1", "s2")] == ["MAINT", "MAINT"]
            for server in ("s1", "s2"):
                subprocess.run(
                    ["socat", "-t", "1", "-", f"UNIX-CONNECT:{sock}"],
                    input=f"enable server be/{server}\n", text=True, capture_output=True,
                    timeout=10, check=True,
                )  # fmt: skip
            rows: dict[str, dict[str, str]] = {}

            def settled(log: str) -> bool:
                rows.update(show_stat(sock))  # read after the log: as new as its lines
                checked = rows["be/s1"]["check_status"] != "INI"
                return "be/s2 is DOWN" in log and rows["be/s2"]["status"] == "DOWN" and checked

            proxy.wait_logged(settled, timeout=5)
    finally:
        live.close()
    lines = masked(proxy.text())
    return [line for line in lines if "be/s" in line], rows


def test_disabled_server_is_checked_once_enabled(tmp_path: Path) -> None:
    lines, rows = _enable_run(haproxy_py_command(), tmp_path, "ours")
    assert lines == [
        "[WARNING]  (PID) : Server be/s1 is UP/READY (leaving forced maintenance).",
        "[WARNING]  (PID) : Server be/s2 is UP/READY (leaving forced maintenance).",
        "[WARNING]  (PID) : Server be/s2 is DOWN, reason: Layer4 connection problem, info:"
        ' "Connection refused", check duration: Nms. 1 active and 0 backup servers left.'
        " 0 sessions active, 0 requeued, 0 remaining in queue.",
    ]
    picked = {s: (rows[f"be/{s}"]["status"], rows[f"be/{s}"]["check_status"]) for s in ("s1", "s2")}
    assert picked == {"s1": ("UP", "L4OK"), "s2": ("DOWN", "L4CON")}
    if shutil.which("haproxy") is not None:
        their_lines, their_rows = _enable_run(["haproxy"], tmp_path, "theirs")
        assert their_lines == lines
        assert {s: (their_rows[f"be/{s}"]["status"], their_rows[f"be/{s}"]["check_status"])
                for s in ("s1", "s2")} == picked  # fmt: skip


# -- an agent's verdict across a reload -----------------------------------------------------------


def test_agent_down_survives_a_reload(tmp_path: Path) -> None:
    port = free_port()
    sock = tmp_path / "stats.sock"
    agent, live = Agent(), StatusServer()
    agent.reply = b"down\n"
    text = (
        f"global\n  master-worker\n  stats socket {sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
        f"backend be\n  server s1 127.0.0.1:{live.port} check inter 200 agent-check"
        f' agent-port {agent.port} agent-inter 200 agent-send "hello\\n"\n'
        f"  server s2 127.0.0.1:{live.port} check inter 200\n"
    )
    running = Master(tmp_path, text, "-S", str(tmp_path / "m.sock"))
    try:
        running.wait_ready()
        running.wait_for(lambda: "be/s1 is DOWN" in running.text())
        assert show_stat(sock)["be/s1"]["status"] == "DOWN (agent)"
        running.process.send_signal(signal.SIGUSR2)
        running.wait_ready(2)
        time.sleep(1.5)  # several checks and agent replies in the new generation
        row = show_stat(sock)["be/s1"]
        assert (row["status"], row["agent_health"]) == ("DOWN (agent)", "0")
        assert running.count("be/s1 is DOWN") == 1  # no new transition, no re-learning
        assert running.count("be/s1 is UP") == 0
        agent.reply = b"up\n"
        running.wait_for(lambda: "be/s1 is UP" in running.text())
        assert show_stat(sock)["be/s1"]["status"] == "UP"
    finally:
        running.stop()
        agent.close()
        live.close()
