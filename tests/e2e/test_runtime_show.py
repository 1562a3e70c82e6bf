"""The read-only runtime-API commands on a real `haproxy-py -W` (two workers), asked with socat
on `stats socket`s of each level, and compared with HAProxy 2.6's answers when it is installed.

Checked: `show servers state|conn [BE]`, `show backend`, `show env [NAME]`, `get weight`,
`show errors`, `show activity`, `show sess` (its level), `clear counters [all]`,
their levels ("Permission denied"), and the same answers through the master CLI (`@1 ...`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import both_running, needs_haproxy
from tests.e2e.tcp_tools import ask, echo_servers, wait_listening
from tests.helpers import base_env, free_port

SOCAT = shutil.which("socat")
LEVELS = ("admin", "operator", "user")
ACTIVITY = (
    r"thread_id: [12] \(1\.\.2\)\ndate_now: \d+\.\d{6}\n"
    r"accepted: (\d+) \[ (\d+) (\d+) \]\n\n"
)
pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed")


def config(tmp_path: Path, port: int, ports: list[int], threads: int, prefix: str) -> str:
    sockets = "".join(
        f"    stats socket {tmp_path / f'{prefix}-{level}.sock'} level {level}\n"
        for level in LEVELS
    )
    return (
        f"global\n    nbthread {threads}\n{sockets}"
        "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        # Explicit ids: HAProxy numbers proxies from 2 when a stats socket exists (MIGRATING.md)
        f"listen app\n    id 1\n    bind 127.0.0.1:{port}\n"
        f"    server s1 127.0.0.1:{ports[0]}\n"
        f"    server s2 127.0.0.1:{ports[1]} weight 50\n"
        f"backend spare\n    id 2\n    server x1 127.0.0.1:{ports[0]} id 5\n"
    )


def test_show_commands_on_every_level(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"1:", b"2:") as servers:
        ports = [server.port for server in servers]
        text = config(tmp_path, port, ports, 2, "py")
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_listening(port, running.process)
            admin, operator, user = (
                tmp_path / f"py-{lv}.sock" for lv in ("admin", "operator", "user")
            )
            state = socat(user, "show servers state").split("\n")
            assert state[0] == "1"
            assert state[1].startswith("# be_id be_name srv_id srv_name srv_addr srv_op_state")
            assert state[2].startswith("1 app 1 s1 127.0.0.1 2 0 1 1 ")
            assert state[3].startswith("1 app 2 s2 127.0.0.1 2 0 50 50 ")
            assert state[4].startswith("2 spare 5 x1 127.0.0.1 2 0 1 1 ")
            assert state[2].endswith(f" 0 0 0 - {ports[0]} - 0 0 - - 0")
            assert socat(user, "show servers state spare").count("\n") == 4
            assert socat(user, "show servers state nope") == "Can't find backend.\n\n"
            assert socat(user, "show backend") == "# name\napp\nspare\n\n"

            for _ in range(20):
                assert ask(port, b"x") in (b"1:x", b"2:x")
            conn = socat(user, "show servers conn app").split("\n")
            assert conn[0].endswith("idle_lim idle_cur idle_per_thr[1]")
            assert conn[1].startswith(f"app/s1 1/1 127.0.0.1 {ports[0]} - 5000 0 ")
            assert len(conn) == 5 and conn[3:] == ["", ""]

            activity = socat(user, "show activity")
            found = re.fullmatch(ACTIVITY, activity)
            assert found is not None, activity
            total, first, second = map(int, found.groups())
            assert total == first + second >= 21  # the 20 and wait_listening's probe

            assert socat(user, "get weight app/s2") == "50 (initial 50)\n\n"
            assert socat(user, "show env HOME") == "Permission denied\n\n"
            assert socat(operator, "show env NOPE_NOT_SET") == "Variable not found\n\n"
            home = base_env().get("HOME")
            if home is not None:
                assert socat(operator, "show env HOME") == f"HOME={home}\n\n"
            assert "\nPATH=" in "\n" + socat(operator, "show env")
            assert socat(user, "show errors") == "Permission denied\n\n"
            assert re.fullmatch(
                r"Total events captured on \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] : 0\n\n",
                socat(operator, "show errors"),
            )
            assert socat(operator, "show errors nope") == "No such proxy.\n\n"
            assert socat(user, "show sess") == "Permission denied\n\n"
            assert " fe=GLOBAL " in socat(operator, "show sess")  # tests/e2e/test_sessions.py

            assert socat(user, "clear counters") == "Permission denied\n\n"
            assert socat(operator, "clear counters all") == "Permission denied\n\n"
            assert socat(operator, "clear counters") == "\n"
            assert _stot(socat(user, "show stat")) >= 21  # a plain clear keeps the totals
            assert socat(admin, "clear counters all") == "\n"
            assert _stot(socat(user, "show stat")) == 0
            # through the master CLI, on each worker: the same shared numbers
            mcli = tmp_path / "m.sock"
            for number in (1, 2):
                assert socat(mcli, f"@{number} show backend") == "# name\napp\nspare\n\n"
                assert socat(mcli, f"@{number} show servers state app").startswith("1\n# be_id")


def _stot(stat: str) -> int:
    lines = stat.splitlines()
    header = lines[0].removeprefix("# ").split(",")
    for line in lines[1:]:
        values = dict(zip(header, line.split(","), strict=False))
        if values.get("pxname") == "app" and values.get("svname") == "FRONTEND":
            return int(values["stot"])
    raise AssertionError(stat)


@needs_haproxy
def test_answers_match_haproxy(tmp_path: Path) -> None:
    commands = [
        "show backend",
        "show servers state nope",
        "show servers conn",
        "show servers conn nope",
        "show env NOPE_NOT_SET",
        "get weight app/s2",
        "get weight app/zz",
        "show errors nope",
        "clear counters",
    ]
    levels = {"user": ["show env HOME", "show errors", "show sess", "clear counters"],
              "operator": ["clear counters all"]}  # fmt: skip
    with echo_servers(b"1:", b"2:") as servers:
        ports = [server.port for server in servers]
        with both_running(
            tmp_path,
            lambda side: config(side.directory, side.port, ports, 1, "x"),
            sock_name="x-admin.sock",
        ) as (theirs, ours):
            expected = _answers(theirs.directory, "x", commands, levels)
            got = _answers(ours.directory, "x", commands, levels)
    for key, answer in expected.items():
        assert got[key] == answer, key


def _answers(tmp_path: Path, prefix: str, commands: list[str], levels: dict) -> dict:
    answers = {}
    admin = tmp_path / f"{prefix}-admin.sock"
    for command in commands:
        answers[command] = socat(admin, command)
    for level, asked in levels.items():
        for command in asked:
            answers[(level, command)] = socat(tmp_path / f"{prefix}-{level}.sock", command)
    # the servers' state lines, without the seconds since the last change (column 10) and
    # bk_f_forced_id (column 16: the model does not keep whether a proxy's id was written)
    state = socat(admin, "show servers state").split("\n")
    answers["show servers state"] = [
        " ".join(w for i, w in enumerate(line.split(" ")) if i not in (9, 15)) for line in state
    ]
    return answers
