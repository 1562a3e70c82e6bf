"""`track` follows NOLB and drain as HAProxy does (the real `haproxy-py`, then `haproxy`).

A server tracking one that `http-check disable-on-404` puts in NOLB is NOLB too ("Server
be2/t1 is stopping via be/s1. ..."), down a chain; one tracking a server its agent drains is
in drain too ("... enters drain state via be/a1. ..."); both come back with it. The same
scenario runs on haproxy 2.6 when it is installed and the log lines and `show stat`
statuses must be the same; traffic through the tracking backend must avoid the followers.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_check_protocols import curl, show_stat
from tests.e2e.test_checks_shared import Agent
from tests.e2e.test_health_checks import HealthServer
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

NAMES = ("be/s1", "be/a1", "be2/t1", "be2/t2", "be2/t3", "be2/u")


def _config(sock: Path, port: int, s1: int, a1: int, agent: int, u: int) -> str:
    check = "check inter 150 rise 1 fall 1"
    return (
        f"global\n  stats socket {sock} level admin\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n  option httpchk GET /health\n  http-check disable-on-404\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be2\n"
        f"backend be\n  server s1 127.0.0.1:{s1} {check}\n"
        f"  server a1 127.0.0.1:{a1} {check} agent-check agent-port {agent} agent-inter 150"
        ' agent-send "hi\\n"\n'
        f"backend be2\n  server t1 127.0.0.1:{s1} track be/s1\n"
        f"  server t2 127.0.0.1:{a1} track be/a1\n"
        f"  server t3 127.0.0.1:{s1} track be2/t1\n"
        f"  server u 127.0.0.1:{u} {check}\n"
    )


def _run(command: list[str], tmp_path: Path, name: str) -> tuple[list[str], list[dict], set]:
    """NOLB on be/s1, drain by be/a1's agent, then both undone, one step at a time.
    Returns the state lines, the statuses after each step, the servers curl reached
    while the followers were out."""
    sock, port = tmp_path / f"{name}.sock", free_port()
    s1, a1, u, agent = HealthServer("s1"), HealthServer("a1"), HealthServer("u"), Agent()
    path = tmp_path / f"{name}.cfg"
    path.write_text(_config(sock, port, s1.port, a1.port, agent.port, u.port))
    errors = tmp_path / f"{name}.err"
    statuses: list[dict] = []
    with errors.open("w") as stream:
        process = subprocess.Popen(
            [*command, "-db", "-f", str(path)], env=base_env(), stdout=subprocess.DEVNULL,
            stderr=stream,
        )  # fmt: skip

    def step(change: Callable[[], None], logged: str, wanted: dict[str, str]) -> None:
        change()
        deadline = time.monotonic() + 10
        while True:
            rows = show_stat(sock)
            now = {name: rows[name]["status"] for name in NAMES}
            if logged in errors.read_text() and all(now[k] == v for k, v in wanted.items()):
                break
            assert time.monotonic() < deadline, (command, now, errors.read_text())
            time.sleep(0.05)
        statuses.append(now)

    try:
        wait_listening(port, process)
        step(lambda: None, "", {"be/a1": "UP", "be2/u": "UP"})
        step(lambda: setattr(s1, "broken", True), "be2/t3 is stopping", {"be2/t3": "NOLB"})
        step(lambda: setattr(agent, "reply", b"drain\n"), "be2/t2 enters drain", {})
        reached = {curl(port) for _ in range(12)}
        step(lambda: setattr(s1, "broken", False), "be2/t3 is UP", {"be2/t3": "UP"})
        step(lambda: setattr(agent, "reply", b"ready\n"), "be2/t2 is UP", {"be2/t2": "UP"})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        for server in (s1, a1, u, agent):
            server.close()
    text = errors.read_text()
    assert TRACEBACK not in text
    lines = []
    for line in text.splitlines():
        if re.search(r"stopping|drain|is UP|is DOWN|no server", line):
            line = re.sub(r"\(\d+\)", "(PID)", line)
            lines.append(re.sub(r"duration: \d+ms", "duration: Nms", line))
    return lines, statuses, reached


def test_track_follows_nolb_and_agent_drain_as_haproxy(tmp_path: Path) -> None:
    lines, statuses, reached = _run(haproxy_py_command(), tmp_path, "ours")
    assert lines == [
        "[WARNING]  (PID) : Server be/s1 is stopping, reason: Layer7 check conditionally"
        " passed, code: 404, check duration: Nms. 1 active and 0 backup servers online."
        " 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be2/t1 is stopping via be/s1. 3 active and 0 backup"
        " servers online. 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be2/t3 is stopping via be2/t1. 2 active and 0 backup"
        " servers online. 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be/a1 enters drain state. 0 active and 0 backup servers"
        " online. 0 sessions requeued, 0 total in queue.",
        "[ALERT]    (PID) : backend 'be' has no server available!",
        "[WARNING]  (PID) : Server be2/t2 enters drain state via be/a1. 1 active and 0 backup"
        " servers online. 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be/s1 is UP, reason: Layer7 check passed, code: 200,"
        " check duration: Nms. 1 active and 0 backup servers online. 0 sessions requeued,"
        " 0 total in queue.",
        "[WARNING]  (PID) : Server be2/t1 is UP via be/s1. 2 active and 0 backup servers"
        " online. 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be2/t3 is UP via be2/t1. 3 active and 0 backup servers"
        " online. 0 sessions requeued, 0 total in queue.",
        "[WARNING]  (PID) : Server be/a1 is UP (leaving forced drain).",
        "[WARNING]  (PID) : Server be2/t2 is UP (leaving forced drain).",
    ]
    assert [s["be2/t1"] for s in statuses] == ["UP", "NOLB", "NOLB", "UP", "UP"]
    assert [s["be2/t2"] for s in statuses] == ["UP", "UP"] + ["DRAIN (agent)"] * 2 + ["UP"]
    assert statuses[2]["be/s1"] == "NOLB" and statuses[2]["be/a1"] == "DRAIN (agent)"
    assert reached == {"u"}  # NOLB and DRAIN followers take no new traffic
    if shutil.which("haproxy") is not None:
        (tmp_path / "theirs").mkdir()
        their_lines, their_statuses, their_reached = _run(["haproxy"], tmp_path, "theirs")
        assert their_lines == lines
        assert their_statuses == statuses
        assert their_reached == reached


def test_disable_on_404_must_match_along_a_track(tmp_path: Path) -> None:
    """HAProxy refuses a track between proxies that differ on disable-on-404."""
    path = tmp_path / "bad.cfg"
    path.write_text(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        "backend be\n  option httpchk GET /\n  http-check disable-on-404\n"
        "  server s1 127.0.0.1:1 check\n"
        "backend be2\n  server t1 127.0.0.1:1 track be/s1\n"
    )
    done = subprocess.run(
        [*haproxy_py_command(), "-c", "-f", str(path)], env=base_env(), capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert (
        f"[{path}:11] : 'server be2/t1' : unable to use be/s1 fortracking: disable-on-404"
        " option inconsistency." in done.stderr
    ), done.stderr
    assert TRACEBACK not in done.stderr
