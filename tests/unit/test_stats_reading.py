"""One reading of the stats table (haproxy_py/stats/reading.py): the workers' blocks added as
big integers when no slot can carry into the next, slot by slot otherwise, idle blocks left
out, and the `addr` column of a dynamic server read from its admin row."""

from __future__ import annotations

import array
import random
from pathlib import Path

import pytest

from haproxy_py.runtime_api.dynamic_servers import REGISTERED
from haproxy_py.stats import reading as R
from haproxy_py.stats.csv import show_stat
from tests.helpers import stats_table
from tests.unit.test_dynamic_servers import CONFIG, add


def blocks_of(values: list[list[int]]) -> list[memoryview]:
    return [memoryview(array.array("Q", block)) for block in values]


def reference(blocks: list[memoryview]) -> list[int]:
    return [sum(slots) for slots in zip(*blocks, strict=True)]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 8, 9, 17, 256])
def test_integer_sum_at_the_edge_of_carrying(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The largest values the fast path takes (top byte just allowed: every slot's sum
    fits in 64 bits) are added as integers, without the slot-by-slot `add`; one value
    above it in one slot of one block sends the blocks the exact, slot-by-slot way."""
    rnd = random.Random(count)
    top = 2 ** (64 - (count - 1).bit_length()) - 1  # the largest value allowed
    values = [
        [rnd.choice([0, 1, top, rnd.randrange(top)]) for _ in range(50)] for _ in range(count)
    ]
    values[0][7] = values[-1][7] = top
    blocks = blocks_of(values)
    calls: list[int] = []

    def counted_add(a: int, b: int) -> int:
        calls.append(1)
        return a + b

    monkeypatch.setattr(R, "add", counted_add)
    assert R.summed(blocks) == reference(blocks)
    assert bool(calls) == (count < R._FEWEST_FOR_INTEGERS)  # integers from 3 blocks on
    calls.clear()
    values[count // 2][13] = top + 1  # could carry into the next slot
    blocks = blocks_of(values)
    assert R.summed(blocks) == reference(blocks)
    assert calls
    blocks = blocks_of([[2**64 - 1] * 50 for _ in range(count)])  # every slot past 64 bits
    assert R.summed(blocks) == reference(blocks) == [(2**64 - 1) * count] * 50


@pytest.mark.parametrize("count", [3, 8])
def test_integer_sum_of_random_blocks(count: int) -> None:
    rnd = random.Random(100 + count)
    for high in (2**20, 2**40, 2**60, 2**64):
        blocks = blocks_of([[rnd.randrange(high) for _ in range(997)] for _ in range(count)])
        assert R.summed(blocks) == reference(blocks)


def test_idle_blocks_are_left_out() -> None:
    blocks = blocks_of([[0] * 10, [0, 3] + [0] * 8, [0] * 10, [1] * 10])
    raws = [block.tobytes() for block in blocks]
    kept, kept_raws = R.busy(blocks, raws)
    assert [block.tolist() for block in kept] == [blocks[1].tolist(), blocks[3].tolist()]
    assert kept_raws == [raws[1], raws[3]]
    zeros = blocks_of([[0] * 10, [0] * 10])
    kept, _ = R.busy(zeros, [block.tobytes() for block in zeros])
    assert len(kept) == 1 and R.summed(kept) == [0] * 10


def test_show_stat_sums_with_idle_workers(tmp_path: Path) -> None:
    """A worker that counted nothing changes no number, maximum or rate of `show stat`."""
    with stats_table(tmp_path, CONFIG, 4) as (table, config):
        row = table.layout.find_row("be", "s1")
        for worker, stot in ((1, 5), (3, 7)):
            block = table.counter_block(worker)
            block[row.offset + 4] = stot  # stot
            del block
        rows = {
            tuple(line.split(",")[:2]): line.split(",") for line in show_stat(table, config, now=0)
            .splitlines()[1:] if line
        }  # fmt: skip
        assert rows[("be", "s1")][7] == "12"


def test_dynamic_server_addr_comes_from_its_admin_row(tmp_path: Path) -> None:
    """As haproxy 2.6 prints them after `add server`: `IP:PORT`, `[IPv6]:PORT`, port 0."""
    with stats_table(tmp_path, CONFIG, 2) as (table, config):
        for line in (
            "add server be/d1 127.0.0.5:8080",
            "add server be/d2 ::1:9090",
            "add server be/d3 10.1.2.3",
            "add server be/d4 [fe80::1]:81",
        ):
            assert add(table, config, line) == REGISTERED
        text = show_stat(table, config, now=0)
        header = text.splitlines()[0].removeprefix("# ").split(",")
        column = header.index("addr")
        found = {
            fields[1]: fields[column]
            for fields in (line.split(",") for line in text.splitlines()[1:] if line)
            if fields[0] == "be"
        }
        assert found["d1"] == "127.0.0.5:8080"
        assert found["d2"] == "[::1]:9090"
        assert found["d3"] == "10.1.2.3:0"
        assert found["d4"] == "[fe80::1]:81"
        assert found["s1"] == "127.0.0.1:20151"  # a configured server: its line's address
