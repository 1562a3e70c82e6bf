"""`show stat`'s fast path (haproxy_py/stats/csv.py) against plain reference computations.

The CSV is built from per-kind assemblies, the counters summed with map(add), the rates of
every row computed at once from strided columns and the lines written with one %-format. Each
piece is checked here against the obvious slow computation on random tables (every counter
slot random, rates dated now, a second ago and long ago, check texts with commas and
quotes), and the CSV against the records the other renderers use.
"""

from __future__ import annotations

import array
import random
from pathlib import Path

import pytest

from haproxy_py.stats import csv as stat_csv
from haproxy_py.stats import reading as stat_reading
from haproxy_py.stats.layout import (
    CHECK_STATUSES,
    RATE_SEC,
    REQ_CUR,
    REQ_MAX,
    REQ_PREV,
    SESS_CUR,
    SESS_MAX,
    SESS_PREV,
    pack_text,
)
from haproxy_py.stats.records import csv_text, stat_records
from tests.helpers import stats_table

NOW = 1_700_000_000
SECOND = 5_000_000.37  # the monotonic clock the rates are dated with
CFG = """\
defaults
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend fe
    mode http
    bind 127.0.0.1:20390
    maxconn 50
    default_backend bh
frontend ft
    mode tcp
    bind 127.0.0.1:20391
    default_backend bt
backend bh
    mode http
    balance leastconn
    fullconn 30
    server s1 10.0.0.1:80 check observe layer7 maxqueue 4
    server s2 10.0.0.2:80 check slowstart 10s weight 50 maxconn 3
    server s3 10.0.0.3:80 backup check
    server s4 10.0.0.4:80 check agent-check agent-port 9999
    server s5 10.0.0.5:80 track bh/s1
    server s6 10.0.0.6:80
    server s7 10.0.0.7:80 disabled
backend bt
    mode tcp
    server t1 10.0.1.1:80 check
    server t2 10.0.1.2:80 track bh/s2
backend empty
    mode http
"""


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stat_reading, "_clock", lambda: SECOND)


def randomize(table, rnd: random.Random) -> None:  # type: ignore[no-untyped-def]
    for worker in range(table.layout.workers):
        block = table.counter_block(worker)
        for index in range(len(block)):
            block[index] = rnd.choice([0, 1, rnd.randrange(1000), rnd.randrange(10**12)])
        for row in table.layout.rows[1:]:
            dated = rnd.choice([0, int(SECOND), int(SECOND) - 1, int(SECOND) - 2])
            block[row.offset + RATE_SEC] = dated
        del block
    for slot in table.layout.servers:
        table.write_admin(
            slot, admin_state=rnd.choice([0, 0, 1, 8, 32]), uweight=rnd.randrange(257)
        )
        text = rnd.choice(["", "Layer4 check passed", 'a, b "q"', "é"])
        table.write_health(
            slot, 0, op_state=rnd.randrange(4), check_status=rnd.randrange(len(CHECK_STATUSES)),
            check_health=rnd.randrange(6), check_code=rnd.randrange(600),
            check_duration=rnd.randrange(50), last_change=NOW - rnd.randrange(100),
            down_since=rnd.choice([0, NOW - 5]), changed_ms=NOW * 1000 - rnd.randrange(20000),
            agent_status=rnd.randrange(len(CHECK_STATUSES)), agent_health=rnd.randrange(2),
            **pack_text(text), **pack_text(rnd.choice(["", "up"]), "agent_info"),
        )  # fmt: skip


def reference_rates(blocks, offset: int) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """One row's rates, slot by slot, as the straightforward loop computes them."""
    second = int(SECOND)
    left = 1.0 - (SECOND - second)
    sessions = requests = 0.0
    peak_sessions = peak_requests = 0
    for block in blocks:
        seen = block[offset + RATE_SEC]
        current_sessions, current_requests = block[offset + SESS_CUR], block[offset + REQ_CUR]
        if seen == second:
            sessions += current_sessions + block[offset + SESS_PREV] * left
            requests += current_requests + block[offset + REQ_PREV] * left
            current_sessions = current_requests = 0
        elif seen == second - 1:
            sessions += current_sessions * left
            requests += current_requests * left
        peak_sessions += max(block[offset + SESS_MAX], current_sessions)
        peak_requests += max(block[offset + REQ_MAX], current_requests)
    rate, request_rate = int(sessions), int(requests)
    return rate, max(peak_sessions, rate), request_rate, max(peak_requests, request_rate)


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_rates_of_every_row_at_once(tmp_path: Path, workers: int) -> None:
    rnd = random.Random(workers)
    with stats_table(tmp_path, CFG, workers) as (table, config):
        for _ in range(10):
            randomize(table, rnd)
            reading = stat_csv._Reading(table, config, NOW)
            for row in table.layout.rows[1:]:
                assert reading.rates(row) == reference_rates(reading.blocks, row.offset)


@pytest.mark.parametrize("count", [1, 2, 8])
def test_blocks_summed_slot_by_slot(count: int) -> None:
    rnd = random.Random(count)
    blocks = [
        memoryview(array.array("Q", [rnd.randrange(2**64) for _ in range(300)]))
        for _ in range(count)
    ]
    assert stat_csv._summed(blocks) == [sum(slots) for slots in zip(*blocks, strict=True)]


def test_lines_quote_as_a_csv_writer_would() -> None:
    rnd = random.Random(1)
    pool = ["", 0, 12345678901, "UP", "a,b", 'q"x', "l\nb", "c\rr", "é", -1]
    for _ in range(3000):
        values = tuple(
            rnd.choice(pool) if rnd.random() < 0.05 else rnd.choice(pool[:4]) for _ in range(128)
        )
        expected = [
            '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text
            for text in map(str, values)
        ]
        assert stat_csv._line(values) == ",".join(expected) + ",\n"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_csv_is_the_records(tmp_path: Path, workers: int) -> None:
    rnd = random.Random(10 + workers)
    with stats_table(tmp_path, CFG, workers) as (table, config):
        for _ in range(10):
            randomize(table, rnd)
            for words in ([], ["bh", "-1", "-1"], ["-1", "4", "-1"], ["bh", "4", "3"]):
                records = stat_records(table, config, words, now=NOW)
                assert records is not None
                assert stat_csv.show_stat(table, config, words, now=NOW) == csv_text(records)
                # every column present, "" where empty; one row per CSV line
                assert all(list(record) == list(stat_csv.STAT_COLUMNS) for record in records)
