"""`del server` of configured servers and agent checks on dynamic servers, on the real
`haproxy-py -W` with two workers: a server of the configuration refused while a `track`,
`use-server` or `srv_is_up` names it and while not in maintenance, then deleted (traffic
from both workers stops reaching it, `show stat`, `show servers state|conn` and the
Prometheus exporter drop it), its name taken again by `add server`, and back after a reload;
a dynamic server with `agent-check` whose agent (a fake one) is asked only after `enable
agent`, takes it out of both workers' balancing when it says "down" and back on "up"; and
a dynamic `send-proxy` server getting the PROXY line; the answers compared byte for byte
with the real HAProxy 2.6's."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.cli_tools import SOCAT, ask_cli, ask_socat
from tests.e2e.cookie_tools import NamedBackend, fetch, wait_port
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import needs_haproxy
from tests.e2e.tcp_tools import ThreadedServer
from tests.e2e.test_dynamic_servers import TracedBackend, answers_on_a_target, stat_rows
from tests.helpers import free_port

pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed")

PINNED = (
    "This server cannot be removed at runtime due to other configuration elements pointing to it.\n"
)


class FakeAgent(ThreadedServer):
    """An agent-check server: answers each connection with `reply` and closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.sendall(self.reply)


class ProxiedBackend(ThreadedServer):
    """An HTTP server behind `send-proxy`: keeps what each connection starts with."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.heads.append(data)
            body = b"server=px"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )


def config(tmp_path: Path, port: int, prom: int, one: int, two: int, checked: int) -> str:
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
    acl pinned_up srv_is_up(be/pinned)
    http-request set-header X-Pinned yes if pinned_up
    default_backend be
frontend prom
    bind 127.0.0.1:{prom}
    http-request use-service prometheus-exporter
backend be
    server one 127.0.0.1:{one}
    server two 127.0.0.1:{two}
    server root 127.0.0.1:{checked} check inter 60s
    server follower 127.0.0.1:{checked} track root
    server pinned 127.0.0.1:{checked} disabled
backend other
    use-server chosen if {{ path /chosen }}
    server chosen 127.0.0.1:{checked}
"""


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def served_by(port: int, count: int, names: tuple[bytes, ...]) -> dict[bytes, int]:
    seen = dict.fromkeys(names, 0)
    for _ in range(count):
        response = fetch(port, "/")
        for name in names:
            seen[name] += b"server=" + name in response
    return seen


def test_del_configured_server_in_both_workers(tmp_path: Path) -> None:
    port, prom = free_port(), free_port()
    one, two, again = TracedBackend("one"), TracedBackend("two"), NamedBackend("again")
    checked = NamedBackend("checked")
    stats, mcli = tmp_path / "stats.sock", tmp_path / "m.sock"
    try:
        text = config(tmp_path, port, prom, one.port, two.port, checked.port)
        with master(tmp_path, text, "-S", str(mcli)) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            workers = set(running.workers())
            deadline = time.monotonic() + 30
            while not workers <= two.pids and time.monotonic() < deadline:
                fetch(port, "/")
            assert workers <= two.pids  # both workers balance over `two`
            # Refusals, in HAProxy 2.6's order: referenced first, then maintenance.
            for name in ("be/root", "be/pinned", "other/chosen"):
                assert ask_socat(stats, f"del server {name}") == PINNED, name
            assert ask_socat(stats, "del server be/two") == (
                "Only servers in maintenance mode can be deleted.\n"
            )
            assert ask_socat(stats, "disable server be/two") == "\n"
            assert ask_cli(mcli, "@2 del server be/two") == "Server deleted.\n"
            assert ask_socat(stats, "del server be/two") == "No such server.\n"
            # Gone from every listing, whichever worker answers.
            assert "two" not in stat_rows(stats) and "one" in stat_rows(stats)
            for who in ("@1", "@2"):
                assert ",two," not in ask_cli(mcli, f"{who} show stat")
                assert " two " not in ask_cli(mcli, f"{who} show servers state be")
                assert "be/two " not in ask_cli(mcli, f"{who} show servers conn be")
            assert 'server="two"' not in metrics(prom) and 'server="one"' in metrics(prom)
            # A tracker is no configuration element pointing to it: deletable.
            assert ask_socat(stats, "disable server be/follower") == "\n"
            assert ask_socat(stats, "del server be/follower") == "Server deleted.\n"
            assert ask_socat(stats, "del server be/root") == PINNED
            # Its traffic went to `one` only, in both workers, and keeps doing so.
            one.pids.clear()
            two.pids.clear()
            seen = served_by(port, 20, (b"one", b"two", b"checked"))
            assert seen[b"one"] > 0 and seen[b"two"] == 0  # (and `root`)
            deadline = time.monotonic() + 30
            while not workers <= one.pids and time.monotonic() < deadline:
                fetch(port, "/")
            assert workers <= one.pids and not workers & two.pids
            # Its name is free: `add server` takes it (a new row, the lowest free id).
            answer = ask_socat(stats, f"add server be/two 127.0.0.1:{again.port} enabled")
            assert answer == "New server registered.\n\n"
            row = stat_rows(stats)["two"]
            assert row["sid"] == "2" and row["stot"] == "0" and row["status"] == "no check"
            assert served_by(port, 20, (b"one", b"again"))[b"again"] > 0
            state = ask_socat(stats, "show servers state be").splitlines()
            assert [line.split()[3] for line in state[2:] if line].count("two") == 1
            # A reload starts from the configuration: the configured `two` is back.
            running.process.send_signal(signal.SIGUSR2)
            running.wait_ready(successes=2)
            running.wait_for(lambda: stat_rows(stats).get("two", {}).get("addr", "").endswith(
                f":{two.port}"
            ))  # fmt: skip
            assert stat_rows(stats)["follower"]["status"].startswith("UP")
            two.pids.clear()
            assert served_by(port, 20, (b"one", b"two"))[b"two"] > 0
    finally:
        for server in (one, two, again, checked):
            server.close()


