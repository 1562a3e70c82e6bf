"""Admin lines to syslog (haproxy_py/process/logsend.py): which stderr lines HAProxy also logs,
to which proxy, at which level, and the reporter that sends them over a real UDP socket.

Levels and words as HAProxy 2.6.12 sent them (captured on a UDP socket): check results and
servers coming UP notice, servers going DOWN alert, "no server available" emerg (unquoted
on syslog, quoted on stderr), "Proxy X stopped" warning.
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_py.config.address import Address, Family
from haproxy_py.config.model import LogTarget
from haproxy_py.process.logsend import (
    AdminLog,
    AdminReporter,
    LogCounters,
    LogSockets,
    admin_syslog,
    open_emitter,
)
from haproxy_py.report import Reporter


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Health check for server be/s1 succeeded, reason: Layer4 check passed, check "
            "duration: 0ms, status: 1/1 UP.",
            ("be", 5),
        ),
        ("Health check for backup server be/b1 failed, reason: x", ("be", 5)),
        ("Server be/s2 is DOWN. 1 active and 0 backup servers left.", ("be", 1)),
        ("Backup Server be/b is DOWN, reason: Layer4 timeout", ("be", 1)),
        ("Server be/s1 is going DOWN for maintenance. 0 active and 0 backup", ("be", 1)),
        ("Server be/s1 is UP/READY (leaving forced maintenance).", ("be", 5)),
        ("Server app/s1 is UP, reason: Layer4 check passed, check duration: 0ms.", ("app", 5)),
        ("Proxy fe stopped (cumulated conns: FE: 0, BE: 0).", ("fe", 4)),
    ],
)
def test_admin_lines(line: str, expected: tuple[str, int]) -> None:
    assert admin_syslog(line) == (*expected, line)


def test_no_server_line_is_unquoted_on_syslog() -> None:
    assert admin_syslog("backend 'be' has no server available!") == (
        "be",
        0,
        "backend be has no server available!",
    )
    # A listen section is a "proxy" in HAProxy's words.
    assert admin_syslog("proxy 'l' has no server available!") == (
        "l",
        0,
        "proxy l has no server available!",
    )


@pytest.mark.parametrize("line", ["Loading success.", "soft-stop running for too long", ""])
def test_other_lines_are_not_admin_lines(line: str) -> None:
    assert admin_syslog(line) is None


@pytest.fixture
def sink() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def _target(port: int, facility: str) -> LogTarget:
    address = Address(Family.IPV4, "127.0.0.1", port)
    return LogTarget(None, address, f"127.0.0.1:{port}", facility)  # type: ignore[arg-type]


def test_reporter_sends_admin_lines_and_events(sink: socket.socket) -> None:
    sockets = LogSockets({}, {})
    counters = LogCounters()
    port = sink.getsockname()[1]
    be = open_emitter(_target(port, "local2"), sockets, counters, tag="t", pid=7, hostname="")
    glob = open_emitter(_target(port, "local0"), sockets, counters, tag="t", pid=7, hostname="")
    stderr = io.StringIO()
    inner = Reporter(stream=stderr, pid=7, preamble=False)
    reporter = AdminReporter(inner, AdminLog({"be": (be,)}, (glob,)), process_events=True)
    reporter.warning("Server be/s1 is going DOWN for maintenance. 0 active and 0 backup")
    reporter.alert("backend 'be' has no server available!")
    reporter.warning("Server other/s1 is DOWN.")  # a proxy without targets: nothing sent
    reporter.notice("New worker (12) forked")
    reporter.warning("config : something else")  # stderr only
    got = [sink.recv(2048) for _ in range(3)]
    assert [g.split(b" ", 1)[0][:5] for g in got] == [b"<145>", b"<144>", b"<133>"]
    assert got[0].endswith(
        b" t[7]: Server be/s1 is going DOWN for maintenance. 0 active and 0 backup\n"
    )
    assert got[1].endswith(b" t[7]: backend be has no server available!\n")
    assert got[2].endswith(b" t[7]: New worker (12) forked\n")
    assert counters.sent == 3
    assert stderr.getvalue().count("\n") == 5  # every line still on stderr
    assert "[ALERT]    (7) : backend 'be' has no server available!" in stderr.getvalue()
    sockets.close()


def test_sample_ranges(sink: socket.socket) -> None:
    """`sample 1,3-4:5`: of every 5 lines the target takes, the 1st, 3rd and 4th are sent;
    lines its level filter drops are not counted."""
    sockets = LogSockets({}, {})
    target = _target(sink.getsockname()[1], "local0")
    target = LogTarget(None, target.address, target.target, "local0", "info", "", 1024, "raw",
                       "1,3-4", 5)  # type: ignore[arg-type]  # fmt: skip
    emitter = open_emitter(target, sockets, LogCounters(), tag="t", pid=1, hostname="")
    for number in range(1, 12):
        emitter.send(7, "debug", 0.0)  # above the target's level: neither sent nor counted
        emitter.send(6, str(number), 0.0)
    got = []
    sink.settimeout(0.3)
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(sink.recv(100))
    assert got == [b"1\n", b"3\n", b"4\n", b"6\n", b"8\n", b"9\n", b"11\n"]
    sockets.close()


def test_vanished_unix_socket_is_retried_a_second_later(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    sockets = LogSockets({}, {})
    counters = LogCounters()
    target = LogTarget(None, Address(Family.UNIX, path), path, "local0")  # type: ignore[arg-type]
    emitter = open_emitter(target, sockets, counters, tag="t", pid=1, hostname="")
    assert not emitter.connected  # nothing listens yet
    emitter.send(6, "lost", 100.0)
    emitter.send(6, "lost too, without a system call", 100.5)
    assert (counters.sent, counters.dropped) == (0, 2)
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(path)
    syslog.settimeout(2)
    emitter.send(6, "skipped: still within the second", 100.9)
    emitter.send(6, "found", 101.0)
    assert syslog.recv(100).endswith(b"t[1]: found\n")
    assert (counters.sent, counters.dropped) == (1, 3)
    syslog.close()
    sockets.close()
