"""Health checks with several workers: each server checked by one worker, every worker routing
on its verdict (the real `haproxy-py -W`, `nbthread 2`, real sockets).

The test servers speak a tiny protocol: on accept they send `OK\\n` (or, while broken,
`KO\\n` and close), which `tcp-check expect string OK` reads; a connection that closes
without sending anything was a health probe (counted), one that sends a line is a client,
answered with the server's tag and held open until the client closes, so that the test can
find which worker holds the other end (psutil). Checked: one probe per interval per server
(not one per worker), a failure seen by both workers as soon as the check verdict is in,
`show stat`'s check columns, and the verdict surviving a worker's crash (respawn) and a
reload without a new transition.
"""

from __future__ import annotations

import csv
import signal
import socket
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import psutil

from tests.e2e.check_logs import logged_proxy, masked
from tests.e2e.mworker_tools import Master
from tests.e2e.tcp_tools import ThreadedServer, wait_listening
from tests.e2e.test_shared_state import cli
from tests.helpers import free_port

INTER = 0.4  # seconds: the servers' `inter`


def stat_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """`show stat` by (pxname, svname), read as CSV (last_chk may be quoted)."""
    lines = [line for line in text.splitlines() if line]
    header = lines[0].removeprefix("# ").split(",")
    rows = {}
    for values in csv.reader(lines[1:]):
        row = dict(zip(header, values, strict=True))
        rows[(row["pxname"], row["svname"])] = row
    return rows


class BannerServer(ThreadedServer):
    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.broken = False
        self.probes = 0
        self.peers: set[tuple[str, int]] = set()  # client connections open now
        self._lock = threading.Lock()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                if self.broken:  # said, and closed: the check fails at once
                    conn.sendall(b"KO\n")
                    return
                conn.sendall(b"OK\n")
                data = conn.recv(100)
            except OSError:
                data = b""
            if not data:
                with self._lock:
                    self.probes += 1
                return
            peer = conn.getpeername()
            with self._lock:
                self.peers.add(peer)
            try:
                conn.sendall(self.tag + b"\n")
                while conn.recv(100):
                    pass
            except OSError:
                pass
            finally:
                with self._lock:
                    self.peers.discard(peer)


def config(tmp_path: Path, port: int, servers: list[BannerServer], extra: str = "") -> str:
    lines = [
        "global",
        "    nbthread 2",
        "    master-worker no-exit-on-failure",
        f"    stats socket {tmp_path / 'stats.sock'} level admin",
        extra,
        "defaults",
        "    mode tcp",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "listen app",
        f"    bind 127.0.0.1:{port}",
        "    option tcp-check",
        "    tcp-check expect string OK",
    ]
    for number, server in enumerate(servers, 1):
        lines.append(
            f"    server s{number} 127.0.0.1:{server.port} check inter {int(INTER * 1000)}"
            " rise 2 fall 2"
        )
    return "\n".join(lines) + "\n"


def status(tmp_path: Path, server: str) -> dict[str, str]:
    return stat_rows(cli(tmp_path / "stats.sock", "show stat"))[("app", server)]


