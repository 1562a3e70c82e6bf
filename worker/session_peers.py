"""Runtime-API sessions to the other workers of this generation, opened by the master.

`show sess` and `shutdown session(s)` answer for every worker (worker/cli_sessions.py): this
worker sends the master a SessionsAsk and gets back, in a SessionsPeers frame, one socketpair
end per peer, each already serving a runtime-API session in that peer
(master/session_peers.py). `PeerAsks` matches the frames to the asks by `seq`. Rules: an
ask waits at most ASK_TIMEOUT; descriptors that arrive for an ask nobody waits for any more
are closed at once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import trio

from haproxy_py.process.channel import Channel
from haproxy_py.proto.ipc import SessionsAsk, SessionsPeers

ASK_TIMEOUT = 5.0  # seconds the master has to hand the peers over

Peers = tuple[list[socket.socket], int]  # the peers' ends in @N order, our own position


class PeerAsks:
    """The asks of one worker waiting for their SessionsPeers."""

    def __init__(self) -> None:
        self._seq = 0
        self._pending: dict[int, list] = {}  # seq -> [event, Peers | None]

    async def ask(self, channel: Channel, send_lock: trio.Lock, pid: int) -> Peers | None:
        """Sessions to every other serving worker (`pid` 0) or to worker `pid` only; None
        when the master did not answer."""
        self._seq += 1
        seq = self._seq
        waiting: list = [trio.Event(), None]
        self._pending[seq] = waiting
        try:
            async with send_lock:
                if not await channel.send(SessionsAsk(seq=seq, pid=pid)):
                    return None
            with trio.move_on_after(ASK_TIMEOUT):
                await waiting[0].wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return None
        finally:
            self._pending.pop(seq, None)
        return waiting[1]

    def answered(self, message: SessionsPeers, fds: Sequence[int]) -> None:
        waiting = self._pending.get(message.seq)
        if waiting is None or waiting[0].is_set():
            for fd in fds:
                os.close(fd)
            return
        waiting[1] = ([socket.socket(fileno=fd) for fd in fds], message.position)
        waiting[0].set()
