"""What a worker is given to start: the frozen configuration and its listening sockets.

Without a master (`haproxy-py -d -f CFG`, `haproxy-py -f CFG`) the process binds its
listeners, writes a `WorkerStart` into an anonymous memory file, and replaces itself (same
pid) with `python -m worker`, which inherits exactly that file and the listening sockets and
nothing else. The master of the master-worker issue will send the same `WorkerStart` over its
socketpair instead. Either way the worker checks every descriptor it is given before using
it (house rule 7): a socket, of stream type, listening, on the address its spec names.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config
from haproxy_py.process.listeners import Listener, ListenerSpec

# The environment variable naming the memory file's descriptor in the exec'd worker.
HANDOFF_ENV = "HAPROXY_PY_HANDOFF_FD"

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


def write_handoff(
    config: Config, listeners: Sequence[Listener], settings: Mapping[str, Any]
) -> int:
    """Store the start message in a memory file; return its descriptor, inheritable.

    The listening sockets are made inheritable too: the caller execs the worker next.
    """
    start = WorkerStart(
        config,
        tuple(listener.spec for listener in listeners),
        tuple(listener.sock.fileno() for listener in listeners),
        dict(settings),
    )
    for listener in listeners:
        listener.sock.set_inheritable(True)
    fd = os.memfd_create("haproxy-py-handoff", 0)  # not MFD_CLOEXEC: the worker reads it
    try:
        data = pickle.dumps(start, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_handoff(environ: Mapping[str, str]) -> tuple[WorkerStart, list[socket.socket]]:
    """In the worker: load the start message and adopt (and check) the listening sockets."""
    text = environ.get(HANDOFF_ENV, "")
    if not text.isdigit():
        raise HandoffError(
            f"{HANDOFF_ENV} is not set: the worker is started by haproxy-py, not by hand"
        )
    fd = int(text)
    try:
        with os.fdopen(fd, "rb") as handle:
            start = pickle.load(handle)  # written by our own parent into a private memfd
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise HandoffError(f"cannot read the start message from descriptor {fd}: {exc}") from None
    if not isinstance(start, WorkerStart) or len(start.listeners) != len(start.fds):
        raise HandoffError("the start message is not a valid WorkerStart")
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
