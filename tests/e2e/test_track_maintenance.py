"""Maintenance passed down `track` chains, side by side with HAProxy 2.6.

be/s1 is checked; be2/s2 tracks it, be3/s3 tracks be2/s2, be3/s4 tracks be/s1. The same
runtime-API commands (`disable|enable server`, `set server .. state maint|drain|ready`) go
through socat to the real `haproxy-py -W` (two workers) and, when it is installed, to
`haproxy`, with be/s1 UP and with be/s1 DOWN (its checks failing); the log lines after the
pid, `show stat`'s status column ("MAINT (via be2/s2)") and `show servers state`'s admin
and operational states must be the same. Traffic through be2 follows its tracked server's
maintenance in both workers.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.tcp_tools import EchoServer, ask
from tests.e2e.test_runtime_writes import socat
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

SERVERS = ("be/s1", "be/s9", "be2/s2", "be3/s3", "be3/s4")
UP_STEPS = (
    "disable server be/s1",
    "enable server be/s1",
    "set server be/s1 state drain",
    "disable server be/s1",
    "set server be/s1 state drain",
    "set server be/s1 state ready",
    "disable server be2/s2",
    "set server be/s1 state maint",
    "set server be2/s2 state drain",
    "set server be/s1 state ready",
    "enable server be2/s2",
    "disable server be2/s2",
    "disable server be/s1",
    "enable server be/s1",  # "Server be2/s2 remains in forced maintenance."
    "enable server be2/s2",
)
DOWN_STEPS = (
    "disable server be/s1",
    "enable server be/s1",
    "set server be/s1 state maint",
    "set server be/s1 state drain",
    "set server be/s1 state maint",
    "set server be/s1 state ready",
    "disable server be2/s2",
    "disable server be/s1",
    "enable server be2/s2",
    "enable server be/s1",
)


def _config(sock: Path, port: int, s1: int, s9: int) -> str:
    return (
        f"global\n  nbthread 2\n  stats socket {sock} level admin\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be2\n"
        f"backend be\n  server s1 127.0.0.1:{s1} check inter 100 rise 1 fall 1\n"
        f"  server s9 127.0.0.1:{s9}\n"
        f"backend be2\n  server s2 127.0.0.1:{s1} track be/s1\n"
        f"backend be3\n  server s3 127.0.0.1:{s1} track be2/s2\n"
        f"  server s4 127.0.0.1:{s1} track be/s1\n"
    )


def _states(sock: Path) -> dict[str, tuple[str, str, str]]:
    """Per server: (show stat status, srv_op_state, srv_admin_state)."""
    lines = socat(sock, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    status = {}
    for line in lines[1:]:
        row = line.split(",")
        if len(row) > 2 and row[1] not in ("FRONTEND", "BACKEND"):
            status[f"{row[0]}/{row[1]}"] = row[header.index("status")]
    found = {}
    for line in socat(sock, "show servers state").splitlines()[2:]:
        words = line.split()
        if len(words) > 7:
            name = f"{words[1]}/{words[3]}"
            found[name] = (status[name], words[5], words[6])
    return found


def _settle(errors: Path, sock: Path, quiet: float = 0.8) -> dict:
    """Wait until neither the log nor the states moved for `quiet` seconds."""
    deadline = time.monotonic() + 15
    seen: tuple = ()
    since = time.monotonic()
    while True:
        now = (errors.read_text(), _states(sock))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now[1]
        assert time.monotonic() < deadline, now
        time.sleep(0.1)


def _through(port: int) -> bytes:
    try:
        return ask(port, b"hi")
    except OSError:
        return b""


def _run(command: list[str], tmp_path: Path, name: str, steps: tuple, up: bool) -> tuple:
    """Each step's command, the log lines it caused, and the states after it."""
    sock, port = tmp_path / f"{name}.sock", free_port()
    s1 = EchoServer(b"s1:") if up else None
    s9 = EchoServer(b"s9:")
    s1_port = s1.port if s1 is not None else free_port()
    path = tmp_path / f"{name}.cfg"
    path.write_text(_config(sock, port, s1_port, s9.port))
    errors = tmp_path / f"{name}.err"
    record: list[tuple[str, list[str], dict]] = []
    traffic: list[bytes] = []
    with errors.open("w") as stream:
        process = subprocess.Popen(
            [*command, "-W", "-f", str(path)], env=base_env(), stdout=subprocess.DEVNULL,
            stderr=stream,
        )  # fmt: skip
    try:
        _wait_socket(sock, process)  # not the frontend: a connection would sit on be2/s2
        _settle(errors, sock)
        for step in steps:
            before = len(errors.read_text().splitlines())
            assert socat(sock, step).strip() == "", step
            states = _settle(errors, sock)
            lines = errors.read_text().splitlines()[before:]
            record.append((step, [_clean(line) for line in lines if _wanted(line)], states))
            if up and step in ("disable server be/s1", "enable server be/s1"):
                # a few connections: the kernel spreads them over both workers
                traffic.append(b"|".join(sorted({_through(port) for _ in range(8)})))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        for server in (s1, s9):
            if server is not None:
                server.close()
    assert TRACEBACK not in errors.read_text()
    return record, traffic


