"""Sessions refused by `tcp-request` rules in the log, line for line against haproxy 2.6.

A `tcp-request content reject` (or silent-drop) is logged with termination `PR` and
`<NOSRV>` (HTTP mode: `PR--` and `<BADREQ>`); a `tcp-request connection reject` is not
logged; `option dontlognull` drops a refused session that sent nothing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.test_logging import _run_and_collect, syslog_socket
from tests.helpers import TIMEOUTS, free_port, haproxy_command, haproxy_py_command

pytestmark = pytest.mark.e2e


def _talk(port: int, data: bytes, wait: float = 2.0) -> None:
    # a reset (connection reject, silent-drop) or a time-out is fine: the log says the rest
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=wait) as client,
    ):
        if data:
            client.sendall(data)
        client.recv(100)
    time.sleep(0.1)


def _config(log_port: int, ports: list[int], dead: int) -> str:
    tcp, content, conn, drop, null, http = ports
    return (
        f"global\n    log 127.0.0.1:{log_port} local0\n"
        f"defaults\n    mode tcp\n    log global\n    option tcplog\n{TIMEOUTS}"
        f"frontend tcp\n    bind 127.0.0.1:{tcp}\n    default_backend b\n"
        f"frontend content\n    bind 127.0.0.1:{content}\n    tcp-request inspect-delay 1s\n"
        "    tcp-request content reject if { req.len gt 0 }\n    default_backend b\n"
        f"frontend conn\n    bind 127.0.0.1:{conn}\n    tcp-request connection reject\n"
        "    default_backend b\n"
        f"frontend drop\n    bind 127.0.0.1:{drop}\n    tcp-request inspect-delay 1s\n"
        "    tcp-request content silent-drop if { req.len gt 0 }\n    default_backend b\n"
        f"frontend null\n    bind 127.0.0.1:{null}\n    option dontlognull\n"
        "    tcp-request content reject\n    default_backend b\n"
        f"frontend web\n    mode http\n    option httplog\n    bind 127.0.0.1:{http}\n"
        "    tcp-request content reject\n    default_backend bh\n"
        f"backend b\n    server s1 127.0.0.1:{dead}\n"
        f"backend bh\n    mode http\n    server s1 127.0.0.1:{dead}\n"
    )


def _total_masked(line: bytes) -> bytes:
    return re.sub(rb"(<NOSRV> [-0-9/]*/)[01] ", rb"\1T ", line)


@pytest.mark.skipif(haproxy_command() is None, reason="HAProxy 2.6 is not installed")
def test_refused_sessions_are_logged_as_haproxy_does(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(6)]
    _tcp, content, conn, drop, null, http = ports
    dead = free_port()
    actions = [
        lambda: time.sleep(0.3),  # wait_listening's probe (to `null`) is over everywhere
        lambda: _talk(content, b"hello\n"),
        lambda: _talk(conn, b"hello\n"),  # not logged
        lambda: _talk(drop, b"x", wait=1.5),
        lambda: _talk(null, b""),  # dontlognull: not logged
        lambda: _talk(http, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"),
    ]
    with syslog_socket() as sink:
        cfg = _config(sink.getsockname()[1], ports, dead)
        ours = _run_and_collect(haproxy_py_command(), cfg, tmp_path, null, sink, actions)
        theirs = _run_and_collect(haproxy_command(), cfg, tmp_path, null, sink, actions)
    # A total time (the timers' last field) of 0 or 1 ms is either, as the machine's load
    # has it: compared masked (longer ones as they are).
    assert [_total_masked(line) for line in ours] == [_total_masked(line) for line in theirs]
    assert len(ours) == 3, ours
    assert all(b"/<NOSRV> " in line and b" PR" in line for line in ours), ours
    assert not any(b" conn conn/" in line for line in ours)
