"""When checks run: one scheduler task with a heap of due times, not a task per server.

`Scheduler.serve()` sleeps until the earliest due check, then starts every check that is
due. A plain connect check (`check` alone) is first tried without any task or wait
(`try_now`): a non-blocking connect, and, when it is still in progress, a second connect
call, which says whether it completed; on a loopback or LAN server the answer is nearly
always there already, so the check costs a few system calls and no task switch. Any other
check, or a connect still in progress, runs in a task of its own (`slow`), which
reschedules the server when it ends.
The scheduler wakes on tick boundaries, running every check due by then; the tick is a
twentieth of the shortest interval in use, between TICK and MAX_TICK (`fit`): a wake-up costs
trio's run loop, woken cold, far more than a check does, so fewer is the main saving. A
check is due again an interval after it was due (not after it ran): its lateness (`late`,
under a tick) does not add up round after round.
It waits on a timerfd (haproxy_py/process/timerfd.py), armed once per wake-up for the next:
readable-descriptor wake-ups cost trio about half the Python of a deadline's (no
cancellation raised and unwound). Where there is no timerfd it waits on a trio deadline.
`hurry(check, due)` brings a check forward (`observe`'s `on-error`): the heap keeps the old
entry, which is skipped when popped (its due time is no longer the check's).
Rules: one heap entry is current per check (`check.due`); a running check is never
started twice; the scheduler owns no socket (a check's socket lives in its try or task).
"""

from __future__ import annotations

import _socket
import errno
import heapq
import itertools
import math
import socket
import struct
from collections.abc import Awaitable, Callable

import trio
from trio.lowlevel import wait_readable

from haproxy_py.process.timerfd import Timer

# The scheduler wakes on multiples of its tick (seconds): the checks due within one tick
# run together, so 1,000 servers every 2 s cost 10 wake-ups a second (a tick of 100 ms),
# not 500. Checks are late by less than a tick: under 5 % of their shortest interval, and
# never more than MAX_TICK. One wake-up of the worker costs about 0.3 ms of CPU even on a
# timerfd (0.4 ms on a trio deadline; the VM's own part is 0.1 ms): trio's run loop after
# 100 ms asleep runs on cold caches. That is six plain checks' worth; at 20 wake-ups a
# second instead of 10, 1,000 servers cost 5.1-5.3 % of a core instead of 4.4-4.8 %.
TICK = 0.02  # the finest tick (intervals up to 400 ms)
MAX_TICK = 0.1  # the coarsest (intervals from 2 s)


def tick_for(interval: float) -> float:
    """The tick for checks whose shortest interval is `interval` seconds."""
    return min(MAX_TICK, max(TICK, interval / 20))


