"""Waiting on a socket until a deadline, without a cancel scope per wait.

`trio.move_on_at()` around each `wait_readable()` costs about as much as the wait itself
(measured on the 2-core VM: ~20 µs of 40 per wait): a cancel scope is entered and left, its
deadline is pushed on trio's heap and its cancel status rebuilt. The HTTP session waits twice
per request, so it uses `wait_readable(fd, deadline)` / `wait_writable(fd, deadline)` here
instead: a plain trio wait, with the deadline written into a dict that one watchdog task per
trio run (a system task started on first use) reads. When a deadline passes, the watchdog calls
`trio.lowlevel.notify_closing(fd)`, which wakes the waiter with ClosedResourceError; the waiter
turns that into `False` ("timed out") and the caller goes on in place, socket intact (trio
registers the fd again on its next wait).
Rules:
- one waiter per fd at a time among the users of this module (an HTTP session owns its two
  sockets; the tunnel relay, which waits on both directions at once, does not use it);
- the watchdog sleeps until the earliest deadline (at most every RESOLUTION seconds, so a
  stream of expiries costs a bounded number of scans), and not at all while nobody waits
  with a deadline; a wait with an earlier deadline than its next wake wakes it;
- a ClosedResourceError that is not our timeout (the fd really being closed by someone) is
  re-raised; trio.Cancelled passes through untouched.

`wait_readable_edge(sock, deadline)` is the same wait on a worker-owned edge-triggered epoll
(EPOLLIN|EPOLLRDHUP|EPOLLET): a socket is registered once (again only when its fd number
now belongs to another socket object), so a wait costs no `epoll_ctl` (trio's registrations
are one-shot: one `epoll_ctl` per wait, ~10 % of an HTTP exchange's CPU). One system task
waits on that epoll's fd through trio (one trio registration per batch of events) and wakes
the parked waiters; an edge that comes while nobody waits is remembered and ends the next
wait at once. The caller's rule, because an edge is reported once: wait only when the socket
is known to be drained, i.e. after a recv that said EAGAIN or returned less than asked for
(a short TCP read means the receive queue was empty), with nothing read since; a wait that
ends without data (a remembered old edge) is harmless: recv says EAGAIN, wait again.
`hook_edge(sock, deadline, driven)` is that wait for a coroutine driven by worker/driven.py:
no task parks here; the poller calls `driven.resume(True)` at the edge (the watchdog
`resume(False)` at the deadline), which runs the coroutine on in the poller's (watchdog's)
task; `unhook_edge` takes it off when its session task is cancelled. Direct waits
(`_EdgePoller.direct`) are for the other waits only.

`tick_clock(clock)` makes the counters' CoarseClock (worker/counters.py) read the monotonic
clock once per turn of the event loop, after each I/O wait (a trio instrument, installed once
per trio run; when the run ends the clock goes back to reading the time on each call).
`run_time(clock)` is trio's time as of that tick (no clock read: trio's system clock is the
monotonic one shifted), for the fast path's deadlines and its pairs of log timers; like
HAProxy's `now_ms`, it may be behind by the length of the current loop turn.
"""

from __future__ import annotations

import math
import select
import socket
import sys
import time
from typing import Protocol

import outcome
import trio
from trio.lowlevel import (
    Abort,
    RunVar,
    current_task,
    notify_closing,
    reschedule,
    spawn_system_task,
    wait_task_rescheduled,
)
from trio.lowlevel import wait_readable as _trio_wait_readable
from trio.lowlevel import wait_writable as _trio_wait_writable

from worker.counters import CoarseClock

RESOLUTION = 0.005  # seconds: the shortest gap between two scans of the deadlines
INF = math.inf


