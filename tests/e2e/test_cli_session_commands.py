"""`operator`, `user`, `set timeout cli` and `set severity-output` on a real haproxy-py,
side by side with the installed HAProxy 2.6 (the same commands on a `level admin` stats
socket, asked with socat): the answers are equal byte for byte, `show errors`' date aside."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.side_by_side import Side, needs_haproxy, side_by_side
from tests.e2e.tcp_tools import echo_servers

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")

COMMANDS = [
    "operator",
    "user",
    "operator; show cli level",
    "user; operator; show cli level",
    "user; show cli level; show env NOPE_NOT_SET",
    "set timeout cli 5",
    "set timeout cli",
    "set timeout cli abc",
    "set timeout cli 0",
    "set timeout cli 99999999999",
    "set timeout cli 100ms; show cli level",
    "set timeout cli 1d 6",
    "set timeout foo 3",
    "set timeout",
    "set severity-output",
    "set severity-output bla",
    "set severity-output number; show cli level",
    "set severity-output string; show cli level",
    "set severity-output number; show errors nope",
    "set severity-output number; show errors",
    "set severity-output string; get weight app/zz",
    "set severity-output number; get weight app/s1",
    "set severity-output number; set weight app/zz 3",
    "set severity-output string; set weight app/s1 300",
    "set severity-output number; set weight app/s1 2; get weight app/s1",
    "set severity-output number; set severity-output x",
    "set severity-output number; set severity-output none; show cli level",
    "set severity-output number; user; operator",
    "set severity-output number; show env NOPE_NOT_SET",
    "set severity-output number; show servers state nope",
    "set severity-output number; show backend",
    "set severity-output number; shutdown session",
    "set severity-output string; show table nope",
    "set severity-output number; set timeout cli x",
    "set severity-output string; disable frontend nope",
    "set severity-output number; set maxconn server app/s1",
]


def config(side: Side, ports: list[int]) -> str:
    return (
        f"global\n    stats socket {side.sock} level admin\n"
        "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        f"listen app\n    id 2\n    bind 127.0.0.1:{side.port}\n"
        f"    server s1 127.0.0.1:{ports[0]}\n"
        f"backend spare\n    id 3\n    server x1 127.0.0.1:{ports[1]}\n"
    )


def masked(answer: str) -> str:
    return re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]", "[DATE]", answer)


@needs_haproxy
def test_session_commands_match_haproxy(tmp_path: Path) -> None:
    with echo_servers(b"1:", b"2:") as servers:
        ports = [server.port for server in servers]
        theirs, ours = side_by_side(
            tmp_path, lambda side: config(side, ports), COMMANDS, socat, haproxy_py_flags=()
        )
    for command, expected, got in zip(COMMANDS, theirs, ours, strict=True):
        assert masked(got) == masked(expected), command
