"""The keepalived example (examples/keepalived/): its check script, and a real failover.

- check_haproxy_py.sh is run against a real `haproxy-py -W` master CLI: each exit status it
  documents (0 workers up, 1 too few workers, 2 no master, 3 bad usage) is produced for real;
- the failover runs the example keepalived-node1.conf and keepalived-node2.conf as they are
  (only the script's and the master socket's paths changed) in two network namespaces, each
  with its own haproxy-py -W answering its node's name, joined by a bridge in a third
  namespace that plays the client: the VIP is on node 1 and curl to it gets node 1; node 1's
  workers are killed; the VIP moves to node 2 and curl gets node 2.
Needs root, `ip netns`, keepalived, socat and curl; skips with the reason otherwise.
Everything started here (namespaces, processes) is removed in a `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest

from tests.e2e.mworker_tools import master
from tests.e2e.tcp_tools import echo_servers
from tests.helpers import TIMEOUTS, TRACEBACK, base_env, free_port, haproxy_py_command

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "keepalived"
CHECK = EXAMPLE / "check_haproxy_py.sh"
VIP = "192.0.2.100"
NODE_ADDRESSES = {"node1": "192.0.2.11/24", "node2": "192.0.2.12/24"}
CLIENT_ADDRESS = "192.0.2.2/24"


def run(cmd: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for predicate() to hold; fails the test after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


# --- the check script against a real master --------------------------------------------------


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return run([str(CHECK), *args])


def show_proc(sock: Path) -> str:
    return subprocess.run(
        # -t: the master may take a moment to answer on a busy machine (socat's default
        # wait after sending is half a second).
        ["socat", "-t", "5", "stdio", f"UNIX-CONNECT:{sock}"],
        input="show proc\n",
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout


def http_config(port: int, answer: str, workers: int = 1) -> str:
    return (
        f"global\n    nbthread {workers}\n"
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"frontend www\n    bind :{port}\n"
        f'    http-request return status 200 content-type text/plain string "{answer}\\n"\n'
    )


@pytest.fixture
def socat_needed() -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (the check script asks the master CLI with it)")


@pytest.mark.usefixtures("socat_needed")
def test_check_script_exit_status_follows_the_master_cli(tmp_path: Path) -> None:
    sock = tmp_path / "master.sock"
    absent = check(str(sock))
    assert absent.returncode == 2, absent
    assert f"no answer from the master CLI at {sock}" in absent.stderr

    with master(tmp_path, http_config(free_port(), "up", workers=2), "-S", str(sock)) as running:
        running.wait_ready()
        up = check(str(sock))
        assert (up.returncode, up.stderr) == (0, "")
        assert check(str(sock), "2").returncode == 0
        short = check(str(sock), "3")
        assert short.returncode == 1, short
        assert "2 current worker(s)" in short.stderr and "3 needed" in short.stderr
        bad = check(str(sock), "many")
        assert bad.returncode == 3 and "MIN_WORKERS must be a number" in bad.stderr

        # The workers die: HAProxy's exit-on-failure stops the master too, and the check fails.
        for pid in running.workers():
            os.kill(pid, signal.SIGKILL)
        running.process.wait(timeout=20)
        gone = check(str(sock))
        assert gone.returncode == 2, gone


@pytest.mark.usefixtures("socat_needed")
def test_check_script_passes_while_the_master_reloads(tmp_path: Path) -> None:
    """The master CLI closes for a moment while the master re-executes itself; the script's
    retries keep a reload from looking like a failure to keepalived."""
    sock = tmp_path / "master.sock"
    with master(tmp_path, http_config(free_port(), "up"), "-S", str(sock)) as running:
        running.wait_ready()
        for reloads in (1, 2):
            running.process.send_signal(signal.SIGUSR2)
            # Checks back to back from the signal until the new workers are ready, and one
            # more: every one of them passes.
            statuses = []
            deadline = time.monotonic() + 30
            while running.count("Loading success.") < reloads + 1:
                statuses.append(check(str(sock)).returncode)
                assert time.monotonic() < deadline, running.text()
            statuses.append(check(str(sock)).returncode)
            assert len(statuses) >= 2 and set(statuses) == {0}, statuses


def test_example_keepalived_configurations_pass_keepalived_t(tmp_path: Path) -> None:
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed")
    for node in NODE_ADDRESSES:
        conf = tmp_path / f"{node}.conf"
        conf.write_text(node_keepalived_conf(node, tmp_path / "master.sock"))
        result = run(["keepalived", "--config-test", "--log-console", "--use-file", str(conf)])
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), node


@pytest.mark.usefixtures("socat_needed")
def test_check_script_does_not_count_old_workers(tmp_path: Path) -> None:
    """After a reload, the previous workers still finishing a connection are "old workers";
    only the current ones count."""
    sock = tmp_path / "master.sock"
    port = free_port()
    with echo_servers(b"A:") as (server,):
        text = (
            f"global\n    nbthread 1\ndefaults\n    mode tcp\n{TIMEOUTS}"
            f"listen relay\n    bind 127.0.0.1:{port}\n    server s 127.0.0.1:{server.port}\n"
        )
        with master(tmp_path, text, "-S", str(sock)) as running:
            running.wait_ready()
            # A TCP session in progress keeps the first worker alive after the reload, as an
            # old worker (no hard-stop-after: it waits for the session to end).
            session = socket.create_connection(("127.0.0.1", port), timeout=5)
            with session:
                session.sendall(b"x")
                assert session.recv(64) == b"A:x"
                running.process.send_signal(signal.SIGUSR2)
                running.wait_ready(successes=2)
                shown = show_proc(sock)
                assert "# old workers" in shown, shown
                assert check(str(sock), "1").returncode == 0
                assert check(str(sock), "2").returncode == 1


# --- failover between two namespaces ----------------------------------------------------------


def _failover_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "keepalived", "socat", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class Lab:
    """Three network namespaces: `client` holds a bridge; node1 and node2 each have an eth0
    on it. Every namespace and process made here is undone by close()."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        tag = f"h7k{os.getpid() % 100000}"
        self.ns = {name: f"{tag}-{name}" for name in ("client", "node1", "node2")}
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def ip(self, *args: str) -> None:
        result = run(["ip", *args])
        assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"

    def in_ns(self, name: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.ns[name], *cmd], timeout=timeout)

    def build(self) -> None:
        for ns in self.ns.values():
            self.ip("netns", "add", ns)
        client = self.ns["client"]
        self.ip("-n", client, "link", "add", "br0", "type", "bridge")
        self.ip("-n", client, "addr", "add", CLIENT_ADDRESS, "dev", "br0")
        self.ip("-n", client, "link", "set", "br0", "up")
        self.ip("-n", client, "link", "set", "lo", "up")
        for node, address in NODE_ADDRESSES.items():
            ns, port = self.ns[node], f"br-{node}"
            self.ip(
                "link", "add", "eth0", "netns", ns, "type", "veth", "peer", port, "netns", client
            )
            self.ip("-n", client, "link", "set", port, "master", "br0", "up")
            self.ip("-n", ns, "addr", "add", address, "dev", "eth0")
            self.ip("-n", ns, "link", "set", "eth0", "up")
            self.ip("-n", ns, "link", "set", "lo", "up")

    def start(self, node: str, name: str, *cmd: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{node}-{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[node], *cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=base_env(),
                start_new_session=True,
            )
        self.processes.append((process, log))
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.processes)

    def close(self) -> None:
        for process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process, _ in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for ns in self.ns.values():
            # Anything still in a namespace made here was started here (workers, scripts).
            for pid in run(["ip", "netns", "pids", ns]).stdout.split():
                with suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns])

    def vip_holder(self) -> str | None:
        holders = [
            node
            for node in NODE_ADDRESSES
            if f"inet {VIP}/" in self.in_ns(node, "ip", "-4", "addr", "show", "dev", "eth0").stdout
        ]
        assert len(holders) <= 1, f"the VIP is on {holders} at once"
        return holders[0] if holders else None

    def curl_vip(self) -> str:
        answer = self.in_ns("client", "curl", "-s", "--max-time", "2", f"http://{VIP}/", timeout=10)
        return answer.stdout.strip()