def wait_status(tmp_path: Path, server: str, wanted: str, timeout: float = 10) -> float:
    """Seconds it took `server`'s show-stat status to become `wanted`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if status(tmp_path, server)["status"] == wanted:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{server} never {wanted}: {status(tmp_path, server)}")


def route_everywhere(
    port: int, servers: list[BannerServer], workers: list[int], wanted: int = 1
) -> dict:
    """Batches of clients until every worker has carried clients to `wanted` servers (the
    kernel decides which worker accepts: a worker given a single client in a batch has seen
    one server only; over a few batches each gets its share); {worker: {tags}} of them all."""
    seen: dict[int, set[bytes]] = {}
    for _ in range(20):
        for pid, tags in route(port, servers, workers).items():
            seen.setdefault(pid, set()).update(tags)
        if set(seen) == set(workers) and all(len(tags) >= wanted for tags in seen.values()):
            break
        time.sleep(0.05)
    return seen


def route(port: int, servers: list[BannerServer], workers: list[int], count: int = 30) -> dict:
    """Open `count` client connections at once; {worker pid: {server tags}} of who carried them."""
    seen: dict[int, set[bytes]] = {}
    with ExitStack() as stack:
        clients = []
        for _ in range(count):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", port), 5))
            client.sendall(b"who\n")
            clients.append(client)
        for client in clients:
            data = b""
            while data.count(b"\n") < 2:
                chunk = client.recv(100)
                assert chunk, data
                data += chunk
            assert data.startswith(b"OK\n")
        owners = {}
        for pid in workers:
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.laddr:
                    owners[(conn.laddr.ip, conn.laddr.port)] = pid
        for server in servers:
            for peer in list(server.peers):
                seen.setdefault(owners[peer], set()).add(server.tag)
    return seen


def test_one_checker_per_server_and_both_workers_follow(tmp_path: Path) -> None:
    port = free_port()
    servers = [BannerServer(b"s1"), BannerServer(b"s2")]
    running = Master(tmp_path, config(tmp_path, port, servers), "-S", str(tmp_path / "m.sock"))
    try:
        running.wait_ready()
        running.wait_for(lambda: len(running.workers()) == 2)
        wait_listening(port, running.process)
        workers = running.workers()
        time.sleep(3 * INTER)  # past the spread first checks
        # One probe per interval per server: with two checkers it would be twice as many.
        before = [server.probes for server in servers]
        time.sleep(10 * INTER)
        probes = [server.probes - start for server, start in zip(servers, before, strict=True)]
        for count in probes:
            assert 7 <= count <= 12, probes
        assert wait_status(tmp_path, "s2", "UP", 3) < 1
        seen = route_everywhere(port, servers, workers, wanted=2)
        assert set(seen) == set(workers)  # both workers carried clients
        assert all(tags == {b"s1", b"s2"} for tags in seen.values()), seen

        servers[1].broken = True
        took = wait_status(tmp_path, "s2", "DOWN")
        assert took < 2 * INTER + 4 * INTER, took  # fall 2: two checks, plus slack
        # Every worker routes around it now: the verdict is in the shared row.
        seen = route_everywhere(port, servers, workers)
        assert set(seen) == set(workers)
        assert all(tags == {b"s1"} for tags in seen.values()), seen
        row = status(tmp_path, "s2")
        assert row["check_status"] == "L7RSP" and row["chkdown"] == "1"
        assert row["check_desc"] == "Layer7 invalid response"
        assert row["last_chk"].startswith("TCPCHK did not match content 'OK'")
        assert int(row["chkfail"]) == 2 and row["check_health"] == "0"
        assert running.count("Server app/s2 is DOWN") == 1  # logged once, by its owner

        # A worker killed and respawned takes over from the table: s2 stays DOWN, silently.
        victim = workers[1]
        psutil.Process(victim).send_signal(signal.SIGKILL)
        running.wait_for(lambda: len(set(running.workers()) - {workers[0]}) == 1, 15)
        running.wait_for(lambda: running.count("New worker") >= 1)
        time.sleep(6 * INTER)
        assert status(tmp_path, "s2")["status"] == "DOWN"
        assert running.count("Server app/s2 is DOWN") == 1
        assert running.count("Server app/s2 is UP") == 0

        # So does a reload (USR2): the new generation starts from the carried rows.
        running.process.send_signal(signal.SIGUSR2)
        running.wait_ready(2)
        time.sleep(6 * INTER)
        row = status(tmp_path, "s2")
        assert row["status"] == "DOWN" and row["check_status"] == "L7RSP"
        assert running.count("Server app/s2 is DOWN") == 1
        assert running.count("Server app/s2 is UP") == 0

        servers[1].broken = False
        wait_status(tmp_path, "s2", "UP")
        assert running.count("Server app/s2 is UP") == 1
        row = status(tmp_path, "s2")
        assert row["check_status"] == "L7OK" and int(row["downtime"]) >= 1
    finally:
        running.stop()
        for server in servers:
            server.close()


CHECK_COLUMNS = (
    "status", "chkfail", "chkdown", "check_status", "check_code", "last_chk", "check_desc",
    "check_rise", "check_fall", "check_health", "act", "bck", "weight",
)  # fmt: skip
TIMED_COLUMNS = ("lastchg", "downtime", "check_duration")  # compared as "set or not"


def _differential_config(sock: Path, port: int, ok: int, bad: int, refused: int) -> str:
    return (
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
        "backend be\n    option httpchk GET /health\n"
        f"    server ok 127.0.0.1:{ok} check inter 300 rise 2 fall 3\n"
        f"    server bad 127.0.0.1:{bad} check inter 300 rise 2 fall 3\n"
        f"    server refused 127.0.0.1:{refused} check inter 300 rise 2 fall 3\n"
        f"    server late 127.0.0.1:{ok} check inter 300 rise 2 fall 3 backup\n"
        f"    server plain 127.0.0.1:{ok}\n"
    )


def _check_rows(command: list[str], tmp_path: Path, name: str, servers: tuple) -> dict:
    from tests.helpers import write_cfg

    sock = tmp_path / f"{name}.sock"
    port = free_port()
    path = write_cfg(tmp_path / name, _differential_config(sock, port, *servers))
    with logged_proxy(command, path, tmp_path / f"{name}.err") as running:
        running.wait_listening(port)
        time.sleep(2.5)  # every server checked several times: the verdicts have settled
        rows = stat_rows(cli(sock, "show stat"))
    result = {}
    for (proxy, server), row in rows.items():
        if proxy == "be":
            picked = {column: row[column] for column in CHECK_COLUMNS}
            picked.update({column: bool(row[column]) for column in TIMED_COLUMNS})
            result[server] = picked
    return result


def test_show_stat_check_columns_are_haproxys(tmp_path: Path) -> None:
    import shutil

    import pytest

    from tests.e2e.test_health_checks import HealthServer
    from tests.helpers import haproxy_py_command

    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    ok, bad = HealthServer("ok"), HealthServer("bad")
    bad.broken = True
    servers = (ok.port, bad.port, free_port())
    try:
        (tmp_path / "ours").mkdir()
        (tmp_path / "theirs").mkdir()
        ours = _check_rows(haproxy_py_command(), tmp_path, "ours", servers)
        theirs = _check_rows(["haproxy"], tmp_path, "theirs", servers)
    finally:
        ok.close()
        bad.close()
    assert ours == theirs, (ours, theirs)
    assert ours["bad"]["status"] == "DOWN" and ours["bad"]["last_chk"] == "Not Found"
    assert ours["refused"]["check_status"] == "L4CON"


def _track_config(sock: Path, port: int, target: int) -> str:
    return (
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
        f"backend be\n    server s1 127.0.0.1:{target} check inter 200 rise 1 fall 1"
        " slowstart 4s weight 40\n"
        f"    server s2 127.0.0.1:{target} track s1\n"
        f"backend be2\n    server t 127.0.0.1:{target} track be/s1\n"
        f"    server u 127.0.0.1:{target} track be/s2\n"
    )


def _transitions(command: list[str], tmp_path: Path, name: str) -> tuple[list[str], dict]:
    """Run `command` on the tracking configuration: the target refuses, then listens.
    Returns the transition lines (pid and durations blanked) and show stat while warming."""
    from tests.helpers import write_cfg

    sock, port, target = tmp_path / f"{name}.sock", free_port(), free_port()
    path = write_cfg(tmp_path / name, _track_config(sock, port, target))
    listener = None
    try:
        with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
            # No client on the frontend: it would count as a session on s1 in the DOWN line.
            deadline = time.monotonic() + 10
            proxy.wait_logged("be2' has no server", timeout=deadline - time.monotonic())
            listener = socket.create_server(("127.0.0.1", target))
            listener.listen(100)
            proxy.wait_logged("be2/u is UP", timeout=deadline - time.monotonic())
            time.sleep(1.2)
            rows = stat_rows(cli(sock, "show stat"))
    finally:
        if listener is not None:
            listener.close()
    wanted = (" is DOWN", " is UP", "has no server")
    lines = [line for line in masked(proxy.text()) if any(word in line for word in wanted)]
    return lines, rows


def test_track_and_slowstart_as_haproxy(tmp_path: Path) -> None:
    import shutil

    from tests.helpers import haproxy_py_command

    (tmp_path / "ours").mkdir()
    ours, rows = _transitions(haproxy_py_command(), tmp_path, "ours")
    assert ours[1] == (
        "[WARNING]  (PID) : Server be2/t is DOWN via be/s1. 1 active and 0 backup servers"
        " left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )
    assert len(ours) == 10 and "Server be2/u is UP via be/s2." in ours[-1]
    s1 = rows[("be", "s1")]
    # Warming up: about 1.2 s into 4 s, the weight of 40 is ramping (HAProxy steps each 1 s).
    assert s1["status"] == "UP" and 5 <= int(s1["throttle"]) < 100, s1
    assert 1 < int(s1["weight"]) < 40 and s1["uweight"] == "40"
    assert rows[("be", "s2")]["tracked"] == "be/s1" and rows[("be2", "u")]["tracked"] == "be/s2"
    assert rows[("be2", "u")]["status"] == "UP" and rows[("be", "BACKEND")]["chkdown"] == "1"
    if shutil.which("haproxy") is not None:
        (tmp_path / "theirs").mkdir()
        theirs, their_rows = _transitions(["haproxy"], tmp_path, "theirs")
        assert ours == theirs
        assert their_rows[("be", "s2")]["tracked"] == "be/s1"


def _observe_run(command: list[str], tmp_path: Path, name: str, live: int) -> tuple[str, dict]:
    """Clients to a server that refuses while its check port answers: `observe layer4`
    with `error-limit 2` and `on-error mark-down` takes it down. Returns its DOWN line and
    its show stat row."""
    from tests.helpers import write_cfg

    sock, port, refused = tmp_path / f"{name}.sock", free_port(), free_port()
    path = write_cfg(
        tmp_path / name,
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode tcp\n    retries 0\n    timeout connect 1s\n"
        "    timeout client 5s\n    timeout server 5s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
        "backend be\n    balance first\n"
        f"    server s1 127.0.0.1:{refused} check port {live} inter 10s observe layer4"
        " error-limit 2 on-error mark-down\n"
        f"    server s2 127.0.0.1:{live}\n",
    )

    def one_client() -> None:
        with socket.create_connection(("127.0.0.1", port), 2) as client:
            client.settimeout(2)
            with suppress(OSError):
                client.recv(10)

    with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
        proxy.wait_listening(port)
        time.sleep(0.5)  # s1's first check has passed (its check port answers)
        proxy.wait_logged("is DOWN", between=one_client)  # a client after each miss
        time.sleep(0.3)
        row = stat_rows(cli(sock, "show stat"))[("be", "s1")]
    line = next(line for line in masked(proxy.text(), sessions=True) if "is DOWN" in line)
    return line, row


def test_observe_layer4_marks_down_as_haproxy(tmp_path: Path) -> None:
    import shutil

    from tests.helpers import haproxy_py_command

    live = BannerServer(b"s2")
    try:
        (tmp_path / "ours").mkdir()
        line, row = _observe_run(haproxy_py_command(), tmp_path, "ours", live.port)
        assert line == (
            '[WARNING]  (PID) : Server be/s1 is DOWN, reason: Health analyze, info: "Detected 2'
            ' consecutive errors, last one was: L4 unsuccessful connection". 1 active and 0'
            " backup servers left. N sessions active, 0 requeued, 0 remaining in queue."
        )
        picked = {k: row[k] for k in ("status", "check_status", "check_duration", "hanafail")}
        assert picked == {
            "status": "DOWN", "check_status": "HANA",
            "check_duration": str((1 << 64) - 1), "hanafail": "1",
        }  # fmt: skip
        if shutil.which("haproxy") is not None:
            (tmp_path / "theirs").mkdir()
            their_line, their_row = _observe_run(["haproxy"], tmp_path, "theirs", live.port)
            assert their_line == line
            assert {k: their_row[k] for k in picked} == picked
    finally:
        live.close()


class Agent(ThreadedServer):
    """An agent answering `reply` (and recording what it was sent)."""

    def __init__(self) -> None:
        self.reply = b"up\n"
        self.received: list[bytes] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            with suppress(OSError):
                self.received.append(conn.recv(100))
                conn.sendall(self.reply)


AGENT_COLUMNS = ("status", "weight", "last_agt", "agent_status", "agent_code", "agent_desc",
                 "agent_rise", "agent_fall", "agent_health")  # fmt: skip


def _agent_status(sock: Path) -> str:
    """s1's agent_status, "" while the stats socket does not accept yet."""
    try:
        return stat_rows(cli(sock, "show stat"))[("be", "s1")]["agent_status"]
    except ConnectionRefusedError:
        return ""


