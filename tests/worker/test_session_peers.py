"""worker/session_peers.py over a real ipc socketpair: an ask gets its peers' ends, a late or
unknown answer has its descriptors closed, a silent master makes the ask give up."""

from __future__ import annotations

import os
import socket

import trio

import worker.session_peers as peers_module
from haproxy_py.process.channel import Channel
from haproxy_py.proto.ipc import SessionsAsk, SessionsPeers
from worker.session_peers import PeerAsks


def channels() -> tuple[Channel, Channel]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    theirs.setblocking(False)
    return Channel(ours, "worker"), Channel(theirs, "master")


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


async def test_an_ask_gets_the_peers_ends_in_order() -> None:
    worker, master = channels()
    asks = PeerAsks()
    pairs = [socket.socketpair() for _ in range(2)]
    found: list = []

    async def fake_master() -> None:
        message, _ = await master.receive()  # type: ignore[misc]
        assert message == SessionsAsk(seq=1, pid=77)
        reply = SessionsPeers(seq=1, count=2, position=1)
        await master.send(reply, [pairs[0][0].fileno(), pairs[1][0].fileno()])

    async def worker_loop() -> None:
        message, fds = await worker.receive()  # type: ignore[misc]
        asks.answered(message, fds)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fake_master)
        nursery.start_soon(worker_loop)
        found.append(await asks.ask(worker, trio.Lock(), 77))
    ((ends, position),) = found
    assert position == 1 and len(ends) == 2
    for (_, far), end in zip(pairs, ends, strict=True):  # each end reaches its peer
        end.sendall(b"x")
        assert far.recv(1) == b"x"
        end.close()
    for pair in pairs:
        for sock in pair:
            sock.close()
    worker.close()
    master.close()


async def test_an_answer_nobody_waits_for_is_closed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(peers_module, "ASK_TIMEOUT", 0.05)
    worker, master = channels()
    asks = PeerAsks()
    assert await asks.ask(worker, trio.Lock(), 0) is None  # the master never answered
    a, b = socket.socketpair()
    fd = os.dup(a.fileno())
    asks.answered(SessionsPeers(seq=1, count=1, position=0), [fd])  # too late
    assert not is_open(fd)
    fd = os.dup(a.fileno())
    asks.answered(SessionsPeers(seq=9, count=1, position=0), [fd])  # never asked
    assert not is_open(fd)
    for sock in (a, b):
        sock.close()
    worker.close()
    master.close()
