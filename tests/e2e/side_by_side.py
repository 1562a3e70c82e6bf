"""The installed HAProxy 2.6 and haproxy-py run side by side on one configuration, for the
differential tests of the runtime API.

Each side gets its own directory (its configuration file, stats socket, stderr and any file
the configuration reads), its own free port and the same relative configuration file name,
so that answers quoting `file:line` read the same on both. `both_running` starts the two and
stops them in its `finally` (a process that ignores SIGTERM is killed: none outlives the
test); `side_by_side` asks each the same list of commands and returns both answer lists for
the test to compare.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.e2e.cli_tools import SOCAT, ask_cli, ask_socat
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_command, haproxy_py_command

HAPROXY = haproxy_command()
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="HAProxy 2.6 is not installed")
CONFIG_NAME = "haproxy.cfg"  # the same on both sides: messages quoting it must match
T = TypeVar("T")


@dataclass(frozen=True)
class Side:
    """One of the two programs: `name` is "haproxy" or "haproxy-py"."""

    name: str
    directory: Path
    port: int  # free when chosen: for the configuration's `bind`
    sock: Path  # where the configuration is expected to put an admin-level stats socket

    @property
    def stderr(self) -> Path:
        return self.directory / "stderr.txt"


def ask_operator_client(path: Path, command: str) -> str:
    """socat when installed (the operators' client), else the Python client."""
    return ask_socat(path, command) if SOCAT is not None else ask_cli(path, command)


@contextmanager
def both_running(
    tmp_path: Path,
    config: Callable[[Side], str],
    *,
    haproxy_py_flags: Sequence[str] = ("-W",),
    sock_name: str = "stats.sock",
) -> Iterator[tuple[Side, Side]]:
    """(haproxy, haproxy-py), both serving `config(side)`: its stats socket (`sock_name` in
    its directory) answering. Skips when HAProxy is not installed."""
    if HAPROXY is None:
        pytest.skip("HAProxy 2.6 is not installed")
    programs = {
        "haproxy": [*HAPROXY, "-db"],
        "haproxy-py": [*haproxy_py_command(), *haproxy_py_flags],
    }
    sides = []
    with ExitStack() as stack:
        for name, command in programs.items():
            directory = tmp_path / name
            directory.mkdir()
            side = Side(name, directory, free_port(), directory / sock_name)
            (directory / CONFIG_NAME).write_text(config(side))
            process = _start(side, command)
            stack.callback(_stop, side, process)
            sides.append((side, process))
        for side, process in sides:
            _wait_serving(side, process)
        yield sides[0][0], sides[1][0]


def side_by_side(
    tmp_path: Path,
    config: Callable[[Side], str],
    commands: Sequence[str] | Callable[[Side], Sequence[str]],
    ask: Callable[[Path, str], T] = ask_operator_client,
    *,
    haproxy_py_flags: Sequence[str] = ("-W",),
) -> tuple[list[T], list[T]]:
    """The answers of haproxy and of haproxy-py to the same commands, in order, through
    `ask` on each side's stats socket. `commands` may depend on the side (paths in it)."""
    with both_running(tmp_path, config, haproxy_py_flags=haproxy_py_flags) as (theirs, ours):
        answers = []
        for side in (theirs, ours):
            lines = commands(side) if callable(commands) else commands
            answers.append([ask(side.sock, line) for line in lines])
    return answers[0], answers[1]


def stat_columns(answer: str, columns: Sequence[int]) -> list[str]:
    """The rows of a `show stat` answer (not its header), each cut to the fields at the
    positions `columns` and joined with commas: the part two programs must agree on."""
    rows = [row.split(",") for row in answer.splitlines()[1:] if row]
    return [",".join(row[i] for i in columns) for row in rows]


def _start(side: Side, command: list[str]) -> subprocess.Popen[bytes]:
    with side.stderr.open("w") as stream:
        return subprocess.Popen(
            [*command, "-f", CONFIG_NAME],
            cwd=side.directory,
            env=base_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stream,
            start_new_session=True,  # its own process group: the workers too can be killed
        )


def _wait_serving(side: Side, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Its stats socket answers a harmless command. Its listeners were bound before (by the
    master, with -W): the port is not probed, as a probe would leave a session to count and
    list."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"{side.name} exited early:\n{side.stderr.read_text()}")
        try:
            if side.sock.exists() and ask_cli(side.sock, "show cli level", timeout=2):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{side.name} is not serving:\n{side.stderr.read_text()}")


def _stop(side: Side, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
        raise AssertionError(f"{side.name} ignored SIGTERM:\n{side.stderr.read_text()}") from None
    assert TRACEBACK not in side.stderr.read_text(), side.stderr.read_text()
