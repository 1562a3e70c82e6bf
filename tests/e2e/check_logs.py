"""A proxy run with `-db` for the health-check tests that read its check log lines: the
installed haproxy or haproxy-py, its stderr in a file, waited on until a line shows, stopped
in a `finally`, and its lines with what differs from run to run (pids, check durations, the
count of active sessions) masked, so that two runs compare line for line.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.tcp_tools import wait_listening
from tests.helpers import TRACEBACK, base_env


class LoggedProxy:
    """`command -db -f config`, its stderr written to `errors`."""

    def __init__(self, command: Sequence[str], config: Path, errors: Path) -> None:
        self.errors = errors
        with errors.open("w") as stream:
            self.process = subprocess.Popen(
                [*command, "-db", "-f", str(config)],
                env=base_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stream,
            )

    def text(self) -> str:
        return self.errors.read_text()

    def wait_listening(self, port: int) -> None:
        wait_listening(port, self.process)  # type: ignore[arg-type]

    def wait_logged(
        self,
        wanted: str | Callable[[str], bool],
        timeout: float = 10.0,
        between: Callable[[], object] | None = None,
    ) -> str:
        """The log once `wanted` is in it (a text, or a test on the whole log); `between`
        runs after each miss (default: a 50 ms pause)."""
        test = wanted if callable(wanted) else lambda text: wanted in text
        deadline = time.monotonic() + timeout
        while not test(text := self.text()):
            assert time.monotonic() < deadline, f"{wanted!r} not logged:\n{text}"
            assert self.process.poll() is None, f"exited early:\n{text}"
            if between is None:
                time.sleep(0.05)
            else:
                between()
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        assert TRACEBACK not in self.text()


@contextmanager
def logged_proxy(command: Sequence[str], config: Path, errors: Path) -> Iterator[LoggedProxy]:
    proxy = LoggedProxy(command, config, errors)
    try:
        yield proxy
    finally:
        proxy.stop()


def masked(text: str, *, sessions: bool = False) -> list[str]:
    """The lines of `text`, pids as (PID) and check durations as Nms; with `sessions`, the
    count of active sessions as N too (a response under way may or may not count)."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"\(\d+\)", "(PID)", line)
        line = re.sub(r"duration: \d+ms", "duration: Nms", line)
        if sessions:
            line = re.sub(r"\d+ sessions active", "N sessions active", line)
        lines.append(line)
    return lines