def agent_config(tmp_path: Path, port: int, one: int) -> str:
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
    server one 127.0.0.1:{one}
"""


def test_dynamic_server_with_an_agent(tmp_path: Path) -> None:
    port = free_port()
    one, dyn = NamedBackend("one"), TracedBackend("dyn")
    agent, proxied = FakeAgent(b"down\n"), ProxiedBackend()
    stats, mcli = tmp_path / "stats.sock", tmp_path / "m.sock"
    try:
        with master(tmp_path, agent_config(tmp_path, port, one.port), "-S", str(mcli)) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            workers = set(running.workers())
            line = (
                f"@1 add server be/dyn 127.0.0.1:{dyn.port} agent-check agent-port"
                f" {agent.port} agent-inter 200 enabled"
            )
            assert ask_cli(mcli, line) == "New server registered.\n\n"
            # The agent is off until `enable agent` (HAProxy 2.6): never asked, server UP.
            deadline = time.monotonic() + 30
            while not workers <= dyn.pids and time.monotonic() < deadline:
                fetch(port, "/")
            assert workers <= dyn.pids
            assert agent.accepted == 0
            row = stat_rows(stats)["dyn"]
            assert row["status"] == "no check" and row["agent_status"] == ""
            # On: it says "down", and neither worker sends it anything more.
            assert ask_socat(stats, "enable agent be/dyn") == "\n"
            running.wait_for(lambda: stat_rows(stats)["dyn"]["status"] == "DOWN (agent)")
            row = stat_rows(stats)["dyn"]
            assert row["agent_status"] == "L7STS" and agent.accepted >= 1
            dyn.pids.clear()
            assert served_by(port, 20, (b"one", b"dyn")) == {b"one": 20, b"dyn": 0}
            assert not workers & dyn.pids
            # "up": back in both workers' balancing.
            agent.reply = b"up\n"
            running.wait_for(lambda: stat_rows(stats)["dyn"]["agent_status"] == "L7OK")
            assert stat_rows(stats)["dyn"]["status"] == "no check"  # agent only: as HAProxy
            deadline = time.monotonic() + 30
            while not workers <= dyn.pids and time.monotonic() < deadline:
                fetch(port, "/")
            assert workers <= dyn.pids
            # send-proxy: its connections start with the client's PROXY line.
            line = f"add server be/px 127.0.0.1:{proxied.port} send-proxy weight 100 enabled"
            assert ask_socat(stats, line) == "New server registered.\n\n"
            deadline = time.monotonic() + 30
            while not proxied.heads and time.monotonic() < deadline:
                fetch(port, "/")
            assert proxied.heads[0].startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ")
            assert f" {port}\r\nGET / HTTP/1.1\r\n".encode() in proxied.heads[0]
            # Deleted: the agent is not asked any more.
            assert ask_socat(stats, "disable server be/dyn") == "\n"
            assert ask_socat(stats, "del server be/dyn") == "Server deleted.\n"
            time.sleep(0.5)
            asked = agent.accepted
            time.sleep(1)
            assert agent.accepted == asked
    finally:
        for server in (one, dyn, agent, proxied):
            server.close()


DIFFERENTIAL = """\
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    acl up srv_is_up(be/s4)
    http-request deny if !up
    default_backend be
backend be
    server s1 127.0.0.1:{target} check inter 60s
    server s2 127.0.0.1:{target} track s1
    server s3 127.0.0.1:{target}
    server s4 127.0.0.1:{target}
backend be2
    use-server s1 if {{ path /y }}
    server s1 127.0.0.1:{target}
    server s2 127.0.0.1:{target}
"""
COMMANDS = [
    "del server be/s3",
    "disable server be/s1",
    "del server be/s1",
    "enable server be/s1",
    "del server be/s1",
    "disable server be/s4",
    "del server be/s4",
    "disable server be2/s1",
    "del server be2/s1",
    "disable server be/s3",
    "del server be/s3",
    "del server be/s3",
    "disable server be/s2",
    "del server be/s2",
    "disable server be2/s2",
    "del server be2/s2",
    "add server be/s3 127.0.0.1:{target}",
    "add server be/s5 127.0.0.1:{target} agent-check",  # (HAProxy: "Server" the first time)
    "add server be/s5 127.0.0.1:{target} agent-check",
    "add server be/s5 127.0.0.1:{target} agent-check agent-port 1 send-proxy slowstart 2s",
    "show servers state be",
]


@needs_haproxy
def test_answers_match_haproxy_byte_for_byte(tmp_path: Path) -> None:
    # show stat: pxname svname iid sid
    theirs, ours = answers_on_a_target(tmp_path, DIFFERENTIAL, COMMANDS, (0, 1, 27, 28))
    for said in (theirs, ours):
        # show servers state: be_id be_name srv_id srv_name srv_addr srv_op_state
        # srv_admin_state (the rest: times and ports of each process)
        state = said[len(COMMANDS) - 1].splitlines()[2:]
        said[len(COMMANDS) - 1] = "\n".join(" ".join(line.split()[:7]) for line in state if line)
    for line, mine, reference in zip(COMMANDS + ["show stat"] * 20, ours, theirs, strict=False):
        if line.endswith("agent-check") and reference.startswith("Server"):
            reference = "s" + reference[1:]
        assert mine == reference, line
    assert len(ours) == len(theirs)
