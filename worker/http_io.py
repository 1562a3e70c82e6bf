"""The HTTP session's socket I/O: non-blocking calls tried first, waits only on EAGAIN.

Every wait goes through worker/fastio.py (a deadline without a cancel scope per wait), and the
session's failures are named here as exceptions the session turns into answers:
`ClientGone` (the client reset, closed or was too slow), `BadBody` (the request body broke
the framing rules: answer its status and close) and `ServerFailed` (the server connection
broke; `replayable` when no response byte had been read, `status` 0 when the response was
already under way and the client can only be cut; `termination` the log's state when it is
not the one its status implies: `PH` for an invalid response answered 502).
"""

from __future__ import annotations

import socket

import trio

from worker.driven import wait_edge
from worker.fastio import wait_readable, wait_writable

RECV_SIZE = 65536


class ClientGone(Exception):
    """The client reset, closed or timed out while we were sending to or reading from it."""


class BadBody(Exception):
    """The request body broke the framing rules: answer `status` and close both sides."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ServerFailed(Exception):
    """The server connection broke; `replayable`: before any response byte was read."""

    def __init__(self, status: int, replayable: bool, termination: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.replayable = replayable
        self.termination = termination


async def send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Send everything, waiting for room only on EAGAIN; OSError/TooSlowError on failure.

    `timeout` is an inactivity timeout: it restarts whenever some bytes went out.
    """
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent == len(data):
        return
    view = memoryview(data)[sent:]
    fd = sock.fileno()
    while view:
        if not await wait_writable(fd, trio.current_time() + timeout):
            raise trio.TooSlowError
        try:
            sent = sock.send(view)
        except BlockingIOError:
            continue
        view = view[sent:]


async def recv_some(
    sock: socket.socket, deadline: float, expect_wait: bool = False
) -> bytes | None:
    """What the peer sent (b"" at EOF), or None when `deadline` passed first.

    `expect_wait`: the peer cannot have answered yet (a response right after its request):
    wait for readability before the first recv instead of paying for a recv that is all but
    certain to say EAGAIN.
    """
    if expect_wait:
        await wait_readable(sock.fileno(), deadline)
        # Timed out or not, the recv below says what is there (EAGAIN then means: timeout).
        try:
            return sock.recv(RECV_SIZE)
        except BlockingIOError:
            if trio.current_time() >= deadline:
                return None
    while True:
        try:
            return sock.recv(RECV_SIZE)
        except BlockingIOError:
            if not await wait_readable(sock.fileno(), deadline):
                return None


async def recv_some_or_gone(
    sock: socket.socket, deadline: float, expect_wait: bool = False
) -> bytes | None:
    """recv_some() where a reset counts as the client leaving (EOF is b"")."""
    try:
        return await recv_some(sock, deadline, expect_wait)
    except OSError:
        raise ClientGone from None


async def recv_edge(sock: socket.socket, deadline: float) -> bytes | None:
    """recv_some() for a socket known to be drained (worker/fastio.py's rule): waits on the
    edge-triggered epoll first, then reads; None when `deadline` passed first. In a
    coroutine driven by worker/driven.py, the wait is one of its markers."""
    while True:
        if not await wait_edge(sock, deadline):
            try:  # the deadline and the data may have come together
                return sock.recv(RECV_SIZE)
            except BlockingIOError:
                return None
        try:
            return sock.recv(RECV_SIZE)
        except BlockingIOError:
            continue  # an old edge: the socket is drained again, wait for the next one
