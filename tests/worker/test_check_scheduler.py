"""The checks' scheduler: due order, ticks, the fast try, the task fallback, hurry(),
lateness that does not add up."""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Awaitable, Callable

import pytest
import trio

from worker.check_scheduler import MAX_TICK, TICK, Scheduler, connect_now, tick_for


def on_virtual_time(scheduler: Scheduler) -> Callable[[trio.Nursery], Awaitable[None]]:
    """`serve` waiting on trio deadlines: a timerfd counts real time, not the MockClock's."""
    return functools.partial(scheduler.serve, timerfd=False)


class FakeCheck:
    def __init__(self, name: str) -> None:
        self.name = name
        self.due = 0.0
        self.running = False
        self.hurried: float | None = None


async def test_due_order_fast_and_slow_paths(autojump_clock: object) -> None:
    events: list[tuple[str, str, float]] = []
    slow_done = trio.Event()

    def fast(check: FakeCheck) -> tuple[bool, object]:
        if check.name == "slow":
            return False, "pending"
        events.append(("fast", check.name, trio.current_time()))
        return True, None

    async def slow(check: FakeCheck, pending: object) -> None:
        assert pending == "pending" and check.running
        events.append(("slow", check.name, trio.current_time()))
        await trio.sleep(0.05)
        check.running = False
        slow_done.set()

    scheduler = Scheduler(slow, fast)
    start = trio.current_time()
    a, b, c = FakeCheck("a"), FakeCheck("b"), FakeCheck("slow")
    scheduler.add(b, start + 0.5)
    scheduler.add(a, start + 0.1)
    scheduler.add(c, start + 0.3)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_virtual_time(scheduler), nursery)
        await slow_done.wait()
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [(kind, name) for kind, name, _ in events] == [
        ("fast", "a"), ("slow", "slow"), ("fast", "b"),
    ]  # fmt: skip
    for _, check, at in events:
        due = {"a": 0.1, "slow": 0.3, "b": 0.5}[check] + start
        assert due <= at <= due + TICK + 0.001  # never early, late by less than a tick


async def test_hurry_supersedes_and_waits_for_a_running_check(autojump_clock: object) -> None:
    ran: list[float] = []

    def fast(check: FakeCheck) -> tuple[bool, object]:
        ran.append(trio.current_time())
        return True, None

    async def slow(check: FakeCheck, pending: object) -> None:  # pragma: no cover
        raise AssertionError("not used")

    scheduler = Scheduler(slow, fast)
    start = trio.current_time()
    check = FakeCheck("a")
    scheduler.add(check, start + 10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_virtual_time(scheduler), nursery)
        await trio.sleep(0.1)
        scheduler.hurry(check, trio.current_time() + 0.2)
        await trio.sleep(1)
        assert len(ran) == 1 and ran[0] < start + 0.4  # the old entry (at 10 s) is dropped
        check.running = True
        scheduler.hurry(check, trio.current_time())  # running: kept for when it ends
        assert check.hurried is not None
        await trio.sleep(11)
        assert len(ran) == 1  # the superseded entry never ran
        nursery.cancel_scope.cancel()


def test_connect_now_on_loopback() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    error, sock = connect_now(socket.AF_INET, ("127.0.0.1", port))
    assert error in (0, errno.EINPROGRESS)  # nearly always 0: the handshake is local
    assert sock.getblocking() is False
    if not error:
        peer, _ = server.accept()
        sock.send(b"ping")  # connected for real: the bytes arrive
        assert peer.recv(4) == b"ping"
        peer.close()
    sock.close()
    server.close()
    error, sock = connect_now(socket.AF_INET, ("127.0.0.1", port))
    sock.close()
    assert error == errno.ECONNREFUSED


def test_connect_now_still_connecting() -> None:
    """A connect the network has not answered yet is EINPROGRESS, not an error."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue: further SYNs are dropped, so the handshake stays pending.
    fillers = []
    error = 0
    for _ in range(8):
        error, sock = connect_now(socket.AF_INET, ("127.0.0.1", port))
        fillers.append(sock)
        if error == errno.EINPROGRESS:
            break
    assert error == errno.EINPROGRESS
    for sock in fillers:
        sock.close()
    listener.close()


async def test_serve_sleeps_when_empty(autojump_clock: object) -> None:
    scheduler = Scheduler(None, None)  # type: ignore[arg-type]
    with trio.move_on_after(5) as scope:
        async with trio.open_nursery() as nursery:
            await on_virtual_time(scheduler)(nursery)
    assert scope.cancelled_caught


async def test_timers_wake_the_scheduler_by_their_deadline(autojump_clock: object) -> None:
    """`timers(now)` runs on every wake-up and its answer wakes the scheduler (the check
    driver's timeouts), even with no check due."""
    start = trio.current_time()
    deadlines = [start + 0.25, start + 0.7]
    calls: list[float] = []

    def timers(now: float) -> float:
        calls.append(now)
        while deadlines and deadlines[0] <= now:
            deadlines.pop(0)
        return deadlines[0] if deadlines else float("inf")

    scheduler = Scheduler(lambda check, pending: trio.sleep(0), lambda check: (True, None))
    scheduler.timers = timers
    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_virtual_time(scheduler), nursery)
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    assert [round(at - start, 3) for at in calls] == [0.0, 0.25, 0.7]


