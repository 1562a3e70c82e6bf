"""`program` sections on the real `haproxy-py -W -S`: started, listed, reloaded, stopped.

Checked against HAProxy 2.6's behaviour (lines in its words, `show proc`'s `# programs`
rows, the refusal without master-worker mode); where HAProxy 2.6 differs (it also stops a
`no option start-on-reload` program on reload), haproxy-py follows the documented intent.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.mworker_tools import master
from tests.helpers import TRACEBACK, free_port, haproxy_command, run_cli, write_cfg

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")


def _config(port: int, programs: str, extra_global: str = "") -> str:
    return f"""global
    nbthread 1
{extra_global}defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
{programs}"""


PROGRAMS = """program restarted
    command sleep 1000
program kept
    command sleep 1001
    no option start-on-reload
"""


def _show_proc(sock: Path) -> str:
    return subprocess.run(
        ["socat", "-t", "2", "stdio", f"unix-connect:{sock}"],
        input="show proc\n",
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout


def _program_rows(text: str) -> dict[str, tuple[int, int]]:
    """name -> (pid, reloads) under `# programs`."""
    rows: dict[str, tuple[int, int]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line
            continue
        fields = line.split()
        if section == "# programs" and fields:
            rows[fields[1]] = (int(fields[0]), int(fields[2]))
    return rows


def _pid_of(m, name: str, generation: int = 1) -> int:
    """The pid from the `generation`-th "New program 'NAME' (PID) forked" line."""
    lines = [line for line in m.lines if f"New program '{name}' (" in line]
    return int(lines[generation - 1].split("(")[2].split(")")[0])


@needs_socat
def test_programs_start_reload_and_stop_with_the_master(tmp_path: Path) -> None:
    sock = tmp_path / "master.sock"
    port = free_port()
    with master(tmp_path, _config(port, PROGRAMS), "-S", str(sock)) as m:
        m.wait_ready()
        restarted, kept = _pid_of(m, "restarted"), _pid_of(m, "kept")
        first_worker = next(line for line in m.lines if "New worker (" in line)
        assert m.lines.index(first_worker) > m.lines.index(
            next(line for line in m.lines if f"({kept}) forked" in line)
        )  # programs before workers, as HAProxy
        assert psutil.Process(restarted).cmdline() == ["sleep", "1000"]
        assert psutil.Process(kept).ppid() == m.pid
        rows = _program_rows(_show_proc(sock))
        assert rows == {"restarted": (restarted, 0), "kept": (kept, 0)}
        text = _show_proc(sock)
        assert f"{kept:<15} kept            0               0d00h00m0" in text
        assert "-  " in text.split("# programs")[1]  # no version for a program

        m.process.send_signal(signal.SIGUSR2)
        m.wait_ready(successes=2)
        m.wait_for(lambda: m.count("Former program 'restarted'") == 1)
        assert (
            f"Former program 'restarted' ({restarted}) exited with code 138"
            " (User defined signal 1)" in m.text()
        )
        again = _pid_of(m, "restarted", 2)
        assert again != restarted
        assert psutil.Process(kept).is_running()  # carried across the master's re-exec
        assert m.count("New program 'kept'") == 1
        assert _program_rows(_show_proc(sock)) == {"restarted": (again, 0), "kept": (kept, 1)}

        m.process.send_signal(signal.SIGTERM)
        assert m.finish() == 0
    for pid in (again, kept):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert f"Current program 'kept' ({kept}) exited with code 143 (Terminated)" in m.text()
    assert "All workers exited. Exiting... (0)" in m.text()


def test_a_failing_program_stops_everything_as_exit_on_failure(tmp_path: Path) -> None:
    programs = 'program quick\n    command sh -c "sleep 0.5; exit 3"\n'
    with master(tmp_path, _config(free_port(), programs)) as m:
        assert m.finish(timeout=30) == 3
    text = m.text()
    pid = _pid_of(m, "quick")
    assert f"Current program 'quick' ({pid}) exited with code 3 (Exit)" in text
    assert "exit-on-failure: killing every processes with SIGTERM" in text
    assert "All workers exited. Exiting... (3)" in text


def test_a_program_exiting_0_is_only_reported(tmp_path: Path) -> None:
    programs = "program done\n    command true\n"
    with master(tmp_path, _config(free_port(), programs)) as m:
        m.wait_for(lambda: m.count("Current program 'done'") == 1)
        m.wait_ready()
        assert "exit-on-failure" not in m.text()
        assert len(m.workers()) == 1
        assert TRACEBACK not in m.text()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs root")
def test_a_program_runs_as_its_user_and_group(tmp_path: Path) -> None:
    programs = "program low\n    command sleep 1002\n    user nobody\n    group nogroup\n"
    with master(tmp_path, _config(free_port(), programs)) as m:
        m.wait_ready()
        pid = _pid_of(m, "low")
        m.wait_for(lambda: psutil.Process(pid).cmdline() == ["sleep", "1002"])
        status = Path(f"/proc/{pid}/status").read_text()
        uid = next(line for line in status.splitlines() if line.startswith("Uid:"))
        gid = next(line for line in status.splitlines() if line.startswith("Gid:"))
        groups = next(line for line in status.splitlines() if line.startswith("Groups:"))
        assert uid.split()[1:] == [str(pwd.getpwnam("nobody").pw_uid)] * 4
        assert gid.split()[1:] == [str(grp.getgrnam("nogroup").gr_gid)] * 4
        assert groups.split()[1:] == []


def test_program_sections_need_master_worker_mode(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, _config(free_port(), PROGRAMS))
    ours = run_cli("-c", "-f", str(path))
    assert ours.returncode == 1
    wanted = "config : Can't use a 'program' section without master worker mode."
    assert wanted in ours.stderr
    assert run_cli("-c", "-W", "-f", str(path)).returncode == 0
    missing = write_cfg(tmp_path, "program a\n    user nobody\n", "missing.cfg")
    result = run_cli("-c", "-W", "-f", str(missing))
    assert "config : The program section 'a' lacks a command to launch." in result.stderr
    unknown = write_cfg(tmp_path, "program a\n    command true\n    user nosuch\n", "u.cfg")
    result = run_cli("-c", "-W", "-f", str(unknown))
    assert f"parsing [{unknown}:3] : cannot find user id for 'nosuch' (0:Success)" in result.stderr
    reference = haproxy_command()
    if reference is not None:  # the real HAProxy 2.6 says the same
        real = subprocess.run([*reference, "-c", "-f", str(path)], capture_output=True, text=True)
        assert real.returncode == 1 and wanted in real.stderr


def test_a_usr2_storm_leaves_one_of_each_program(tmp_path: Path) -> None:
    """10 reloads asked within 100 ms coalesce; no program (nor worker) is left behind."""
    with master(tmp_path, _config(free_port(), PROGRAMS)) as m:
        m.wait_ready()
        kept = _pid_of(m, "kept")
        for _ in range(10):
            m.process.send_signal(signal.SIGUSR2)
            time.sleep(0.01)
        m.wait_ready(successes=2)
        time.sleep(3)  # any reload still queued would have started by now
        reloads = m.count("Reloading HAProxy")
        assert 1 <= reloads <= 3
        m.wait_for(lambda: m.count("Loading success.") == reloads + 1, timeout=30)
        m.wait_for(lambda: m.count("Former program 'restarted'") == reloads, timeout=30)
        m.wait_for(lambda: len(m.workers()) == 3, timeout=30)  # 1 worker + 2 programs
        commands = sorted(psutil.Process(pid).cmdline()[-1] for pid in m.workers())
        assert commands == ["1000", "1001", "worker"]
        assert kept in m.workers()
        assert TRACEBACK not in m.text()
