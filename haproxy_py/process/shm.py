"""The stats table in shared memory: a sealed memfd, mapped by every process of a generation.

The master creates the table (`create_table`) from a haproxy_py.stats layout before it starts the
workers, and sends its descriptor over the ipc channel; a worker maps it with `open_table`, which
checks the header, the size and the name table before trusting a word of it.

Rules of this file, the "one truth across workers" of the design:
- counters: worker N writes only its own block (`counter_row(N, row)` hands it a memoryview of
  unsigned 64-bit slots; an increment is `row[STOT] += 1`); readers sum the blocks, no locks;
- server state: each section of a state row has one writer (admin: the master; health: the worker
  owning the server's checks) and a sequence word, odd while a write is in progress; readers
  retry until they see the same even value before and after (a seqlock). Every write then bumps
  its writer's epoch word, so a worker learns "some state changed" from one sum per loop turn.
- spare rows (dynamic servers): the master is the one writer of the dynamic area (a seqlock
  word, then a record per spare row); `StatsTable.layout` is rebuilt by each reader when
  that word moved, so every process sees the same servers without re-mapping anything.
- Ordering relies on the CPU not reordering plain stores with stores, nor loads with loads
  (x86-64); on weaker memory models a seqlock without fences may let a torn pair through.
Nothing here imports trio; the descriptor is close-on-exec and sealed against resizing, so no
process can truncate the mapping under the others (that would be SIGBUS, not an error).
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import mmap
import os
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from haproxy_py.stats.layout import (
    ADMIN_BASE,
    ADMIN_FIELDS,
    ADMIN_INDEX,
    ADMIN_SEQ,
    CHECK_STATUS,
    COUNTER_FIELDS,
    DYN_DELETED,
    DYN_INDEX,
    DYN_NAME,
    DYN_NAME_WORDS,
    DYN_WIDTH,
    FORCED_MASK,
    GAUGES,
    GLOBAL,
    GLOBAL_GAUGES,
    HEADER_WORDS,
    HEALTH_BASE,
    HEALTH_FIELDS,
    HEALTH_INDEX,
    HEALTH_SEQ,
    INFO_WORDS,
    LAYOUT_VERSION,
    MAGIC,
    MAXIMA,
    QCUR,
    QMAX,
    SCUR,
    SMAX,
    STATE_WIDTH,
    WORD,
    DynamicEntry,
    Layout,
    Row,
    ServerSlot,
    initial_state,
    name_digest,
    pack_name,
    unpack_name,
    unpack_text,
)

SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
# How long a reader waits for a state row left mid-write before deciding its writer died.
STALL_SECONDS = 1.0
_U64 = 1 << 64
_GENERATION = 14  # header word the master keeps its reload count in
_CREATED = 15  # header word: epoch second the table was made (show stat's lastchg)
_GAUGE_MAX = {QMAX: QCUR, SMAX: SCUR}  # `clear counters` brings a maximum down to its gauge


class TableError(Exception):
    """A stats table that cannot be used: wrong magic, version, size or layout."""


class SeqlockTimeout(TableError):
    """A state row stayed mid-write: its writer died during a write and was not recovered."""


class AdminState(NamedTuple):
    admin_state: int
    uweight: int
    iweight: int
    maxconn: int
    addr_gen: int
    addr_family: int
    addr_hi: int
    addr_lo: int
    port: int
    admin_changed: int


class Health(NamedTuple):
    op_state: int
    check_status: int
    check_result: int
    check_health: int
    check_code: int
    check_duration: int
    last_change: int
    downtime: int
    down_since: int
    changed_ms: int
    info_len: int
    info0: int
    info1: int
    info2: int
    info3: int
    info4: int
    info5: int
    info6: int
    info7: int
    agent_status: int
    agent_code: int
    agent_duration: int
    agent_health: int
    agent_info_len: int
    agent_info0: int
    agent_info1: int
    agent_info2: int
    agent_info3: int
    agent_info4: int
    agent_info5: int
    agent_info6: int
    agent_info7: int
    check_flags: int

    @property
    def info(self) -> str:
        """The last check's text (show stat's last_chk)."""
        start = Health._fields.index("info0")
        return unpack_text(self.info_len, self[start : start + INFO_WORDS])

    @property
    def agent_info(self) -> str:
        """The last agent check's text (show stat's last_agt)."""
        start = Health._fields.index("agent_info0")
        return unpack_text(self.agent_info_len, self[start : start + INFO_WORDS])


assert AdminState._fields == ADMIN_FIELDS and Health._fields == HEALTH_FIELDS


class StatsTable:
    """One mapped table. It owns the descriptor and the mapping (`close()` releases both)."""

    def __init__(self, fd: int, mapping: mmap.mmap, layout: Layout) -> None:
        self.fd = fd
        layout = layout.root
        self.base_layout = layout  # the configured servers only: the table's geometry
        self._live = layout  # with the dynamic servers, as of `_live_seq`
        self._live_seq = 0
        self._mmap = mapping
        words = memoryview(mapping).cast("Q")
        self._words = words
        self.header = words[:HEADER_WORDS]
        start = layout.epochs_offset // WORD
        self.epochs = words[start : start + layout.workers + 1]  # [master, worker 0, ...]
        start = layout.state_offset // WORD
        self.state = words[start : start + layout.state_slots * STATE_WIDTH]
        start = layout.dynamic_offset // WORD
        self.dynamic = words[start : start + 1 + layout.spares * DYN_WIDTH]  # [seq, records]
        start = layout.counters_offset // WORD
        self.block_words = layout.block_words
        self.counters = words[start : start + layout.workers * self.block_words]
        self._max_words = [
            row.offset + index
            for row in layout.physical_rows
            for index, spec in enumerate(row.fields)
            if spec.agg == "max"
        ]

    def fileno(self) -> int:
        return self.fd

    # -- dynamic servers (spare rows) --------------------------------------------------------

    @property
    def layout(self) -> Layout:
        """The live layout: the configured rows plus the dynamic servers the master recorded
        (rebuilt when the dynamic area's seqlock word moved: one word compared per call)."""
        seq = self.dynamic[0]
        if seq != self._live_seq:
            self._refresh(seq)
        return self._live

    def _refresh(self, seq: int) -> None:
        deadline = time.monotonic() + STALL_SECONDS
        while True:
            if not seq & 1:
                entries = self._read_entries()
                if self.dynamic[0] == seq:
                    break
            elif time.monotonic() > deadline:
                return  # the master died mid-write: keep the last view until it recovers
            os.sched_yield()
            seq = self.dynamic[0]
        self._live = self.base_layout.with_dynamic(entries)
        self._live_seq = seq

    def _read_entries(self) -> list[DynamicEntry]:
        entries = []
        records = self.dynamic[1:].tolist()
        for spare in range(self.base_layout.spares):
            record = records[spare * DYN_WIDTH : (spare + 1) * DYN_WIDTH]
            if not record[DYN_INDEX["in_use"]]:
                continue
            iid, sid, iweight, maxconn, flags, order, length = record[1:DYN_NAME]
            name = unpack_name(length, record[DYN_NAME : DYN_NAME + DYN_NAME_WORDS])
            entries.append(DynamicEntry(spare, iid, sid, iweight, maxconn, flags, order, name))
        return entries

    def free_spare(self) -> int | None:
        """A spare row no dynamic server holds (the lowest), or None: the pool is exhausted."""
        for spare in range(self.base_layout.spares):
            if not self.dynamic[1 + spare * DYN_WIDTH + DYN_INDEX["in_use"]]:
                return spare
        return None

    def add_dynamic(self, entry: DynamicEntry, state: Mapping[str, int]) -> ServerSlot:
        """The master's side of `add server`: zero the spare's counters in every worker slot
        (nobody writes a free row), write its state rows, then publish the record (readers
        then see the server). Returns its state slot."""
        layout = self.base_layout
        row = layout.spare_row(entry.spare)
        for worker in range(layout.workers):
            block = self.counter_block(worker)
            block[row.offset : row.offset + row.width] = _words([0] * len(COUNTER_FIELDS))
        index = len(layout.servers) + entry.spare
        self.write_admin(index, **{k: v for k, v in state.items() if k in ADMIN_INDEX})
        self.write_health(index, 0, **{k: v for k, v in state.items() if k in HEALTH_INDEX})
        record = [1, entry.iid, entry.sid, entry.iweight, entry.maxconn, entry.flags,
                  entry.order, *pack_name(entry.name)]  # fmt: skip
        self._write_record(entry.spare, record)
        return self.layout.server(*self._names_of(entry))

    def remove_dynamic(self, spare: int) -> None:
        """The master's side of `del server`: the spare row is free again."""
        self._write_record(spare, [0])

    def hide_configured(self, entry: DynamicEntry) -> None:
        """The master's side of `del server` of a configured server: a record flagged
        DYN_DELETED naming it, so the live layout drops its rows (until a reload)."""
        record = [1, entry.iid, entry.sid, 0, 0, entry.flags | DYN_DELETED, entry.order,
                  *pack_name(entry.name)]  # fmt: skip
        self._write_record(entry.spare, record)

    def _names_of(self, entry: DynamicEntry) -> tuple[str, str]:
        backend = next(r.proxy for r in self.base_layout.rows if r.iid == entry.iid)
        return backend, entry.name

    def _write_record(self, spare: int, values: list[int]) -> None:
        start = 1 + spare * DYN_WIDTH
        self.dynamic[0] += 1  # odd: readers wait
        try:
            self.dynamic[start : start + len(values)] = _words(values)
        finally:
            self.dynamic[0] += 1
        self.epochs[0] += 1  # every worker's StateSync looks again

    @property
    def generation(self) -> int:
        return self.header[_GENERATION]

    @generation.setter
    def generation(self, value: int) -> None:  # the master's, once, before workers start
        self.header[_GENERATION] = value

    @property
    def created(self) -> int:
        """Epoch second the table was made: when a backend without servers last changed."""
        return self.header[_CREATED]

    # -- counters ----------------------------------------------------------------------------

    def counter_block(self, worker: int) -> memoryview:
        """Every counter slot of one worker (0-based worker slot)."""
        if not 0 <= worker < self.layout.workers:
            raise IndexError(f"worker slot {worker} out of 0..{self.layout.workers - 1}")
        start = worker * self.block_words
        return self.counters[start : start + self.block_words]

    def counter_row(self, worker: int, row: Row | int) -> memoryview:
        """The slots a worker increments for one row: `view[STOT] += 1` (layout constants)."""
        if isinstance(row, int):
            row = self.layout.row_at(row)
        return self.counter_block(worker)[row.offset : row.offset + row.width]

    def snapshot(self) -> list[int]:
        """All counters summed over the workers, one flat list indexed like a block (show stat).

        Not atomic across slots (nor is HAProxy's): each slot is read once, whole."""
        size, workers = self.block_words, self.layout.workers
        blocks = [self.counters[w * size : (w + 1) * size].tolist() for w in range(workers)]
        if workers == 1:
            return blocks[0]
        total = list(map(sum, zip(*blocks, strict=True)))
        for word in self._max_words:
            total[word] = max(block[word] for block in blocks)
        return total

    def row_counters(self, row: Row, snapshot: list[int] | None = None) -> dict[str, int]:
        """One row's counters summed over the workers, by field name."""
        if snapshot is not None:
            values = snapshot[row.offset : row.offset + row.width]
        else:
            parts = [self.counter_row(w, row).tolist() for w in range(self.layout.workers)]
            values = [
                max(column) if spec.agg == "max" else sum(column)
                for spec, column in zip(row.fields, zip(*parts, strict=True), strict=True)
            ]
        return dict(zip((spec.name for spec in row.fields), values, strict=True))

    def read_counters(self, proxy: str, name: str) -> dict[str, int]:
        """`show stat`'s numbers for one (pxname, svname); `proxy` "" reads the global row."""
        row = self.layout.global_row() if proxy == "" else self.layout.find_row(proxy, name)
        if row is None:
            raise KeyError(f"no stats row for {proxy}/{name}")
        return self.row_counters(row)

    def clear_counters(self, worker: int, *, everything: bool = False) -> None:
        """`clear counters [all]` for this worker's own block (each worker clears its own).

        Without `everything` only the maxima are reset (to the current value); with it every
        counter is zeroed except those describing the present (scur, qcur...)."""
        block = self.counter_block(worker)
        for row in self.layout.rows:
            base = row.offset
            if row.kind == GLOBAL:
                if everything:
                    for index in range(row.width):
                        if index not in GLOBAL_GAUGES:
                            block[base + index] = 0
                continue
            for index in range(row.width) if everything else MAXIMA:
                if index in GAUGES:
                    continue
                gauge = _GAUGE_MAX.get(index)
                block[base + index] = block[base + gauge] if gauge is not None else 0

    def reset_gauges(self, worker: int) -> None:
        """Zero what describes the present in a worker slot: a respawned worker takes over a
        dead one's slot, whose sessions died with it (totals carry on)."""
        block = self.counter_block(worker)
        for row in self.layout.rows:
            gauges = GLOBAL_GAUGES if row.kind == GLOBAL else GAUGES
            for index in gauges:
                block[row.offset + index] = 0

    # -- server state ------------------------------------------------------------------------

    def write_admin(self, server: ServerSlot | int, **values: int) -> None:
        """The master's fields (admin_state, uweight, maxconn, addr...), as one consistent write."""
        self._write(_index(server), ADMIN_SEQ, ADMIN_INDEX, values)
        self.epochs[0] += 1

    def write_health(
        self, server: ServerSlot | int, worker: int, *, epoch: bool = True, **values: int
    ) -> None:
        """The checking worker's fields (op_state, check_*...), as one consistent write.
        `epoch=False` for a write that changes nothing load balancing reads (a check's
        status or duration): the other workers then have no rows to re-apply."""
        if not 0 <= worker < self.layout.workers:
            raise IndexError(f"worker slot {worker} out of 0..{self.layout.workers - 1}")
        if "check_status" in values and isinstance(values["check_status"], str):
            values["check_status"] = CHECK_STATUS[values["check_status"]]
        self._write(_index(server), HEALTH_SEQ, HEALTH_INDEX, values)
        if epoch:
            self.epochs[1 + worker] += 1

    def read_admin(self, server: ServerSlot | int) -> AdminState:
        return AdminState(*self._read(_index(server), ADMIN_SEQ, ADMIN_BASE, len(ADMIN_FIELDS)))

    def read_health(self, server: ServerSlot | int) -> Health:
        return Health(*self._read(_index(server), HEALTH_SEQ, HEALTH_BASE, len(HEALTH_FIELDS)))

    def state_epoch(self) -> int:
        """Changes whenever any state write completes: compare it once per loop turn."""
        return sum(self.epochs.tolist())

    def recover(self, servers: Iterable[ServerSlot | int], *, admin: bool) -> int:
        """A (re)started writer closes the writes its predecessor left open; returns how many.

        Call it with the rows the caller is the writer of (the master: `admin=True`, all of
        them; a worker: its checked servers), before it writes anything."""
        seq = ADMIN_SEQ if admin else HEALTH_SEQ
        fixed = 0
        if admin and self.dynamic[0] & 1:  # the dynamic area has the same writer
            self.dynamic[0] += 1
            fixed += 1
        for server in servers:
            word = _index(server) * STATE_WIDTH + seq
            if self.state[word] & 1:
                self.state[word] += 1
                fixed += 1
        return fixed

    def _write(self, index: int, seq: int, fields: Mapping[str, int], values: dict) -> None:
        base = index * STATE_WIDTH
        for name, value in values.items():
            if name not in fields:
                raise KeyError(f"'{name}' is not a field of this state section")
            if not isinstance(value, int) or not 0 <= value < _U64:
                raise ValueError(f"{name}={value!r} is not an unsigned 64-bit integer")
        state = self.state
        state[base + seq] += 1  # odd: readers wait
        try:
            for name, value in values.items():
                state[base + fields[name]] = value
        finally:
            state[base + seq] += 1  # even again: the new values are complete

    def _read(self, index: int, seq: int, start: int, count: int) -> list[int]:
        state = self.state
        word, first = index * STATE_WIDTH + seq, index * STATE_WIDTH + start
        deadline = 0.0
        while True:
            for _ in range(64):
                before = state[word]
                if not before & 1:
                    values = state[first : first + count].tolist()
                    if state[word] == before:
                        return values
            # The writer is mid-write and maybe not running (more processes than CPUs): let it.
            os.sched_yield()
            now = time.monotonic()
            if not deadline:
                deadline = now + STALL_SECONDS
            elif now > deadline:
                break
        server = next((s for s in self.layout.servers if s.index == index), None)
        label = f"{server.backend}/{server.name}" if server is not None else f"#{index}"
        raise SeqlockTimeout(
            f"state of server '{label}' stayed mid-write "
            f"(its writer died during a write; it must call recover() when it restarts)"
        )

    # -- life cycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Unmap and close. Row views handed out keep the mapping alive until they are gone."""
        views = (self.header, self.epochs, self.state, self.dynamic, self.counters, self._words)
        for view in views:
            view.release()
        with contextlib.suppress(BufferError):  # a caller still holds a row view:
            self._mmap.close()  # the mapping goes with the last one
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StatsTable:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _index(server: ServerSlot | int) -> int:
    return server if isinstance(server, int) else server.index


# -- creating, opening, carrying over -------------------------------------------------------


def create_table(layout: Layout) -> StatsTable:
    """The master's side: a new zeroed, sealed, close-on-exec memfd holding `layout`'s table,
    with every server's configured state written in. The magic is written last, so a table
    whose creation failed half-way is refused by open_table."""
    fd = os.memfd_create("haproxy-py-stats", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, layout.size)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        mapping = mmap.mmap(fd, layout.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except BaseException:
        os.close(fd)
        raise
    table = StatsTable(fd, mapping, layout)
    header = layout.header()
    table.header[1:] = _words(header[1:])
    mapping[layout.names_offset : layout.names_offset + len(layout.names)] = layout.names
    now = int(time.time())
    table.header[_CREATED] = now
    for slot in layout.servers:
        values = initial_state(slot)
        values["last_change"] = now  # show stat's lastchg counts from the start
        table.write_admin(slot, **{k: v for k, v in values.items() if k in ADMIN_INDEX})
        table.write_health(slot, 0, **{k: v for k, v in values.items() if k in HEALTH_INDEX})
    table.header[0] = header[0]
    return table


def open_table(fd: int, layout: Layout | None = None) -> StatsTable:
    """The receiving side: map a table received over the ipc channel, after checking it.

    The table takes the descriptor over (it closes it unless this raises). With `layout`
    (what the receiver computed from its own configuration), the table must be that layout's.
    """
    size = os.fstat(fd).st_size
    if size < HEADER_WORDS * WORD:
        raise TableError(f"the stats table is {size} bytes, smaller than its own header")
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        seals = 0
    if seals & SEALS != SEALS:
        raise TableError("the stats table's memory file is not sealed against resizing")
    mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        found = _check(mapping, size, layout)
    except BaseException:
        mapping.close()
        raise
    return StatsTable(fd, mapping, found)


def _check(mapping: mmap.mmap, size: int, layout: Layout | None) -> Layout:
    with memoryview(mapping) as raw, raw[: HEADER_WORDS * WORD].cast("Q") as view:
        header = view.tolist()
    (magic, version, recorded, workers, _rows, _block, _servers, _width, digest) = header[:9]
    names_offset, names_length = header[9], header[10]
    if magic != MAGIC:
        raise TableError(f"not a haproxy-py stats table (magic {magic:#x})")
    if version != LAYOUT_VERSION:
        raise TableError(
            f"stats table layout version {version}, this haproxy-py reads {LAYOUT_VERSION}"
        )
    if recorded != size:
        raise TableError(f"stats table size mismatch: header says {recorded}, file has {size}")
    if not 0 < names_offset <= names_offset + names_length <= size:
        raise TableError("stats table name table lies outside the table")
    names = mapping[names_offset : names_offset + names_length]
    if name_digest(names) != digest:
        raise TableError("stats table name table does not match its digest")
    try:
        found = Layout.from_names(names, workers)
    except (ValueError, TypeError, KeyError) as exc:
        raise TableError(f"stats table name table: {exc}") from None
    expected = found.header()
    if header[:_GENERATION] != expected[:_GENERATION]:
        raise TableError("stats table header does not match its name table")
    if layout is not None and (layout.digest, layout.workers) != (found.digest, found.workers):
        raise TableError(
            f"stats table was made for another configuration or worker count "
            f"({found.workers} workers, {len(found.rows)} rows, {len(found.servers)} servers)"
        )
    return found


def carry_over(old: StatsTable, new: StatsTable) -> list[tuple[str, str]]:
    """On reload, before the new workers start: give servers that still exist (same backend
    and server name) their operator-set state. Carried: the forced admin bits (FMAINT,
    FDRAIN: what `disable server`/`set server state` set; configuration bits stay the new
    configuration's), the runtime weight when the configured weight did not change (as
    HAProxy's server-state-file does), and the health verdict of servers checked in both.
    Counters restart. Returns the (backend, server) names carried over."""
    carried = []
    for slot in new.layout.servers:
        try:
            before = old.layout.server(slot.backend, slot.name)
        except KeyError:
            continue
        was = old.read_admin(before)
        now = new.read_admin(slot)
        values = {"admin_state": now.admin_state & ~FORCED_MASK | was.admin_state & FORCED_MASK}
        if was.iweight == slot.iweight:
            values["uweight"] = was.uweight
        if was.admin_state & FORCED_MASK:
            values["admin_changed"] = was.admin_changed
        new.write_admin(slot, **values)
        if before.checked and slot.checked:
            new.write_health(slot, 0, **old.read_health(before)._asdict())
        carried.append((slot.backend, slot.name))
    return carried


def _words(values: list[int]) -> memoryview:
    return memoryview(array.array("Q", values))
