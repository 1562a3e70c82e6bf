"""Runtime-API commands on checks, agents, frontends, stick tables and pools, on the real
`haproxy-py -W` with two workers, through socat on the stats socket and the master CLI
(`@N`): a health state forced through one worker routes the requests every worker takes,
check settings reach the worker owning the checks, `show pools` numbers follow the load,
`shutdown frontend` refuses connections for good; and, when HAProxy 2.6 is installed, the
same commands answered byte for byte as it answers them on the same configuration."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cookie_tools import NamedBackend, fetch, wait_port
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import needs_haproxy, side_by_side
from tests.e2e.test_runtime_writes import cli, socat
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


class Agent:
    """An agent-check server answering one fixed word per connection."""

    def __init__(self, word: bytes = b"up\n") -> None:
        self.word = word
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client:
                self.asked += 1
                client.sendall(self.word)

    def close(self) -> None:
        self.sock.close()


def config(tmp_path: Path, port: int, port2: int, servers: dict[str, int], agent: int) -> str:
    agent_check = f"agent-check agent-port {agent} agent-inter 60s"
    return f"""\
global
    nbthread 2
    stats socket {tmp_path}/stats.sock level admin
    stats socket {tmp_path}/user.sock level user
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 2s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
frontend fe2
    bind 127.0.0.1:{port2}
    default_backend be
backend be
    server one 127.0.0.1:{servers["one"]} check inter 200ms
    server two 127.0.0.1:{servers["two"]} check inter 200ms
    server three 127.0.0.1:{servers["three"]} check inter 200ms {agent_check}
    server four 127.0.0.1:{servers["one"]} track be/one
