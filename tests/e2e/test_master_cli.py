"""The master CLI of the real `haproxy-py -W -S SOCKET`: socat and raw sockets.

Commands are sent the way operators do (`echo CMD | socat stdio SOCKET`, or `socat -t N`
when the answer takes time, such as `reload`) and with Python sockets for what socat cannot
do (garbage, huge lines, a client that never reads).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.mworker_tools import master, two_workers
from tests.e2e.tcp_tools import ask, echo_servers, wait_listening
from tests.helpers import (
    TRACEBACK,
    base_env,
    free_port,
    haproxy_py_command,
    run_cli,
    write_cfg,
)

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")


def socat(path: Path, text: str, wait: float = 2) -> str:
    result = subprocess.run(
        ["socat", "-t", str(wait), "stdio", f"unix-connect:{path}"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def raw(path: Path, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes, half-close, read everything until the master closes."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        try:
            client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except BrokenPipeError:
            pass  # the master closed first (a line too long): what it said is still readable
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def running(tmp_path: Path):
    port = free_port()
    sock = tmp_path / "master.sock"
    with (
        echo_servers(b"A:") as servers,
        master(tmp_path, two_workers(port, servers), "-S", f"{sock},mode,600") as m,
    ):
        m.wait_ready()
        m.sock, m.port = sock, port  # type: ignore[attr-defined]
        yield m


@needs_socat
def test_show_proc_lists_the_master_and_its_workers(running) -> None:
    assert oct(os.stat(running.sock).st_mode & 0o777) == "0o600"
    lines = socat(running.sock, "show proc\n").splitlines()
    assert lines[0].split()[:5] == ["#<PID>", "<type>", "<reloads>", "<uptime>", "<version>"]
    assert lines[0].split()[5:] == ["<cpu%>", "<rss-KiB>", "<conns>"]
    master_row = lines[1].split()
    assert master_row[:5] == [str(running.pid), "master", "0", "[failed:", "0]"]
    assert lines[2] == "# workers"
    rows = [line.split() for line in lines[3:5]]
    assert sorted(int(row[0]) for row in rows) == running.workers()
    for row in rows:
        assert row[1] == "worker" and row[2] == "0"
        float(row[5]), int(row[6]), int(row[7])  # cpu %, RSS KiB, connections
        assert int(row[6]) > 1000
    assert lines[5] == "# programs"


@needs_socat
def test_commands_are_routed_to_workers(running) -> None:
    first, second = running.workers()
    answer = socat(running.sock, f"@!{first} show info; @!{second} show info\n")
    assert f"Pid: {first}\n" in answer and f"Pid: {second}\n" in answer
    relative = socat(running.sock, "@1 show info\n")
    assert "Name: HAProxy\n" in relative and "Stopping: 0\n" in relative
    assert "Unknown command" in socat(running.sock, "@2 show bogus\n")
    assert socat(running.sock, "show version\n").startswith("2.6.12-haproxy-py-")


def test_an_unknown_target_closes_the_connection(running) -> None:
    answer = raw(running.sock, b"@9 show info\nshow version\n")
    assert answer == b"Can't find the target PID matching the prefix '@9'\n"


def test_interactive_prompt_follows_the_target(running) -> None:
    first = min(running.workers())
    answer = raw(running.sock, b"prompt\n@!%d\nshow info\n@master\nquit\n" % first)
    text = answer.decode()
    assert text.startswith("master> ")
    assert f"{first}> Name: HAProxy" in text
    assert text.endswith("master> ")


@needs_socat
def test_reload_from_the_cli_answers_its_outcome(running) -> None:
    before = running.workers()
    answer = socat(running.sock, "reload\n", wait=30)
    assert answer.startswith("Success=1\n--\n")
    assert "Loading success." in answer
    running.wait_for(lambda: running.count("Former worker") == 2)
    assert not set(running.workers()) & set(before)
    assert ask(running.port, b"x") == b"A:x"
    running.path.write_text("frontend broken\n    bind :notaport\n")
    answer = socat(running.sock, "reload\n", wait=30)
    assert answer.startswith("Success=0\n--\n")
    assert "Loading failure!" in answer
    assert raw(running.sock, b"prompt\nquit\n") == b"master[ReloadFailed]> "
    assert "startup-logs" not in socat(running.sock, "help\n")
    assert "Loading failure!" in socat(running.sock, "show startup-logs\n")
    assert ask(running.port, b"y") == b"A:y"  # the old generation serves on


def test_garbage_and_huge_lines_do_not_hurt_the_master(running) -> None:
    answer = raw(running.sock, b"\x00\xff\xfe garbage \x01\n")
    assert b"Unknown command" in answer
    answer = raw(running.sock, b"x" * (1 << 20) + b"\n")
    assert b"Line too long" in answer
    with socket.socket(socket.AF_UNIX) as idle:  # connects, never sends, never reads
        idle.connect(str(running.sock))
        with socket.socket(socket.AF_UNIX) as flood:  # asks a lot, never reads
            flood.connect(str(running.sock))
            flood.setblocking(False)
            try:
                for _ in range(2000):
                    flood.send(b"help\n")
            except BlockingIOError:
                pass
            assert b"2.6.12" in raw(running.sock, b"show version\n")
    assert running.process.poll() is None


def test_a_stopped_worker_gives_a_clear_error_not_a_hang(running) -> None:
    victim = min(running.workers())
    os.kill(victim, signal.SIGSTOP)
    try:
        began = time.monotonic()
        answer = raw(running.sock, b"@!%d show info\n" % victim, timeout=30)
        assert answer == f"The worker {victim} did not answer within 10 s.\n\n".encode()
        assert time.monotonic() - began < 15
    finally:
        os.kill(victim, signal.SIGCONT)


def test_a_storm_of_usr2_coalesces(running) -> None:
    for _ in range(10):
        running.process.send_signal(signal.SIGUSR2)
        time.sleep(0.01)
    running.wait_for(lambda: running.count("Loading success.") >= 2)
    time.sleep(2)
    reloads = running.count("Reloading HAProxy")
    assert 1 <= reloads <= 3
    running.wait_for(lambda: len(running.workers()) == 2, timeout=30)
    assert ask(running.port, b"s") == b"A:s"
    assert TRACEBACK not in running.text()


def test_bad_master_cli_arguments_are_config_errors(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"") as servers:
        path = write_cfg(tmp_path, two_workers(port, servers))
        result = run_cli("-W", "-S", "127.0.0.1:1,level,bogus", "-f", str(path))
        assert result.returncode == 1
        assert (
            "config : '127.0.0.1:1 level' : ''level' only supports 'user', 'operator', and "
            "'admin' (got 'bogus')'" in result.stderr
        )
        assert "config : Can't create the master's CLI." in result.stderr
        result = run_cli("-W", "-S", f"{tmp_path}/m.sock,frob,1", "-f", str(path))
        assert f"config : '{tmp_path}/m.sock frob' : unknown keyword 'frob'." in result.stderr
        result = run_cli("-W", "-S", "/nonexistent/dir/m.sock", "-f", str(path))
        assert result.returncode == 1
        assert "Binding [master-socket:0] for proxy MASTER" in result.stderr
        assert TRACEBACK not in result.stderr


def test_a_master_cli_without_master_worker_mode_is_a_warning(tmp_path: Path) -> None:
    port = free_port()
    with echo_servers(b"W:") as servers:
        path = write_cfg(tmp_path, two_workers(port, servers))
        process = subprocess.Popen(
            [*haproxy_py_command(), "-db", "-S", str(tmp_path / "m.sock"), "-f", str(path)],
            env=base_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_listening(port, process)
            assert ask(port, b"x") == b"W:x"
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=15)
    assert "a master CLI socket was defined, but master-worker mode (-W) is not enabled." in err
    assert not (tmp_path / "m.sock").exists()
