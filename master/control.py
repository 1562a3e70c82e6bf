"""What the master CLI asks of the master: master commands, routing, and the startup log.

`MasterControl` implements master/mcli.py's `Commands` for a running Master: `@N`/`@!PID`
resolution over the live process table, `show proc` (HAProxy's five columns, plus CPU %,
RSS and connection count from psutil, which HAProxy does not show), `show version`,
`show startup-logs` (what the master printed during its last start or reload), `reload`
(the same path as SIGUSR2, answered with its outcome: `Success=1` or `Success=0`, then `--`
and the messages of that reload), and a fresh runtime-API session on a worker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import TYPE_CHECKING, TextIO

import psutil

from haproxy_py.proto.ipc import CliSession
from haproxy_py.proto.mcli import MasterCommand, PidTarget, RelativeTarget
from haproxy_py.proto.show_proc import ProcessRow, format_show_proc, resolve_target
from haproxy_py.version import VERSION

if TYPE_CHECKING:
    from master.supervisor import Master


class StartupLog:
    """A stderr that remembers what was written since the last start or reload began."""

    def __init__(self, stream: TextIO, limit: int = 1000) -> None:
        self.stream = stream
        self.limit = limit
        self.lines: list[str] = []

    def begin(self) -> None:
        self.lines = []

    def write(self, text: str) -> int:
        if len(self.lines) < self.limit:
            self.lines.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def text(self) -> str:
        return "".join(self.lines)


class MasterControl:
    def __init__(self, master: Master, log: StartupLog) -> None:
        self.master = master
        self.log = log
        self._measured: dict[int, psutil.Process] = {}

    def resolve(self, target: RelativeTarget | PidTarget) -> int | None:
        return resolve_target(target, self.rows(measure=False))

    def report_failure(self, text: str) -> None:
        self.master.reporter.alert(text)

    def reload_failed(self) -> bool:
        return self.master.failed_reloads > 0

    async def master_command(self, command: MasterCommand, client: int | None = None) -> str:
        if command.name == "reload":
            # `client` (the asking connection) gets its answer from the re-executed image.
            succeeded = await self.master.handle_reload(requester=client)
            return f"Success={int(succeeded)}\n--\n{self.log.text()}".rstrip("\n")
        if command.name == "show proc":
            return format_show_proc(self.rows(), now=time.time(), extra=True).rstrip("\n")
        if command.name == "show version":
            return VERSION
        if command.name == "show startup-logs":
            return self.log.text().rstrip("\n")
        return f"Unknown command '{command.name}'."

    async def open_worker_session(self, pid: int) -> socket.socket | None:
        """A socketpair whose other end now belongs to worker `pid`'s runtime API."""
        worker = next((w for w in self.master.workers if w.pid == pid), None)
        if worker is None:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sent = await worker.channel.send(CliSession(), [theirs.fileno()])
        finally:
            theirs.close()
        if not sent:
            ours.close()
            return None
        return ours

    def rows(self, *, measure: bool = True) -> list[ProcessRow]:
        master = self.master
        rows = [
            ProcessRow(
                os.getpid(),
                "master",
                master.started_at,
                VERSION,
                reloads=master.reloads,
                failed_reloads=master.failed_reloads,
                **(self._measure(os.getpid()) if measure else {}),
            )
        ]
        for worker in master.workers:
            rows.append(
                ProcessRow(
                    worker.pid,
                    "worker",
                    worker.started_at,
                    VERSION,
                    reloads=worker.reloads,
                    relative=None if worker.old else worker.relative,
                    old=worker.old,
                    **(self._measure(worker.pid) if measure else {}),
                )
            )
        for program in master.programs:
            rows.append(
                ProcessRow(
                    program.pid,
                    "program",
                    program.started_at,
                    "-",
                    reloads=program.reloads,
                    old=program.old,
                    name=program.spec.name,
                    **(self._measure(program.pid) if measure else {}),
                )
            )
        return rows

    def _measure(self, pid: int) -> dict[str, object]:
        """CPU % since the previous `show proc` (psutil keeps the last sample per Process),
        RSS, and established TCP connections."""
        try:
            process = self._measured.get(pid) or psutil.Process(pid)
            self._measured[pid] = process
            with process.oneshot():
                cpu = process.cpu_percent(interval=None)
                rss = process.memory_info().rss
            connections = sum(
                1 for conn in process.net_connections("tcp") if conn.status == "ESTABLISHED"
            )
        except (psutil.Error, OSError):
            self._measured.pop(pid, None)
            return {}
        with contextlib.suppress(KeyError):
            for gone in [p for p in self._measured if p != pid and not psutil.pid_exists(p)]:
                del self._measured[gone]
        return {"cpu_percent": cpu, "rss_bytes": rss, "connections": connections}
