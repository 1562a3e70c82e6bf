"""Dynamic servers on the real `haproxy-py -W` with two workers: `add server` through worker
1's runtime API (master CLI `@1`), `enable server` through the stats socket with socat,
requests from both workers reaching the new server (each backend connection traced back to
the worker process that opened it), `show stat` / `show servers state` listing it with its
counters, `del server` refused while it is not in maintenance and while a request is on it,
accepted after (its idle pooled connections closed in every worker), and its spare row
reused by the next `add server` with counters from zero; a respawned worker replaying the
added server, a reload forgetting it; and every answer compared byte for byte with the
real HAProxy 2.6's."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from tests.e2e.cli_tools import SOCAT, ask_cli, ask_socat
from tests.e2e.cookie_tools import NamedBackend, fetch, wait_port
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import needs_haproxy, side_by_side, stat_columns
from tests.helpers import free_port

pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed")


class TracedBackend(NamedBackend):
    """A NamedBackend that notes which process opened each connection it accepts."""

    def __init__(self, name: str) -> None:
        self.pids: set[int] = set()
        super().__init__(name)

    def _serve(self, conn) -> None:  # type: ignore[no-untyped-def]
        peer = conn.getpeername()
        for found in psutil.net_connections(kind="tcp"):
            if found.laddr and tuple(found.laddr) == peer and found.pid:
                self.pids.add(found.pid)
        super()._serve(conn)


def config(tmp_path: Path, port: int, one: NamedBackend) -> str:
    return f"""\
global
    nbthread 2
    stats socket {tmp_path}/stats.sock level admin
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    http-reuse always
    server one 127.0.0.1:{one.port}
"""


def stat_rows(stats: Path) -> dict[str, dict[str, str]]:
    """`show stat` of backend be through socat: svname -> column -> value."""
    lines = ask_socat(stats, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = {}
    for line in lines[1:]:
        values = dict(zip(header, line.split(","), strict=False))
        if values.get("pxname") == "be":
            rows[values["svname"]] = values
    return rows


def connections_to(pids: list[int], port: int) -> int:
    count = 0
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.raddr and conn.raddr[1] == port and conn.status == "ESTABLISHED":
                count += 1
    return count


def test_add_enable_serve_delete_reuse(tmp_path: Path) -> None:
    port = free_port()
    one, dyn, again = NamedBackend("one"), TracedBackend("dyn"), NamedBackend("again")
    stats, mcli = tmp_path / "stats.sock", tmp_path / "m.sock"
    try:
        text = config(tmp_path, port, one)
        with master(tmp_path, text, "-S", str(mcli)) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            workers = running.workers()
            # Added through worker 1: in maintenance, so nothing goes there yet.
            answer = ask_cli(mcli, f"@1 add server be/dyn 127.0.0.1:{dyn.port} weight 3")
            assert answer == "New server registered.\n\n"
            assert ask_socat(stats, f"add server be/dyn 127.0.0.1:{dyn.port}") == (
                "Already exists a server with the same name in backend.\n\n"
            )
            row = stat_rows(stats)["dyn"]
            assert row["status"] == "MAINT" and row["sid"] == "2" and row["weight"] == "3"
            assert all(b"server=one" in fetch(port, "/") for _ in range(6))
            state = ask_socat(stats, "show servers state be").splitlines()
            assert state[-2].split()[1:5] == ["be", "2", "dyn", "127.0.0.1"]
            # Enabled through the stats socket: both workers send it requests.
            assert ask_socat(stats, "enable server be/dyn") == "\n"
            seen = {b"one": 0, b"dyn": 0}
            deadline = time.monotonic() + 30
            while (len(dyn.pids) < 2 or sum(seen.values()) < 12) and time.monotonic() < deadline:
                response = fetch(port, "/")
                for name in seen:
                    seen[name] += b"server=" + name in response
            assert dyn.pids == set(workers), (dyn.pids, workers)
            assert seen[b"one"] and seen[b"dyn"] >= seen[b"one"]  # weight 3 against 1
            row = stat_rows(stats)["dyn"]
            assert row["status"] == "no check" and int(row["stot"]) == seen[b"dyn"]
            assert int(row["lbtot"]) == seen[b"dyn"] and int(row["bout"]) > 0
            # Deleting: only in maintenance, and not while a request is on it.
            assert ask_socat(stats, "del server be/dyn") == (
                "Only servers in maintenance mode can be deleted.\n"
            )
            assert ask_socat(stats, "disable server be/one") == "\n"
            slow = threading.Thread(target=fetch, args=(port, "/?d=2"))
            slow.start()
            running.wait_for(lambda: stat_rows(stats)["dyn"]["scur"] == "1", timeout=5)
            assert ask_cli(mcli, "@2 disable server be/dyn") == "\n"
            assert ask_socat(stats, "del server be/dyn") == (
                "Server still has connections attached to it, cannot remove it.\n"
            )
            slow.join()
            assert connections_to(workers, dyn.port) > 0  # idle, pooled (http-reuse always)
            assert ask_cli(mcli, "@2 del server be/dyn") == "Server deleted.\n"
            assert ask_socat(stats, "del server be/dyn") == "No such server.\n"
            assert "dyn" not in stat_rows(stats)
            assert "dyn" not in ask_socat(stats, "show servers state be")
            running.wait_for(lambda: connections_to(workers, dyn.port) == 0, timeout=5)
            # The freed row serves the next server, counting from zero.
            answer = ask_socat(stats, f"add server be/again 127.0.0.1:{again.port} enabled")
            assert answer == "New server registered.\n\n"
            row = stat_rows(stats)["again"]
            assert row["sid"] == "2" and row["stot"] == "0" and row["status"] == "no check"
            assert all(b"server=again" in fetch(port, "/") for _ in range(4))
            assert stat_rows(stats)["again"]["stot"] == "4"
            assert running.count("CLI : 'server be/dyn' : New server registered.") == 1
            assert running.count("Server deleted.") == 1
    finally:
        for server in (one, dyn, again):
            server.close()


def test_a_respawned_worker_replays_the_added_servers_a_reload_forgets_them(tmp_path: Path) -> None:
    port = free_port()
    one, dyn = NamedBackend("one"), TracedBackend("dyn")
    stats, mcli = tmp_path / "stats.sock", tmp_path / "m.sock"
    try:
        text = config(tmp_path, port, one).replace(
            "    nbthread 2\n", "    nbthread 2\n    master-worker no-exit-on-failure\n"
        )
        with master(tmp_path, text, "-S", str(mcli)) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            added = ask_cli(mcli, f"@1 add server be/dyn 127.0.0.1:{dyn.port} enabled")
            assert added == "New server registered.\n\n"
            first = running.workers()
            psutil.Process(first[0]).kill()
            running.wait_for(lambda: len(set(running.workers()) - set(first)) == 1)
            (fresh,) = set(running.workers()) - set(first)
            running.wait_for(lambda: "dyn" in ask_cli(mcli, f"@!{fresh} show stat"))
            deadline = time.monotonic() + 30
            while fresh not in dyn.pids and time.monotonic() < deadline:
                fetch(port, "/")
            assert fresh in dyn.pids  # the new worker balances over the added server too
            # A reload starts from the configuration: the dynamic server is gone, as in HAProxy.
            running.process.send_signal(signal.SIGUSR2)
            running.wait_ready(successes=2)
            running.wait_for(lambda: "dyn" not in ask_socat(stats, "show stat"))
            assert "dyn" not in ask_cli(mcli, "@1 show servers state be")
    finally:
        one.close()
        dyn.close()


DIFFERENTIAL = """\
global
    nbthread 2
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{target}
    server s2 127.0.0.1:{target}