"""


def served_by(port: int) -> str:
    response = fetch(port, "/")
    for name in (b"one", b"two", b"three"):
        if b"server=" + name in response:
            return name.decode()
    return response.split(b"\r\n", 1)[0].decode()


def column(stats: Path, server: str, name: str) -> str:
    lines = socat(stats, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    row = next(line for line in lines if line.startswith(f"be,{server},")).split(",")
    return row[header.index(name)]


@pytest.fixture
def setup(tmp_path: Path):
    port, port2 = free_port(), free_port()
    backends = {name: NamedBackend(name) for name in ("one", "two", "three")}
    agent = Agent()
    try:
        ports = {name: backend.port for name, backend in backends.items()}
        text = config(tmp_path, port, port2, ports, agent.port)
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            stats = tmp_path / "stats.sock"
            running.wait_for(lambda: column(stats, "three", "agent_status") == "L7OK")
            yield running, port, port2, tmp_path, backends
    finally:
        for backend in backends.values():
            backend.close()
        agent.close()


def test_forced_health_routes_every_worker(setup) -> None:
    running, port, _port2, tmp_path, _backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    assert {served_by(port) for _ in range(12)} == {"one", "two", "three"}
    # Checks off first, so that no check result brings the server back.
    assert cli(mcli, "@1 disable health be/one") == "\n"
    assert column(stats, "one", "status") == "no check"
    assert column(stats, "one", "check_status") == ""
    assert cli(mcli, "@1 set server be/one health down") == "\n"
    running.wait_for(lambda: column(stats, "one", "status") == "DOWN")
    assert column(stats, "four", "status") == "DOWN"  # the tracking server follows
    # Requests land on both workers: none goes to `one` any more.
    assert {served_by(port) for _ in range(40)} == {"two", "three"}
    assert running.count("Server be/one is DOWN, changed from CLI. 3 active and 0 backup") == 1
    assert running.count("Server be/four is DOWN via be/one.") == 1
    assert cli(mcli, "@2 set server be/one health up") == "\n"
    running.wait_for(lambda: column(stats, "one", "status") == "no check")
    assert {served_by(port) for _ in range(40)} == {"one", "two", "three"}
    assert running.count("Server be/one is UP, changed from CLI.") == 1
    assert socat(stats, "set server be/four health down") == (
        "cannot change health on a tracking server.\n\n"
    )
    assert cli(mcli, "@2 enable health be/one") == "\n"
    running.wait_for(lambda: column(stats, "one", "check_status") == "L4OK")
    assert socat(tmp_path / "user.sock", "disable health be/one") == "Permission denied\n\n"


def test_check_settings_reach_the_owner(setup) -> None:
    running, port, _port2, tmp_path, _backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    closed = free_port()
    for worker in ("@1", "@2"):  # whoever owns `two`, asked through either worker
        assert cli(mcli, f"{worker} set server be/two check-port {closed}") == "\n"
        running.wait_for(lambda: column(stats, "two", "status") == "DOWN")
        assert column(stats, "two", "last_chk") == "Connection refused"
        assert {served_by(port) for _ in range(20)} == {"one", "three"}
        assert cli(mcli, f"{worker} set server be/two check-port 0") == "\n"  # its own port
        running.wait_for(lambda: column(stats, "two", "status") == "UP")
    assert cli(mcli, "@1 set server be/two check-addr 127.0.0.3 port x") == (
        "provided port is not an integer\n"
    )
    assert socat(stats, "set server be/two check-port 70000") == "provided port is invalid\n"


def test_agent_commands(setup) -> None:
    running, port, _port2, tmp_path, _backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    assert cli(mcli, "@1 set server be/three agent down") == "\n"
    running.wait_for(lambda: column(stats, "three", "status") == "DOWN (agent)")
    assert {served_by(port) for _ in range(20)} == {"one", "two"}
    assert running.count("Server be/three is DOWN, changed from CLI.") == 1
    assert cli(mcli, "@2 disable agent be/three") == "\n"
    assert column(stats, "three", "agent_status") == ""
    assert socat(stats, "set server be/three agent up") == (
        "agent checks are not enabled on this server.\n\n"
    )
    assert socat(stats, "set server be/three agent-port 1") == (
        "agent checks are not enabled on this server\n"
    )
    assert cli(mcli, "@1 enable agent be/three") == "\n"
    assert cli(mcli, "@2 set server be/three agent up") == "\n"
    running.wait_for(lambda: column(stats, "three", "status") == "UP")
    assert socat(stats, "enable agent be/one") == (
        "Agent was not configured on this server, cannot enable.\n\n"
    )


def _pool_bytes(answer: str) -> int:
    found = re.search(r"^Total: \d+ pools, (\d+) bytes allocated, (\d+) used\.$", answer, re.M)
    assert found is not None, answer
    return int(found.group(2))


def test_show_pools_follows_the_load(setup) -> None:
    _running, port, _port2, tmp_path, _backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    answer = socat(tmp_path / "user.sock", "show pools")
    assert answer.startswith("Dumping pools usage. Use SIGQUIT to flush them.\n")
    assert re.search(r"^  - Pool pymalloc_64 \(64 bytes\) : \d+ allocated \(\d+ bytes\),"
                     r" \d+ used, \d+ users$", answer, re.M)  # fmt: skip
    assert answer.endswith(".\n\n")

    def used() -> int:
        return sum(_pool_bytes(cli(mcli, f"@{n} show pools")) for n in (1, 2))

    before = used()
    clients = []
    try:
        for _ in range(300):  # sessions held open with half a request each
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            clients.append(client)
        time.sleep(0.5)
        during = used()
    finally:
        for client in clients:
            client.close()
    assert during > before + 300 * 1000, (before, during)
    assert "show pools" in socat(stats, "help")


def test_shutdown_frontend_and_tables(setup) -> None:
    running, port, port2, tmp_path, _backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    assert served_by(port2) in ("one", "two", "three")
    assert socat(tmp_path / "user.sock", "shutdown frontend fe2") == "Permission denied\n\n"
    assert cli(mcli, "@2 shutdown frontend fe2") == "\n"
    running.wait_for(lambda: running.count("Proxy fe2 stopped (cumulated conns: FE: ") == 1)
    for _ in range(5):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port2), timeout=2).close()
    assert cli(mcli, "@1 shutdown frontend fe2") == "Frontend was already shut down.\n\n"
    assert socat(stats, "enable frontend fe2") == (
        "Frontend was previously shut down, cannot enable.\n\n"
    )
    assert served_by(port) in ("one", "two", "three")  # the other frontend goes on
    assert socat(stats, "show table") == "\n"
    assert socat(stats, "show table fe") == "No such table\n\n"
    assert socat(stats, "clear table fe key 1") == "No such table\n\n"
    assert socat(stats, "set table fe key 1 data.gpc0 1") == "No such table\n\n"
    assert socat(stats, "show cli level") == "admin\n\n"
    assert socat(tmp_path / "user.sock", "show cli level") == "user\n\n"


# -- the same answers as HAProxy 2.6 ------------------------------------------------------------

SAME = [
    "disable health", "disable health be/nosuch", "disable health nobe/one",
    "enable health be/two", "enable agent be/one", "set server be/one health",
    "set server be/one health sideways", "set server be/four health down",
    "set server be/one agent up", "set server be/three agent maybe",
    "set server be/one check-addr", "set server be/one check-addr nowhere",
    "set server be/one check-addr 127.0.0.1 port x", "set server be/two check-addr 127.0.0.1",
    "set server be/one check-port", "set server be/one check-port 99999",
    "set server be/one check-port 1x", "set server be/three agent-port",
    "set server be/one agent-port 1", "set server be/one agent-send x",
    "set server be/three agent-addr", "set server be/one nonsense",
    "show table", "show table nope", "clear table", "clear table nope", "set table",
    "set table nope key 1", "shutdown frontend", "shutdown frontend nope",
    "shutdown frontend be", "show cli level",
]  # fmt: skip


def _differential_config(tmp_path: Path, port: int) -> str:
    closed = free_port()
    return f"""\
