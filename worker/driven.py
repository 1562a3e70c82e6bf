"""The HTTP fast path's coroutine driven by the edge poller: a trampoline, not task switches.

A Python coroutine can be run by whoever calls its `send()`. `run_driven(coro)` (awaited by
the session task) runs `coro` and handles what it yields:
- `wait_edge(sock, deadline)` yields a wait marker: the coroutine is hooked on the worker's
  edge poller (worker/fastio.py `hook_edge`, fd -> Driven) and the session task parks once.
  When the fd's edge comes, the poller calls `resume(True)` in its own task (the watchdog,
  at the deadline, `resume(False)`); the coroutine runs on there until its next wait marker
  (hooked again: no task switch at all), or until it returns or raises: then the session
  task is rescheduled and `run_driven` returns the value or raises the error, as a plain
  `await` would.
- `to_trio()`: what follows is a trio operation (a trio wait, a cancel scope, a connect,
  `current_task()` users), which must run in the session task. Driven by the poller, the
  coroutine yields a marker and the session task is rescheduled to go on driving it; driven
  by the task it does nothing.
- Anything else is a trio trap, passed through to trio when the task drives. The poller
  never runs a trap (it would run in the poller's task): met there it is a bug, and
  `InternalError` is thrown into the coroutine in the session task (worker/session.py
  reports it as an [ALERT] and closes that connection only), after the abort of a wait's
  trap took back what it registered; `strays` counts them (tests).
Cancellation of the parked task unhooks the coroutine from the poller and throws the
Cancelled into it in the task, so its finally blocks run as they would under a plain await.
`run_driven` met while a driver already runs (`DRIVE.driving`) is a plain await.
"""

from __future__ import annotations

import contextlib
import socket
import types
from collections.abc import Coroutine, Generator
from typing import Any

from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled

from worker.fastio import hook_edge, unhook_edge, wait_readable_edge


class InternalError(Exception):
    """A trio operation met while the edge poller drove a coroutine (a missing to_trio())."""


class _DriveState:
    """`driving`: the code now running is a driven coroutine; `in_poller`: its driver is
    the edge poller or the watchdog, not the session task."""

    __slots__ = ("driving", "in_poller", "strays")

    def __init__(self) -> None:
        self.driving = False
        self.in_poller = False
        self.strays = 0  # trio traps met by the poller (bugs)


DRIVE = _DriveState()


class _Wait:
    """The wait marker: wake the coroutine with True at `sock`'s next edge, False at `deadline`."""

    __slots__ = ("deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline


class _ToTrio:
    """The marker of to_trio(): go on in the session task."""

    __slots__ = ()


_TO_TRIO = _ToTrio()


@types.coroutine
def _yield(marker: object) -> Generator[object, Any, Any]:
    return (yield marker)


async def wait_edge(sock: socket.socket, deadline: float) -> bool:
    """fastio.wait_readable_edge() for driven code: True at `sock`'s next edge (drained: see
    worker/fastio.py), False when `deadline` passed first."""
    if not DRIVE.driving:
        return await wait_readable_edge(sock, deadline)
    return await _yield(_Wait(sock, deadline))  # type: ignore[no-any-return]


async def to_trio() -> None:
    """Before a trio operation in driven code: have the session task run what follows."""
    if DRIVE.in_poller:
        await _yield(_TO_TRIO)


def _no_cancel() -> None:
    pass


# What the poller tells the parked task (Driven.kind).
_DONE, _RAISED, _GO_ON, _STRAY = range(4)


class Driven:
    """One driven coroutine and its session task; what the poller left for the task."""

    __slots__ = ("coro", "fd", "kind", "payload", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any], task: Task) -> None:
        self.coro = coro
        self.task = task
        self.fd = -1  # the fd it is hooked on, while hooked
        self.kind = _DONE
        self.payload: Any = None

    def resume(self, value: bool) -> None:
        """The poller's (or the watchdog's) turn: run the coroutine until it waits again
        (hooked again), or hand it back to the session task."""
        state = DRIVE
        state.driving = state.in_poller = True
        coro = self.coro
        error: BaseException | None = None
        try:
            while True:
                try:
                    if error is None:
                        marker = coro.send(value)
                    else:
                        marker, error = coro.throw(error), None
                except StopIteration as stop:
                    self._wake(_DONE, stop.value)
                    return
                except BaseException as exc:  # the coroutine's error: raised in the task
                    self._wake(_RAISED, exc)
                    return
                if type(marker) is _Wait:
                    try:
                        if not hook_edge(marker.sock, marker.deadline, self):
                            return  # parked on the poller again: no task switch
                    except Exception as exc:  # (a closed socket: as a wait would raise)
                        error = exc
                        continue
                    value = True  # an edge already came
                elif marker is _TO_TRIO:
                    self._wake(_GO_ON, None)
                    return
                else:
                    state.strays += 1
                    # A wait's trap: what it registered (for the poller's task!) is taken
                    # back by its abort, as trio would on a cancellation.
                    abort = getattr(marker, "abort_func", None)
                    if abort is not None:
                        with contextlib.suppress(Exception):
                            abort(_no_cancel)
                    self._wake(_STRAY, marker)
                    return
        finally:
            state.driving = state.in_poller = False

    def abort(self, _: object) -> Abort:
        """The parked task is cancelled: off the poller (the task throws the Cancelled in)."""
        unhook_edge(self)
        return Abort.SUCCEEDED

    def _wake(self, kind: int, payload: object) -> None:
        self.kind = kind
        self.payload = payload
        reschedule(self.task)


@types.coroutine
def run_driven(coro: Coroutine[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """`await coro`, with its edge waits parked on the poller (see the module)."""
    state = DRIVE
    if state.driving:
        return (yield from coro)  # type: ignore[misc]
    driven: Driven | None = None
    value: Any = None
    error: BaseException | None = None
    while True:
        state.driving = True
        try:
            if error is None:
                marker = coro.send(value)
            else:
                marker, error = coro.throw(error), None
        except StopIteration as stop:
            return stop.value
        finally:
            state.driving = False
        if type(marker) is _Wait:
            if driven is None:
                driven = Driven(coro, current_task())
            try:
                hooked = not hook_edge(marker.sock, marker.deadline, driven)
            except Exception as exc:
                error = exc
                continue
            if not hooked:
                value = True
                continue
            try:
                yield from wait_task_rescheduled(driven.abort).__await__()
            except BaseException as exc:  # cancelled while parked: unhooked, the coroutine
                error = exc  # gets it where it waited (its finally blocks run in the task)
                continue
            kind, payload = driven.kind, driven.payload
            driven.payload = None
            if kind == _DONE:
                return payload
            if kind == _RAISED:
                raise payload
            if kind == _GO_ON:
                value = None
            else:  # _STRAY: the coroutine sits on a trio trap the poller could not run
                error = InternalError(f"trio operation {payload!r} met by the edge poller")
        elif marker is _TO_TRIO:
            value = None
        else:  # a trio trap: to trio, as a plain await would
            try:
                value = yield marker
            except BaseException as exc:
                error = exc
