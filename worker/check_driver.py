"""Checks that talk after connecting (httpchk, tcp-check, protocol checks), without a task each.

When the scheduler's try (worker/checks.py `_try_now`) has connected at once, the rest of
the dialogue runs here: `Driver.start()` drives the probe generator as far as the socket
allows (a send is tried at once, a receive too, except the one right after the
request, which the registration reports), and registers the socket in one
edge-triggered epoll shared by every check of the worker. One task (`Driver.serve`) waits
for that epoll to be readable and for the earliest deadline, and resumes the checks whose
sockets are ready or whose time is up; the check scheduler also reads what is ready at the
end of each of its wake-ups (`ready()`), which spares this task most of its own. A check
costs its system calls and a few dict operations, not a trio task, a cancel scope and a
wait per step.
Only plans whose one connect is the implicit first step come here (a `connect` rule needs a
new socket mid-dialogue: those run in a task, worker/checks.py `run_check`).
`start_plan()` skips the probe for the usual dialogue (one request, then the answer): the
request a plan sends first is worked out once per (plan, up) by a dry run of its probe
(equal plans, one per server of a backend, share it), and the result the probe gives for
an answer that came in one piece is remembered by those bytes (a server answering as
last time, or as its neighbours did, costs a dict look-up, not a generator, a response
parser and an expect). Anything else (a send that finds no room, an error, an answer the
probe wants more of, a timeout) gets a real probe, replayed to the same point: the probe
is a pure function of its plan and outcomes, so both ways give the same result. Servers
of a backend mostly answer alike within a second: even with a changing `Date` header most
answers come from memory (bench/checks.py `--http --date`: 7.9 % CPU, 10.7 % without).
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

from haproxy_py.checks.probe import Connect, IoError, Plan, Receive, Send, run
from haproxy_py.checks.status import CheckResult
from worker.check_scheduler import close_reset

RECV_SIZE = 16 * 1024
# Waiting to read: not EPOLLOUT, which an edge-triggered registration would report at once
# (a new socket has room) for nothing. A send that finds no room adds it.
_READ_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
_EVENTS = _READ_EVENTS | select.EPOLLOUT
# Answers remembered per distinct (plan, up): a server whose answer changes every time
# (a Date header...) must not grow it without bound; when full it starts afresh.
MEMO_SIZE = 64
MEMO_BYTES = 4096  # longer answers are not remembered
_UNKNOWN = object()


def drivable(plan: Plan) -> bool:
    """A plan whose only connect is the implicit first step (the scheduler's try made it)."""
    return all(step.number == 0 for step in plan.steps if step.action == "connect")


@dataclass(eq=False, slots=True)
class _Active:
    check: Any
    sock: _socket.socket
    probe: Generator[Any, Any, CheckResult] | None  # None: start_plan() has not needed it
    started: float
    deadline: float
    action: Any = None  # what the probe waits for: Send (with `left`) or Receive
    left: memoryview | None = None  # the rest of a send the socket had no room for
    writing: bool = False  # registered for EPOLLOUT too
    # start_plan() without a probe yet (None once it has one): (plan, up, remembered answers)
    memo: tuple[Plan, bool, dict[bytes, CheckResult]] | None = None


class Driver:
    def __init__(self, finish: Callable[[Any, CheckResult], None], *, timers: bool = True) -> None:
        """`finish(check, result)`: the check is over (its result carries its duration).
        `timers=False`: `serve()` waits for the epoll only (no cancel scope per wake-up);
        the caller runs `expire(now)` by the deadline it returns (the check scheduler
        does, on its wake-ups, worker/check_scheduler.py)."""
        self._timers = timers
        self._finish = finish
        self._epoll = select.epoll()
        self._active: dict[int, _Active] = {}
        self._deadlines: list[tuple[float, int, _Active]] = []
        self._order = itertools.count()
        self._wake: trio.CancelScope | None = None
        # (id(plan), up) -> (the plan (kept: its id stays its own), its first request or
        # None when its dialogue is not one request then the answer, remembered answers)
        self._plans: dict[tuple[int, bool], tuple[Plan, bytes | None, dict]] = {}
        # Every server has a plan object of its own: equal plans share one entry (answers
        # remembered for the whole backend, and one bound on their memory).
        self._distinct: list[tuple[Plan, bool, bytes | None, dict]] = []

    def _learn(self, plan: Plan, up: bool) -> tuple[Plan, bytes | None, dict]:
        found = next((d for d in self._distinct if d[1] == up and d[0] == plan), None)
        if found is None:
            found = (plan, up, _first_request(plan, up), {})
            self._distinct.append(found)
        request, answers = found[2], found[3]
        known = self._plans[(id(plan), up)] = (plan, request, answers)
        return known

    def start_plan(
        self, check: Any, sock: _socket.socket, plan: Plan, up: bool,
        started: float, deadline: float,
    ) -> None:  # fmt: skip
        """Like `start(check, sock, run(plan, up=up), ...)`, without the probe when it can."""
        known = self._plans.get((id(plan), up))
        if known is None:
            known = self._learn(plan, up)
        request = known[1]
        if request is None:
            self.start(check, sock, run(plan, up=up), started, deadline)
            return
        error = None
        try:
            sent = sock.send(request)
        except BlockingIOError:
            sent = 0  # no room: the probe's send waits for it
        except OSError as exc:
            sent, error = -1, IoError(text=os.strerror(exc.errno or errno.EIO))
        if sent != len(request):
            probe = run(plan, up=up)
            next(probe)  # the implicit connect
            action = probe.send(None)  # the request
            active = _Active(check, sock, probe, started, deadline)
            if error is None:
                active.action, active.left = action, memoryview(request)[sent:]
            if not self._advance(active, error, fresh=True):
                return
        else:
            active = _Active(check, sock, None, started, deadline, memo=(plan, up, known[2]))  # type: ignore[arg-type]
        fd = sock.fileno()
        active.writing = active.left is not None
        self._epoll.register(fd, _EVENTS if active.writing else _READ_EVENTS)
        self._active[fd] = active
        heapq.heappush(self._deadlines, (deadline, next(self._order), active))
        if self._wake is not None and deadline < self._wake.deadline:
            self._wake.deadline = deadline

    def _answer(self, active: _Active) -> None:
        """The answer to a `start_plan()` request is there (or the end, or an error)."""
        try:
            outcome: Any = active.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return  # nothing yet after all
        except OSError as exc:
            outcome = IoError(text=os.strerror(exc.errno or errno.EIO))
        assert active.memo is not None
        answers = active.memo[2]
        if outcome.__class__ is bytes:
            result = answers.get(outcome)
            if result is not None:
                active.memo = None
                self._end(active, result, registered=True)
                return
        probe = self._replay(active)
        try:
            action = probe.send(outcome)
        except StopIteration as done:
            if outcome.__class__ is bytes and len(outcome) <= MEMO_BYTES:
                if len(answers) >= MEMO_SIZE:
                    answers.clear()
                answers[outcome] = done.value
            self._end(active, done.value, registered=True)
            return
        active.action = action
        if isinstance(action, Send):
            active.left = memoryview(action.data)
        self._advance(active, None)

    def _replay(self, active: _Active) -> Generator[Any, Any, CheckResult]:
        """A real probe for a `start_plan()` check, brought to where it is: its request
        sent, waiting for the answer."""
        assert active.memo is not None
        plan, up, _ = active.memo
        active.memo = None
        probe = active.probe = run(plan, up=up)
        next(probe)  # the implicit connect
        probe.send(None)  # the request
        probe.send(None)  # sent: now it waits for the answer
        return probe

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
        if active.probe is not None:
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
            if active.memo is not None:
                self._replay(active)
            active.action = None
            self._advance(active, IoError(timeout=True))

    def expire(self, now: float) -> float:
        """End the checks whose time is up; the earliest deadline left (inf: none)."""
        heap = self._deadlines
        if heap and heap[0][0] <= now:
            self._expire(now)
        while heap and heap[0][0] != heap[0][2].deadline:
            heapq.heappop(heap)  # stale entries of checks already ended
        return heap[0][0] if heap else math.inf

    def ready(self) -> None:
        """Go on with the checks whose sockets are ready, without waiting. The check
        scheduler calls it at the end of each of its wake-ups: the answers that came while
        it started checks are read then, saving this task a wake-up of its own."""
        for fd, _events in self._epoll.poll(0):
            active = self._active.get(fd)
            if active is None:
                continue
            if active.memo is not None:
                self._answer(active)
            else:
                self._advance(active, None)

    async def serve(self) -> None:
        """Resume checks as their sockets become ready or their time runs out."""
        try:
            while True:
                self.ready()
                if not self._timers:
                    await wait_readable(self._epoll.fileno())
                    continue
                wake = self.expire(trio.current_time())
                with trio.CancelScope(deadline=wake) as self._wake:
                    await wait_readable(self._epoll.fileno())
                self._wake = None
        finally:
            for active in list(self._active.values()):
                if active.probe is not None:
                    active.probe.close()
                active.sock.close()
            self._active.clear()
            self._epoll.close()


def _first_request(plan: Plan, up: bool) -> bytes | None:
    """The bytes a plan sends right after its implicit connect when its dialogue goes on
    with a receive (a dry run of its probe, every step working); None for another shape."""
    probe = run(plan, up=up)
    try:
        if not isinstance(next(probe), Connect):
            return None
        action = probe.send(None)
        if not isinstance(action, Send) or not action.data:
            return None
        if not isinstance(probe.send(None), Receive):
            return None
        return bytes(action.data)
    except StopIteration:
        return None
    finally:
        probe.close()
