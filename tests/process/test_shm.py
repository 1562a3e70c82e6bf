"""The stats table in shared memory: creation, hand-over of the descriptor, refusals, exact
counter sums under concurrent writer processes, seqlock consistency, carry-over on reload."""

from __future__ import annotations

import array
import fcntl
import multiprocessing
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haproxy_py.config.model import Config
from haproxy_py.process import shm
from haproxy_py.process.shm import (
    SeqlockTimeout,
    StatsTable,
    TableError,
    carry_over,
    create_table,
    open_table,
)
from haproxy_py.stats import layout as L
from haproxy_py.stats.layout import Layout, layout_for
from tests.helpers import load_text

# Writer processes in these tests are forked (the library itself never forks).
FORK = multiprocessing.get_context("fork")

BASE = (
    "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
)
CONFIG = BASE + (
    "frontend fe\n    bind 127.0.0.1:8000\n    default_backend be\n"
    "backend be\n"
    "    server s1 127.0.0.1:1 weight 10 check\n"
    "    server s2 127.0.0.1:2 weight 20\n"
    "    server s3 127.0.0.1:3 check\n"
    "    server s4 127.0.0.1:4 weight 5\n"
    "    server s5 127.0.0.1:5 disabled\n"
)


def config_of(tmp_path: Path, text: str = CONFIG) -> Config:
    result = load_text(tmp_path, text)
    assert result.config is not None, result.diagnostics
    return result.config


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return layout_for(config_of(tmp_path), workers=4)


@pytest.fixture
def table(layout: Layout) -> Iterator[StatsTable]:
    with create_table(layout) as created:
        yield created


def reopen(table: StatsTable, layout: Layout | None = None) -> StatsTable:
    return open_table(os.dup(table.fileno()), layout)


# -- creation and hand-over -------------------------------------------------------------------


def test_created_table_is_sealed_close_on_exec_and_initialised(table: StatsTable) -> None:
    layout = table.layout
    assert not os.get_inheritable(table.fileno())
    assert os.fstat(table.fileno()).st_size == layout.size
    seals = fcntl.fcntl(table.fileno(), fcntl.F_GET_SEALS)
    assert seals & fcntl.F_SEAL_SHRINK and seals & fcntl.F_SEAL_GROW
    with pytest.raises(OSError):
        os.ftruncate(table.fileno(), 4096)  # nobody can pull the pages from under a reader
    assert table.header.tolist()[:15] == layout.header()[:15]
    assert abs(table.created - time.time()) < 60  # word 15: when it was made (lastchg)
    s1, s5 = layout.server("be", "s1"), layout.server("be", "s5")
    assert table.read_admin(s1).uweight == 10 and table.read_admin(s1).iweight == 10
    assert table.read_admin(s5).admin_state == L.CMAINT
    assert table.read_health(s1).op_state == L.RUNNING
    assert table.read_health(s1).check_health == 2
    assert table.snapshot() == [0] * layout.block_words
    table.generation = 3
    assert reopen(table).generation == 3


def test_the_descriptor_travels_over_scm_rights(table: StatsTable) -> None:
    left, right = socket.socketpair()
    with left, right:
        socket.send_fds(left, [b"stats"], [table.fileno()])
        _, fds, _, _ = socket.recv_fds(right, 16, 1)
    with open_table(fds[0], table.layout) as received:
        row = received.counter_row(2, table.layout.frontend("fe"))
        row[L.STOT] += 5
        assert table.read_counters("fe", "FRONTEND")["stot"] == 5
        assert received.layout == table.layout


def test_open_without_a_layout_rebuilds_it_from_the_table(table: StatsTable) -> None:
    with reopen(table) as other:
        assert other.layout == table.layout
        assert other.layout.server("be", "s3") == table.layout.server("be", "s3")


def test_open_refuses_another_configuration_or_worker_count(
    table: StatsTable, tmp_path: Path
) -> None:
    other = layout_for(config_of(tmp_path, CONFIG.replace("s4", "s44")), workers=4)
    with pytest.raises(TableError, match="another configuration"):
        reopen(table, other)
    fewer = layout_for(config_of(tmp_path), workers=2)
    with pytest.raises(TableError, match="another configuration or worker count"):
        reopen(table, fewer)