class _Watchdog:
    """The deadlines of the parked waiters (fd for reads, ~fd for writes) and the task that
    wakes the late ones."""

    __slots__ = ("deadlines", "expired", "next_wake", "task")

    def __init__(self) -> None:
        self.deadlines: dict[int, float] = {}
        self.expired: set[int] = set()
        self.next_wake = INF
        self.task: trio.lowlevel.Task | None = None  # set while parked without a deadline

    def kick(self) -> None:
        """A deadline earlier than the planned wake was added."""
        task = self.task
        if task is not None:
            self.task = None
            reschedule(task)

    async def run(self) -> None:
        deadlines = self.deadlines
        expired = self.expired
        while True:
            now = trio.current_time()
            earliest = INF
            late = []
            for key, deadline in deadlines.items():
                if deadline <= now:
                    late.append(key)
                elif deadline < earliest:
                    earliest = deadline
            edge = _EDGE.get(None)
            woke_driven = False
            for key in late:
                if deadlines.get(key, INF) > now:
                    continue  # (a driven coroutine resumed just before moved or ended it)
                del deadlines[key]
                driven = edge.driven.pop(key, None) if edge is not None else None
                if driven is not None:  # a driven coroutine (worker/driven.py): "timed out"
                    driven.resume(False)  # (it may set new deadlines)
                    woke_driven = True
                    continue
                expired.add(key)
                task = edge.waiters.pop(key, None) if edge is not None else None
                if task is not None:
                    reschedule(task, outcome.Value(False))  # an edge wait: "timed out"
                else:
                    notify_closing(key if key >= 0 else ~key)
            if woke_driven:
                earliest = min(deadlines.values(), default=INF)
            if earliest < INF:
                earliest = max(earliest, now + RESOLUTION)
            self.next_wake = earliest
            await self._sleep_until(earliest)

    async def _sleep_until(self, deadline: float) -> None:
        # Parked by hand so that kick() can wake us with a plain reschedule; the deadline is
        # the one cancel scope of this task, renewed only when the planned wake changes.
        self.task = current_task()

        def abort(_: object) -> Abort:
            self.task = None
            return Abort.SUCCEEDED

        with trio.move_on_at(deadline):
            await wait_task_rescheduled(abort)
        self.task = None


_WATCHDOG: RunVar[_Watchdog] = RunVar("haproxy_py_fastio_watchdog")


def _watchdog() -> _Watchdog:
    try:
        return _WATCHDOG.get()
    except LookupError:
        dog = _Watchdog()
        _WATCHDOG.set(dog)
        spawn_system_task(dog.run, name="fastio watchdog")
        return dog


async def wait_readable(fd: int, deadline: float) -> bool:
    """Wait until `fd` is readable (True) or `deadline` passed (False)."""
    if deadline == INF:
        await _trio_wait_readable(fd)
        return True
    return await _wait(fd, fd, deadline, _trio_wait_readable)


async def wait_writable(fd: int, deadline: float) -> bool:
    """Wait until `fd` is writable (True) or `deadline` passed (False)."""
    if deadline == INF:
        await _trio_wait_writable(fd)
        return True
    return await _wait(fd, ~fd, deadline, _trio_wait_writable)


async def _wait(fd: int, key: int, deadline: float, wait: object) -> bool:
    dog = _watchdog()
    if deadline <= trio.current_time():
        await trio.lowlevel.checkpoint()
        return False
    dog.deadlines[key] = deadline
    if deadline < dog.next_wake:
        dog.next_wake = deadline
        dog.kick()
    try:
        await wait(fd)  # type: ignore[operator]
    except trio.ClosedResourceError:
        if key in dog.expired:
            return False
        raise
    finally:
        dog.deadlines.pop(key, None)
        dog.expired.discard(key)
    return True


class _ClockTicker(trio.abc.Instrument):
    """Refreshes a CoarseClock after each of trio's I/O waits, for as long as the run lasts."""

    def __init__(self, clock: CoarseClock) -> None:
        self.clock = clock
        clock.tick()
        clock.live = True
        # trio's system clock is perf_counter() (CLOCK_MONOTONIC on Linux, as monotonic())
        # plus a fixed offset: its time is then `now` plus that offset, no read needed.
        run_clock = trio.lowlevel.current_clock()
        if type(run_clock).__name__ == "SystemClock" and sys.platform == "linux":
            clock.run_offset = run_clock.current_time() - time.monotonic()

    def after_io_wait(self, timeout: float) -> None:
        self.clock.tick()

    def after_run(self) -> None:
        self.clock.live = False
        self.clock.run_offset = None


_TICKING: RunVar[CoarseClock] = RunVar("haproxy_py_fastio_clock")


