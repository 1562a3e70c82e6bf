"""The real `haproxy-py -db -f CFG` serving TCP: one process, real sockets, real clients.

Backends are small threaded echo servers started by the test. Each test starts the command,
waits until its listener accepts, talks to it (Python sockets, and socat when installed), and
stops it with a signal, checking that it leaves nothing behind and prints no traceback.
"""

from __future__ import annotations

import grp
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from haproxy_py.process.privileges import isolation_problems, plan_isolation, resolve_group
from tests.e2e.tcp_tools import ask, echo_servers, tcp_config, wait_listening
from tests.helpers import (
    TIMEOUTS,
    TRACEBACK,
    base_env,
    free_port,
    haproxy_py_command,
    has_ipv6_loopback,
    run_cli,
    write_cfg,
)


@contextmanager
def serving(tmp_path: Path, text: str, port: int, *flags: str) -> Iterator[subprocess.Popen[str]]:
    path = write_cfg(tmp_path, text)
    process = subprocess.Popen(
        [*haproxy_py_command(), "-db", *flags, "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
        assert TRACEBACK not in err


def test_forwards_and_alternates_between_servers(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"A:", b"B:") as servers, serving(tmp_path, tcp_config(port, servers), port):
        answers = [ask(port, b"hello") for _ in range(10)]
    # wait_listening()'s probe connection took one turn too, so the split is 5/5 or 4/6.
    assert set(answers) == {b"A:hello", b"B:hello"}
    assert 4 <= answers.count(b"A:hello") <= 6
    assert all(answers[i] != answers[i + 1] for i in range(1, 9))  # strict alternation


def test_one_process_the_worker_replaces_the_command(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers, serving(tmp_path, tcp_config(port, servers), port) as p:
        # The listener is bound before the exec, so it may answer while the exec is under way.
        cmdline: list[bytes] = []
        for _ in range(100):
            cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")
            if b"worker" in cmdline:
                break
            time.sleep(0.05)
        assert b"worker" in cmdline  # same pid, now `python -m worker`
        children = Path(f"/proc/{p.pid}/task").iterdir()
        assert list(children)  # alive
        assert not _children_of(p.pid)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_bulk_transfer_is_exact(tmp_path: Path) -> None:
    port = free_port()
    payload = os.urandom(4 << 20)
    with echo_servers(b"") as servers, serving(tmp_path, tcp_config(port, servers), port):
        assert ask(port, payload) == payload


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_socat_client(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"S:") as servers, serving(tmp_path, tcp_config(port, servers), port):
        result = subprocess.run(
            ["socat", "-t", "5", "-", f"TCP:127.0.0.1:{port}"],  # wait for the reply after EOF
            input="ping\n",
            capture_output=True,
            text=True,
            timeout=10,
        )
    assert result.stdout == "S:ping\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_signals(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    with echo_servers(b"") as servers:
        path = write_cfg(tmp_path, tcp_config(port, servers))
        process = subprocess.Popen(
            [*haproxy_py_command(), "-db", "-f", str(path)],
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_listening(port, process)
        with socket.create_connection(("127.0.0.1", port)):  # a connection in flight
            process.send_signal(sig)
            _, err = process.communicate(timeout=15)
    assert process.returncode in (0, -sig), err
    assert TRACEBACK not in err
    with socket.socket() as again:  # the port is free again: nothing was left behind
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_port_in_use_fails_before_serving(tmp_path: Path) -> None:
    with socket.socket() as busy, echo_servers(b"") as servers:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = write_cfg(tmp_path, tcp_config(port, servers))
        result = subprocess.run(
            [*haproxy_py_command(), "-db", "-dR", "-f", str(path)],
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 1
    assert f"cannot bind socket (Address already in use) for [127.0.0.1:{port}]" in result.stderr
    assert "Some protocols failed to start their listeners! Exiting." in result.stderr
    assert TRACEBACK not in result.stderr


def test_no_listener_is_an_error(tmp_path: Path) -> None:
    path = write_cfg(
        tmp_path, f"defaults\n    mode tcp\n{TIMEOUTS}backend be\n    server s 127.0.0.1:1\n"
    )
    result = run_cli("-db", "-f", str(path), timeout=20)
    assert result.returncode == 1
    assert "No enabled listener found" in result.stderr


def test_unresolvable_server_fails_at_start(tmp_path: Path) -> None:
    port = free_port()
    text = (
        f"defaults\n    mode tcp\n{TIMEOUTS}listen app\n    bind 127.0.0.1:{port}\n"
        "    server s1 no-such-host.invalid:80\n"
    )
    path = write_cfg(tmp_path, text)
    result = run_cli("-db", "-f", str(path), timeout=30)
    assert result.returncode == 1
    assert "no-such-host.invalid" in result.stderr
    assert TRACEBACK not in result.stderr


def test_unix_listener(tmp_path: Path) -> None:
    port = free_port()
    sock_path = tmp_path / "front.sock"
    with echo_servers(b"U:") as servers:
        text = tcp_config(port, servers).replace(
            f"    bind 127.0.0.1:{port}\n",
            f"    bind 127.0.0.1:{port}\n    bind unix@{sock_path} mode 600\n",
        )
        with serving(tmp_path, text, port), socket.socket(socket.AF_UNIX) as client:
            client.connect(str(sock_path))
            client.sendall(b"x")
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b"U:x"


def _many(port: int, count: int, threads: int = 8) -> None:
    def work(share: int) -> None:
        for _ in range(share):
            assert ask(port, b"x") == b"x"

    workers = [threading.Thread(target=work, args=(count // threads,)) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_fd_count_returns_to_idle_after_ten_thousand_connections(tmp_path: Path) -> None:
    port = free_port()
    config = tcp_config(port, [])
    with echo_servers(b"") as servers:
        config = tcp_config(port, servers)
        with serving(tmp_path, config, port, "-dS") as process:  # no pipe pool: exact count
            _many(port, 80)  # the worker is fully started and warm
            time.sleep(0.3)
            idle = _fds(process.pid)
            _many(port, 10_000)
            time.sleep(0.5)
            assert _fds(process.pid) == idle


def test_splice_pool_reaches_a_steady_state(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers, serving(tmp_path, tcp_config(port, servers), port) as p:
        _many(port, 800)  # fills the pool with the pipes this concurrency needs
        time.sleep(0.3)
        warm = _fds(p.pid)
        _many(port, 2000)
        time.sleep(0.5)
        assert _fds(p.pid) <= warm + 4  # pipes are reused, not piled up


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_listener(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port6 = probe.getsockname()[1]
    with echo_servers(b"6:") as servers:
        text = tcp_config(port, servers).replace(
            f"    bind 127.0.0.1:{port}\n", f"    bind 127.0.0.1:{port}\n    bind [::1]:{port6}\n"
        )
        with serving(tmp_path, text, port), socket.create_connection(("::1", port6), 5) as client:
            client.sendall(b"v6")
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b"6:v6"


def test_half_close_reaches_the_server_and_the_reply_comes_back(tmp_path: Path) -> None:
    # The server answers only once it has read everything (EOF): the client's shutdown must
    # travel through haproxy-py, and the reply must still come back on the open half.
    backend = socket.create_server(("127.0.0.1", 0))
    port = free_port()

    def answer_after_eof() -> None:
        while True:  # wait_listening()'s probe is relayed here too: serve every connection
            try:
                conn, _ = backend.accept()
            except OSError:
                return
            with conn:
                received = b""
                while chunk := conn.recv(4096):
                    received += chunk
                conn.sendall(b"got " + received)

    text = (
        f"defaults\n    mode tcp\n{TIMEOUTS}listen app\n    bind 127.0.0.1:{port}\n"
        f"    server s1 127.0.0.1:{backend.getsockname()[1]}\n"
    )
    with backend, serving(tmp_path, text, port):
        thread = threading.Thread(target=answer_after_eof, daemon=True)
        thread.start()
        assert ask(port, b"everything") == b"got everything"


def test_blackholed_server_times_out_and_the_client_is_closed(tmp_path: Path) -> None:
    # A loopback listener that never accepts and whose queue is full drops new SYNs: the
    # connect hangs like a blackholed host, so `timeout connect` must end it.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue (its exact size depends on the kernel)
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(hole.getsockname())
        fillers.append(filler)
    time.sleep(0.2)
    port = free_port()
    text = (
        "defaults\n    mode tcp\n    timeout client 10s\n    timeout server 10s\n"
        f"    timeout connect 300ms\n    retries 1\nlisten app\n    bind 127.0.0.1:{port}\n"
        f"    server s1 127.0.0.1:{hole.getsockname()[1]}\n"
    )
    try:
        with serving(tmp_path, text, port):
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"anyone?")
                # Closed without an answer: a FIN, or a reset because our bytes were unread.
                with suppress(ConnectionResetError):
                    assert client.recv(100) == b""
            elapsed = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        hole.close()
    # Two attempts of 300 ms plus the turn-around pause between them, well under 10 s.
    assert 0.5 < elapsed < 5


def test_sigttou_pauses_and_sigttin_resumes_with_curl(tmp_path: Path) -> None:
    """The real process under `kill -TTOU`: curl is refused (exit 7), then served after TTIN."""
    port = free_port()
    with echo_servers(b"") as servers, serving(tmp_path, tcp_config(port, servers), port) as proc:
        proc.send_signal(signal.SIGTTOU)
        refused = None
        for _ in range(100):  # the signal is handled asynchronously
            refused = subprocess.run(
                ["curl", "-s", "-m", "2", f"http://127.0.0.1:{port}/"], capture_output=True
            )
            if refused.returncode == 7:
                break
            time.sleep(0.05)
        assert refused is not None and refused.returncode == 7  # couldn't connect
        proc.send_signal(signal.SIGTTIN)
        wait_listening(port, proc)
        assert ask(port, b"hello") == b"hello"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert "Paused proxy app." in err and "Resumed proxy app." in err


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and setuid need root")
def test_the_worker_isolates_itself_before_serving(tmp_path: Path) -> None:
    """As root: chroot, user nobody, group nogroup, no groups, NoNewPrivs, then it serves."""
    jail = tmp_path / "jail"
    jail.mkdir(mode=0o755)
    group = "nogroup" if _has_group("nogroup") else "nobody"
    port = free_port()
    isolation = f"global\n    chroot {jail}\n    user nobody\n    group {group}\n"
    with echo_servers(b"J:") as servers:
        text = isolation + tcp_config(port, servers)
        with serving(tmp_path, text, port) as process:
            assert ask(port, b"hi") == b"J:hi"
            plan = plan_isolation(chroot=str(jail), user="nobody", group=group)
            assert isolation_problems(process.pid, plan) == []
            assert plan.gid == resolve_group(group)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def test_a_chroot_that_cannot_be_entered_stops_the_start(tmp_path: Path) -> None:
    port = free_port()
    missing = tmp_path / "no-such-jail"
    with echo_servers(b"") as servers:
        path = write_cfg(tmp_path, f"global\n    chroot {missing}\n" + tcp_config(port, servers))
        result = run_cli("-db", "-f", str(path))
    assert result.returncode == 1
    assert f"[haproxy.main()] Cannot chroot({missing})." in result.stderr
    assert TRACEBACK not in result.stderr
    with socket.socket() as again:  # nothing was left listening
        again.bind(("127.0.0.1", port))
