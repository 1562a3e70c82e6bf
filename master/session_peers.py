"""Sessions across workers: the master opens the way from the asking worker to the others.

`show sess` and `shutdown session(s)` must answer for every worker of a generation, whichever
worker accepted the CLI connection (worker/cli_sessions.py). The asking worker sends
SessionsAsk; for each other serving worker of its generation (or the one whose pid a session
id names), the master makes a socketpair, hands one end to that worker as a CliSession (it
serves one runtime-API session on it, as for `@N` on the master CLI) and the other end to
the asker, all in one SessionsPeers frame. The asker then talks to its peers directly: the
master carries no answer, so an answer of any size costs it nothing, and it waits on nothing.
Rules: the master never blocks on a worker here beyond one channel send each; an end that
could not be handed to its worker is not handed to the asker either.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable

import trio

from haproxy_py.proto.ipc import CliSession, SessionsAsk, SessionsPeers
from master.workers import WorkerProcess


async def open_peers(
    asker: WorkerProcess, ask: SessionsAsk, workers: Iterable[WorkerProcess]
) -> None:
    """Answer `ask` with a runtime-API session to each wanted peer of the asker."""
    wanted = [
        worker
        for worker in sorted(workers, key=lambda w: w.relative)
        if worker.generation == asker.generation
        and not worker.old
        and worker.ready.is_set()
        and worker.exit_code is None
        and (worker is asker or not ask.pid or worker.pid == ask.pid)
    ]
    ends: list[socket.socket] = []
    position = 0
    try:
        for worker in wanted:
            if worker is asker:
                position = len(ends)
                continue
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sent = await _send(worker, CliSession(), [theirs.fileno()])
            finally:
                theirs.close()
            if sent:
                ends.append(ours)
            else:
                ours.close()
        reply = SessionsPeers(seq=ask.seq, count=len(ends), position=position)
        await _send(asker, reply, [end.fileno() for end in ends])
    finally:
        for end in ends:  # the asker holds its own copies now (or is gone)
            end.close()


async def _send(worker: WorkerProcess, message: CliSession | SessionsPeers, fds: list[int]) -> bool:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        return bool(await worker.channel.send(message, fds))
    return False