def run_time(clock: CoarseClock) -> float:
    """trio.current_time() as of the last loop turn (`clock` ticked by tick_clock): for
    deadlines in seconds and timers in milliseconds read in pairs on this same clock."""
    offset = clock.run_offset
    if offset is None or not clock.live:
        return trio.current_time()
    return clock.now + offset


def tick_clock(clock: CoarseClock) -> None:
    """Have `clock` ticked once per loop turn of the current trio run (once is enough)."""
    if _TICKING.get(None) is clock:
        return
    _TICKING.set(clock)
    trio.lowlevel.add_instrument(_ClockTicker(clock))


_EDGE_MASK = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET


# How many edge waits between two looks at the load, and the events per wake below which
# waits go direct (above the second, back to the edge poller; in between, as they are).
_EVALUATE_EVERY = 256
_DIRECT_BELOW = 3.0
_EDGE_ABOVE = 5.0


class _EdgePoller:
    """The worker's edge-triggered epoll: registered sockets, parked waiters, unclaimed edges;
    and whether waits go `direct` (trio's own one-shot wait) while events come alone."""

    __slots__ = (
        "direct",
        "drained",
        "driven",
        "epoll",
        "off",
        "registered",
        "seen",
        "turns",
        "waiters",
        "waits",
    )

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.registered: dict[int, socket.socket] = {}  # fd -> the socket registered on it
        self.waiters: dict[int, trio.lowlevel.Task] = {}
        self.driven: dict[int, _Driven] = {}  # fd -> a coroutine this task drives on its edge
        self.seen: set[int] = set()  # fds whose edge came while nobody waited
        self.drained: set[int] = set()  # client fds noted drained by their session
        self.off: set[int] = set()  # registered fds whose edges are masked (direct waits)
        self.direct = False
        self.turns = 0  # trio loop turns (I/O waits) since the last look at the load
        self.waits = 0  # edge waits asked for since then

    def look_at_load(self) -> None:
        """Direct waits when few events come per wake, the edge poller when many do.

        A wake of the edge poller costs a task switch, an epoll_wait and trio's one-shot
        re-arming of the epoll fd, on top of the woken session's own switch; worth it only
        when it wakes several sessions (it saves their `epoll_ctl` each). Events per wake:
        waits per loop turn, twice that on the edge poller (its wake takes a turn of its own).
        """
        per_turn = self.waits / max(self.turns, 1)
        per_wake = per_turn if self.direct else 2 * per_turn
        if self.direct and per_wake > _EDGE_ABOVE:
            self.direct = False
        elif not self.direct and per_wake < _DIRECT_BELOW:
            self.direct = True
        self.turns = self.waits = 0

    async def run(self) -> None:
        epoll = self.epoll
        fd = epoll.fileno()
        waiters = self.waiters
        driven = self.driven
        seen = self.seen
        deadlines = _watchdog().deadlines
        try:
            while True:
                await _trio_wait_readable(fd)
                for ready, _ in epoll.poll(0):
                    hooked = driven.pop(ready, None)
                    if hooked is not None:
                        deadlines.pop(ready, None)
                        hooked.resume(True)  # runs it here, up to its next wait or its end
                        continue
                    task = waiters.pop(ready, None)
                    if task is None:
                        seen.add(ready)
                    else:
                        reschedule(task, outcome.Value(True))
        finally:
            epoll.close()

    def register(self, sock: socket.socket, fd: int) -> None:
        try:
            self.epoll.register(fd, _EDGE_MASK)
        except FileExistsError:  # the fd number's previous socket is still listed
            self.epoll.modify(fd, _EDGE_MASK)
        self.registered[fd] = sock
        # The registration reports the socket's present state as an edge; an edge
        # remembered for the fd number's previous socket means nothing for this one.
        self.seen.discard(fd)
        self.off.discard(fd)


class _Driven(Protocol):
    """What worker/driven.py hooks on an fd: resumed with True at its edge, False at its
    deadline; `fd`: where it is hooked."""

    fd: int

    def resume(self, value: bool) -> None: ...