@pytest.mark.parametrize(
    ("word", "value", "message"),
    [
        (0, 0x1234, "not a haproxy-py stats table"),
        (1, 99, f"layout version 99, this haproxy-py reads {L.LAYOUT_VERSION}"),
        (2, 4096, "size mismatch"),
        (8, 1, "does not match its digest"),
        (5, 1, "header does not match its name table"),
    ],
)
def test_open_refuses_a_bad_header(table: StatsTable, word: int, value: int, message: str) -> None:
    table.header[word] = value
    with pytest.raises(TableError, match=message):
        reopen(table)


def test_open_refuses_a_corrupt_name_table(table: StatsTable) -> None:
    offset = table.layout.names_offset
    table._mmap[offset : offset + 1] = b"X"
    with pytest.raises(TableError, match="digest"):
        reopen(table)


def sealed_copy(table: StatsTable, size: int) -> int:
    fd = os.memfd_create("copy", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, table._mmap[: min(size, table.layout.size)])
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, shm.SEALS)
    return fd


def test_open_refuses_a_table_of_the_wrong_size(table: StatsTable) -> None:
    fd = sealed_copy(table, table.layout.size + 4096)
    try:
        with pytest.raises(TableError, match="size mismatch"):
            open_table(fd)
    finally:
        os.close(fd)
    fd = sealed_copy(table, 64)
    try:
        with pytest.raises(TableError, match="smaller than its own header"):
            open_table(fd)
    finally:
        os.close(fd)


def test_open_refuses_an_unsealed_file(table: StatsTable) -> None:
    fd = os.memfd_create("unsealed", os.MFD_CLOEXEC)
    try:
        os.write(fd, table._mmap[:])
        with pytest.raises(TableError, match="not sealed"):
            open_table(fd)
    finally:
        os.close(fd)


def test_half_created_table_is_refused(layout: Layout) -> None:
    with create_table(layout) as table:
        table.header[0] = 0  # what a creation that failed before the magic leaves
        with pytest.raises(TableError, match="magic 0x0"):
            reopen(table)


# -- counters ---------------------------------------------------------------------------------

ROUNDS = 20_000


def _count(fd: int, layout: Layout, worker: int) -> None:
    """A forked worker: open the received table and count into its own slots only."""
    table = open_table(os.dup(fd), layout)
    front = table.counter_row(worker, layout.frontend("fe"))
    server = table.counter_row(worker, layout.server_row("be", "s2"))
    glob = table.counter_row(worker, layout.global_row())
    for _ in range(ROUNDS):
        L.session_opened(front)
        front[L.BIN] += 3
        server[L.LBTOT] += 1
        glob[L.G_CUM_CONNS] += 1
        L.session_closed(front)
    os._exit(0)


def test_concurrent_workers_count_exactly(table: StatsTable) -> None:
    layout = table.layout
    workers = [
        FORK.Process(target=_count, args=(table.fileno(), layout, w)) for w in range(layout.workers)
    ]
    for process in workers:
        process.start()
    last = 0
    while any(process.is_alive() for process in workers):
        seen = table.read_counters("fe", "FRONTEND")["stot"]
        assert seen >= last  # a reader never sees a total go back
        assert 0 <= table.read_counters("fe", "FRONTEND")["scur"] <= layout.workers
        last = seen
    for process in workers:
        process.join()
        assert process.exitcode == 0
    total = layout.workers * ROUNDS
    front = table.read_counters("fe", "FRONTEND")
    assert (front["stot"], front["bin"], front["scur"]) == (total, 3 * total, 0)
    assert front["smax"] == layout.workers  # one session at a time per worker: 1 each
    assert table.read_counters("be", "s2")["lbtot"] == total
    assert table.read_counters("", "")["CumConns"] == total
    snapshot = table.snapshot()
    assert table.row_counters(layout.frontend("fe"), snapshot) == front