class Scheduler:
    def __init__(
        self,
        slow: Callable[[object, object], Awaitable[None]],
        fast: Callable[[object], tuple[bool, object]],
    ) -> None:
        """`fast(check)`: (True, None) when the check is done, else (False, what `slow(check,
        pending)` is to go on from: the try's socket and times, or None)."""
        self._slow = slow
        self._fast = fast
        self.tick = TICK  # the worker's starts at MAX_TICK, lowered by fit()
        self._heap: list[tuple[float, int, object]] = []
        self._order = itertools.count()
        self._wake: trio.CancelScope | None = None  # waiting on a trio deadline
        self._timer: Timer | None = None  # or on this timer
        # When the timer is armed for while the scheduler waits on it (inf: disarmed); -inf
        # while it runs checks (their add() calls arm nothing: it arms once, after them).
        self._waking = -math.inf
        self.now = 0.0  # trio clock of the current wake-up: the checks due then run now
        self.on_wake: Callable[[], None] | None = None  # called once per wake-up first
        # Called on every wake-up, after the checks due: ends what has timed out elsewhere
        # (the check driver's dialogues) and says by when to wake up next for it.
        self.timers: Callable[[float], float] | None = None

    def fit(self, interval: float) -> None:
        """Make the tick fine enough for a check run every `interval` seconds."""
        self.tick = min(self.tick, tick_for(interval))

    def _tick(self, due: float) -> float:
        tick = self.tick
        return math.ceil(due / tick) * tick

    def add(self, check: object, due: float) -> None:
        """(Re)schedule `check` at `due` (trio clock)."""
        check.due = due  # type: ignore[attr-defined]
        heapq.heappush(self._heap, (due, next(self._order), check))
        if due < self._waking and self._timer is not None:  # waiting for a later wake-up
            self._waking = self._tick(due)
            self._timer.arm(self._waking - trio.current_time())
        elif self._wake is not None and due < self._wake.deadline:
            self._wake.deadline = self._tick(due)

    def resumed(self, check: object, now: float) -> float:
        """What the check's next interval counts from, for a check that ended at `now`:
        `now` less the lateness it started with (under a tick), so that it does not add up
        from one round to the next."""
        late = check.late  # type: ignore[attr-defined]
        return now - (late if late < self.tick else self.tick)

    def hurry(self, check: object, due: float) -> None:
        if check.running:  # type: ignore[attr-defined]
            check.hurried = due  # type: ignore[attr-defined]  # applied when it ends
        elif due < check.due:  # type: ignore[attr-defined]
            self.add(check, due)

    async def serve(self, nursery: trio.Nursery, *, timerfd: bool = True) -> None:
        """Run the checks as they fall due, until cancelled. `timerfd=False`: wait on a trio
        deadline even where a timerfd exists (the way taken where none does; the one way
        for a trio clock that is not real time, a test's MockClock)."""
        timer = Timer.create() if timerfd else None
        if timer is None:
            while True:
                wake = self._run_due(nursery)
                with trio.CancelScope(deadline=wake) as self._wake:
                    await trio.sleep_forever()
                self._wake = None
        self._timer = timer
        fd = timer.fileno()
        try:
            while True:
                wake = self._run_due(nursery)
                self._waking = wake
                if wake != math.inf:
                    timer.arm(wake - trio.current_time())
                else:
                    timer.disarm()  # until add() arms it
                await wait_readable(fd)
                self._waking = -math.inf
        finally:
            self._timer = None
            timer.close()

    def _run_due(self, nursery: trio.Nursery) -> float:
        """Start every check due now; when to wake up next (trio clock, inf: nothing due)."""
        heap = self._heap
        now = self.now = trio.current_time()
        if heap and heap[0][0] <= now and self.on_wake is not None:
            self.on_wake()
        while heap and heap[0][0] <= now:
            due, _, check = heapq.heappop(heap)
            if due != check.due or check.running:  # type: ignore[attr-defined]
                continue  # superseded by a later add() or hurry()
            check.late = now - due  # type: ignore[attr-defined]
            done, pending = self._fast(check)
            if not done:
                check.running = True  # type: ignore[attr-defined]
                nursery.start_soon(self._slow, check, pending)
        timers = math.inf if self.timers is None else self.timers(now)
        wake = self._tick(heap[0][0]) if heap else math.inf
        return timers if timers < wake else wake


_LINGER_RESET = struct.pack("ii", 1, 0)
_SOL_SOCKET, _SO_LINGER = socket.SOL_SOCKET, socket.SO_LINGER


def close_reset(sock: _socket.socket) -> None:
    """Close a check's connection with an RST, as HAProxy does: no FIN exchange, and no
    TIME_WAIT left behind for every check of every server."""
    try:  # noqa: SIM105 (a try costs less than a `suppress` block, one per check)
        sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    sock.close()


# Non-blocking from its creation (no setblocking call), and close-on-exec as Python makes
# every socket.
_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK


def connect_now(family: int, address: object) -> tuple[int, _socket.socket]:
    """A non-blocking connect tried at once: (0, sock) connected, (EINPROGRESS, sock) still
    going (the caller waits for it), (errno, sock) failed. The caller closes `sock`.
    The socket is the bare C `_socket.socket` (every method a check uses, without the
    Python wrapper's construction and close): one per check adds up."""
    sock = _socket.socket(family, _STREAM_NONBLOCK)
    error = sock.connect_ex(address)
    if error == errno.EINPROGRESS:
        # Asking again is the cheapest look at it (one system call, no poll set): EISCONN
        # once the handshake is done (on loopback, nearly always), EALREADY while it goes
        # on, or why it failed (ECONNREFUSED...).
        error = sock.connect_ex(address)
        if error == errno.EISCONN:
            error = 0
        elif error == errno.EALREADY:
            error = errno.EINPROGRESS
    return error, sock