def test_the_tick_follows_the_shortest_interval() -> None:
    assert tick_for(2.0) == MAX_TICK == 0.1  # the default inter: 10 wake-ups a second
    assert tick_for(1.0) == 0.05
    assert tick_for(0.1) == TICK  # short intervals keep the finest tick
    assert tick_for(60) == MAX_TICK
    scheduler = Scheduler(None, None)  # type: ignore[arg-type]
    scheduler.tick = MAX_TICK
    scheduler.fit(1.0)
    scheduler.fit(10.0)  # a longer interval does not coarsen it again
    assert scheduler.tick == 0.05
    scheduler.fit(0.2)
    assert scheduler.tick == TICK


async def test_coarse_ticks_late_by_less_than_a_tick(autojump_clock: object) -> None:
    """With a 50 ms tick a check due between two ticks runs at the next one, and one that
    counts its next interval from `resumed()` keeps its phase: round after round it is late
    by the same few ms (under a tick), the lateness does not add up."""
    runs: list[float] = []
    scheduler = Scheduler(None, None)  # type: ignore[arg-type]

    def fast(check: FakeCheck) -> tuple[bool, object]:
        now = trio.current_time()
        runs.append(now)
        scheduler.add(check, scheduler.resumed(check, now) + 1.0)
        return True, None

    scheduler._fast = fast  # type: ignore[assignment]
    scheduler.tick = 0.05
    start = trio.current_time()
    first = start + 0.013  # between two ticks: each run is late by up to 37 ms
    scheduler.add(FakeCheck("a"), first)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_virtual_time(scheduler), nursery)
        await trio.sleep(20.5)
        nursery.cancel_scope.cancel()
    assert len(runs) == 21
    for k, at in enumerate(runs):
        assert first + k <= at < first + k + 0.05 + 0.001


@pytest.mark.parametrize("timerfd", [True, False], ids=["timerfd", "trio-deadline"])
async def test_real_time_waits_and_an_earlier_add_brings_the_wake_up_forward(
    timerfd: bool,
) -> None:
    """On the real clock the scheduler waits on its timerfd (or, without one, on a trio
    deadline): checks run in due order, never early; a check added for sooner while it
    waits for a later one wakes it in time; with nothing left it sleeps until an add()."""
    runs: list[tuple[str, float]] = []

    def fast(check: FakeCheck) -> tuple[bool, object]:
        runs.append((check.name, trio.current_time()))
        return True, None

    scheduler = Scheduler(None, fast)  # type: ignore[arg-type]
    scheduler.tick = TICK
    start = trio.current_time()
    scheduler.add(FakeCheck("late"), start + 2.0)
    scheduler.add(FakeCheck("first"), start + 0.05)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(scheduler.serve, nursery, timerfd=timerfd))
        await trio.sleep(0.2)  # "first" ran; the scheduler now waits for "late"
        assert scheduler._timer is not None if timerfd else scheduler._wake is not None
        added = trio.current_time()
        scheduler.add(FakeCheck("sooner"), added + 0.1)
        await trio.sleep(0.4)
        nursery.cancel_scope.cancel()
    assert [name for name, _ in runs] == ["first", "sooner"]
    assert start + 0.05 <= runs[0][1] < start + 0.05 + 0.15
    assert added + 0.1 <= runs[1][1] < added + 0.1 + 0.15  # not at start + 2 s


async def test_empty_on_real_time_until_an_add() -> None:
    """Nothing to run: the timer is disarmed, and an add() arms it."""
    runs: list[float] = []

    def fast(check: FakeCheck) -> tuple[bool, object]:
        runs.append(trio.current_time())
        return True, None

    scheduler = Scheduler(None, fast)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.serve, nursery)
        await trio.sleep(0.1)
        assert runs == [] and scheduler._waking == float("inf")
        added = trio.current_time()
        scheduler.add(FakeCheck("a"), added + 0.05)
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    assert len(runs) == 1 and added + 0.05 <= runs[0] < added + 0.05 + 0.2