def test_maxima_fields_take_the_largest_worker_value(table: StatsTable) -> None:
    row = table.layout.server_row("be", "s1")
    for worker, when in enumerate((100, 300, 200, 0)):
        table.counter_row(worker, row)[L.LASTSESS] = when
        table.counter_row(worker, row)[L.STOT] = 1
    counters = table.read_counters("be", "s1")
    assert (counters["lastsess"], counters["stot"]) == (300, 4)
    assert table.row_counters(row, table.snapshot())["lastsess"] == 300


def test_a_slot_cannot_go_negative(table: StatsTable) -> None:
    row = table.counter_row(0, table.layout.backend("be"))
    with pytest.raises(ValueError):
        row[L.SCUR] -= 1  # a close without its open is a bug, not a silent wrap


def test_clear_counters_and_reset_gauges(table: StatsTable) -> None:
    layout = table.layout
    row = table.counter_row(1, layout.backend("be"))
    other = table.counter_row(2, layout.backend("be"))
    glob = table.counter_row(1, layout.global_row())
    for _ in range(3):
        L.session_opened(row)
        L.session_opened(other)
    L.session_closed(row)
    row[L.BIN] = 99
    glob[L.G_CURR_CONNS], glob[L.G_CUM_CONNS] = 2, 7
    table.clear_counters(1)
    assert (row[L.SCUR], row[L.SMAX], row[L.STOT], row[L.BIN]) == (2, 2, 3, 99)
    table.clear_counters(1, everything=True)
    assert (row[L.SCUR], row[L.SMAX], row[L.STOT], row[L.BIN]) == (2, 2, 0, 0)
    assert (glob[L.G_CURR_CONNS], glob[L.G_CUM_CONNS]) == (2, 0)
    assert (other[L.SCUR], other[L.STOT]) == (3, 3)  # another worker's block is its own
    table.reset_gauges(1)
    assert (row[L.SCUR], glob[L.G_CURR_CONNS], row[L.SMAX]) == (0, 0, 2)
    with pytest.raises(IndexError):
        table.counter_row(4, 0)


# -- server state -----------------------------------------------------------------------------

WRITES = 30_000


def _admin_writer(fd: int, layout: Layout, server: int) -> None:
    """The master's role: admin writes where every field of a write carries the same number."""
    table = open_table(os.dup(fd), layout)
    for i in range(1, WRITES + 1):
        table.write_admin(server, admin_state=i & 0x7F, uweight=i, maxconn=i, port=i)
    os._exit(0)


def _health_writer(fd: int, layout: Layout, server: int, worker: int) -> None:
    table = open_table(os.dup(fd), layout)
    for i in range(1, WRITES + 1):
        table.write_health(server, worker, check_code=i, check_duration=i, last_change=i)
    os._exit(0)


def test_seqlock_readers_never_see_a_torn_write(table: StatsTable) -> None:
    layout = table.layout
    server = layout.server("be", "s3").index
    writers = [
        FORK.Process(target=_admin_writer, args=(table.fileno(), layout, server)),
        FORK.Process(target=_health_writer, args=(table.fileno(), layout, server, 3)),
    ]
    table.write_admin(server, admin_state=0, uweight=0, maxconn=0, port=0)  # consistent start
    table.write_health(server, 0, check_code=0, check_duration=0, last_change=0)
    epoch = table.state_epoch()
    for process in writers:
        process.start()
    reads, last = 0, 0
    while any(process.is_alive() for process in writers) or reads < 1000:
        admin = table.read_admin(server)
        assert admin.uweight == admin.maxconn == admin.port
        assert admin.admin_state == admin.uweight & 0x7F
        assert admin.iweight == 1  # a field nobody writes is left alone
        health = table.read_health(server)
        assert health.check_code == health.check_duration == health.last_change
        assert health.check_code >= last  # never older than what was already seen
        last = health.check_code
        reads += 1
    for process in writers:
        process.join()
        assert process.exitcode == 0
    assert table.read_admin(server).uweight == WRITES
    assert table.read_health(server).check_code == WRITES
    assert table.state_epoch() == epoch + 2 * WRITES
    assert table.epochs[0] >= WRITES and table.epochs[4] == WRITES  # master, worker 3