class _TurnCounter(trio.abc.Instrument):
    """Counts trio's loop turns for the edge poller's look at the load."""

    def __init__(self, poller: _EdgePoller) -> None:
        self.poller = poller

    def after_io_wait(self, timeout: float) -> None:
        self.poller.turns += 1


_EDGE: RunVar[_EdgePoller] = RunVar("haproxy_py_fastio_edge")


def _edge_poller() -> _EdgePoller:
    try:
        return _EDGE.get()
    except LookupError:
        poller = _EdgePoller()
        _EDGE.set(poller)
        spawn_system_task(poller.run, name="fastio edge poller")
        trio.lowlevel.add_instrument(_TurnCounter(poller))
        return poller


def note_drained(fd: int) -> None:
    """The caller's note that `fd` was left drained (a short read, nothing read since)."""
    _edge_poller().drained.add(fd)


def take_drained(fd: int) -> bool:
    """Whether `fd` was noted drained since the last call (which forgets the note)."""
    drained = _edge_poller().drained
    if fd in drained:
        drained.discard(fd)
        return True
    return False


async def wait_readable_edge(sock: socket.socket, deadline: float) -> bool:
    """Wait until `sock` (drained: see the module) has news (True) or `deadline` passed."""
    poller = _edge_poller()
    poller.waits += 1
    if poller.waits >= _EVALUATE_EVERY:
        poller.look_at_load()
    fd = sock.fileno()
    if poller.direct:
        # trio's level-triggered wait; this socket's edges masked (one `epoll_ctl`, not one
        # a wait) so that they do not wake the edge poller for nothing.
        if fd not in poller.off and poller.registered.get(fd) is sock:
            poller.epoll.modify(fd, select.EPOLLET)  # (errors and hang-ups: once, as edges)
            poller.off.add(fd)
        return await wait_readable(fd, deadline)
    if poller.registered.get(fd) is not sock:
        poller.register(sock, fd)
    elif fd in poller.off:
        # Unmasked: the socket's present state is reported as an edge, so data that came
        # while it was masked is not missed.
        poller.epoll.modify(fd, _EDGE_MASK)
        poller.off.discard(fd)
    seen = poller.seen
    if fd in seen:
        seen.discard(fd)
        return True
    dog = _watchdog()
    # (No clock read for a deadline already passed: the watchdog, kicked below, finds it
    # late on its next scan and wakes us with False.)
    if deadline < INF:
        dog.deadlines[fd] = deadline
        if deadline < dog.next_wake:
            dog.next_wake = deadline
            dog.kick()
    waiters = poller.waiters
    waiters[fd] = current_task()

    def abort(_: object) -> Abort:
        waiters.pop(fd, None)
        return Abort.SUCCEEDED

    try:
        return await wait_task_rescheduled(abort)  # type: ignore[no-any-return]
    finally:
        dog.deadlines.pop(fd, None)
        dog.expired.discard(fd)


def hook_edge(sock: socket.socket, deadline: float, driven: _Driven) -> bool:
    """wait_readable_edge() for a driven coroutine (worker/driven.py): True when an edge
    already came (go on at once); else False, `driven` hooked on the fd: the edge poller
    resumes it with True at the next edge, the watchdog with False at `deadline`. Direct
    waits are not used: the poller's wake runs the coroutine itself, no session task switch."""
    poller = _edge_poller()
    fd = sock.fileno()
    if poller.registered.get(fd) is not sock:
        poller.register(sock, fd)
    elif fd in poller.off:
        poller.epoll.modify(fd, _EDGE_MASK)  # unmasked: the present state comes as an edge
        poller.off.discard(fd)
    seen = poller.seen
    if fd in seen:
        seen.discard(fd)
        return True
    if deadline < INF:
        dog = _watchdog()
        dog.deadlines[fd] = deadline
        if deadline < dog.next_wake:
            dog.next_wake = deadline
            dog.kick()
    driven.fd = fd
    poller.driven[fd] = driven
    return False


def unhook_edge(driven: _Driven) -> None:
    """Take a hooked coroutine off the poller (its task was cancelled while parked)."""
    poller = _edge_poller()
    fd = driven.fd
    if poller.driven.get(fd) is driven:
        del poller.driven[fd]
        _watchdog().deadlines.pop(fd, None)
