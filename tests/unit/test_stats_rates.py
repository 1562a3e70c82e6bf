"""show stat's rates, time averages, lastsess and the columns filled from the configuration,
read from a real (in-memory) stats table whose worker slots are written by worker/counters.py's
`Counters` (the data path's own code) under a controlled monotonic clock."""

from __future__ import annotations

import csv as csvlib
import io
from pathlib import Path

import pytest

import worker.counters as counters_module
from haproxy_py.stats import reading as stat_reading
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import (
    LASTSESS,
    QTIME_SUM,
    RATE_SEC,
    SCUR,
    SESS_CUR,
    SESS_MAX,
    SESS_PREV,
    STOT,
    TTIME_SUM,
)
from tests.helpers import load_text, stats_table
from worker.counters import Counters, FrontendCounters, roll

CFG = """\
global
    stats socket /tmp/w2-unused.sock
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:19210
    maxconn 500
    default_backend be
backend be
    fullconn 300
    server s1 127.0.0.1:1 maxconn 20 maxqueue 7
    server s2 127.0.0.1:2
backend empty
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One monotonic clock for the writers (worker/counters.py) and the reader (csv.py)."""
    clock = Clock(1000.0)
    monkeypatch.setattr(counters_module, "_monotonic", clock)
    monkeypatch.setattr(stat_reading, "_clock", clock)
    return clock


