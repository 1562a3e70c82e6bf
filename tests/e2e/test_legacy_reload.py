"""HAProxy's reload without a master: `-x` takes the sockets, `-sf`/`-st` stop the old one.

Both processes are the real `haproxy-py -db`; the old one has a `stats socket` with
`level admin expose-fd listeners`, and the test checks that the new one serves on the very
same kernel socket (its inode in /proc/net/tcp), that the old one leaves (SIGUSR1: exit 0)
and that no client is refused meanwhile. Also: the stats socket answers `show info`, and
`_getsocks` without `expose-fd listeners` is refused.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import psutil

from tests.e2e.tcp_tools import ask, echo_servers, tcp_config, wait_listening
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_py_command, run_cli, write_cfg


def listening_inode(port: int) -> str:
    with open("/proc/net/tcp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                return fields[9]
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def start(path: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*haproxy_py_command(), "-db", *flags, "-f", str(path)],
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stats_config(port: int, servers, admin: Path, expose: bool) -> str:
    option = " expose-fd listeners" if expose else ""
    return f"global\n    stats socket {admin} level admin{option}\n" + tcp_config(port, servers)


def test_x_and_sf_hand_the_listeners_over_without_refusing_anyone(tmp_path: Path) -> None:
    port = free_port()
    admin = tmp_path / "admin.sock"
    with echo_servers(b"OLD:") as old_servers, echo_servers(b"NEW:") as new_servers:
        old_cfg = write_cfg(tmp_path, stats_config(port, old_servers, admin, True), "old.cfg")
        new_cfg = write_cfg(tmp_path, stats_config(port, new_servers, admin, True), "new.cfg")
        old = start(old_cfg)
        try:
            wait_listening(port, old)
            inode = listening_inode(port)
            failures: list[BaseException] = []
            done = threading.Event()

            def hammer() -> None:
                while not done.is_set():
                    try:
                        assert ask(port, b"x") in (b"OLD:x", b"NEW:x")
                    except BaseException as exc:
                        failures.append(exc)

            client = threading.Thread(target=hammer)
            client.start()
            new = start(new_cfg, "-x", str(admin), "-sf", str(old.pid))
            try:
                assert old.wait(timeout=20) == 0  # SIGUSR1: finished and left
                assert ask(port, b"y") == b"NEW:y"
                assert listening_inode(port) == inode  # the very same kernel socket
            finally:
                done.set()
                client.join()
                new.send_signal(signal.SIGTERM)
                _, new_err = new.communicate(timeout=15)
            assert not failures, failures[:3]
            assert TRACEBACK not in new_err
        finally:
            if old.poll() is None:
                old.kill()
            _, old_err = old.communicate(timeout=15)
    assert "Proxy app stopped" in old_err


def test_the_stats_socket_answers_and_guards_getsocks(tmp_path: Path) -> None:
    port = free_port()
    admin = tmp_path / "oper.sock"
    with echo_servers(b"") as servers:
        path = write_cfg(tmp_path, stats_config(port, servers, admin, False))
        process = start(path)
        try:
            wait_listening(port, process)
            info = run_socat(admin, "show info\n")
            assert f"Pid: {process.pid}\n" in info and info.endswith("\n\n")
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(5)
                client.connect(str(admin))
                client.sendall(b"_getsocks\n")
                assert client.recv(16) == b""  # closed without a word
            result = run_cli("-db", "-x", str(admin), "-f", str(path))
            assert result.returncode == 1
            assert "Failed to get the sockets from the old process!" in result.stderr
            assert psutil.pid_exists(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=15)


def run_socat(path: Path, text: str) -> str:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(text.encode())
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()