def _wait_socket(sock: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while not sock.exists() or "Name:" not in _info(sock):
        assert process.poll() is None, "exited early"
        assert time.monotonic() < deadline, "the stats socket did not answer"
        time.sleep(0.1)


def _info(sock: Path) -> str:
    try:
        return socat(sock, "show info")
    except (subprocess.SubprocessError, OSError):
        return ""


def _wanted(line: str) -> bool:
    return bool(re.search(r"Server |no server available", line))


def _clean(line: str) -> str:
    line = re.sub(r"\(\d+\)", "(PID)", line)
    return re.sub(r"duration: \d+ms", "duration: Nms", line)


@pytest.mark.parametrize("up", [True, False], ids=["s1-up", "s1-down"])
def test_maintenance_follows_track_chains_as_haproxy(tmp_path: Path, up: bool) -> None:
    steps = UP_STEPS if up else DOWN_STEPS
    ours, traffic = _run(haproxy_py_command(), tmp_path, "ours", steps, up)
    by_step = {step: (lines, states) for step, lines, states in ours}
    lines, states = ours[0][1], ours[0][2]
    if up:
        assert lines[:3] == [
            "[WARNING]  (PID) : Server be/s1 is going DOWN for maintenance. 1 active and 0"
            " backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "[WARNING]  (PID) : Server be3/s4 is going DOWN for maintenance via be/s1. 1 active"
            " and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "[WARNING]  (PID) : Server be2/s2 is going DOWN for maintenance via be/s1. 0 active"
            " and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        ]
        # both workers: nothing goes through be2 while it is in maintenance via be/s1
        assert traffic[0] == b"" and traffic[1] == b"s1:hi"
    else:
        assert lines[1] == (
            "[WARNING]  (PID) : Server be3/s4 was DOWN and now enters maintenance via be/s1."
        )
    assert states["be3/s3"] == ("MAINT (via be2/s2)", "0", "2")
    assert states["be2/s2"] == ("MAINT (via be/s1)", "0", "2")
    assert by_step["enable server be2/s2"][1]["be3/s3"][0] != "MAINT (via be/s1)"
    if shutil.which("haproxy") is None:
        return
    (tmp_path / "theirs").mkdir()
    theirs, their_traffic = _run(["haproxy"], tmp_path / "theirs", "theirs", steps, up)
    for (step, our_lines, our_states), (_, their_lines, their_states) in zip(
        ours, theirs, strict=True
    ):
        assert (step, our_lines) == (step, their_lines)
        assert (step, our_states) == (step, their_states)
    assert traffic == their_traffic
