"""Checks that talk after connecting (httpchk, tcp-check, protocol checks), without a task each.

When the scheduler's try (worker/checks.py `_try_now`) has connected at once, the rest of
the dialogue runs here: `Driver.start()` drives the probe generator as far as the socket
allows (a send is tried at once, a receive too, except the one right after the
request, which the registration reports), and registers the socket in one
edge-triggered epoll shared by every check of the worker. One task (`Driver.serve`) waits
for that epoll to be readable and for the earliest deadline, and resumes the checks whose
sockets are ready or whose time is up. A check costs its system calls and a few dict
operations, not a trio task, a cancel scope and a wait per step.
Only plans whose one connect is the implicit first step come here (a `connect` rule needs a
new socket mid-dialogue: those run in a task, worker/checks.py `run_check`).
Rules: every socket registered is closed when its check ends, on every way out (closing
takes it out of the epoll set: no socket is ever dup'ed); deadlines are those of
`run_check` (the rest of `inter`, or `timeout check` once connected).
"""

from __future__ import annotations

import _socket
import errno
import heapq
import itertools
import math
import os
import select
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import trio
from trio.lowlevel import wait_readable

from haproxy_py.checks.probe import Connect, IoError, Plan, Receive, Send
from haproxy_py.checks.status import CheckResult
from worker.check_scheduler import close_reset

RECV_SIZE = 16 * 1024
# Waiting to read: not EPOLLOUT, which an edge-triggered registration would report at once
# (a new socket has room) for nothing. A send that finds no room adds it.
_READ_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
_EVENTS = _READ_EVENTS | select.EPOLLOUT


def drivable(plan: Plan) -> bool:
    """A plan whose only connect is the implicit first step (the scheduler's try made it)."""
    return all(step.number == 0 for step in plan.steps if step.action == "connect")


@dataclass(eq=False, slots=True)
class _Active:
    check: Any
    sock: _socket.socket
    probe: Generator[Any, Any, CheckResult]
    started: float
    deadline: float
    action: Any = None  # what the probe waits for: Send (with `left`) or Receive
    left: memoryview | None = None  # the rest of a send the socket had no room for
    writing: bool = False  # registered for EPOLLOUT too


class Driver:
    def __init__(self, finish: Callable[[Any, CheckResult], None]) -> None:
        """`finish(check, result)`: the check is over (its result carries its duration)."""
        self._finish = finish
        self._epoll = select.epoll()
        self._active: dict[int, _Active] = {}
        self._deadlines: list[tuple[float, int, _Active]] = []
        self._order = itertools.count()
        self._wake: trio.CancelScope | None = None

    def start(
        self, check: Any, sock: _socket.socket, probe: Generator[Any, Any, CheckResult],
        started: float, deadline: float,
    ) -> None:  # fmt: skip
        """Go on with a probe whose implicit connect just completed on `sock`."""
        active = _Active(check, sock, probe, started, deadline)
        try:
            action = next(probe)
            assert isinstance(action, Connect)
        except StopIteration as done:  # pragma: no cover - every plan connects first
            self._end(active, done.value, registered=False)
            return
        if not self._advance(active, None, fresh=True):
            return
        fd = sock.fileno()
        active.writing = active.left is not None  # a send waits for room
        self._epoll.register(fd, _EVENTS if active.writing else _READ_EVENTS)
        self._active[fd] = active
        heapq.heappush(self._deadlines, (deadline, next(self._order), active))
        if self._wake is not None and deadline < self._wake.deadline:
            self._wake.deadline = deadline

    def _advance(self, active: _Active, outcome: Any, *, fresh: bool = False) -> bool:
        """Feed the probe until it waits on the socket (True) or ends (False, finished).
        `fresh`: the check has just connected; its first receive after its request is not
        tried (the server cannot have answered yet): the epoll registration that follows
        reports the answer, even one already there."""
        sock = active.sock
        sent = False
        while True:
            if active.action is None:
                try:
                    action = active.probe.send(outcome)
                except StopIteration as done:
                    self._end(active, done.value, registered=active.sock.fileno() in self._active)
                    return False
                if isinstance(action, Send):
                    active.left = memoryview(action.data)
                elif not isinstance(action, Receive):  # another connect: never in a drivable plan
                    raise AssertionError(f"check driver got {action!r}")
                active.action = action
            if isinstance(active.action, Send):
                left = active.left
                assert left is not None
                try:
                    while left:
                        left = left[sock.send(left) :]
                except BlockingIOError:
                    if not fresh and not active.writing:  # registered for reading only
                        self._epoll.modify(sock.fileno(), _EVENTS)
                        active.writing = True
                    active.left = left
                    return True  # no room: EPOLLOUT resumes it
                except OSError as exc:
                    outcome = IoError(text=os.strerror(exc.errno or errno.EIO))
                else:
                    outcome = None
                    sent = fresh
                active.action = active.left = None
                continue
            if sent:
                return True  # EPOLLIN resumes it
            try:
                outcome = sock.recv(RECV_SIZE)
            except BlockingIOError:
                return True  # nothing yet: EPOLLIN resumes it
            except OSError as exc:
                outcome = IoError(text=os.strerror(exc.errno or errno.EIO))
            active.action = None

    def _end(self, active: _Active, result: CheckResult, *, registered: bool) -> None:
        if registered:  # closing the socket below takes it out of the epoll set
            self._active.pop(active.sock.fileno(), None)
        active.probe.close()
        close_reset(active.sock)
        active.deadline = math.inf  # its heap entry is now stale
        duration = int((trio.current_time() - active.started) * 1000)
        self._finish(active.check, result.timed(duration))

    def _expire(self, now: float) -> None:
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, _, active = heapq.heappop(heap)
            if deadline != active.deadline:
                continue  # ended already
            active.action = None
            self._advance(active, IoError(timeout=True))

    async def serve(self) -> None:
        """Resume checks as their sockets become ready or their time runs out."""
        try:
            while True:
                for fd, _events in self._epoll.poll(0):
                    active = self._active.get(fd)
                    if active is not None:
                        self._advance(active, None)
                now = trio.current_time()
                self._expire(now)
                heap = self._deadlines
                while heap and heap[0][0] != heap[0][2].deadline:
                    heapq.heappop(heap)  # stale entries of checks already ended
                wake = heap[0][0] if heap else math.inf
                with trio.CancelScope(deadline=wake) as self._wake:
                    await wait_readable(self._epoll.fileno())
                self._wake = None
        finally:
            for active in list(self._active.values()):
                active.probe.close()
                active.sock.close()
            self._active.clear()
            self._epoll.close()
