"""What a worker is given to start: the frozen configuration and its listening sockets.

Without a master (`haproxy-py -d -f CFG`, `haproxy-py -f CFG`) the process binds its
listeners, writes a `WorkerStart` into an anonymous memory file, and replaces itself (same
pid) with `python -m worker`, which inherits exactly that file and the listening sockets and
nothing else. Under a master (-W) the worker is a child that inherits only its ipc channel,
and the master sends the same `WorkerStart` in a memory file, the generation's stats table
(haproxy_py/process/shm.py) and the listening sockets over that channel with SCM_RIGHTS
(send_start / receive_start). Either way `WorkerStart.table_fd` names the stats table's
descriptor in the worker (-1: none was given, the worker makes a private one) and
`WorkerStart.slot` its counter slot. Either way the worker checks
every descriptor it is given before using it (house rule 7): a socket, of stream type,
listening, on the address its spec names.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config
from haproxy_py.process.channel import Channel
from haproxy_py.process.listeners import Listener, ListenerSpec
from haproxy_py.proto.ipc import MAX_FDS, Listeners, Start

# The environment variable naming the memory file's descriptor in the exec'd worker.
HANDOFF_ENV = "HAPROXY_PY_HANDOFF_FD"
# The one a master's worker finds its ipc channel's descriptor in (its only inherited fd).
CHANNEL_ENV = "HAPROXY_PY_CHANNEL_FD"

# Signals blocked across the exec into the worker, unblocked once it can handle them.
HANDED_OVER_SIGNALS = frozenset(
    {signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGTTOU, signal.SIGTTIN}
)


class HandoffError(Exception):
    """The worker was started with a missing or inconsistent hand-off."""


@dataclass(frozen=True)
class WorkerStart:
    config: Config
    listeners: tuple[ListenerSpec, ...]  # listeners[i] is served on fds[i]
    fds: tuple[int, ...]
    # Command-line settings the data plane reads: "nosplice" (-dS), "maxconn" (-n),
    # "maxconn_per_proxy" (-N), "debug" (-d), "noreuseport" (-dR).
    settings: Mapping[str, Any] = field(default_factory=dict)
    table_fd: int = -1  # the stats table (a sealed memfd), or -1
    slot: int = 0  # this worker's counter slot in it


def write_handoff(
    config: Config,
    listeners: Sequence[Listener],
    settings: Mapping[str, Any],
    table_fd: int = -1,
) -> int:
    """Store the start message in a memory file; return its descriptor, inheritable.

    The listening sockets (and the stats table, slot 0) are made inheritable too: the
    caller execs the worker next.
    """
    start = WorkerStart(
        config,
        tuple(listener.spec for listener in listeners),
        tuple(listener.sock.fileno() for listener in listeners),
        dict(settings),
        table_fd=table_fd,
    )
    for listener in listeners:
        listener.sock.set_inheritable(True)
    if table_fd >= 0:
        os.set_inheritable(table_fd, True)
    return memory_file("haproxy-py-handoff", start, cloexec=False)  # the exec'd worker reads it


def memory_file(name: str, payload: object, *, cloexec: bool) -> int:
    """An anonymous memory file holding `payload` pickled, positioned at its start.

    Pickle is right here: the file is written by a process for itself (across an exec) or for
    the children it starts, never read from a less trusted process."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC if cloexec else 0)
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def send_start(
    channel: Channel,
    config: Config,
    listeners: Sequence[Listener],
    settings: Mapping[str, Any],
    table_fd: int,
    slot: int,
) -> bool:
    """The master's side: the start message (memory file) and the stats table, then the
    listening sockets, over the worker's ipc channel with SCM_RIGHTS. False if the worker is
    already gone.

    The socket buffer of a fresh socketpair holds all of it, so this does not block on a
    live worker; WorkerStart.fds holds positions (0..N-1) here, not descriptor numbers.
    """
    start = WorkerStart(
        config,
        tuple(listener.spec for listener in listeners),
        tuple(range(len(listeners))),
        dict(settings),
    )
    memfd = memory_file("haproxy-py-handoff", start, cloexec=True)
    try:
        if not channel.send_blocking(Start(listeners=len(listeners), slot=slot), [memfd, table_fd]):
            return False
    finally:
        os.close(memfd)  # the worker has its own copy now
    socks = [listener.sock.fileno() for listener in listeners]
    for first in range(0, len(socks), MAX_FDS):
        batch = socks[first : first + MAX_FDS]
        if not channel.send_blocking(Listeners(first=first, count=len(batch)), batch):
            return False
    return True


