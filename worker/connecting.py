"""Opening a connection to a server without blocking, under a deadline.

Shared by the data plane's server connections (worker/backend.py) and the health checks
(worker/checks.py). Rules: the socket is non-blocking from birth; connect() is tried first
and we wait for writability only on EINPROGRESS; every failure closes the socket and comes
back as an errno (ETIMEDOUT for the deadline), never as an exception; trio.Cancelled closes
the socket and goes through.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import trio
from trio.lowlevel import wait_writable


async def connect_socket(
    family: int, address: Any, deadline: float, *, nodelay: bool = False
) -> tuple[socket.socket | None, int]:
    """(the connected socket, 0) or (None, errno)."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:  # out of descriptors (or buffers) right now
        await trio.lowlevel.checkpoint()
        return None, exc.errno or errno.EMFILE
    try:
        sock.setblocking(False)
        if nodelay:
            # Small writes go out at once; the relay moves whole bursts anyway.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        error = sock.connect_ex(address)
        if error == errno.EINPROGRESS:
            error = errno.ETIMEDOUT
            with trio.move_on_at(deadline):
                await wait_writable(sock)
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        else:
            await trio.lowlevel.checkpoint()
    except BaseException:
        sock.close()
        raise
    if error:
        sock.close()
        return None, error
    return sock, 0
