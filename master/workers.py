"""The master's worker processes: spawning one, watching it, and naming how it ended.

A worker is a fresh interpreter (`python -m worker`) started by fork+exec with exactly one
inherited descriptor, its end of the ipc socketpair (haproxy_py/process/channel.py); the
start message and the listening sockets then travel over that channel (SCM_RIGHTS). Rules:
- the fork+exec is one os.posix_spawn() (no Python runs in the child, so nothing of trio's
  state is duplicated), and it starts the child with the stop signals blocked: the worker
  unblocks them once its receiver exists, so an early signal waits instead of killing a
  half-started interpreter. No bare os.fork() ever runs inside trio;
- a worker is known by its pid only (so the table survives the master's re-exec): the master
  waits for its end on a pidfd (readable when the child exits) and reaps it with waitpid; no
  SIGCHLD handler, no thread per child, no subprocess bookkeeping that could reap it first;
- every descriptor the master opens for a worker is closed on every path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
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

    pid: int
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

    def kill(self, signum: int) -> None:
        """Signal the worker unless it is already reaped (its pid may belong to another)."""
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def spawn_worker(
    environment: Mapping[str, str], *, generation: int, relative: int
) -> WorkerProcess:
    """Start one worker with its channel; the caller sends it the start message."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(environment)
    env[CHANNEL_ENV] = str(theirs.fileno())
    env["HAPROXY_MWORKER"] = "1"
    try:
        theirs.set_inheritable(True)  # the one descriptor the child inherits
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "worker"],
            env,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            setsigmask=HANDED_OVER_SIGNALS,
            setsigdef=HANDED_OVER_SIGNALS,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return adopt_worker(pid, ours, generation=generation, relative=relative)


def adopt_worker(
    pid: int,
    sock: socket.socket,
    *,
    generation: int,
    relative: int,
    started_at: float | None = None,
    exit_code: int | None = None,
) -> WorkerProcess:
    """A worker record for child `pid` (just spawned, or carried across a re-exec). With
    `exit_code`, a worker the previous image already reaped: no pidfd (-1), already exited."""
    pidfd = -1
    if exit_code is None:
        try:
            pidfd = os.pidfd_open(pid)
        except BaseException:
            sock.close()
            raise
    worker = WorkerProcess(
        pid,
        Channel(sock, "master"),
        pidfd,
        generation,
        relative,
        started_at=time.time() if started_at is None else started_at,
        exit_code=exit_code,
    )
    if exit_code is not None:
        worker.exited.set()
        worker.settled.set()
    return worker


async def wait_for_exit(worker: WorkerProcess) -> int:
    """Wait until the worker ends and reap it; the code. The channel stays open: whoever
    reads it closes it once the reader has seen its end (closing an fd under a waiting task
    would leave that task waiting on nothing)."""
    try:
        await trio.lowlevel.wait_readable(worker.pidfd)
        _, status = os.waitpid(worker.pid, 0)
    except BaseException:
        # Cancelled while it still runs (the master is going down hard): do not leave it.
        with contextlib.suppress(OSError):
            os.kill(worker.pid, signal.SIGKILL)
            os.waitpid(worker.pid, 0)
        raise
    finally:
        os.close(worker.pidfd)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code  # -N means "killed by signal N"
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
