"""The master's worker processes: spawning one, watching it, and naming how it ended.

A worker is a fresh interpreter (`python -m worker`) started by fork+exec with exactly one
inherited descriptor, its end of the ipc socketpair (haproxy_py/process/channel.py); the
start message and the listening sockets then travel over that channel (SCM_RIGHTS). Rules:
- the fork+exec happens synchronously in the master's own thread (subprocess.Popen, no
  preexec function), with the stop signals blocked so the child starts with them blocked
  too: the worker unblocks them once its receiver exists, so an early signal waits instead of
  killing a half-started interpreter. No bare os.fork() ever runs inside trio;
- the master waits for a worker's end on a pidfd (readable when the child exits) and reaps it
  with waitpid: no SIGCHLD handler, no thread per child;
- every descriptor the master opens for a worker is closed on every path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import trio

from haproxy_py.process.channel import Channel
from haproxy_py.process.handoff import CHANNEL_ENV, HANDED_OVER_SIGNALS

# Exit codes that mean "stopped as asked" (HAProxy's exit-on-failure spares them):
# a normal exit, and death by SIGINT or SIGTERM.
ORDERLY_EXITS = frozenset({0, 128 + signal.SIGINT, 128 + signal.SIGTERM})


@dataclass(eq=False)
class WorkerProcess:
    """One worker as the master sees it; `relative` is its @N number in its generation."""

    popen: subprocess.Popen[bytes]
    channel: Channel
    pidfd: int
    generation: int
    relative: int
    started_at: float  # wall clock, for `show proc` uptimes
    reloads: int = 0  # reloads survived (HAProxy's `show proc` counter)
    old: bool = False  # a previous generation's, leaving
    ready: trio.Event = field(default_factory=trio.Event)  # it said READY
    exited: trio.Event = field(default_factory=trio.Event)  # it was reaped
    settled: trio.Event = field(default_factory=trio.Event)  # either of the two
    exit_code: int | None = None  # HAProxy's form: the exit status, or 128 + signal

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self, signum: int) -> None:
        """Signal the worker unless it is already reaped (its pid may belong to another)."""
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def spawn_worker(
    environment: Mapping[str, str], *, generation: int, relative: int
) -> WorkerProcess:
    """Fork+exec one worker with its channel; the caller sends it the start message."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(environment)
    env[CHANNEL_ENV] = str(theirs.fileno())
    env["HAPROXY_MWORKER"] = "1"
    try:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDED_OVER_SIGNALS)
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    try:
        pidfd = os.pidfd_open(popen.pid)
    except BaseException:
        ours.close()
        popen.kill()
        popen.wait()
        raise
    return WorkerProcess(
        popen, Channel(ours, "master"), pidfd, generation, relative, started_at=time.time()
    )


async def wait_for_exit(worker: WorkerProcess) -> int:
    """Wait until the worker ends and reap it; the code. The channel stays open: whoever
    reads it closes it once the reader has seen its end (closing an fd under a waiting task
    would leave that task waiting on nothing)."""
    try:
        await trio.lowlevel.wait_readable(worker.pidfd)
        status = worker.popen.wait()
    finally:
        if worker.exit_code is None and worker.popen.returncode is None:
            # Cancelled while it still runs (the master is going down hard): do not leave it.
            worker.popen.kill()
            worker.popen.wait()
        os.close(worker.pidfd)
    code = 128 - status if status < 0 else status  # Popen says -N for "killed by signal N"
    worker.exit_code = code
    worker.exited.set()
    worker.settled.set()
    return code


def describe_exit(code: int) -> str:
    """HAProxy's words after the code: `(Exit)`, or the signal's name (`(Terminated)`)."""
    if code > 128:
        try:
            return signal.strsignal(code - 128) or "Exit"
        except ValueError:
            return "Exit"
    return "Exit"
