"""The TCP data plane: move bytes both ways between a client and a server socket until both end.

relay() owns one nursery with one task per direction (client->server "in", server->client "out")
and itself watches the inactivity timeouts. Rules of this file:
- sockets are raw and non-blocking: every recv/send/splice is tried first, and we wait
  (trio.lowlevel.wait_readable/wait_writable on the fd) only when it says EAGAIN or a read
  came back short;
- a direction holds a pipe (splice path) or a buffer (copy path) only during a burst, from the
  moment its source has bytes until the bytes are delivered and the source is dry again; an idle
  connection holds two sockets, two parked tasks and a few small objects, nothing else;
- a direction copies small exchanges (recv + send, and a short read means "dry") and splices
  only once a read has filled the whole buffer, until its bursts become small again;
- EOF from one side becomes shutdown(SHUT_WR) on the other once what was read is delivered;
  an error or reset from one side becomes a reset (SO_LINGER {1,0} then close) of the other;
- timeouts are per side and count inactivity only while we wait on that side, as HAProxy does:
  `tunnel` replaces `client`/`server`; `client-fin`/`server-fin` replace them once we have shut
  our write side towards that peer. The direction tasks only stamp times; relay() itself sleeps
  until the earliest expiry, so no per-chunk timer work is done;
- trio.Cancelled is never caught; a pipe is given back on every way out (the pool closes it if
  bytes were left inside).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import math
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from trio.lowlevel import Abort, checkpoint, wait_readable, wait_task_rescheduled, wait_writable

from worker.pipes import Pipe, PipePool

_SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
_LINGER_RESET = struct.pack("ii", 1, 0)
# A burst that never meets EAGAIN yields to the other tasks after this many transfers.
_OPS_PER_CHECKPOINT = 16
# What a burst reports to its direction's loop: source dry for now, EOF, or go again at once.
_DRY, _EOF, _RETRY = 0, 1, 2


def _abort_sleep(_: object) -> Abort:
    """The watcher parks with this: only a cancellation (deadline, wake-up, outside) ends it."""
    return Abort.SUCCEEDED


class Termination(enum.Enum):
    """Why a relay ended; the value is the log's two-letter termination state for data phase."""

    NORMAL = "--"  # both directions closed cleanly
    CLIENT_ABORT = "CD"  # the client reset the connection or failed
    SERVER_ABORT = "SD"  # the server reset the connection or failed
    CLIENT_TIMEOUT = "cD"
    SERVER_TIMEOUT = "sD"


@dataclass(frozen=True, slots=True)
class RelayTimeouts:
    """Inactivity timeouts in seconds; None (or 0, as in the configuration) means none."""

    client: float | None = None
    server: float | None = None
    tunnel: float | None = None
    client_fin: float | None = None
    server_fin: float | None = None

    def for_side(self, is_client: bool) -> tuple[float | None, float | None]:
        """(timeout while the connection is open, timeout once we have shut our write to it)."""
        active = self.tunnel or (self.client if is_client else self.server) or None
        fin = (self.client_fin if is_client else self.server_fin) or active
        return active, fin


@dataclass(frozen=True, slots=True)
class RelayResult:
    """How the relay ended and what it moved; *_in is client->server, *_out server->client."""

    termination: Termination
    bytes_in: int
    bytes_out: int
    spliced_in: int
    spliced_out: int


class _Side:
    """One peer: its socket and the state of its inactivity timer."""

    __slots__ = ("fd", "fin_timeout", "last", "sock", "timeout", "waiters")

    def __init__(self, sock: socket.socket, timeouts: tuple[float | None, float | None]) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.timeout, self.fin_timeout = timeouts
        self.last = 0.0  # when the timer last restarted; meaningful while waiters > 0
        self.waiters = 0  # direction tasks blocked on this side right now (the timer runs)

    async def wait(self, waiting: Callable[[int], Awaitable[None]]) -> None:
        """Wait on this side (wait_readable or wait_writable) with its timer running: it
        restarts if nobody was waiting here, and stops when the last waiter leaves."""
        if not self.waiters:
            self.last = trio.current_time()
        self.waiters += 1
        try:
            await waiting(self.fd)
        finally:
            self.waiters -= 1

    def touch(self) -> None:
        # Progress restarts the timer; when nobody waits on this side the next wait restarts it.
        if self.waiters:
            self.last = trio.current_time()

    def expiry(self, now: float) -> float:
        if self.timeout is None:
            return math.inf
        return (self.last if self.waiters else now) + self.timeout