def _agent_run(command: list[str], tmp_path: Path, name: str) -> tuple[list[str], list[dict]]:
    """The agent says up, stopped, `up 50%`, something wrong, `drain`, then nothing (it
    closes): the transition lines and show stat's agent columns of s1 after each."""
    from tests.helpers import write_cfg

    agent, live = Agent(), BannerServer(b"s1")
    sock = tmp_path / f"{name}.sock"
    path = write_cfg(
        tmp_path / name,
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n"
        f"backend be\n    server s1 127.0.0.1:{live.port} check inter 200 agent-check"
        f' agent-port {agent.port} agent-inter 200 agent-send "hello\\n" weight 20\n'
        f"    server s2 127.0.0.1:{live.port}\n",
    )
    rows = []
    try:
        with logged_proxy(command, path, tmp_path / f"{name}.err") as proxy:
            deadline = time.monotonic() + 10
            while not sock.exists():
                assert time.monotonic() < deadline and proxy.process.poll() is None
                time.sleep(0.05)
            while _agent_status(sock) in ("", "INI"):
                assert time.monotonic() < deadline
                time.sleep(0.05)  # serving, and the agent asked once
            steps = (
                (b"up\n", lambda row: row["last_agt"] == "via agent : up"),
                (b"stopped\n", lambda row: row["agent_health"] == "0"),
                (b"up 50%\n", lambda row: row["weight"] == "10" and row["agent_health"] == "1"),
                (b"bogus\n", lambda row: row["last_agt"].startswith("agent reports")),
                (b"drain\n", lambda row: row["status"].startswith("DRAIN")),
                (b"", lambda row: row["agent_status"] == "L7RSP"),
            )
            for reply, reached in steps:
                agent.reply = reply
                deadline = time.monotonic() + 5
                while True:  # the state the reply leads to (under load it may take a while)
                    row = stat_rows(cli(sock, "show stat"))[("be", "s1")]
                    if reached(row) or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                time.sleep(0.5)  # a few more agent checks: the state stays
                row = stat_rows(cli(sock, "show stat"))[("be", "s1")]
                rows.append({column: row[column] for column in AGENT_COLUMNS})
    finally:
        agent.close()
        live.close()
    assert agent.received[0] == b"hello\n"
    lines = [line for line in masked(proxy.text()) if " is DOWN" in line or " is UP," in line]
    return lines, rows


