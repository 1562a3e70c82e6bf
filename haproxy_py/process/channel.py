"""A master<->worker channel: one end of the ipc socketpair, speaking haproxy_py/proto/ipc.

Owns the I/O half of the ipc protocol: it moves frames and the descriptors travelling beside
them (haproxy_py/process/fdpass.py) and pairs each decoded message with its descriptors.
Both sides use it: the worker blocks on `receive_blocking()` for its start hand-off before
trio runs, then both use the async `send()`/`receive()` inside trio. Rules:
- descriptors received are queued in arrival order and handed out `message.fd_count()` at a
  time; the caller owns (and must close) the descriptors it is given;
- the channel never raises on the peer's death: `receive()` returns None at EOF or on a
  reset, and `send()` returns False when the peer is gone;
- a malformed frame is an IpcError (from the protocol) and closes the queued descriptors.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import deque

import trio

from haproxy_py.process.fdpass import (
    MAX_FDS_PER_MESSAGE,
    recv_fds,
    send_fds,
    try_recv_fds,
    try_send_fds,
)
from haproxy_py.proto.ipc import CLOSED, NEED_DATA, IpcConnection, Message, Role

_READ_SIZE = 65536


class Channel:
    """One end of an ipc socketpair; `sock` is owned by the channel (close() closes it)."""

    def __init__(self, sock: socket.socket, role: Role) -> None:
        self.sock = sock
        self.protocol = IpcConnection(role)
        self._fds: deque[int] = deque()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.popleft())
        self.sock.close()
        self.closed = True

    # -- receiving --------------------------------------------------------------------------

    def _next(self) -> tuple[Message, list[int]] | bool | None:
        """A decoded message with its descriptors, None at EOF, False when bytes are missing."""
        event = self.protocol.next_event()
        if event is NEED_DATA:
            return False
        if event is CLOSED:
            return None
        assert isinstance(event, Message)
        wanted = event.fd_count()
        if wanted > len(self._fds):
            self.close()
            raise OSError(f"{type(event).__name__} came with fewer descriptors than announced")
        return event, [self._fds.popleft() for _ in range(wanted)]

    def _feed(self, data: bytes, fds: list[int]) -> None:
        self._fds.extend(fds)
        self.protocol.receive_data(data)

    def receive_blocking(self) -> tuple[Message, list[int]] | None:
        """The next message, waiting for it (the worker's start, before trio runs)."""
        while True:
            found = self._next()
            if found is not False:
                return found  # type: ignore[return-value]
            try:
                data, fds = recv_fds(self.sock, _READ_SIZE, MAX_FDS_PER_MESSAGE)
            except ConnectionError:
                data, fds = b"", []
            self._feed(data, fds)

    async def receive(self) -> tuple[Message, list[int]] | None:
        """The next message and its descriptors; None once the peer has closed or died."""
        while True:
            found = self._next()
            if found is not False:
                return found  # type: ignore[return-value]
            try:
                data, fds = try_recv_fds(self.sock, _READ_SIZE, MAX_FDS_PER_MESSAGE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)
                continue
            except ConnectionError:
                data, fds = b"", []
            self._feed(data, fds)

    # -- sending ----------------------------------------------------------------------------

    def send_blocking(self, message: Message, fds: list[int] | tuple[int, ...] = ()) -> bool:
        """Send one message (with its descriptors); False if the peer is gone."""
        if self.closed:
            return False
        try:
            send_fds(self.sock, self.protocol.send(message), fds)
        except (BrokenPipeError, ConnectionError):
            return False
        return True

    async def send(self, message: Message, fds: list[int] | tuple[int, ...] = ()) -> bool:
        """Send without blocking the event loop: control messages are tiny, so the socket
        buffer takes them at once; only a peer that stopped reading makes us wait."""
        if self.closed:
            return False
        data = self.protocol.send(message)
        while True:
            try:
                sent = try_send_fds(self.sock, data, fds)  # the descriptors go with byte one
                break
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.sock)
            except (BrokenPipeError, ConnectionError):
                return False
        view = memoryview(data)[sent:]
        while view:
            try:
                view = view[self.sock.send(view, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL) :]
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.sock)
            except (BrokenPipeError, ConnectionError):
                return False
        return True