def receive_start(channel: Channel) -> tuple[WorkerStart, list[socket.socket]]:
    """The worker's side of send_start(): the start message and its checked sockets."""
    received = channel.receive_blocking()
    if received is None or not isinstance(received[0], Start):
        _close_fds(received[1] if received else [])
        raise HandoffError("the master did not send a start message first")
    message, (memfd, table_fd) = received
    try:
        start = _load(memfd)
    except BaseException:
        os.close(table_fd)
        raise
    start = dataclasses.replace(start, table_fd=table_fd, slot=message.slot)
    fds: list[int] = []
    try:
        while len(fds) < message.listeners:
            received = channel.receive_blocking()
            if received is None or not isinstance(received[0], Listeners):
                _close_fds(received[1] if received else [])
                raise HandoffError("the master closed the channel before every listener came")
            fds += received[1]
        if len(fds) != len(start.listeners):
            raise HandoffError(
                f"{len(fds)} listening sockets came for {len(start.listeners)} listeners"
            )
    except BaseException:
        _close_fds([*fds, table_fd])
        raise
    return start, _adopt_all(start, fds)


def _close_fds(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


def _load(fd: int) -> WorkerStart:
    try:
        with os.fdopen(fd, "rb") as handle:
            start = pickle.load(handle)  # written by our own parent into a private memfd
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise HandoffError(f"cannot read the start message from descriptor {fd}: {exc}") from None
    if not isinstance(start, WorkerStart) or len(start.listeners) != len(start.fds):
        raise HandoffError("the start message is not a valid WorkerStart")
    return start


def _adopt_all(start: WorkerStart, fds: Sequence[int]) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for index, (spec, listener_fd) in enumerate(zip(start.listeners, fds, strict=True)):
            try:
                sockets.append(_adopt(spec, listener_fd))
            except BaseException:
                _close_fds(fds[index:])
                raise
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def read_handoff(environ: Mapping[str, str]) -> tuple[WorkerStart, list[socket.socket]]:
    """In the exec'd worker: load the start message and adopt (and check) the sockets."""
    text = environ.get(HANDOFF_ENV, "")
    if not text.isdigit():
        raise HandoffError(
            f"{HANDOFF_ENV} is not set: the worker is started by haproxy-py, not by hand"
        )
    start = _load(int(text))
    sockets: list[socket.socket] = []
    try:
        for spec, listener_fd in zip(start.listeners, start.fds, strict=True):
            sockets.append(_adopt(spec, listener_fd))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return start, sockets


def _adopt(spec: ListenerSpec, fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise HandoffError(f"descriptor {fd} for {spec.describe()} is unusable: {exc}") from None
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM:
            raise HandoffError(f"descriptor {fd} for {spec.describe()} is not a stream socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise HandoffError(f"descriptor {fd} for {spec.describe()} is not listening")
        if spec.address.is_inet and sock.getsockname()[1] != spec.port:
            raise HandoffError(f"descriptor {fd} is not bound to {spec.describe()}")
        if spec.address.family == Family.UNIX and sock.family != socket.AF_UNIX:
            raise HandoffError(f"descriptor {fd} for {spec.describe()} is not a UNIX socket")
        sock.set_inheritable(False)
        sock.setblocking(False)
    except BaseException:
        sock.detach()
        raise
    return sock
