"""Micro-benchmark of the shared stats table (haproxy_py/process/shm.py): what counting in
shared memory costs the data path, how big the table is, how fast `show stat` can read it.

1. One increment, five ways: today's worker/counters.py attribute (`c.total_sessions += 1`),
   a row memoryview with a layout constant (`row[STOT] += 1`, the chosen form), the whole block
   with a precomputed offset (`block[base + STOT] += 1`), a ctypes Structure mapped on the table
   (`s.stot += 1`), and a __slots__ class whose properties index the memoryview.
2. A session's worth of counting (a TCP session through frontend, backend and server rows, and
   an HTTP request's extra counters), today's objects against the shared rows, put next to the
   time a small HTTP request costs today (docs/PERFORMANCE.md: about 10,500 req/s per core).
3. The table for 1,000 servers (100 backends x 10) and 8 workers: bytes per area, and the
   resident memory once every page has been touched.
4. `show stat`'s read side on that table: snapshot() (sum over the workers) and one dict per row.
Run: .venv/bin/python bench/shm_counters.py   It measures; it asserts nothing.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from haproxy_py.config import load_configuration
from haproxy_py.process.shm import create_table
from haproxy_py.stats import layout as L
from haproxy_py.stats.layout import BIN, BOUT, HRSP_2XX, LBTOT, REQ_TOT, STOT, layout_for
from worker.counters import Counters

N = 1_000_000
REPEAT = 7
REQUEST_US = 1e6 / 10_500  # one small HTTP request per core today (PERFORMANCE.md)


def best_ns(loop: Callable[[int], None], n: int = N) -> float:
    """The best of REPEAT runs, in ns per iteration."""
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter_ns()
        loop(n)
        best = min(best, (time.perf_counter_ns() - started) / n)
    return best


# -- 1. one increment -------------------------------------------------------------------------


def loop_empty(n: int) -> None:
    for _ in range(n):
        pass


def make_attr(c: Counters) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            c.total_sessions += 1

    return loop


def make_row(row: memoryview) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            row[STOT] += 1  # a module global, as the worker would import it

    return loop


def make_block(block: memoryview, base: int) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            block[base + STOT] += 1

    return loop


def make_ctypes(row: ctypes.Structure) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            row.stot += 1  # type: ignore[attr-defined]

    return loop


class PropertyRow:
    """The rejected form: attribute syntax through properties over the memoryview."""

    __slots__ = ("_base", "_view")

    def __init__(self, view: memoryview, base: int) -> None:
        self._view, self._base = view, base

    @property
    def stot(self) -> int:
        return self._view[self._base + STOT]

    @stot.setter
    def stot(self, value: int) -> None:
        self._view[self._base + STOT] = value


def make_property(row: PropertyRow) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            row.stot += 1

    return loop


# -- 2. a session's worth ---------------------------------------------------------------------


def make_session_today(front: Counters, back: Counters, srv: Counters) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            front.session_opened()
            back.session_opened()
            srv.session_opened()
            back.retries += 0  # what backend.py touches on a clean connect, roughly
            srv.bytes_in += 100
            srv.bytes_out += 1000
            back.bytes_in += 100
            back.bytes_out += 1000
            front.bytes_in += 100
            front.bytes_out += 1000
            front.http_requests += 1
            back.http_requests += 1
            srv.http_requests += 1
            front.response(200)
            back.response(200)
            srv.response(200)
            srv.session_closed()
            back.session_closed()
            front.session_closed()

    return loop


def make_session_shared(front: memoryview, back: memoryview, srv: memoryview) -> Callable:
    opened, closed, response = L.session_opened, L.session_closed, L.count_response

    def loop(n: int) -> None:
        for _ in range(n):
            opened(front)
            opened(back)
            opened(srv)
            srv[LBTOT] += 1
            srv[BIN] += 100
            srv[BOUT] += 1000
            back[BIN] += 100
            back[BOUT] += 1000
            front[BIN] += 100
            front[BOUT] += 1000
            front[REQ_TOT] += 1
            back[REQ_TOT] += 1
            srv[REQ_TOT] += 1
            response(front, 200)
            response(back, 200)
            srv[HRSP_2XX] += 1  # inlined: a hot path may skip the helper call
            closed(srv)
            closed(back)
            closed(front)

    return loop


# -- 3 and 4: the 1,000-server table --------------------------------------------------------


def big_config(directory: Path, backends: int = 100, servers: int = 10) -> Path:
    lines = [
        "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n",
        "    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:8000\n    default_backend be0\n",
    ]
    for b in range(backends):
        lines.append(f"backend be{b}\n")
        lines += [f"    server s{s} 10.0.{b}.{s + 1}:80 check\n" for s in range(servers)]
    path = directory / "big.cfg"
    path.write_text("".join(lines))
    return path


def main() -> None:
    print(f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.processor() or ''}")
    print(f"# Python {platform.python_version()}, {psutil.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        config = load_configuration([str(big_config(Path(tmp)))], env={}).config
    assert config is not None
    layout = layout_for(config, workers=8)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    table = create_table(layout)

    row_info = layout.server_row("be0", "s0")
    row = table.counter_row(0, row_info)
    block = table.counter_block(0)

    class Row(ctypes.Structure):
        _fields_ = [(spec.name, ctypes.c_uint64) for spec in L.COUNTER_FIELDS]

    start = layout.counters_offset + row_info.offset * L.WORD
    structure = Row.from_buffer(table._mmap, start)

    empty = best_ns(loop_empty)
    print("\n## one increment (ns, loop overhead subtracted)")
    results = {
        "attribute (today)": best_ns(make_attr(Counters())),
        "row[STOT] (chosen)": best_ns(make_row(row)),
        "block[base+STOT]": best_ns(make_block(block, row_info.offset)),
        "ctypes field": best_ns(make_ctypes(structure)),
        "property": best_ns(make_property(PropertyRow(block, row_info.offset))),
    }
    for name, value in results.items():
        print(f"{name:22} {value - empty:6.1f}")
    del structure

    print("\n## counting one HTTP session through frontend, backend and server rows")
    today = best_ns(make_session_today(Counters(), Counters(), Counters()), N // 10)
    rows = [table.counter_row(1, layout.frontend("fe"))]
    rows += [table.counter_row(1, layout.backend("be0")), table.counter_row(1, row_info)]
    shared = best_ns(make_session_shared(*rows), N // 10)
    extra = shared - today
    print(f"today's objects        {today:7.0f} ns")
    print(f"shared rows            {shared:7.0f} ns")
    print(
        f"difference             {extra:7.0f} ns = {100 * extra / (REQUEST_US * 1000):.2f} % "
        f"of a {REQUEST_US:.0f} us request"
    )

    print("\n## the table: 1,000 servers, 8 workers")
    rows_count, servers = len(layout.rows), len(layout.servers)
    counters_bytes = layout.workers * layout.block_words * L.WORD
    state_bytes = layout.counters_offset - layout.state_offset
    print(f"rows {rows_count}, servers {servers}, counters per row {len(L.COUNTER_FIELDS)}")
    print(f"header+epochs+names    {layout.state_offset:9,d} B")
    print(f"server state           {state_bytes:9,d} B")
    print(f"counters (8 blocks)    {counters_bytes:9,d} B ({counters_bytes // 8:,d} per worker)")
    print(f"total                  {layout.size:9,d} B = {layout.size / 2**20:.2f} MiB")

    snapshot = table.snapshot()  # touches every page
    added = (process.memory_info().rss - rss_before) / 2**20
    print(f"RSS added (all pages touched) {added:.2f} MiB")

    print("\n## show stat's read side")
    started = time.perf_counter()
    for _ in range(20):
        snapshot = table.snapshot()
    snap_ms = (time.perf_counter() - started) / 20 * 1000
    started = time.perf_counter()
    for _ in range(20):
        snapshot = table.snapshot()
        dicts = [table.row_counters(r, snapshot) for r in layout.rows]
    all_ms = (time.perf_counter() - started) / 20 * 1000
    started = time.perf_counter()
    for _ in range(200):
        table.read_admin(layout.servers[7])
    admin_us = (time.perf_counter() - started) / 200 * 1e6
    print(f"snapshot() over 8 workers       {snap_ms:6.2f} ms")
    print(f"snapshot + a dict per row ({len(dicts)}) {all_ms:6.2f} ms (show stat target: 50 ms)")
    print(f"read_admin (seqlock, no writer)  {admin_us:6.2f} us")
    del row, block, rows
    table.close()


if __name__ == "__main__":
    main()