def rows_of(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = text.splitlines()
    header = lines[0][2:].split(",")
    reader = csvlib.reader(io.StringIO("\n".join(line for line in lines[1:] if line)))
    return {(row[0], row[1]): dict(zip(header, row, strict=True)) for row in reader}


def test_roll_keeps_the_previous_second_and_the_peak() -> None:
    row = Counters().row
    row[RATE_SEC], row[SESS_CUR] = 10, 7
    roll(row, 11)
    assert (row[RATE_SEC], row[SESS_CUR], row[SESS_PREV], row[SESS_MAX]) == (11, 0, 7, 7)
    row[SESS_CUR] = 3
    roll(row, 13)  # a silent second in between: nothing carries over
    assert (row[SESS_CUR], row[SESS_PREV], row[SESS_MAX]) == (0, 0, 7)


def test_time_average_over_the_samples_so_far_then_sliding() -> None:
    counters = Counters(server=True)
    for ms in (10, 20, 30):
        counters.timing(QTIME_SUM, ms)
    assert counters.row[QTIME_SUM] // counters.row[QTIME_SUM + 1] == 20
    for _ in range(5000):  # far beyond 1024 samples: the average follows the new value
        counters.timing(QTIME_SUM, 100)
    assert counters.row[QTIME_SUM + 1] == 1024
    assert 95 <= counters.row[QTIME_SUM] // 1024 <= 100


def test_total_time_pairs_starts_and_ends(clock: Clock) -> None:
    counters = Counters(server=True)
    counters.session_opened()  # at 1000.0
    clock.now = 1000.5
    counters.session_opened()
    clock.now = 1001.0
    counters.session_closed()  # pairs with the first start: 1000 ms
    counters.session_closed()  # 500 ms
    assert counters.row[TTIME_SUM] == 1500 and counters.row[TTIME_SUM + 1] == 2
    assert counters.row[LASTSESS] == 1001  # second 1000, plus one


def test_rates_interpolate_and_add_the_workers(tmp_path: Path, clock: Clock) -> None:
    with stats_table(tmp_path, CFG, workers=2) as (table, config):
        fe_row = table.layout.frontend("fe")
        front = [FrontendCounters(table.counter_row(w, fe_row)) for w in (0, 1)]
        for _ in range(10):
            front[0].session_opened()
            front[0].http_requests += 1
        clock.now = 1001.25  # a quarter into the next second: 3/4 of the last one counts
        for _ in range(4):
            front[1].session_opened()
        fe = rows_of(show_stat(table, config))[("fe", "FRONTEND")]
        # worker 0: 10 in second 1000 (previous) -> 7.5; worker 1: 4 in the current second
        assert fe["rate"] == "11" and fe["conn_rate"] == "11"
        assert fe["req_rate"] == "7" and fe["req_rate_max"] == "10"  # second 1000 had 10
        assert fe["rate_max"] == "11"
        assert fe["stot"] == "14" and fe["conn_tot"] == "14" and fe["req_tot"] == "10"
        clock.now = 1003.0  # two silent seconds: no rate; the peaks stay
        fe = rows_of(show_stat(table, config))[("fe", "FRONTEND")]
        assert (fe["rate"], fe["req_rate"]) == ("0", "0")
        # The workers' busiest seconds (10 and 4), added like smax: an upper bound.
        assert (fe["rate_max"], fe["req_rate_max"]) == ("14", "10")


def test_times_lastsess_and_maxima_of_servers(tmp_path: Path, clock: Clock) -> None:
    with stats_table(tmp_path, CFG, workers=2) as (table, config):
        layout = table.layout
        s1 = [Counters(table.counter_row(w, layout.server_row("be", "s1")), server=True)
              for w in (0, 1)]  # fmt: skip
        s1[0].connected(2, 4)
        s1[1].connected(0, 10)  # average over both slots: 7; the longest: 10
        s1[1].session_opened()
        clock.now = 1000.5
        s1[1].session_closed()
        clock.now = 1005.9
        rows = rows_of(show_stat(table, config))
        s1_row, s2_row, be_row = rows[("be", "s1")], rows[("be", "s2")], rows[("be", "BACKEND")]
        assert (s1_row["ctime"], s1_row["ctime_max"]) == ("7", "10")
        assert (s1_row["ttime"], s1_row["ttime_max"]) == ("500", "500")
        assert (s1_row["qtime"], s1_row["qtime_max"], s1_row["rtime"]) == ("1", "2", "0")
        assert s1_row["lastsess"] == "5" and s2_row["lastsess"] == "-1"
        assert s1_row["rate"] == "0" and s1_row["stot"] == "1" and s1_row["lbtot"] == "1"
        # The backend's: its servers' combined (s2 has no samples), picks and attempts too.
        assert (be_row["ctime"], be_row["ttime"], be_row["lastsess"]) == ("7", "500", "5")
        assert (be_row["ctime_max"], be_row["lbtot"]) == ("10", "1")


def test_columns_haproxy_fills_from_the_configuration(tmp_path: Path, clock: Clock) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        rows = rows_of(show_stat(table, config))
    fe, s1, s2 = rows[("fe", "FRONTEND")], rows[("be", "s1")], rows[("be", "s2")]
    be, empty = rows[("be", "BACKEND")], rows[("empty", "BACKEND")]
    assert (fe["slim"], fe["rate_lim"], fe["comp_in"], fe["cache_hits"]) == ("500", "0", "0", "0")
    assert (s1["slim"], s1["qlimit"], s2["slim"], s2["qlimit"]) == ("20", "7", "", "")
    assert be["slim"] == "300" and be["agg_server_status"] == "0" and be["downtime"] == "0"
    # A backend without any server is UP in HAProxy 2.6 (checked on haproxy), no downtime.
    assert (empty["status"], empty["act"], empty["weight"], empty["downtime"]) == (
        "UP", "0", "0", "",
    )  # fmt: skip
    # A stats socket gives HAProxy's CLI proxy id 1: the first proxy is numbered 2.
    assert (fe["iid"], be["iid"], empty["iid"]) == ("2", "3", "4")


def test_proxy_ids_start_at_one_without_a_stats_socket(tmp_path: Path) -> None:
    result = load_text(tmp_path, CFG.replace("    stats socket /tmp/w2-unused.sock\n", ""))
    assert result.config is not None
    assert [proxy.uuid for proxy in result.config.proxies] == [1, 2, 3]


def test_many_servers_each_row_reads_its_own_slots(tmp_path: Path, clock: Clock) -> None:
    """5,000 servers over 8 workers: each row's sums and maxima are its own (the indexes built
    once per call must point at the right rows)."""
    servers = "".join(f"    server s{i} 10.0.{i // 250}.{i % 250 + 1}:80\n" for i in range(5000))
    text = CFG.split("\nbackend be\n")[0] + "\nbackend be\n" + servers
    with stats_table(tmp_path, text, workers=8) as (table, config):
        layout = table.layout
        for worker in range(8):
            for i in range(0, 5000, 7):
                row = table.counter_row(worker, layout.server_row("be", f"s{i}"))
                row[STOT] = i + worker  # summed: 8 * i + 28
                row[SCUR] = 1
                row[LASTSESS] = 1000 - (i % 50) + (worker == 3)  # highest: worker 3's
        rows = rows_of(show_stat(table, config))
    for i in range(5000):
        row = rows[("be", f"s{i}")]
        if i % 7:
            assert (row["stot"], row["scur"], row["lastsess"]) == ("0", "0", "-1")
        else:
            assert row["stot"] == str(8 * i + 28) and row["scur"] == "8"
            assert row["lastsess"] == str(i % 50)
    assert rows[("be", "BACKEND")]["act"] == "5000"
