"""close-spread-time: the release plan (pure) and the worker's closer on fake sessions."""

from __future__ import annotations

import math
import random
import socket
from dataclasses import dataclass, field

import trio
import trio.testing

from haproxy_py.process.spread import INFINITE, SpreadPlan
from worker.close_spread import POLL, SpreadCloser


def test_plan_from_the_setting() -> None:
    assert SpreadPlan.from_setting(10.0, 2000).window == 2.0
    assert SpreadPlan.from_setting(10.0, None).window == 0.0
    assert SpreadPlan.from_setting(10.0, INFINITE).never
    plan = SpreadPlan.from_setting(10.0, 2000)
    assert plan.release_at(0.0) == 10.0
    assert plan.release_at(0.5) == 11.0
    assert plan.release_at(1.5) == 12.0  # clamped to the window
    assert plan.end() == 12.0
    assert math.isinf(SpreadPlan.from_setting(0.0, INFINITE).release_at(0.1))
    assert SpreadPlan.from_setting(5.0, None).release_at(0.9) == 5.0  # unset: all at once


@dataclass
class _Front:
    idle_and_empty: bool = True


@dataclass(eq=False)
class _Session:
    client: socket.socket
    peer: socket.socket
    requests: int = 1
    front: _Front = field(default_factory=_Front)


def _session() -> _Session:
    a, b = socket.socketpair()
    return _Session(a, b)


def _at_eof(session: _Session) -> bool:
    session.client.setblocking(False)
    try:
        return session.client.recv(1) == b""
    except BlockingIOError:
        return False


def test_idle_sessions_are_shut_over_the_window_and_busy_ones_told_to_close() -> None:
    sessions = [_session() for _ in range(10)]
    busy = sessions[0]
    busy.front.idle_and_empty = False
    first_request = sessions[1]
    first_request.requests = 0  # never shut before its first request
    closer = SpreadCloser(4000, random.Random(7))
    for session in sessions:
        closer.register(session)
    shut_at: dict[int, float] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            assert not closer.closes(busy)  # before the soft stop: keep-alive as usual
            nursery.start_soon(closer.release)
            start = trio.current_time()
            while trio.current_time() - start < 6:
                for index, session in enumerate(sessions):
                    if index not in shut_at and _at_eof(session):
                        shut_at[index] = trio.current_time() - start
                await trio.sleep(0.01)
            assert closer.closes(busy)  # its moment passed: the next response closes
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert set(shut_at) == set(range(2, 10))
    times = sorted(shut_at.values())
    assert times[-1] <= 4 + 2 * POLL + 0.05
    assert times[-1] - times[0] > 1.0  # spread, not all at once
    for session in sessions:
        session.client.close()
        session.peer.close()


def test_a_session_busy_at_each_look_is_not_shut() -> None:
    session = _session()
    closer = SpreadCloser(0, random.Random(1))  # "0": everything due at once
    closer.register(session)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(closer.release)
            for _ in range(10):  # a new request between every two looks
                await trio.sleep(POLL / 2)
                session.requests += 1
            assert not _at_eof(session)
            await trio.sleep(POLL * 3)  # then idle: let go
            assert _at_eof(session)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    session.client.close()
    session.peer.close()


def test_infinite_never_closes() -> None:
    session = _session()
    closer = SpreadCloser(INFINITE)
    closer.register(session)

    async def main() -> None:
        await closer.release()  # returns at once
        await trio.sleep(100)
        assert not closer.closes(session)
        assert not _at_eof(session)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    session.client.close()
    session.peer.close()
