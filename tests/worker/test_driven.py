"""worker/driven.py: coroutines driven by the edge poller, with fake coroutines on socketpairs.

Each test runs `run_driven(coro)` in a trio task and checks who ran which part (the poller's
task or the session task), what the task gets back (values, errors, InternalError for a trio
trap met by the poller) and that cancellation and deadlines reach the coroutine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import trio

from worker import fastio
from worker.driven import DRIVE, InternalError, run_driven, to_trio, wait_edge


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    with a, b:
        yield a, b


def _hooked() -> dict:
    return fastio._EDGE.get().driven


class Trace:
    """Who ran each step of a fake coroutine: 'poller' or 'task' (the session task)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.task: trio.lowlevel.Task | None = None

    def note(self, step: str) -> None:
        runner = "task" if trio.lowlevel.current_task() is self.task else "poller"
        assert DRIVE.in_poller == (runner == "poller")
        self.steps.append((step, runner))


async def _drive(coro: object, trace: Trace) -> object:
    trace.task = trio.lowlevel.current_task()
    return await run_driven(coro)  # type: ignore[arg-type]


async def _session(coro: object) -> None:
    await run_driven(coro)  # type: ignore[arg-type]


async def _later(delay: float, action: object) -> None:
    await trio.sleep(delay)
    action()  # type: ignore[operator]


async def test_waits_are_run_on_by_the_poller_and_the_value_comes_back(pair) -> None:
    a, b = pair
    trace = Trace()

    async def coro() -> str:
        trace.note("start")
        assert await wait_edge(a, trio.current_time() + 5)
        assert a.recv(10) == b"one"
        trace.note("first edge")
        b.send(b"two")  # ours to read at once: the edge is waited for, no task switch
        assert await wait_edge(a, trio.current_time() + 5)
        assert a.recv(10) == b"two"
        trace.note("second edge")
        return "done"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_later, 0.05, lambda: b.send(b"one"))
        assert await _drive(coro(), trace) == "done"
    assert trace.steps == [("start", "task"), ("first edge", "poller"), ("second edge", "poller")]
    assert not _hooked()
    assert not DRIVE.driving


async def test_to_trio_hands_the_rest_to_the_task(pair) -> None:
    a, b = pair
    trace = Trace()

    async def coro() -> int:
        await to_trio()  # in the task: nothing to do
        trace.note("before")
        assert await wait_edge(a, trio.current_time() + 5)
        trace.note("edge")
        await to_trio()
        trace.note("after to_trio")
        await trio.sleep(0.01)  # trio's own operations, in the task
        with trio.move_on_after(0.01):
            await trio.sleep(1)
        trace.note("after trio")
        a.recv(10)
        assert await wait_edge(a, trio.current_time() + 5)  # on the poller again
        trace.note("edge again")
        return 7

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_later, 0.02, lambda: b.send(b"x"))
        nursery.start_soon(_later, 0.2, lambda: b.send(b"y"))
        assert await _drive(coro(), trace) == 7
    assert trace.steps == [
        ("before", "task"),
        ("edge", "poller"),
        ("after to_trio", "task"),
        ("after trio", "task"),
        ("edge again", "poller"),
    ]


async def test_an_error_raised_on_the_poller_is_raised_in_the_task(pair) -> None:
    a, b = pair
    cleaned = []

    class Gone(Exception):
        pass

    async def coro() -> None:
        try:
            await wait_edge(a, trio.current_time() + 5)
            raise Gone("client left")
        finally:
            cleaned.append(DRIVE.in_poller)

    b.close()  # EOF: an edge at once
    with pytest.raises(Gone, match="client left"):
        await run_driven(coro())
    assert cleaned == [True]


async def test_an_edge_already_seen_goes_on_without_parking(pair) -> None:
    a, b = pair
    trace = Trace()
    poller = fastio._edge_poller()
    poller.register(a, a.fileno())
    b.send(b"x")
    await trio.sleep(0.05)  # the poller sees the edge while nobody waits: remembered
    assert a.fileno() in poller.seen

    async def coro() -> None:
        assert await wait_edge(a, trio.current_time() + 5)
        trace.note("edge")

    await _drive(coro(), trace)
    assert trace.steps == [("edge", "task")]