@contextmanager
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = _failover_unavailable()
    if reason:
        pytest.skip(reason)
    built = Lab(tmp_path)
    try:
        probe = run(["ip", "netns", "add", built.ns["client"]])
        if probe.returncode != 0:
            pytest.skip(f"cannot make network namespaces here: {probe.stderr.strip()}")
        run(["ip", "netns", "del", built.ns["client"]])
        built.build()
        yield built
    finally:
        built.close()


def node_keepalived_conf(node: str, sock: Path) -> str:
    """The example as shipped, with the check script and master socket of this test."""
    text = (EXAMPLE / f"keepalived-{node}.conf").read_text()
    assert "/etc/keepalived/check_haproxy_py.sh /run/haproxy-py-master.sock" in text
    return text.replace("/etc/keepalived/check_haproxy_py.sh", str(CHECK)).replace(
        "/run/haproxy-py-master.sock", str(sock)
    )


def test_vip_moves_to_node2_when_node1_workers_die(tmp_path: Path) -> None:
    with ExitStack() as stack:
        the_lab = stack.enter_context(lab(tmp_path))
        masters: dict[str, subprocess.Popen[bytes]] = {}
        socks: dict[str, Path] = {}
        for node in NODE_ADDRESSES:
            socks[node] = tmp_path / f"{node}-master.sock"
            cfg = tmp_path / f"{node}-haproxy-py.cfg"
            cfg.write_text(http_config(80, node))
            masters[node] = the_lab.start(
                node, "haproxy-py", *haproxy_py_command(), "-W", "-S", str(socks[node]), "-f",
                str(cfg),
            )  # fmt: skip
        for node in NODE_ADDRESSES:
            wait_until(
                lambda node=node: check(str(socks[node])).returncode == 0,
                15,
                f"{node}'s haproxy-py has workers\n{the_lab.logs()}",
            )
        for node in NODE_ADDRESSES:
            conf = tmp_path / f"keepalived-{node}.conf"
            conf.write_text(node_keepalived_conf(node, socks[node]))
            run_dir = tmp_path / f"{node}-run"
            run_dir.mkdir()
            the_lab.start(
                node, "keepalived", "keepalived", "--dont-fork", "--log-console",
                "--log-detail", "--vrrp", "--use-file", str(conf),
                "--pid", str(run_dir / "keepalived.pid"),
                "--vrrp_pid", str(run_dir / "vrrp.pid"),
                "--checkers_pid", str(run_dir / "checkers.pid"),
            )  # fmt: skip

        wait_until(
            lambda: the_lab.vip_holder() == "node1" and the_lab.curl_vip() == "node1",
            15,
            f"the VIP serves from node1\n{the_lab.logs()}",
        )
        # Stable: node 2 (healthy too, lower priority) does not take it.
        time.sleep(2)
        assert the_lab.vip_holder() == "node1"

        workers = [
            int(line.split()[0])
            for line in show_proc(socks["node1"]).splitlines()
            if line.split()[1:2] == ["worker"]
        ]
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)

        took = wait_until(
            lambda: the_lab.vip_holder() == "node2" and the_lab.curl_vip() == "node2",
            15,
            f"the VIP moves to node2\n{the_lab.logs()}",
        )
        assert took < 15
        # node 1's master followed HAProxy's exit-on-failure; nothing printed a traceback.
        masters["node1"].wait(timeout=10)
        assert TRACEBACK not in the_lab.logs()
