"""Reloads without a master, HAProxy's old way: `-x SOCKET`, `-sf PID...`, `-st PID...`.

`haproxy-py -D -p PIDFILE -x /run/admin.sock -sf $(cat PIDFILE) -f CFG`: the new process asks
the running one for its listening sockets on a stats socket that has `level admin` and
`expose-fd listeners` (`_getsocks`: a native int count, then the descriptors in batches of up
to 253 with 6 bytes each, acknowledged with 4 bytes after every full batch), serves on those
very sockets (so no connection waiting in an accept queue is lost), then sends SIGUSR1 (`-sf`)
or SIGTERM (`-st`) to the old pids. Without `-x`, a port still held by the old process is
first asked for with SIGTTOU (the old process stops listening), bound, and SIGTTIN gives it
back to the old process if binding fails anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct

from haproxy_py.process.fdpass import FdPassError, recv_fds
from haproxy_py.process.listeners import socket_address_key

GETSOCKS_TIMEOUT = 10.0
_BATCH = 253


class TakeOverError(Exception):
    """`-x` could not get the sockets; the message names the socket and the reason."""


def fetch_listeners(path: str) -> dict[tuple[str, str, int], socket.socket]:
    """The listening sockets of the process behind stats socket `path`, by address key."""
    received: list[int] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(GETSOCKS_TIMEOUT)
            client.connect(path)
            client.sendall(b"_getsocks\n")
            count = _read_count(client, path)
            while len(received) < count:
                data, fds = recv_fds(client, 65536, _BATCH)
                received += fds
                if not data and not fds:
                    raise TakeOverError(
                        f"Failed to get the listening sockets from {path}: the connection "
                        f"closed after {len(received)} of {count}"
                    )
                if fds and len(received) % _BATCH == 0 and len(received) < count:
                    client.sendall(b"\0\0\0\0")  # acknowledge a full batch
    except (OSError, FdPassError) as exc:
        _close(received)
        raise TakeOverError(f"Failed to get the listening sockets from {path}: {exc}") from None
    except TakeOverError:
        _close(received)
        raise
    sockets: dict[tuple[str, str, int], socket.socket] = {}
    for fd in received:
        sock = socket.socket(fileno=fd)
        try:
            sockets.setdefault(socket_address_key(sock), sock)
        except OSError:
            sock.close()
    return sockets


def _read_count(client: socket.socket, path: str) -> int:
    raw = b""
    while len(raw) < 4:
        chunk = client.recv(4 - len(raw))
        if not chunk:
            raise TakeOverError(
                f"Failed to get the listening sockets from {path}: it closed the connection "
                "(it needs 'level admin' and 'expose-fd listeners')"
            )
        raw += chunk
    (count,) = struct.unpack("=i", raw)
    return count


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def signal_old(pids: tuple[int, ...], signum: int) -> None:
    """Tell the old processes (those still alive) to stop, softly or not."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


PAUSE = signal.SIGTTOU
RESUME = signal.SIGTTIN