def test_agent_check_as_haproxy(tmp_path: Path) -> None:
    import shutil

    from tests.helpers import haproxy_py_command

    (tmp_path / "ours").mkdir()
    lines, rows = _agent_run(haproxy_py_command(), tmp_path, "ours")
    assert lines == [
        "[WARNING]  (PID) : Server be/s1 is DOWN, reason: Layer7 wrong status, code: 0, info:"
        ' "via agent : stopped", check duration: Nms. 1 active and 0 backup servers left. 0'
        " sessions active, 0 requeued, 0 remaining in queue.",
        "[WARNING]  (PID) : Server be/s1 is UP, reason: Layer7 check passed, code: 0, info:"
        ' "via agent : up", check duration: Nms. 2 active and 0 backup servers online. 0'
        " sessions requeued, 0 total in queue.",
    ]
    assert [row["status"] for row in rows] == [
        "UP", "DOWN (agent)", "UP", "UP", "DRAIN (agent)", "DRAIN (agent)",
    ]  # fmt: skip
    assert [row["weight"] for row in rows] == ["20", "20", "10", "10", "10", "10"]
    assert rows[3]["last_agt"] == "agent reports an error : bogus"
    # Closed without a word: HAProxy's empty-response failure, nothing else changes.
    assert rows[5]["last_agt"] == "TCPCHK got an empty response at step 2"
    if shutil.which("haproxy") is not None:
        (tmp_path / "theirs").mkdir()
        their_lines, their_rows = _agent_run(["haproxy"], tmp_path, "theirs")
        assert their_lines == lines
        assert their_rows == rows
