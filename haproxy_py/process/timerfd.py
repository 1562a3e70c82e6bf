"""A one-shot timer a trio task can wait on like a socket: a Linux timerfd.

Why: a task woken by a trio deadline (a cancel scope, `trio.sleep`) goes through trio's
cancellation machinery on every wake-up: an exception raised, caught and unwound through the
scope, about twice the Python of a wake-up on a readable descriptor. The check scheduler
wakes 10-50 times a second for as long as the worker lives (worker/check_scheduler.py), so
it waits with `wait_readable(timer.fileno())` instead.
Python 3.13 has os.timerfd_create; 3.11 and 3.12 reach the same system calls through ctypes
(glibc on every system we ship to). `Timer.create()` answers None where neither works, and
the caller keeps the trio deadline.
Rules: `arm()` always re-arms through timerfd_settime, which also clears an expiry not yet
read, so the descriptor is readable only for the latest arming and is never read; the
descriptor is non-blocking and close-on-exec; `close()` once, by the owner.
"""

from __future__ import annotations

import ctypes
import os

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_NS = 1_000_000_000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc_calls() -> tuple[object, object] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime = libc.timerfd_create, libc.timerfd_settime
    except (OSError, AttributeError):
        return None
    create.argtypes, create.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settime.argtypes = (
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(_Itimerspec),
        ctypes.POINTER(_Itimerspec),
    )
    settime.restype = ctypes.c_int
    return create, settime


class Timer:
    """One timerfd on CLOCK_MONOTONIC (the clock of time.monotonic() and trio's)."""

    def __init__(self, fd: int, settime: object | None) -> None:
        self._fd = fd
        self._settime = settime  # libc's, or None with os.timerfd_settime_ns
        self._spec = _Itimerspec()  # reused: one arming allocates nothing
        self._ref = ctypes.byref(self._spec)

    @classmethod
    def create(cls) -> Timer | None:
        """A disarmed timer, or None when this system has no timerfd for us."""
        flags = _TFD_NONBLOCK | _TFD_CLOEXEC
        if hasattr(os, "timerfd_create"):  # Python 3.13+
            try:
                return cls(os.timerfd_create(_CLOCK_MONOTONIC, flags=flags), None)
            except OSError:
                return None
        calls = _libc_calls()
        if calls is None:
            return None
        create, settime = calls
        fd = create(_CLOCK_MONOTONIC, flags)  # type: ignore[operator]
        return None if fd < 0 else cls(fd, settime)

    def fileno(self) -> int:
        return self._fd

    def arm(self, delay: float) -> None:
        """Readable in `delay` seconds (at once for 0 or less); replaces any earlier arming."""
        ns = max(1, int(delay * _NS))  # 0 would disarm it
        self._set(ns)

    def disarm(self) -> None:
        self._set(0)

    def _set(self, ns: int) -> None:
        settime = self._settime
        if settime is None:
            os.timerfd_settime_ns(self._fd, initial=ns)  # type: ignore[attr-defined]
            return
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(ns, _NS)
        if settime(self._fd, 0, self._ref, None) != 0:  # type: ignore[operator]
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
