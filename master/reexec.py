"""The master's re-exec on reload: same pid, a fresh program image, the state carried over.

On USR2, HUP or the master CLI's `reload`, the master replaces its program image with a new
`python -m master ARGS...` (so an upgraded haproxy-py takes effect, and systemd's MAINPID
stays valid) and hands the new image what it must not lose, in a memory file named by
STATE_ENV: the last good configuration, the listening sockets and master-CLI sockets (the
very same kernel sockets: their accept queues carry over), every worker still running (pid,
ipc channel, generation, @N number, counters), the listeners waiting for old workers to
leave, the stats tables of the generations still running (their memfds: the new image maps
them again, so counters and server states go on), the `program` processes (by pid: they
stay our children), and the master-CLI connection that asked for the reload (answered by the
new image).
The new image then reloads: it reads the configuration, and either starts the new
generation or keeps the old one serving.

Rules: the carried descriptors are made inheritable only for the exec and close-on-exec
again as soon as the new image adopts them (house rule 7); the master's signals stay
blocked across the exec and are unblocked once the new image's receiver exists, so a USR2
that arrives meanwhile waits (and a storm of them coalesces) instead of killing the master.
The state is pickled: it is written by this very process for itself, never by a worker.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from haproxy_py.config.model import Config
from haproxy_py.process.handoff import memory_file
from haproxy_py.process.listeners import Listener, ListenerSpec
from haproxy_py.proto.cli_help import Level
from master.programs import ProgramSpec, adopt_program
from master.workers import adopt_worker

if TYPE_CHECKING:
    from master.supervisor import Master

STATE_ENV = "HAPROXY_PY_MASTER_STATE"
MASTER_SIGNALS = frozenset(
    {signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1,
     signal.SIGTTOU, signal.SIGTTIN}
)  # fmt: skip


@dataclass(frozen=True)
class CarriedWorker:
    pid: int
    channel_fd: int
    generation: int
    relative: int
    started_at: float
    reloads: int
    old: bool
    # Reaped by the old image while its channel was still being read: its end is not yet
    # reported, and its pid may already belong to another process (no pidfd is opened).
    exit_code: int | None = None


@dataclass(frozen=True)
class CarriedProgram:
    spec: ProgramSpec
    pid: int  # still our child: the new image opens a pidfd on it again
    started_at: float
    reloads: int
    old: bool


@dataclass(frozen=True)
class CarriedState:
    config: Config
    listeners: tuple[tuple[ListenerSpec, int], ...]
    mcli: tuple[tuple[ListenerSpec, int, int], ...]  # spec, level, fd
    workers: tuple[CarriedWorker, ...]
    retired: tuple[tuple[tuple[tuple[ListenerSpec, int], ...], tuple[int, ...]], ...]
    requesters: tuple[int, ...]  # master-CLI connections waiting for this reload's outcome
    generation: int
    reloads: int
    failed_reloads: int
    started_at: float
    tables: tuple[tuple[int, int], ...] = ()  # (generation, stats table memfd)
    serving: int = 0  # the generation serving (whose table takes admin changes)
    programs: tuple[CarriedProgram, ...] = ()  # `program` sections' processes still running


class ReexecError(Exception):
    """The exec failed (the caller reloads in place instead)."""


def exec_master(
    state: CarriedState, program: str, argv: list[str], environ: Mapping[str, str]
) -> None:
    """Replace this process with a new master image carrying `state`; returns only by
    raising ReexecError, with everything as it was. `program` is what the command was
    started as (the `haproxy-py` script, so that `ps` and pkill see the same command line);
    a `python -m master` start re-executes the same way."""
    fds = _carried_fds(state)
    # Inherited by the new image (not close-on-exec), like the descriptors it names.
    memfd = memory_file("haproxy-py-master-state", state, cloexec=False)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS)
    try:
        for fd in fds:
            os.set_inheritable(fd, True)
        env = dict(environ)
        env[STATE_ENV] = str(memfd)
        sys.stdout.flush()
        sys.stderr.flush()
        if program.endswith(".py") or not os.access(program, os.X_OK):
            os.execve(sys.executable, [sys.executable, "-m", "master", *argv], env)
        os.execve(program, [program, *argv], env)
    except OSError as exc:
        for fd in fds:
            os.set_inheritable(fd, False)
        raise ReexecError(f"cannot re-execute the master ({sys.executable}): {exc}") from None
    finally:  # only reached when the exec failed
        os.close(memfd)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)


def _carried_fds(state: CarriedState) -> list[int]:
    fds = [fd for _, fd in state.listeners]
    fds += [fd for _, _, fd in state.mcli]
    fds += [worker.channel_fd for worker in state.workers]
    fds += [fd for listeners, _ in state.retired for _, fd in listeners]
    fds += list(state.requesters)
    fds += [fd for _, fd in state.tables]
    return fds


def read_state(environ: dict[str, str]) -> CarriedState | None:
    """In the new image: the carried state, or None for a first start. Every carried
    descriptor is close-on-exec again on return."""
    text = environ.pop(STATE_ENV, "")
    if not text.isdigit():
        return None
    with os.fdopen(int(text), "rb") as handle:
        state = pickle.load(handle)
    if not isinstance(state, CarriedState):
        raise ReexecError("the carried master state is not a CarriedState")
    for fd in _carried_fds(state):
        os.set_inheritable(fd, False)
    return state


def listeners_of(pairs: tuple[tuple[ListenerSpec, int], ...]) -> list[Listener]:
    return [Listener(spec, socket.socket(fileno=fd)) for spec, fd in pairs]


def carry_listeners(listeners: list[Listener]) -> tuple[tuple[ListenerSpec, int], ...]:
    return tuple((listener.spec, listener.sock.fileno()) for listener in listeners)


def carry_master(master: Master, requesters: tuple[int, ...]) -> CarriedState:
    """What the next image needs of a running master."""
    return CarriedState(
        config=master.config,
        listeners=carry_listeners(master.listeners),
        mcli=tuple((bound.spec, int(level), bound.sock.fileno()) for bound, level in master.mcli),
        workers=tuple(
            CarriedWorker(
                w.pid,
                w.channel.fileno(),
                w.generation,
                w.relative,
                w.started_at,
                w.reloads,
                w.old,
                w.exit_code,
            )
            for w in master.workers
        ),
        retired=tuple(
            (carry_listeners(listeners), tuple(w.pid for w in users))
            for listeners, users in master.retired
        ),
        requesters=requesters,
        generation=master.generation,
        reloads=master.reloads,
        failed_reloads=master.failed_reloads,
        started_at=master.started_at,
        tables=tuple((generation, table.fd) for generation, table in master.tables.items()),
        serving=master.serving,
        programs=tuple(
            CarriedProgram(p.spec, p.pid, p.started_at, p.reloads, p.old)
            for p in master.programs
            if p.exit_code is None
        ),
    )


def adopt_carried(state: CarriedState) -> dict[str, Any]:
    """The Master fields rebuilt from a carried state (workers are READY: they served)."""
    workers = []
    for carried in state.workers:
        worker = adopt_worker(
            carried.pid,
            socket.socket(fileno=carried.channel_fd),
            generation=carried.generation,
            relative=carried.relative,
            started_at=carried.started_at,
            exit_code=carried.exit_code,
        )
        worker.reloads, worker.old = carried.reloads, carried.old
        worker.ready.set()
        worker.settled.set()
        workers.append(worker)
    by_pid = {worker.pid: worker for worker in workers}
    programs = []
    for carried_program in state.programs:
        program = adopt_program(
            carried_program.spec, carried_program.pid, carried_program.started_at
        )
        program.reloads, program.old = carried_program.reloads, carried_program.old
        programs.append(program)
    return {
        "listeners": listeners_of(state.listeners),
        "mcli": [
            (Listener(spec, socket.socket(fileno=fd)), Level(level))
            for spec, level, fd in state.mcli
        ],
        "workers": workers,
        "retired": [
            (listeners_of(listeners), [by_pid[pid] for pid in pids if pid in by_pid])
            for listeners, pids in state.retired
        ],
        "generation": state.generation,
        "reloads": state.reloads,
        "failed_reloads": state.failed_reloads,
        "started_at": state.started_at,
        "tables": dict(state.tables),  # mapped by Master.adopt_tables
        "serving": state.serving,
        "programs": programs,
    }


def unblock_master_signals() -> None:
    """Once the new image's signal receiver exists: what arrived during the exec is handled."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, MASTER_SIGNALS)
