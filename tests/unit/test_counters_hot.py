"""The per-request counting shortcuts (worker/counters.py, haproxy_py/lb) give what the plain
forms give: inlined time samples equal `timing()`, a sum left unwritten only when unchanged,
session counts returned, the load hooks called only where the load orders servers."""

from __future__ import annotations

import random

import pytest

from haproxy_py.lb import Farm, LbServer
from haproxy_py.lb.algorithms import LeastConn, RoundRobin
from haproxy_py.stats.layout import (
    CTIME_MAX,
    CTIME_N,
    CTIME_SUM,
    QTIME_MAX,
    QTIME_N,
    QTIME_SUM,
    RTIME_MAX,
    RTIME_N,
    RTIME_SUM,
    SCUR,
)
from worker.counters import Counters, count_exchange

TIMES = (QTIME_SUM, QTIME_N, QTIME_MAX, CTIME_SUM, CTIME_N, CTIME_MAX)


@pytest.mark.parametrize("seed", range(5))
def test_connected_is_two_timing_samples(seed: int) -> None:
    rng = random.Random(seed)
    fast, plain = Counters(server=True), Counters(server=True)
    for _ in range(3000):  # past the 1024 samples where the sums start sliding
        # mostly 0 ms (a kept connection), sometimes slow: sums cross 1024 both ways
        queue_ms = rng.choice((0, 0, 0, 0, rng.randrange(5000)))
        connect_ms = rng.choice((0, 0, 0, rng.randrange(300)))
        fast.connected(queue_ms, connect_ms)
        plain.timing(QTIME_SUM, queue_ms)
        plain.timing(CTIME_SUM, connect_ms)
        assert [fast.row[i] for i in TIMES] == [plain.row[i] for i in TIMES]


def test_a_zero_sample_keeps_a_small_sum_and_decays_a_big_one() -> None:
    row = Counters(server=True)
    row.connected(1000, 0)
    row.connected(0, 0)
    assert row.row[QTIME_SUM] == 1000 and row.row[QTIME_N] == 2  # 1000 >> 10 == 0
    row.connected(2048, 0)
    row.connected(0, 0)
    assert row.row[QTIME_SUM] == 3048 - 2 and row.row[QTIME_N] == 4


@pytest.mark.parametrize("seed", range(3))
def test_count_exchange_response_time_is_a_timing_sample(seed: int) -> None:
    rng = random.Random(seed)
    front, back, server, plain = Counters(), Counters(), Counters(server=True), Counters()
    for _ in range(3000):
        ms = rng.choice((0, 0, 0, 1, rng.randrange(4000), -1))
        count_exchange(front, back, server, 200, 40, 300, ms)
        if ms >= 0:
            plain.timing(RTIME_SUM, ms)
        assert [server.row[i] for i in (RTIME_SUM, RTIME_N, RTIME_MAX)] == [
            plain.row[i] for i in (RTIME_SUM, RTIME_N, RTIME_MAX)
        ]
    assert front.row[RTIME_N] == back.row[RTIME_N] == 0  # servers' rows only


def test_sessions_return_the_current_count() -> None:
    row = Counters(server=True)
    assert [row.session_opened() for _ in range(3)] == [1, 2, 3]
    assert row.session_closed() == 2 and row.row[SCUR] == 2
    assert row.session_closed() == 1 and row.session_closed() == 0
    assert row.session_closed() == 0 and row.row[SCUR] == 0  # never below 0


def test_only_leastconn_follows_the_load() -> None:
    a, b = LbServer("a", 1), LbServer("b", 2)
    leastconn = LeastConn(Farm([a, b]))
    assert leastconn._load_ordered and not RoundRobin(Farm([a, b]))._load_ordered
    leastconn.take(a)
    assert leastconn.pick() is b  # reordered by the take
    leastconn.take(b)
    leastconn.take(b)
    leastconn.release(a)
    assert leastconn.pick() is a and a.cur_conns == 0
    leastconn.release(a)
    assert a.cur_conns == 0  # never below 0


def test_a_server_without_maxconn_is_never_full() -> None:
    unlimited, limited = LbServer("u", 1), LbServer("l", 2, maxconn=1)
    farm = Farm([unlimited, limited], fullconn=10)
    unlimited.pending = limited.pending = 3
    unlimited.cur_conns = 1000
    assert not farm.is_full(unlimited) and farm.is_full(limited)
    limited.pending = 0
    assert not farm.is_full(limited)
    limited.cur_conns = 1
    assert farm.is_full(limited)