class _Direction:
    """One way through the relay; `pipes` is None when this direction copies."""

    __slots__ = ("dst", "moved", "pipes", "spliced", "src", "streaming")

    def __init__(self, src: _Side, dst: _Side, pipes: PipePool | None) -> None:
        self.src = src
        self.dst = dst
        self.pipes = pipes
        self.moved = 0
        self.spliced = 0
        self.streaming = False  # the last reads filled the buffer: splice the next burst


class _Aborted(Exception):
    """A peer failed (reset, broken pipe, unreachable): carries which side."""

    def __init__(self, side: _Side) -> None:
        self.side = side


async def relay(
    client: socket.socket,
    server: socket.socket,
    *,
    pipes: PipePool | None,
    timeouts: RelayTimeouts,
    buffer_size: int = 16384,
) -> RelayResult:
    """Forward both ways until both directions are done, a side aborts or a timeout fires.

    Both sockets are switched to non-blocking. The caller still owns and closes them; relay()
    closes one itself only to pass a reset on (closing again is harmless). `pipes=None` (nosplice,
    `-dS`, or a socket that is not plain TCP) copies through a buffer in both directions.
    """
    client.setblocking(False)
    server.setblocking(False)
    session = _Relay(client, server, pipes, timeouts, buffer_size)
    async with trio.open_nursery() as nursery:
        session.nursery = nursery
        nursery.start_soon(session.pump, session.inbound, name="relay client->server")
        nursery.start_soon(session.pump, session.outbound, name="relay server->client")
        await session.watch()
    session.pass_reset_on()
    return session.result()


