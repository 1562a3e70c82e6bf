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
"""

from __future__ import annotations

import math

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
            for key in late:
                del deadlines[key]
                expired.add(key)
                notify_closing(key if key >= 0 else ~key)
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
