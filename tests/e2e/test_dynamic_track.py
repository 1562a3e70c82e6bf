"""Dynamic servers with `track`, `observe`, `on-marked-down|up` (`add server`), on the real
`haproxy-py -W` with two workers.

- The answers to `add server ... track|observe|on-*` (accepted and refused), `del server`
  of a tracked server, and `show stat`'s status and tracked columns, byte for byte as HAProxy
  2.6 gives them on the same configuration (through socat).
- Traffic: a server added with `track be/s1` takes connections from both workers while
  be/s1 is UP, none once its checks find be/s1 DOWN (logged "Server be2/x is DOWN via
  be/s1. ...") or while be/s1 is in maintenance, and again once be/s1 is back.
- `observe layer4 error-limit 2 on-error mark-down` on an added checked server: refused
  connections mark it DOWN through its checks' owner.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.cli_tools import SOCAT
from tests.e2e.side_by_side import Side, needs_haproxy, side_by_side, stat_columns
from tests.e2e.tcp_tools import EchoServer, ask
from tests.e2e.test_runtime_writes import socat
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(SOCAT is None, reason="socat is not installed"),
]

ADD = "add server be2/{name} 127.0.0.1:{port} "
COMMANDS = [
    ADD + "track be/s1",
    ADD + "track be/nosuch",
    ADD + "track nosuch/s1",
    ADD + "track be/s9",
    ADD + "track be2/x0",
    ADD + "check track be/s1",
    ADD + "check track be/nosuch",
    ADD + "track s2",
    ADD + "track",
    ADD + "track be/s1 track be/s3",
    ADD + "track hb/h1",
    ADD + "agent-check agent-port 1 track be/s9",
    ADD + "observe layer4 error-limit 3 on-error mark-down",
    ADD + "on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions",
    ADD + "observe layer7",
    ADD + "observe foo",
    ADD + "observe",
    ADD + "on-error bar",
    ADD + "on-error",
    ADD + "error-limit x",
    ADD + "error-limit 0",
    ADD + "on-marked-down foo",
    ADD + "on-marked-up foo",
    "show stat",
    "del server be/s3",  # tracked by a dynamic server only
    "disable server be/s3",
    "del server be/s3",
    "enable server be/s3",
    "disable server be2/x9",
    "del server be2/x9",
    "disable server be/s1",
    "show stat",
    "enable server be/s1",
    "enable server be2/x0",  # (then be/s1 shows "UP 1/3" in HAProxy until its next check)
]


def _config(side: Side, target: int) -> str:
    return (
        f"global\n  stats socket {side.sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{side.port}\n  default_backend be2\n"
        f"backend be\n  server s1 127.0.0.1:{target} check inter 200\n"
        f"  server s9 127.0.0.1:{target}\n  server s3 127.0.0.1:{target} check inter 200\n"
        f"backend be2\n  balance roundrobin\n  server s2 127.0.0.1:{target} track be/s1\n"
        f"backend hb\n  mode http\n  server h1 127.0.0.1:{target} check inter 200\n"
    )


@needs_haproxy
def test_answers_match_haproxy(tmp_path: Path) -> None:
    target = EchoServer(b"t:")
    try:
        commands = [
            line.format(name=f"x{number}", port=target.port) for number, line in enumerate(COMMANDS)
        ]
        theirs, ours = side_by_side(tmp_path, lambda side: _config(side, target.port), commands)
    finally:
        target.close()
    for command, mine, reference in zip(commands, ours, theirs, strict=True):
        if command == "show stat":  # be2's rows: pxname svname status tracked (a configured
            # server just out of maintenance shows "UP 1/3" in HAProxy until its next check)
            mine, reference = (
                _be2(stat_columns(said, [0, 1, 17, 31])) for said in (mine, reference)
            )
        assert mine == reference, (command, mine, reference)
    assert "be2,x0,MAINT (via be/s1),be/s1" in stat_columns(ours[31], [0, 1, 17, 31])
    assert "New server registered." in ours[0]
    assert ours[1] == "unable to find required server 'nosuch' for tracking.\n\n"


def _be2(rows: list[str]) -> list[str]:
    return [row for row in rows if row.startswith("be2,")]


class Switchable(EchoServer):
    """An echo server whose listener can be closed (connections refused) and opened again
    on the same port."""

    def stop(self) -> None:
        self.sock.close()

    def start(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._run, daemon=True).start()


def _reached(port: int, count: int = 16) -> set[bytes]:
    found = set()
    for _ in range(count):
        try:
            found.add(ask(port, b"hi").split(b":")[0])
        except OSError:
            found.add(b"")
    return found


def test_tracking_server_follows_its_target_in_every_worker(tmp_path: Path) -> None:
    sock, port = tmp_path / "stats.sock", free_port()
    s1, s2, x = Switchable(b"s1:"), EchoServer(b"s2:"), EchoServer(b"x:")
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        f"global\n  nbthread 2\n  stats socket {sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n  retries 0\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be2\n"
        f"backend be\n  server s1 127.0.0.1:{s1.port} check inter 100 rise 1 fall 1\n"
        f"backend be2\n  balance roundrobin\n  server s2 127.0.0.1:{s2.port}\n"
    )
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stream:
        process = subprocess.Popen(
            [*haproxy_py_command(), "-W", "-f", str(path)], env=base_env(),
            stdout=subprocess.DEVNULL, stderr=stream,
        )  # fmt: skip

    def wait(what: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 15
        while not what():
            assert process.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)

    def status(name: str) -> str:
        for line in socat(sock, "show stat").splitlines():
            if line.startswith(f"be2,{name},"):
                return line.split(",")[17]
        return ""

    try:
        wait(lambda: sock.exists() and status("s2") == "no check")
        added = socat(sock, f"add server be2/x 127.0.0.1:{x.port} track be/s1 enabled")
        assert added == "New server registered.\n\n"
        wait(lambda: status("x") == "UP")
        assert _reached(port) == {b"s2", b"x"}
        s1.stop()  # be/s1's checks fail: x follows it DOWN in every worker
        wait(lambda: "Server be2/x is DOWN via be/s1." in errors.read_text())
        wait(lambda: status("x") == "DOWN")
        assert _reached(port) == {b"s2"}
        s1.start()
        wait(lambda: "Server be2/x is UP via be/s1." in errors.read_text())
        assert _reached(port) == {b"s2", b"x"}
        assert socat(sock, "disable server be/s1") == "\n"
        wait(lambda: status("x") == "MAINT (via be/s1)")
        assert "Server be2/x is going DOWN for maintenance via be/s1." in errors.read_text()
        assert _reached(port) == {b"s2"}
        assert socat(sock, "del server be/s1") == (
            "This server cannot be removed at runtime due to other configuration elements"
            " pointing to it.\n"
        )
        assert socat(sock, "enable server be/s1") == "\n"
        wait(lambda: status("x") == "UP")
        assert _reached(port) == {b"s2", b"x"}
        assert socat(sock, "disable server be2/x") == "\n"
        assert socat(sock, "del server be2/x") == "Server deleted.\n"
        s1.stop()  # its deletion ended the following: no line for it any more
        wait(lambda: "Server be/s1 is DOWN" in errors.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        for server in (s1, s2, x):
            server.close()
    text = errors.read_text()
    assert TRACEBACK not in text
    assert len(re.findall(r"Server be2/x is DOWN via be/s1", text)) == 1


def test_observe_marks_an_added_server_down(tmp_path: Path) -> None:
    """`observe layer4` on a dynamic server: refused connections trip `on-error mark-down`
    (its check, off until `enable health`, is then forced DOWN by the owner)."""
    sock, port = tmp_path / "stats.sock", free_port()
    s2, live = EchoServer(b"s2:"), EchoServer(b"live:")
    dead = free_port()  # nothing listens there: every connection to it is refused
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        f"global\n  nbthread 2\n  stats socket {sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n  retries 0\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be2\n"
        f"backend be2\n  balance roundrobin\n  server s2 127.0.0.1:{s2.port}\n"
    )
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stream:
        process = subprocess.Popen(
            [*haproxy_py_command(), "-W", "-f", str(path)], env=base_env(),
            stdout=subprocess.DEVNULL, stderr=stream,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (sock.exists() and "be2,s2," in _show_stat(sock)):
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)
        command = (
            f"add server be2/o 127.0.0.1:{dead} check port {live.port} inter 200 observe"
            " layer4 error-limit 2 on-error mark-down enabled"
        )  # its checks reach a live port, its traffic none
        assert socat(sock, command) == "New server registered.\n\n"
        assert socat(sock, "enable health be2/o") == "\n"
        while not re.search(r"^be2,o,.*,L4OK,", _show_stat(sock), re.M):
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)
        deadline = time.monotonic() + 15
        while "Server be2/o is DOWN" not in errors.read_text():
            _reached(port, 4)
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)
        text = errors.read_text()
        assert (
            'Server be2/o is DOWN, reason: Health analyze, info: "Detected 2 consecutive errors,'
            ' last one was: L4 unsuccessful connection"' in text
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        s2.close()
        live.close()
    assert TRACEBACK not in text


def _show_stat(sock: Path) -> str:
    try:
        return socat(sock, "show stat")
    except subprocess.SubprocessError:
        return ""
