"""The pure rate arithmetic behind maxconnrate, maxsessrate and rate-limit sessions."""

from __future__ import annotations

import pytest

from haproxy_py.lb.ratelimit import (
    MARGIN,
    RateCounter,
    allowance,
    c_atoi,
    delay,
    estimate,
    normalize,
    share,
)


def test_normalize_brings_slots_to_one_second() -> None:
    assert normalize(100, 7, 3, 100) == (7, 3)
    assert normalize(99, 7, 3, 100) == (0, 7)  # its current second is our previous one
    assert normalize(97, 7, 3, 100) == (0, 0)  # silent for a while
    assert normalize(0, 0, 0, 100) == (0, 0)  # never written


def test_estimate_slides_the_previous_second_out() -> None:
    assert estimate(0, 20, 0.0) == 20
    assert estimate(0, 20, 0.5) == 10
    assert estimate(5, 20, 0.75) == 10


def test_allowance_floors_the_estimate() -> None:
    assert allowance(20, 0, 0, 0.3) == 20
    assert allowance(20, 19, 0, 0.3) == 1
    assert allowance(20, 20, 0, 0.3) == 0
    assert allowance(20, 0, 20, 0.0) == 0
    assert allowance(20, 0, 20, 0.025) == 1  # 19.5 counts as 19
    assert allowance(20, 30, 0, 0.9) == 0  # never negative
    assert allowance(0, 10**6, 10**6, 0.0) > 10**6  # 0: no limit


@pytest.mark.parametrize(
    ("limit", "current", "previous", "elapsed"),
    [(20, 20, 0, 0.25), (20, 0, 20, 0.0), (20, 10, 20, 0.2), (20, 45, 30, 0.6), (1, 1, 1, 0.9),
     (3, 2, 9, 0.1)],
)  # fmt: skip
def test_delay_is_when_the_allowance_comes_back(
    limit: int, current: int, previous: int, elapsed: float
) -> None:
    """Replay the counters to the predicted instant: allowed then, not a little before."""
    wait = delay(limit, current, previous, elapsed)
    assert wait > 0

    def allowed_after(seconds: float) -> int:
        t = elapsed + seconds
        cur, prev = current, previous
        while t >= 1.0:
            t -= 1.0
            cur, prev = 0, cur
        return allowance(limit, cur, prev, t)

    assert allowed_after(wait) >= 1
    assert allowed_after(wait - 2 * MARGIN) == 0


def test_delay_is_zero_when_allowed() -> None:
    assert delay(20, 3, 4, 0.5) == 0.0
    assert delay(0, 100, 100, 0.5) == 0.0


def test_steady_burst_is_spread_at_the_limit() -> None:
    """100 events offered at once against 20/s, one clock, accepted as allowed: the last
    one goes about 4 seconds after the first (20 at once, then 20 per second)."""
    counter = RateCounter()
    now = 1000.0
    accepted: list[float] = []
    while len(accepted) < 100:
        second = int(now)
        cur, prev = counter.counts(second)
        if allowance(20, cur, prev, now - second):
            counter.add(now)
            accepted.append(now)
        else:
            now += delay(20, cur, prev, now - second)
    assert accepted[19] == 1000.0
    assert 3.8 <= accepted[-1] - accepted[0] <= 5.0
    # never more than the limit over any one-second window, give or take one
    for i, start in enumerate(accepted):
        within = [t for t in accepted[i:] if t < start + 1.0]
        assert len(within) <= 21


def test_counter_rolls_with_the_clock() -> None:
    counter = RateCounter()
    counter.add(50.2)
    counter.add(50.9, 2)
    assert counter.counts(50) == (3, 0)
    counter.add(51.1)
    assert counter.counts(51) == (1, 3)
    assert counter.counts(52) == (0, 1)
    assert counter.counts(60) == (0, 0)
    counter.seed(70, 4, 5)
    counter.add(70.5)
    assert counter.counts(70) == (5, 5)


def test_share_splits_what_is_allowed() -> None:
    assert share(20, 1) == 20
    assert share(20, 2) == 10
    assert share(3, 2) == 2
    assert share(1, 4) == 1
    assert share(0, 2) == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [("10", 10), ("+5", 5), ("12abc", 12), ("x", 0), ("", 0), ("-1", -1), ("  7", 7),
     ("99999999999", 1215752191), ("4294967295", -1), ("2147483648", -2147483648),
     ("99999999999999999999", -1), ("-3", -3)],
)  # fmt: skip
def test_c_atoi_reads_as_haproxy_does(text: str, value: int) -> None:
    assert c_atoi(text) == value