async def test_a_deadline_sends_false_from_the_watchdog(pair) -> None:
    a, _ = pair
    trace = Trace()

    async def coro() -> bool:
        start = trio.current_time()
        result = await wait_edge(a, start + 0.05)
        trace.note("woken")
        assert trio.current_time() - start >= 0.05
        return result

    assert await _drive(coro(), trace) is False
    assert trace.steps == [("woken", "poller")]  # the watchdog's task, not the session's
    assert a.fileno() not in fastio._watchdog().deadlines


async def test_cancelling_the_task_unhooks_and_throws_into_the_coroutine(pair) -> None:
    a, _ = pair
    trace = Trace()
    seen: list[type[BaseException]] = []

    async def coro() -> None:
        try:
            await wait_edge(a, trio.current_time() + 5)
        except BaseException as exc:
            seen.append(type(exc))
            trace.note("cancelled")
            raise

    with trio.move_on_after(0.05) as scope:
        await _drive(coro(), trace)
    assert scope.cancelled_caught
    assert seen == [trio.Cancelled]
    assert trace.steps == [("cancelled", "task")]  # its finally blocks run in the task
    assert not _hooked()
    assert a.fileno() not in fastio._watchdog().deadlines


async def test_a_trio_trap_met_by_the_poller_is_an_internal_error_in_the_task(pair) -> None:
    a, b = pair
    trace = Trace()
    before = DRIVE.strays

    async def coro() -> None:
        await wait_edge(a, trio.current_time() + 5)
        try:
            await trio.lowlevel.cancel_shielded_checkpoint()  # a trap without to_trio(): a bug
        finally:
            trace.note("finally")

    b.send(b"x")
    with pytest.raises(InternalError, match="edge poller"):
        await _drive(coro(), trace)
    assert DRIVE.strays == before + 1
    assert trace.steps == [("finally", "task")]
    # The poller goes on serving others.
    a.recv(10)

    async def other() -> bool:
        return await wait_edge(a, trio.current_time() + 5)

    b.send(b"y")
    assert await run_driven(other()) is True


async def test_a_wait_on_a_closed_socket_raises_where_it_waits(pair) -> None:
    a, b = pair
    c = socket.socket()
    c.close()

    async def coro() -> type:
        await wait_edge(a, trio.current_time() + 5)
        try:
            await wait_edge(c, trio.current_time() + 5)
        except Exception as exc:
            return type(exc)
        return type(None)

    b.send(b"x")
    with pytest.raises(Exception) as undriven:  # what the task's own edge wait raises
        await fastio.wait_readable_edge(c, trio.current_time() + 5)
    assert await run_driven(coro()) is undriven.type


async def test_nested_run_driven_is_a_plain_await(pair) -> None:
    a, b = pair
    trace = Trace()

    async def inner() -> int:
        assert await wait_edge(a, trio.current_time() + 5)
        trace.note("inner edge")
        return 1

    async def outer() -> int:
        value = await run_driven(inner())
        trace.note("outer")
        return value + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_later, 0.02, lambda: b.send(b"x"))
        assert await _drive(outer(), trace) == 2
    assert trace.steps == [("inner edge", "poller"), ("outer", "poller")]


async def test_undriven_wait_edge_is_the_plain_edge_wait(pair) -> None:
    a, b = pair
    assert not DRIVE.driving
    b.send(b"x")
    assert await wait_edge(a, trio.current_time() + 5)
    a.recv(10)
    assert not await wait_edge(a, trio.current_time() + 0.02)


async def test_many_sessions_parked_at_once(pair) -> None:
    pairs = [socket.socketpair() for _ in range(20)]
    for x, y in pairs:
        x.setblocking(False)
        y.setblocking(False)
    done = []

    async def coro(sock: socket.socket, n: int) -> None:
        for _ in range(3):
            while True:
                try:
                    sock.recv(10)
                    break
                except BlockingIOError:
                    assert await wait_edge(sock, trio.current_time() + 5)
        done.append(n)

    async def feed() -> None:
        for _ in range(3):
            await trio.sleep(0.01)
            for _, y in pairs:
                y.send(b"z")

    try:
        async with trio.open_nursery() as nursery:
            for n, (x, _) in enumerate(pairs):
                nursery.start_soon(_session, coro(x, n))
            nursery.start_soon(feed)
    finally:
        for x, y in pairs:
            x.close()
            y.close()
    assert sorted(done) == list(range(20))