def test_writes_are_checked_before_they_start(table: StatsTable) -> None:
    slot = table.layout.server("be", "s1")
    before = table.state[slot.index * L.STATE_WIDTH + L.ADMIN_SEQ]
    with pytest.raises(KeyError, match="op_state"):
        table.write_admin(slot, op_state=1)  # the health section's field
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        table.write_admin(slot, uweight=-5)
    with pytest.raises(IndexError):
        table.write_health(slot, 9, op_state=0)
    assert table.state[slot.index * L.STATE_WIDTH + L.ADMIN_SEQ] == before
    table.write_health(slot, 0, check_status="L4CON")
    assert table.read_health(slot).check_status == L.CHECK_STATUS["L4CON"]
    family, hi, lo = L.pack_address("::1")
    table.write_admin(slot, addr_gen=1, addr_family=family, addr_hi=hi, addr_lo=lo, port=81)
    admin = table.read_admin(slot)
    assert L.unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo) == "::1"


def test_a_writer_that_died_mid_write_is_recovered(
    table: StatsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shm, "STALL_SECONDS", 0.01)
    slot = table.layout.server("be", "s2")
    table.state[slot.index * L.STATE_WIDTH + L.HEALTH_SEQ] += 1  # odd: left mid-write
    with pytest.raises(SeqlockTimeout, match="be/s2"):
        table.read_health(slot)
    table.read_admin(slot)  # the other section has its own sequence
    assert table.recover(table.layout.servers, admin=False) == 1
    assert table.read_health(slot).op_state == L.RUNNING
    assert table.recover(table.layout.servers, admin=False) == 0


# -- reload -----------------------------------------------------------------------------------


def test_carry_over_keeps_the_state_of_servers_that_still_exist(
    table: StatsTable, tmp_path: Path
) -> None:
    old = table.layout
    table.write_admin(old.server("be", "s1"), admin_state=L.FMAINT, uweight=50, admin_changed=9)
    table.write_admin(old.server("be", "s2"), admin_state=L.FDRAIN)  # renamed below
    table.write_admin(old.server("be", "s3"), uweight=7)
    table.write_health(old.server("be", "s3"), 1, op_state=L.STOPPED, check_status="L4CON")
    table.write_admin(old.server("be", "s4"), uweight=0)  # its weight changes below
    table.write_admin(old.server("be", "s5"), admin_state=L.CMAINT | L.FMAINT)
    table.counter_row(0, old.server_row("be", "s1"))[L.STOT] = 12
    text = (
        CONFIG.replace("server s2 ", "server s2b ")
        .replace("server s4 127.0.0.1:4 weight 5", "server s4 127.0.0.1:4 weight 6")
        .replace("server s5 127.0.0.1:5 disabled", "server s5 127.0.0.1:5")
        + "    server s6 127.0.0.1:6\n"
    )
    new_layout = layout_for(config_of(tmp_path, text), workers=2)
    with create_table(new_layout) as new:
        carried = carry_over(table, new)
        assert carried == [("be", "s1"), ("be", "s3"), ("be", "s4"), ("be", "s5")]
        s1 = new.read_admin(new_layout.server("be", "s1"))
        assert (s1.admin_state, s1.uweight, s1.iweight, s1.admin_changed) == (L.FMAINT, 50, 10, 9)
        s2b = new.read_admin(new_layout.server("be", "s2b"))
        assert (s2b.admin_state, s2b.uweight) == (0, 20)  # a renamed server starts afresh
        s3 = new_layout.server("be", "s3")
        assert new.read_admin(s3).uweight == 7
        assert new.read_health(s3).op_state == L.STOPPED  # checked in both: verdict kept
        assert new.read_health(s3).check_status == L.CHECK_STATUS["L4CON"]
        assert new.read_admin(new_layout.server("be", "s4")).uweight == 6  # config changed
        # s5: the operator's FMAINT stays, the configuration's CMAINT is gone with `disabled`
        assert new.read_admin(new_layout.server("be", "s5")).admin_state == L.FMAINT
        assert new.read_admin(new_layout.server("be", "s6")).uweight == 1
        assert new.read_counters("be", "s1")["stot"] == 0  # counters restart


def test_words_helper_matches_the_mapping_format() -> None:
    assert shm._words([1, 2]).tolist() == array.array("Q", [1, 2]).tolist()