backend src
    balance source
    server s1 127.0.0.1:{target}
backend cons
    balance uri
    hash-type consistent
    server s1 127.0.0.1:{target}
backend stat
    balance static-rr
    server s1 127.0.0.1:{target}
"""
COMMANDS = [
    "add server be/s3 127.0.0.1:{target}",
    "add server be/s3 127.0.0.1:{target}",
    "add server src/s3 127.0.0.1:{target}",
    "add server stat/s3 127.0.0.1:{target}",
    "add server cons/s3 127.0.0.1:{target}",
    "add server nob/s3 127.0.0.1:{target}",
    "add server be 127.0.0.1:{target}",
    "add server be/ 127.0.0.1:{target}",
    "add server be/s4",
    "add server be/s4 127.0.0.1:{target} weight 300",
    "add server be/s4 127.0.0.1:{target} cookie c4",
    "add server be/s4 127.0.0.1:{target} redir http://x",
    "add server be/s4 127.0.0.1:{target} id 0",
    "add server be/s4 127.0.0.1:{target} id 2",
    "add server be/s4 127.0.0.1:{target} id 9 backup maxconn 5 weight 20",
    "add server be/s5 127.0.0.1:{target} enabled",
    "del server be/s5",
    "disable server be/s5",
    "del server be/s5",
    "del server be/s5",
    "del server be/s3",
    "del server be/nope",
    "del server nob/s1",
    "del server be",
    "add server be/s6 127.0.0.1:{target} disabled",
]


def answers_on_a_target(
    tmp_path: Path, template: str, commands: list[str], columns: Sequence[int]
) -> tuple[list[str], list[str]]:
    """`commands` asked of haproxy and of haproxy-py, both running `template` with its
    servers on one test backend (`{target}`: its port, in the commands too), then `show stat
    -1 4 -1`: its rows cut to `columns` follow the answers, one line each."""
    target = NamedBackend("t")
    try:
        answers = side_by_side(
            tmp_path,
            lambda side: template.format(sock=side.sock, port=side.port, target=target.port),
            [line.format(target=target.port) for line in commands] + ["show stat -1 4 -1"],
            ask_socat,
        )
    finally:
        target.close()
    theirs, ours = (said[:-1] + stat_columns(said[-1], columns) for said in answers)
    return theirs, ours


@needs_haproxy
def test_answers_match_haproxy_byte_for_byte(tmp_path: Path) -> None:
    """The same commands on the real HAProxy 2.6 and on haproxy-py -W (two workers)."""
    # show stat: svname status act bck iid sid (not weight: HAProxy 2.6 shows 1 for a
    # dynamic server until it is first enabled, its own weight after)
    theirs, ours = answers_on_a_target(tmp_path, DIFFERENTIAL, COMMANDS, [1, 17, 19, 20, 27, 28])
    for line, mine, reference in zip(COMMANDS + ["show stat"] * 20, ours, theirs, strict=False):
        assert mine == reference, line
    assert len(ours) == len(theirs)