class _Relay:
    __slots__ = (
        "aborted",
        "alarm",
        "buffer_size",
        "client",
        "inbound",
        "nursery",
        "outbound",
        "running",
        "server",
        "termination",
    )

    def __init__(
        self,
        client: socket.socket,
        server: socket.socket,
        pipes: PipePool | None,
        timeouts: RelayTimeouts,
        buffer_size: int,
    ) -> None:
        self.client = _Side(client, timeouts.for_side(True))
        self.server = _Side(server, timeouts.for_side(False))
        self.inbound = _Direction(self.client, self.server, pipes)
        self.outbound = _Direction(self.server, self.client, pipes)
        self.buffer_size = buffer_size
        self.running = 2
        self.nursery: trio.Nursery | None = None
        self.alarm: trio.CancelScope | None = None  # the watcher's current sleep
        self.termination: Termination | None = None
        self.aborted: _Side | None = None

    # -- the watcher (relay()'s own task) -------------------------------------------------------

    async def watch(self) -> None:
        """Sleep until the earliest side expiry; end the relay if one really expired."""
        while self.running:
            now = trio.current_time()
            if self.client.waiters and self.client.expiry(now) <= now:
                self._end(Termination.CLIENT_TIMEOUT)
                return
            if self.server.waiters and self.server.expiry(now) <= now:
                self._end(Termination.SERVER_TIMEOUT)
                return
            deadline = min(self.client.expiry(now), self.server.expiry(now))
            with trio.CancelScope(deadline=deadline) as self.alarm:
                await wait_task_rescheduled(_abort_sleep)  # sleep_forever() minus a frame
            self.alarm = None

    def _wake_watcher(self) -> None:
        if self.alarm is not None:
            self.alarm.cancel()

    def _end(self, termination: Termination, aborted: _Side | None = None) -> None:
        if self.termination is None:
            self.termination = termination
            self.aborted = aborted
        assert self.nursery is not None
        self.nursery.cancel_scope.cancel()

    def pass_reset_on(self) -> None:
        """After an abort, reset the other peer too: linger {1,0} makes close() send an RST."""
        if self.aborted is None:
            return
        other = (self.server if self.aborted is self.client else self.client).sock
        # OSError: the socket is already dead, and close() below is all there is left to do.
        with contextlib.suppress(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        other.close()

    def result(self) -> RelayResult:
        return RelayResult(
            termination=self.termination or Termination.NORMAL,
            bytes_in=self.inbound.moved,
            bytes_out=self.outbound.moved,
            spliced_in=self.inbound.spliced,
            spliced_out=self.outbound.spliced,
        )

    # -- one direction --------------------------------------------------------------------------

    async def pump(self, way: _Direction) -> None:
        """Bursts separated by waits for the source to become readable, until EOF or abort.

        A direction copies until a read fills the whole buffer; it is then "streaming" and splices
        its next bursts through a pipe, until a burst moves less than one buffer (HAProxy's
        splice-auto idea: small exchanges cost two syscalls and no pipe, bulk costs no copy).
        """
        src = way.src
        try:
            while True:
                outcome = _RETRY
                pipes = way.pipes
                if way.streaming and pipes is not None:
                    pipe = pipes.acquire()
                    if pipe is not None:
                        try:
                            outcome = await self._splice_burst(way, pipe)
                        finally:
                            pipes.release(pipe)  # emptied, or closed by the pool if not
                if outcome == _RETRY:  # not streaming, no pipe to stream with, or no pool
                    outcome = await self._copy_burst(way)
                if outcome == _EOF:
                    break
                if outcome == _DRY:
                    await src.wait(wait_readable)
            self._shut_write(way.dst)
        except _Aborted as error:
            side = error.side
            ended = Termination.CLIENT_ABORT if side is self.client else Termination.SERVER_ABORT
            self._end(ended, side)
        finally:
            self.running -= 1
            self._wake_watcher()

    def _shut_write(self, side: _Side) -> None:
        # ENOTCONN: the peer is gone; the other direction meets its error, if it has one to meet.
        with contextlib.suppress(OSError):
            side.sock.shutdown(socket.SHUT_WR)
        if side.fin_timeout != side.timeout:
            side.timeout = side.fin_timeout
            self._wake_watcher()  # the new timeout may be shorter than the one it sleeps on

    async def _splice_burst(self, way: _Direction, pipe: Pipe) -> int:
        """socket -> pipe -> socket until the pipe is empty and the source dry (or at EOF)."""
        src, dst = way.src, way.dst
        eof = False
        ops = 0
        burst = 0
        while True:
            if not eof and pipe.pending < pipe.size:
                try:
                    room = pipe.size - pipe.pending
                    count = os.splice(src.fd, pipe.write_fd, room, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    # Nothing to read (or the pipe ran out of slots): drain what we have, if any.
                    if not pipe.pending:
                        if burst < self.buffer_size:
                            way.streaming = False  # a trickle: copy it, keep the pipe free
                        return _DRY
                except OSError as error:
                    if error.errno == errno.EINVAL and not pipe.pending:
                        way.pipes = None  # this socket cannot splice: copy from now on
                        way.streaming = False
                        return _RETRY
                    raise _Aborted(src) from None
                else:
                    if count:
                        pipe.pending += count
                        burst += count
                        way.moved += count
                        way.spliced += count
                        src.touch()
                    else:
                        eof = True
            if pipe.pending:
                try:
                    count = os.splice(pipe.read_fd, dst.fd, pipe.pending, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    await dst.wait(wait_writable)
                    continue
                except OSError:
                    raise _Aborted(dst) from None
                pipe.pending -= count
                dst.touch()
            elif eof:
                return _EOF
            ops += 1
            if ops == _OPS_PER_CHECKPOINT:
                ops = 0
                await checkpoint()

    async def _copy_burst(self, way: _Direction) -> int:
        """recv_into a buffer that lives only for this burst, then send it all.

        A short read ends the burst at once (the source is most likely dry: waiting for
        readability costs less than a recv that says EAGAIN); a full one with a pipe pool at hand
        makes the direction streaming and hands over to splicing.
        """
        src, dst = way.src, way.dst
        size = self.buffer_size
        buffer = bytearray(size)
        view = memoryview(buffer)
        ops = 0
        while True:
            try:
                count = src.sock.recv_into(buffer)
            except BlockingIOError:
                return _DRY
            except OSError:
                raise _Aborted(src) from None
            if not count:
                return _EOF
            way.moved += count
            src.touch()
            sent = 0
            while sent < count:
                try:
                    sent += dst.sock.send(view[sent:count])
                except BlockingIOError:
                    await dst.wait(wait_writable)
                except OSError:
                    raise _Aborted(dst) from None
            dst.touch()
            if count < size:
                return _DRY
            if way.pipes is not None:
                way.streaming = True
                return _RETRY
            ops += 1
            if ops == _OPS_PER_CHECKPOINT:
                ops = 0
                await checkpoint()