global
    stats socket {tmp_path}/stats.sock level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 2s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server one 127.0.0.1:{closed} check inter 1s
    server two 127.0.0.1:{closed}
    server three 127.0.0.1:{closed} check agent-check agent-port {closed} agent-inter 1s
    server four 127.0.0.1:{closed} track be/one
"""


@needs_haproxy
def test_same_answers_as_haproxy(tmp_path: Path) -> None:
    theirs, ours = side_by_side(
        tmp_path, lambda side: _differential_config(side.directory, side.port), SAME, socat
    )
    for command, mine, reference in zip(SAME, ours, theirs, strict=True):
        assert mine == reference, command


def test_dynamic_server_checks(setup) -> None:
    """`add server ... check`: checks off until `enable health` (HAProxy 2.6), then run by
    the worker owning the new server, whichever worker was asked."""
    running, _port, _port2, tmp_path, backends = setup
    mcli, stats = tmp_path / "m.sock", tmp_path / "stats.sock"
    one = backends["one"].port
    for name, worker in (("dyn1", "@1"), ("dyn2", "@2")):
        assert cli(mcli, f"{worker} add server be/{name} 127.0.0.1:{one} check inter 200ms") == (
            "New server registered.\n\n"
        )
        assert column(stats, name, "status") == "MAINT"
        assert socat(stats, f"enable server be/{name}") == "\n"
        assert column(stats, name, "status") == "no check"
        assert column(stats, name, "check_status") == ""
    for name in ("dyn1", "dyn2"):
        assert socat(stats, f"enable health be/{name}") == "\n"
        running.wait_for(lambda name=name: column(stats, name, "check_status") == "L4OK")
        assert column(stats, name, "status") == "UP"
    closed = free_port()
    assert cli(mcli, f"@2 set server be/dyn1 check-port {closed}") == "\n"
    running.wait_for(lambda: column(stats, "dyn1", "status") == "DOWN")
    assert running.count("Server be/dyn1 is DOWN, reason: Layer4 connection problem") == 1
    assert socat(stats, "disable server be/dyn1") == "\n"
    assert socat(stats, "del server be/dyn1") == "Server deleted.\n"
    # The name again, without checks: nothing of the old check is left running.
    assert socat(stats, f"add server be/dyn1 127.0.0.1:{one}") == "New server registered.\n\n"
    assert socat(stats, "enable server be/dyn1") == "\n"
    time.sleep(0.6)
    assert column(stats, "dyn1", "status") == "no check"
    assert column(stats, "dyn1", "check_status") == ""
    assert socat(stats, "enable health be/dyn1") == (
        "Health check was not configured on this server, cannot enable.\n\n"
    )
