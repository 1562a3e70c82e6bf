"""One truth across workers: the real `haproxy-py -W` with two workers sharing the stats table.

Commands go to a particular worker through the master CLI (`@1 CMD`, `@2 CMD`, level admin)
and to whichever worker accepts on the configuration's `stats socket ... level admin`.
Checked: counters summed over both workers (`show stat`, `show info`), an admin change made
through one worker in force in the other at its next server choice, runtime weights and admin
states surviving a reload (USR2: the master re-executes itself, then reloads), and the CSV
header equal to the real HAProxy's when it is installed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from haproxy_py.stats.csv import HEADER
from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.mworker_tools import master, two_workers
from tests.e2e.tcp_tools import ask, echo_servers, wait_listening
from tests.helpers import free_port, write_cfg


def config(tmp_path: Path, port: int, servers: list) -> str:
    stats = tmp_path / "stats.sock"
    return two_workers(port, servers, f"    stats socket {stats} level admin\n")


def stat_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = text.splitlines()
    header = lines[0].removeprefix("# ").split(",")
    rows = {}
    for line in lines[1:]:
        if line:
            values = dict(zip(header, line.split(","), strict=True))
            rows[(values["pxname"], values["svname"])] = values
    return rows


def started(tmp_path: Path, servers: list, port: int):
    running = master(tmp_path, config(tmp_path, port, servers), "-S", str(tmp_path / "m.sock"))
    return running


def wait_workers(running, count: int = 2) -> None:
    running.wait_ready()
    running.wait_for(lambda: len(running.workers()) == count)


def test_counters_are_summed_across_workers(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"1:", b"2:") as servers, started(tmp_path, servers, port) as running:
        wait_workers(running)
        wait_listening(port, running.process)
        for _ in range(40):
            assert ask(port, b"x") in (b"1:x", b"2:x")
        mcli = tmp_path / "m.sock"
        # Both workers accepted some of them (the kernel spreads the connections).
        per_worker = [stat_rows(cli(mcli, f"@{n} show stat")) for n in (1, 2)]
        for rows in per_worker:  # each worker answers with the same, summed numbers
            assert int(rows[("app", "FRONTEND")]["stot"]) >= 40
        rows = per_worker[1]
        front = rows[("app", "FRONTEND")]
        assert int(front["stot"]) == 41  # the 40 plus wait_listening's probe
        assert int(rows[("app", "BACKEND")]["stot"]) == 41
        assert int(rows[("app", "s1")]["stot"]) + int(rows[("app", "s2")]["stot"]) == 41
        assert int(front["bin"]) == 40 and int(front["bout"]) == 40 * 3
        assert front["status"] == "OPEN" and rows[("app", "s1")]["status"] == "no check"
        info = cli(mcli, "@1 show info")
        assert "CumConns: 41\n" in info
        assert "CurrConns: 0\n" in info


def test_disable_server_through_one_worker_stops_it_in_both(tmp_path: Path) -> None:
    port = free_port()
    stats = tmp_path / "stats.sock"
    with echo_servers(b"1:", b"2:") as servers, started(tmp_path, servers, port) as running:
        wait_workers(running)
        wait_listening(port, running.process)
        assert cli(stats, "disable server app/s1") == "\n"
        running.wait_for(lambda: running.count("Server app/s1 is going DOWN for maintenance.") == 1)
        assert "1 active and 0 backup servers left." in running.text()
        # Every next request, whichever worker takes it, goes to s2.
        for _ in range(20):
            assert ask(port, b"x") == b"2:x"
        for number in (1, 2):
            rows = stat_rows(cli(tmp_path / "m.sock", f"@{number} show stat"))
            assert rows[("app", "s1")]["status"] == "MAINT"
            assert rows[("app", "BACKEND")]["act"] == "1"
        assert cli(stats, "enable server app/s1") == "\n"
        running.wait_for(lambda: running.count("Server app/s1 is UP/READY") == 1)
        assert {ask(port, b"y") for _ in range(20)} == {b"1:y", b"2:y"}


def test_set_weight_is_seen_through_the_other_worker(tmp_path: Path) -> None:
    port = free_port()
    mcli = tmp_path / "m.sock"
    with echo_servers(b"1:", b"2:") as servers, started(tmp_path, servers, port) as running:
        wait_workers(running)
        assert cli(mcli, "@1 set weight app/s1 0") == "\n"
        assert cli(mcli, "@2 get weight app/s1") == "0 (initial 1)\n\n"
        wait_listening(port, running.process)
        assert {ask(port, b"x") for _ in range(10)} == {b"2:x"}
        assert cli(mcli, "@2 set server app/s2 weight 100%") == "\n"
        assert cli(mcli, "@1 get weight app/s2") == "1 (initial 1)\n\n"
        # HAProxy's answers to bad requests, and the level check.
        assert cli(mcli, "@1 set weight app/s9 1") == "No such server.\n\n"
        assert cli(mcli, "@1 set weight nope/s1 1") == "No such backend.\n\n"
        assert cli(mcli, "@1 get weight app") == "Require 'backend/server'.\n\n"
        assert cli(mcli, "@1 set weight app/s1 300") == (
            "Absolute weight can only be between 0 and 256 inclusive.\n\n"
        )
        assert cli(mcli, "@1 set weight app/s1 x") == (
            "Empty weight string empty or preceded by garbage\n"
        )
        assert cli(mcli, "@1 set server app/s1 state foo") == (
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
        )
        assert cli(mcli, "operator\n@1 disable server app/s1").endswith("Permission denied\n\n")


def test_admin_state_survives_reload_and_master_reexec(tmp_path: Path) -> None:
    port = free_port()
    mcli = tmp_path / "m.sock"
    stats = tmp_path / "stats.sock"
    with echo_servers(b"1:", b"2:") as servers, started(tmp_path, servers, port) as running:
        wait_workers(running)
        assert cli(stats, "set server app/s2 state maint") == "\n"
        assert cli(stats, "set weight app/s1 7") == "\n"
        before = running.workers()
        running.process.send_signal(signal.SIGUSR2)  # re-exec of the master, then reload
        running.wait_ready(2)
        running.wait_for(lambda: not set(before) & set(running.workers()))
        wait_listening(port, running.process)
        for number in (1, 2):
            rows = stat_rows(cli(mcli, f"@{number} show stat"))
            assert rows[("app", "s2")]["status"] == "MAINT"
            assert cli(mcli, f"@{number} get weight app/s1") == "7 (initial 1)\n\n"
        assert {ask(port, b"x") for _ in range(10)} == {b"1:x"}
        # A change after the re-exec goes to the new image's table.
        assert cli(stats, "set server app/s2 state ready") == "\n"
        assert {ask(port, b"y") for _ in range(20)} == {b"1:y", b"2:y"}


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_show_stat_header_is_haproxys(tmp_path: Path) -> None:
    port, sock = free_port(), tmp_path / "ref.sock"
    text = (
        f"global\n    stats socket {sock} level admin\ndefaults\n    mode tcp\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n"
        f"listen app\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:9\n"
    )
    path = write_cfg(tmp_path, text)
    process = subprocess.Popen(
        ["haproxy", "-db", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        reference = cli(sock, "show stat")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert reference.splitlines()[0] + "\n" == HEADER
    # Same shape as ours: same number of fields on every line, rows in HAProxy's order.
    assert [line.split(",")[:2] for line in reference.splitlines()[1:] if line] == [
        ["app", "FRONTEND"],
        ["app", "s1"],
        ["app", "BACKEND"],
    ]
