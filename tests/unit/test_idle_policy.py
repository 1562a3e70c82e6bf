"""haproxy_py/lb/idle_policy.py: which released connections are parked, and the purges.

The decay sequences were measured on haproxy 2.6.12 (one thread, `pool-purge-delay 2s`,
nginx behind it, `ss -tn` twice a second): after `wrk -c50` stopped, 50 idle connections
stayed for two periods, then 36, 23, 13, 7, 3 and 0 remained.
"""

from __future__ import annotations

from haproxy_py.lb.idle_policy import IdleNeed

DELAY = 2.0


def _load(need: IdleNeed, clients: int) -> None:
    for _ in range(clients):
        need.acquire()


def _release_all(need: IdleNeed, idle: int, max_idle: int = -1) -> tuple[int, int]:
    """Every connection in use is released: (parked, closed)."""
    parked = closed = 0
    while need.used:
        if need.may_park(idle + parked, max_idle):
            parked += 1
        else:
            closed += 1
        need.release()
    return parked, closed


def test_the_estimate_rises_with_the_connections_in_use_at_once() -> None:
    need = IdleNeed()
    _load(need, 50)
    assert (need.peak, need.need) == (50, 50)  # haproxy 2.6: need_est 50 within 0.5 s
    assert _release_all(need, 0) == (50, 0)


def test_a_lone_connection_is_always_kept() -> None:
    need = IdleNeed()
    need.acquire()
    assert need.may_park(0, -1)
    need.need = 0  # even with no estimate at all
    assert need.may_park(0, -1)
    assert not need.may_park(1, -1)


def test_after_a_period_under_load_the_peak_is_kept_and_decays_as_haproxy() -> None:
    need = IdleNeed()
    assert need.start(0.0, DELAY)
    assert not need.start(0.5, DELAY)  # already running
    _load(need, 50)
    assert need.next_purge == DELAY
    assert need.purge(0, DELAY, DELAY) == 0  # 50 in use, none idle: nothing to close
    assert need.need == 50 and need.peak == 50
    assert need.next_purge == 2 * DELAY
    assert _release_all(need, 0) == (50, 0)  # the load stops: all 50 are kept
    idle, now, remaining = 50, 2 * DELAY, []
    while need.next_purge is not None:
        now = need.next_purge
        idle -= need.purge(idle, now, DELAY)
        remaining.append(idle)
    assert remaining == [50, 50, 36, 23, 13, 7, 3, 0]
    assert need.purge(0, now + DELAY, DELAY) == 0  # nothing left: the periods stop
    assert need.next_purge is None


def test_excess_released_connections_are_closed_at_once() -> None:
    need = IdleNeed()
    _load(need, 10)
    need.purge(0, DELAY, DELAY)  # need = 10
    need.need = 6  # as after periods of lower use (a new burst raises it again)
    parked = 0
    for _ in range(10):  # the 10 come back one by one: in use + idle stays within 6
        parked += need.may_park(parked, -1)
        need.release()
    assert parked == 6


def test_pool_low_conn_keeps_extra_idle_connections() -> None:
    need = IdleNeed(low=5)
    _load(need, 10)
    need.need = 0
    assert _release_all(need, 0) == (6, 4)  # one warm connection + 5


def test_pool_max_conn_caps_and_zero_disables() -> None:
    need = IdleNeed()
    _load(need, 20)
    need.purge(0, DELAY, DELAY)
    assert _release_all(need, 0, max_idle=4) == (4, 16)
    _load(need, 3)
    assert _release_all(need, 0, max_idle=0) == (0, 3)


def test_connections_in_use_count_against_the_need() -> None:
    need = IdleNeed()
    _load(need, 4)
    need.purge(0, DELAY, DELAY)  # need = 4
    # 4 in use, 1 idle already: releasing one gives 4 + 1 <= 4? no -> closed
    assert not need.may_park(1, -1)
    need.release()
    need.release()  # 2 in use now
    assert need.may_park(1, -1)  # 2 + 1 <= 4
    assert need.may_park(2, -1)  # 2 + 2 <= 4
    assert not need.may_park(3, -1)


def test_the_estimate_follows_each_period_peak() -> None:
    need = IdleNeed()
    _load(need, 8)
    need.purge(0, DELAY, DELAY)  # need 8; the next period's peak starts at the 8 in use
    assert _release_all(need, 0) == (8, 0)
    assert need.purge(8, 2 * DELAY, DELAY) == 0  # the period's peak was 8: all needed
    assert (need.need, need.peak) == (8, 0)
    _load(need, 3)  # this period 3 are used at most (taken from the pool and given back)
    for _ in range(3):
        need.release()
    assert need.purge(8, 3 * DELAY, DELAY) == 0  # 8 - max(3, 8) = 0: no excess yet
    assert need.need == 5  # halfway from 8 toward 3
    assert need.purge(8, 4 * DELAY, DELAY) == 3  # excess 8 - 5 = 3: 2 + 1 closed
    assert need.need == 2
