"""The worker's accept-rate gates over a real two-slot stats table: what this worker may
accept given the other worker's counts, the wait it predicts, limits changed at run time."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from haproxy_py.lb.ratelimit import delay
from haproxy_py.stats.layout import RATE_SEC, SESS_CUR, SESS_PREV
from tests.helpers import TIMEOUTS, stats_table
from worker.rate_limit import RateLimits

CFG = f"""\
global
    maxsessrate 0
defaults
    mode tcp
{TIMEOUTS}frontend limited
    bind 127.0.0.1:18080
    rate-limit sessions 20
    default_backend be
frontend free
    bind 127.0.0.1:18081
    default_backend be
backend be
    server s1 127.0.0.1:1
"""


def write_slot(table, worker: int, frontend: str, second: int, cur: int, prev: int) -> None:
    row = table.counter_row(worker, table.layout.frontend(frontend))
    row[RATE_SEC], row[SESS_CUR], row[SESS_PREV] = second, cur, prev


def test_frontend_gate_shares_what_the_other_worker_left(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG, workers=2) as (table, config):
        limits = RateLimits(config, table, 0)
        limited, free = limits.frontends["limited"], limits.frontends["free"]
        assert limited.active and not free.active  # no global limit: free costs nothing
        gate = limited.own
        assert gate is not None
        write_slot(table, 1, "limited", 500, 15, 0)  # the other worker: 15 this second
        assert gate.refill(500.25) == 3  # 5 left, this worker's half, rounded up
        write_slot(table, 1, "limited", 499, 20, 0)  # 20 in the second before
        assert gate.refill(500.5) == 5  # rate now 10: 10 left, half of it
        for _ in range(5):
            gate.counter.add(500.5)
        assert gate.refill(500.5) == 3  # 15 counted: 5 left
        gate.counter.add(500.5, 5)
        assert gate.refill(500.5) == 0
        assert gate.wait == delay(20, 10, 20, 0.5) > 0
        # another worker's old second counts for nothing
        write_slot(table, 1, "limited", 400, 99, 99)
        assert gate.refill(500.9) > 0


def test_global_limit_set_at_run_time_seeds_from_own_slots(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG, workers=2) as (table, config):
        limits = RateLimits(config, table, 0)
        free = limits.frontends["free"]
        assert not free.active
        second = int(time.monotonic())
        write_slot(table, 0, "free", second, 4, 0)  # this worker's own sessions so far
        write_slot(table, 0, "limited", second, 3, 0)
        write_slot(table, 1, "free", second, 2, 0)  # the other worker's
        limits.set_global("connections", 10)
        assert free.active and limits.frontends["limited"].gates == (
            limits.frontends["limited"].own,
            limits.global_gate,
        )
        assert limits.global_gate.counter.counts(second) == (7, 0)  # seeded: 4 + 3
        assert limits.global_gate.refill(second + 0.1) == 1  # 10 - 7 - 2 = 1 left
        limits.set_global("sessions", 5)  # the lower of the two is in force
        assert limits.global_gate.limit == 5
        limits.set_global("connections", 0)
        limits.set_global("sessions", 0)
        assert not free.active
        limits.set_global("ssl-sessions", 9)
        limits.set_global("http-compression", 3000000)
        assert limits.info() == {
            "ConnRateLimit": 0, "SessRateLimit": 0, "SslRateLimit": 9,
            "CompressBpsRateLim": 3072000000,
        }  # fmt: skip
        assert not free.active  # TLS and compression limit nothing here


def test_waiting_loop_wakes_when_the_limit_is_lifted(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG, workers=1) as (table, config):

        async def main() -> float:
            limits = RateLimits(config, table, 0)
            free = limits.frontends["free"]
            limits.set_global("connections", 20)
            limits.global_gate.counter.add(time.monotonic(), 40)
            assert not free.allows()  # no budget yet: wait() looks at the counts
            assert limits.global_gate.refill(time.monotonic()) == 0
            assert limits.global_gate.wait > 0.5  # 40 this second against 20: next second
            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(free.wait)
                await trio.sleep(0.05)
                limits.set_global("connections", 0)  # `set rate-limit connections global 0`
            assert not free.active
            return trio.current_time() - started

        assert trio.run(main) < 0.4
