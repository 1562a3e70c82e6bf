"""Opening a connection to a server without blocking, under a deadline.

Shared by the data plane's server connections (worker/backend.py) and the health checks
(worker/checks.py). Rules: the socket is non-blocking from birth (SOCK_NONBLOCK: no extra
system call); connect() is tried first, and when it says EINPROGRESS the socket is asked at
once whether it is connected already (to a server on the same host the handshake is done by
the time connect() returns: a getpeername() is far cheaper than a trip through the poller, which
cost ~15 % of a close-mode request; across a network it is not, and we wait as before); we wait
for writability only when it is still under way, with the deadline kept by worker/fastio.py
(no cancel scope per wait). Every failure closes
the socket and comes back as an errno (ETIMEDOUT for the deadline), never as an exception;
trio.Cancelled closes the socket and goes through (every way out checks for it).
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import trio

from worker.fastio import wait_writable

_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK


async def connect_socket(
    family: int, address: Any, deadline: float, *, nodelay: bool = False
) -> tuple[socket.socket | None, int]:
    """(the connected socket, 0) or (None, errno)."""
    try:
        sock = socket.socket(family, _STREAM)
    except OSError as exc:  # out of descriptors (or buffers) right now
        await trio.lowlevel.checkpoint()
        return None, exc.errno or errno.EMFILE
    try:
        if nodelay:
            # Small writes go out at once; the relay moves whole bursts anyway.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        error = sock.connect_ex(address)
        if error == errno.EINPROGRESS:
            error = _settled(sock)
        if error == errno.EINPROGRESS:
            if await wait_writable(sock.fileno(), deadline):
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            else:
                error = errno.ETIMEDOUT
        else:
            # No yield: the caller waits on this socket next anyway; a cancel still acts here.
            await trio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        sock.close()
        raise
    if error:
        sock.close()
        return None, error
    return sock, 0


def _settled(sock: socket.socket) -> int:
    """0 when the connection is up already, its error when it failed already, else
    EINPROGRESS (still under way)."""
    try:
        sock.getpeername()
    except OSError:
        # Not connected: refused or unreachable already (the error is pending), or in progress.
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or errno.EINPROGRESS
    return 0
