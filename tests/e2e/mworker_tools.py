"""A running `haproxy-py -W` for end-to-end tests: its stderr collected, its workers found.

The master's stderr is read by a thread into `lines`, so tests can wait for HAProxy's
messages; the workers are the master's children (psutil).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.e2e.tcp_tools import EchoServer, tcp_config
from tests.helpers import TRACEBACK, base_env, haproxy_py_command, write_cfg


class Master:
    """A running `haproxy-py -W` with its stderr read in the background."""

    def __init__(self, tmp_path: Path, text: str, *flags: str, env: dict[str, str] | None = None):
        self.path = write_cfg(tmp_path, text)
        self.process = subprocess.Popen(
            [*haproxy_py_command(), "-W", *flags, "-f", str(self.path)],
            env=base_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; stderr so far:\n{self.text()}")

    def count(self, needle: str) -> int:
        return sum(needle in line for line in self.lines)

    def workers(self) -> list[int]:
        try:
            return sorted(child.pid for child in psutil.Process(self.pid).children())
        except psutil.NoSuchProcess:
            return []

    def wait_ready(self, successes: int = 1) -> None:
        self.wait_for(lambda: self.count("Loading success.") >= successes)

    def finish(self, timeout: float = 20) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert TRACEBACK not in self.text()
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.finish()


@contextmanager
def master(tmp_path: Path, text: str, *flags: str, env: dict[str, str] | None = None):
    running = Master(tmp_path, text, *flags, env=env)
    try:
        yield running
    finally:
        running.stop()


def two_workers(port: int, servers: list[EchoServer], extra_global: str = "") -> str:
    return f"global\n    nbthread 2\n{extra_global}" + tcp_config(port, servers)
