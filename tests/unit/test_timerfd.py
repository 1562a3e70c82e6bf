"""The timerfd the check scheduler waits on: readable once its time is up, not before; a
new arming (or a disarm) replaces the last and clears an expiry not read."""

from __future__ import annotations

import os
import select
import time

import pytest

from haproxy_py.process.timerfd import Timer


def _readable(timer: Timer, within: float) -> bool:
    poller = select.poll()
    poller.register(timer.fileno(), select.POLLIN)
    return bool(poller.poll(within * 1000))


@pytest.fixture
def timer() -> Timer:
    made = Timer.create()
    assert made is not None, "Linux with glibc has timerfd_create"
    yield made  # type: ignore[misc]
    made.close()


def test_readable_when_its_time_is_up(timer: Timer) -> None:
    assert not _readable(timer, 0.05)  # created disarmed
    start = time.monotonic()
    timer.arm(0.1)
    assert not _readable(timer, 0.05)
    assert _readable(timer, 1.0)
    assert 0.1 <= time.monotonic() - start < 0.5


def test_rearming_clears_an_expiry_not_read(timer: Timer) -> None:
    timer.arm(0)  # 0 or less: at once (0 itself would disarm a timerfd)
    assert _readable(timer, 0.5)
    timer.arm(10)
    assert not _readable(timer, 0.05)
    timer.arm(-1)
    assert _readable(timer, 0.5)
    timer.disarm()
    assert not _readable(timer, 0.05)


def test_seconds_and_nanoseconds(timer: Timer) -> None:
    timer.arm(1.25)  # split into 1 s and 250,000,000 ns
    assert not _readable(timer, 1.0)
    assert _readable(timer, 1.0)


def test_close_once(timer: Timer) -> None:
    fd = timer.fileno()
    timer.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed (nothing in this test opens a descriptor that could reuse it)
    timer.close()  # a second close is nothing, not someone else's descriptor closed
    assert timer.fileno() == -1
