"""The real `haproxy-py -W` (and -Ws): a master, its workers, reloads, signals, exits.

Each test starts the command with a configuration, finds the workers as the master's
children (psutil), sends real signals and talks to the listeners over real sockets. The
master's stderr is collected by a thread, so tests can wait for HAProxy's lines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from haproxy_py.process.privileges import isolation_problems, plan_isolation
from tests.e2e.mworker_tools import Master, master, two_workers
from tests.e2e.tcp_tools import ask, echo_servers, tcp_config
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command, write_cfg


def test_a_master_with_two_workers_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"A:") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        workers = m.workers()
        assert len(workers) == 2
        for pid in workers:
            assert f"New worker ({pid}) forked" in m.text()
            assert psutil.Process(pid).cmdline()[-2:] == ["-m", "worker"]
        assert ask(port, b"x") == b"A:x"
        m.process.send_signal(signal.SIGTERM)
        assert m.finish() == 0
    text = m.text()
    assert "Exiting Master process..." in text
    for pid in workers:
        assert f"Current worker ({pid}) exited with code 143 (Terminated)" in text
    assert "All workers exited. Exiting... (0)" in text


def test_sigint_makes_the_master_exit_130(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        m.process.send_signal(signal.SIGINT)
        assert m.finish() == 130
    assert "All workers exited. Exiting... (130)" in m.text()


def test_usr2_reload_replaces_the_workers_without_refusing_anyone(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"A:") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        before = m.workers()
        failures: list[BaseException] = []
        answered = [0]
        done = threading.Event()

        def hammer() -> None:
            while not done.is_set():
                try:
                    assert ask(port, b"q") == b"A:q"
                    answered[0] += 1
                except BaseException as exc:
                    failures.append(exc)

        clients = [threading.Thread(target=hammer) for _ in range(4)]
        for client in clients:
            client.start()
        try:
            for reload_number in range(1, 4):
                m.process.send_signal(signal.SIGUSR2)
                m.wait_ready(successes=reload_number + 1)
        finally:
            done.set()
            for client in clients:
                client.join()
        assert not failures, failures[:3]
        assert answered[0] > 0
        m.wait_for(lambda: m.count("Former worker") >= 6)
        after = m.workers()
        assert len(after) == 2 and not set(after) & set(before)
        for pid in before:
            assert f"Former worker ({pid}) exited with code 0 (Exit)" in m.text()
        assert m.count("Reloading HAProxy") == 3


def test_a_broken_configuration_keeps_the_old_workers(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"A:") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        before = m.workers()
        m.path.write_text(m.path.read_text() + "    bogus_keyword here\n")
        m.process.send_signal(signal.SIGHUP)
        m.wait_for(lambda: "Loading failure!" in m.text())
        assert "unknown keyword 'bogus_keyword'" in m.text()
        assert m.workers() == before
        assert ask(port, b"still") == b"A:still"


def test_a_reload_binds_new_listeners_and_closes_removed_ones(tmp_path: Path) -> None:
    first, second = free_port(), free_port()
    with echo_servers(b"A:") as servers:
        text = two_workers(first, servers)
        with master(tmp_path, text) as m:
            m.wait_ready()
            added = text + f"listen extra\n    bind 127.0.0.1:{second}\n"
            added += f"    server s1 127.0.0.1:{servers[0].port}\n"
            m.path.write_text(added)
            m.process.send_signal(signal.SIGUSR2)
            m.wait_ready(successes=2)
            assert ask(second, b"new") == b"A:new"
            assert "Reload: listen 'extra' added." in m.text()
            # Now only the second address is left: the first closes once the old workers left.
            m.path.write_text(f"global\n    nbthread 2\n{tcp_config(second, servers)}")
            m.process.send_signal(signal.SIGUSR2)
            m.wait_ready(successes=3)
            m.wait_for(lambda: m.count("Former worker") >= 4)

            def refused() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", first), timeout=1).close()
                except OSError:
                    return True
                return False

            m.wait_for(refused)
            assert ask(second, b"kept") == b"A:kept"


def test_a_killed_worker_stops_everything_by_default(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        victim = m.workers()[0]
        os.kill(victim, signal.SIGKILL)
        assert m.finish() == 137
    text = m.text()
    assert f"Current worker ({victim}) exited with code 137 (Killed)" in text
    assert "exit-on-failure: killing every processes with SIGTERM" in text
    assert "All workers exited. Exiting... (137)" in text


def test_no_exit_on_failure_respawns_the_worker(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"R:") as servers:
        text = two_workers(port, servers, "    master-worker no-exit-on-failure\n")
        with master(tmp_path, text) as m:
            m.wait_ready()
            victim = m.workers()[0]
            os.kill(victim, signal.SIGKILL)
            m.wait_for(lambda: m.count("New worker") == 3)
            m.wait_for(lambda: len(m.workers()) == 2 and victim not in m.workers())
            assert ask(port, b"ok") == b"R:ok"
            assert m.process.poll() is None


def test_usr1_soft_stops_everything_and_the_master_follows(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"S:") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as held:
            held.sendall(b"a")
            assert held.recv(10) == b"S:a"
            m.process.send_signal(signal.SIGUSR1)
            m.wait_for(lambda: m.count("Proxy app stopped") == 2)
            held.sendall(b"b")  # the connection in flight goes on
            assert held.recv(10) == b"S:b"
            assert m.process.poll() is None
        assert m.finish() == 0


def test_a_worker_that_cannot_start_makes_the_master_fail(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers:
        # A chroot is entered by each worker once it has loaded everything (the master stays
        # outside it, to reload): a missing directory fails there, not in the master's checks.
        text = two_workers(port, servers).replace(
            "global\n", "global\n    chroot /nonexistent-haproxy-py-chroot\n", 1
        )
        running = Master(tmp_path, text)
        assert running.finish() == 1
    assert "Cannot chroot(/nonexistent-haproxy-py-chroot)" in running.text()
    assert "All workers exited. Exiting... (1)" in running.text()


def test_systemd_notifications(tmp_path: Path) -> None:
    port = free_port()
    path = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(20)
    try:
        with echo_servers(b"") as servers:
            text = two_workers(port, servers)
            running = Master(tmp_path, text, "-Ws", env={"NOTIFY_SOCKET": path})
            try:
                assert receiver.recv(4096) == f"READY=1\nMAINPID={running.pid}".encode()
                running.process.send_signal(signal.SIGUSR2)
                assert receiver.recv(4096) == b"RELOADING=1"
                assert receiver.recv(4096) == f"READY=1\nMAINPID={running.pid}".encode()
                running.path.write_text("garbage\n")
                running.process.send_signal(signal.SIGUSR2)
                assert receiver.recv(4096) == b"RELOADING=1"
                assert receiver.recv(4096).startswith(b"STATUS=Reload failed")
                assert receiver.recv(4096) == f"READY=1\nMAINPID={running.pid}".encode()
            finally:
                running.process.send_signal(signal.SIGTERM)
                assert receiver.recv(4096) == b"STOPPING=1"
                assert running.finish() == 0, running.text()
    finally:
        receiver.close()


def test_the_master_cli_answers_while_a_reload_is_in_progress(tmp_path: Path) -> None:
    # A re-executed master serves its CLI before its new workers are READY, so that a
    # `show proc` sent right after systemd's READY=1 (or during the reload) is answered.
    port = free_port()
    notify = str(tmp_path / "notify.sock")
    cli = str(tmp_path / "master.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(notify)
    receiver.settimeout(20)
    try:
        with echo_servers(b"") as servers:
            text = two_workers(port, servers)
            running = Master(tmp_path, text, "-Ws", "-S", cli, env={"NOTIFY_SOCKET": notify})
            try:
                assert receiver.recv(4096).startswith(b"READY=1")
                running.process.send_signal(signal.SIGUSR2)
                assert receiver.recv(4096) == b"RELOADING=1"  # from the re-executed image
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                    client.settimeout(20)
                    client.connect(cli)
                    client.sendall(b"show proc\n")
                    client.shutdown(socket.SHUT_WR)  # as socat does at the end of its input
                    answer = b""
                    while chunk := client.recv(65536):
                        answer += chunk
                # The answer came before the reload finished: READY=1 is still to come.
                receiver.settimeout(0)
                with pytest.raises(BlockingIOError):
                    receiver.recv(4096)
                assert b"#<PID>" in answer and b"master" in answer, answer
                receiver.settimeout(20)
                assert receiver.recv(4096) == f"READY=1\nMAINPID={running.pid}".encode()
            finally:
                running.process.send_signal(signal.SIGTERM)
                assert running.finish() == 0, running.text()
    finally:
        receiver.close()


def _master_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_the_master_holds_no_more_descriptors_after_reloads(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        m.process.send_signal(signal.SIGUSR2)
        m.wait_ready(successes=2)
        m.wait_for(lambda: m.count("Former worker") == 2)
        idle = _master_fds(m.pid)
        for number in range(3, 8):
            m.process.send_signal(signal.SIGUSR2)
            m.wait_ready(successes=number)
        m.wait_for(lambda: m.count("Former worker") == 12)
        assert _master_fds(m.pid) == idle


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and setuid need root")
def test_workers_isolate_themselves_and_the_master_stays_root(tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    jail.mkdir(mode=0o755)
    port = free_port()
    with echo_servers(b"J:") as servers:
        text = two_workers(port, servers, f"    chroot {jail}\n    user nobody\n")
        with master(tmp_path, text) as m:
            m.wait_ready()
            assert ask(port, b"x") == b"J:x"
            plan = plan_isolation(chroot=str(jail), user="nobody")
            for pid in m.workers():
                assert isolation_problems(pid, plan) == []
            assert psutil.Process(m.pid).uids().effective == 0
            assert os.readlink(f"/proc/{m.pid}/root") == "/"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{name}")
            if target.startswith("socket:"):
                inodes.add(target)
    return inodes


def _listening_inode(port: int) -> str:
    """The inode of the TCP socket listening on 127.0.0.1:port, from /proc/net/tcp."""
    with open("/proc/net/tcp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                return f"socket:[{fields[9]}]"
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def test_a_reload_re_executes_the_master_in_place_keeping_its_sockets(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"A:") as servers, master(tmp_path, two_workers(port, servers)) as m:
        m.wait_ready()
        cmdline = Path(f"/proc/{m.pid}/cmdline").read_bytes()
        listening = _listening_inode(port)
        assert listening in _socket_inodes(m.pid)
        m.process.send_signal(signal.SIGUSR2)
        m.wait_ready(successes=2)
        # Same pid (systemd's MAINPID), same command line, the very same listening socket.
        assert Path(f"/proc/{m.pid}/cmdline").read_bytes() == cmdline
        assert _listening_inode(port) == listening
        assert listening in _socket_inodes(m.pid)
        # The new image announces itself before its first warning, as HAProxy's does.
        m.wait_for(lambda: m.count("Former worker") == 2)
        assert m.count("path to executable is") >= 1
        assert ask(port, b"z") == b"A:z"


@pytest.mark.parametrize("mode", [["-W"], []], ids=["master-worker", "one-process"])
def test_daemon_mode_detaches_and_writes_the_pidfile(tmp_path: Path, mode: list[str]) -> None:
    port = free_port()
    pidfile = tmp_path / "haproxy.pid"
    with echo_servers(b"D:") as servers:
        path = write_cfg(tmp_path, two_workers(port, servers))
        began = time.monotonic()
        result = subprocess.run(
            [*haproxy_py_command(), "-D", *mode, "-p", str(pidfile), "-f", str(path)],
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - began < 10
        assert result.stdout == ""
        daemon = int(pidfile.read_text())
        try:
            assert os.getsid(daemon) != os.getsid(0)  # a session of its own
            assert psutil.Process(daemon).ppid() != os.getpid()
            wait_listening_pid(port, daemon)
            assert ask(port, b"x") == b"D:x"
        finally:
            os.kill(daemon, signal.SIGTERM)
        wait_gone(daemon)
    assert TRACEBACK not in result.stderr


def wait_listening_pid(port: int, pid: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert psutil.pid_exists(pid), "the daemon died"
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.05)
    raise AssertionError("the daemon never listened")


def wait_gone(pid: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still there")


def test_mworker_max_reloads_terminates_a_lingering_old_worker(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"M:") as servers:
        text = two_workers(port, servers, "    mworker-max-reloads 1\n").replace(
            "nbthread 2", "nbthread 1"
        )
        with master(tmp_path, text) as m:
            m.wait_ready()
            (first,) = m.workers()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as held:
                held.sendall(b"a")
                assert held.recv(10) == b"M:a"  # keeps the first worker busy after reloads
                m.process.send_signal(signal.SIGUSR2)
                m.wait_ready(successes=2)
                assert first in m.workers()  # one reload survived: within the limit
                m.process.send_signal(signal.SIGUSR2)
                m.wait_ready(successes=3)
                m.wait_for(lambda: f"Former worker ({first}) exited with code 143" in m.text())
