"""Reading the shared table for one `show stat`: every worker's counter block summed in one
pass, maxima and rates from strided columns, each server's state rows and configuration
facts read once.

The blocks stay views on the shared memory (haproxy_py/process/shm.py); only the sums become
Python ints. Rates are read per worker slot (each slot's current and previous second,
interpolated as HAProxy's freq_ctr does) and added. `info_rates` gives `show info` the
frontends' rates from the same reading.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from operator import add
from typing import TYPE_CHECKING

from haproxy_py.checks.track import roots as track_roots
from haproxy_py.checks.track import track_label, tracked_by
from haproxy_py.stats.layout import (
    COUNTER_FIELDS,
    FRONTEND,
    RATE_SEC,
    REQ_CUR,
    REQ_MAX,
    REQ_PREV,
    SESS_CUR,
    SESS_MAX,
    SESS_PREV,
    Row,
    ServerSlot,
    unpack_address,
)
from haproxy_py.stats.limits import ProxyLimits, proxy_limits

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy, Server
    from haproxy_py.process.shm import AdminState, Health, StatsTable

MAX_FIELDS = tuple(index for index, spec in enumerate(COUNTER_FIELDS) if spec.agg == "max")
_clock = time.monotonic  # system-wide on Linux: every worker's slots use the same seconds


class _Memo:
    """The last configuration read and its configured servers' facts."""

    __slots__ = ("config", "facts")

    def __init__(self) -> None:
        self.config: Config | None = None
        self.facts: dict[tuple[str, str], ServerFacts] = {}


_memo = _Memo()


class Reading:
    """Everything one `show stat` reads, read once: the summed counters, the rates, each
    server's state rows, and the configuration indexed by name."""

    def __init__(
        self, table: StatsTable, config: Config, now: float, limits: ProxyLimits | None = None
    ) -> None:
        self.table = table
        # slim: maxconn/fullconn in force (haproxy_py/stats/limits.py; a worker knows them)
        self.limits = limits or proxy_limits(config)
        self.now = now
        layout = table.layout
        # The blocks stay views on the shared memory: only the sum becomes Python ints.
        views = [table.counter_block(w) for w in range(layout.workers)]
        raws = [view.tobytes() for view in views]  # one memcpy each, shared by both uses
        self.blocks, raws = busy(views, raws)
        self.snapshot = summed(self.blocks, raws)
        self.highest = highest_columns(self.blocks, layout.physical_rows)
        self.second = _clock()  # the clock the workers date their rates and lastsess with
        self.proxies = {proxy.name: proxy for proxy in config.proxies}
        self.servers: dict[tuple[str, str], Server] = {
            (proxy.name, server.name): server
            for proxy in config.proxies
            for server in proxy.servers
        }
        self.by_backend: dict[str, list[ServerSlot]] = {}
        for slot in layout.servers:
            self.by_backend.setdefault(slot.backend, []).append(slot)
        self.roots = track_roots(config)
        self._admin: dict[int, AdminState] = {}
        self._health: dict[int, Health] = {}
        self._counters: dict[int, list[int]] = {}
        self._facts: dict[int, ServerFacts] = {}
        # A configured server's facts come from its configuration line only: kept from one
        # `show stat` to the next while the configuration is the same object (a worker's).
        if _memo.config is not config:
            _memo.config, _memo.facts = config, {}
        self._static_facts = _memo.facts
        self._rates: _Rates | None = None

    def admin(self, slot: ServerSlot) -> AdminState:
        found = self._admin.get(slot.index)
        if found is None:
            found = self._admin[slot.index] = self.table.read_admin(slot)
        return found

    def health(self, slot: ServerSlot) -> Health:
        found = self._health.get(slot.index)
        if found is None:
            found = self._health[slot.index] = self.table.read_health(slot)
        return found

    def counters(self, row: Row) -> list[int]:
        """The row's counters in COUNTER_FIELDS order (maxima over the workers, sums else)."""
        found = self._counters.get(row.index)
        if found is None:
            base = row.offset
            found = self.snapshot[base : base + row.width]
            if self.highest:
                number = row.index - 1
                for index, column in zip(MAX_FIELDS, self.highest, strict=True):
                    found[index] = column[number]
            self._counters[row.index] = found
        return found

    def facts(self, proxy: Proxy, slot: ServerSlot) -> ServerFacts:
        found = self._facts.get(slot.index)
        if found is None:
            if slot.dynamic:  # its address lives in its admin row: read it each time
                found = ServerFacts(self, proxy, slot)
            else:
                found = self._static_facts.get((slot.backend, slot.name))
                if found is None:
                    found = ServerFacts(self, proxy, slot)
                    self._static_facts[(slot.backend, slot.name)] = found
            self._facts[slot.index] = found
        return found

    def rates(self, row: Row) -> tuple[int, int, int, int]:
        """(sessions/s, highest, requests/s, highest) of a row, over the workers' slots.

        A slot's peak is the busiest finished second it has seen (its max slot, or its
        current count once that second is over: nobody rolled it since); the peaks of the
        slots are added, like smax, and the row's peak is at least its rate now."""
        if self._rates is None:
            self._rates = rate_table(self.blocks, self.table.layout.physical_rows, self.second)
        sessions, peak_sessions, requests, peak_requests = self._rates
        number = row.index - 1
        session_rate = int(sessions.get(number, 0.0))
        request_rate = int(requests.get(number, 0.0))
        return (
            session_rate,
            max(peak_sessions[number], session_rate),
            request_rate,
            max(peak_requests[number], request_rate),
        )

    def lastsess(self, last: int) -> int:
        """Seconds since the last session (the slot holds its monotonic second plus one)."""
        return max(int(self.second) + 1 - last, 0) if last else -1


_Rates = tuple[dict[int, float], list[int], dict[int, float], list[int]]


def rate_table(blocks: Sequence[memoryview], rows: Sequence[Row], now: float) -> _Rates:
    """The rates of every row after the global one (by `row.index - 1`), worker slot by
    slot: the interpolated sessions and requests of the rows that counted in this second or
    the last (the others' are 0), and the summed peaks. Each field of every row is a strided
    slice of a block (as in _highest), so the peaks are C loops; only rows a slot dated in
    this second or the last take Python work, added in slot order as one row's loop would."""
    second = int(now)
    left = 1.0 - (now - second)  # what is left of the previous second's weight
    sessions: dict[int, float] = {}
    requests: dict[int, float] = {}
    if len(rows) < 2:
        return sessions, [], requests, []
    start, width = rows[1].offset, len(COUNTER_FIELDS)
    end = start + width * (len(rows) - 1)
    peak_sessions = [0] * (len(rows) - 1)
    peak_requests = list(peak_sessions)
    for block in blocks:
        seen = block[start + RATE_SEC : end : width].tolist()
        block_sessions = list(
            map(max, block[start + SESS_MAX : end : width], block[start + SESS_CUR : end : width])
        )
        block_requests = list(
            map(max, block[start + REQ_MAX : end : width], block[start + REQ_CUR : end : width])
        )
        for number in [n for n, dated in enumerate(seen) if second - 1 <= dated <= second]:
            base = start + number * width
            current_sessions, current_requests = block[base + SESS_CUR], block[base + REQ_CUR]
            if seen[number] == second:  # a second not over yet: its count is no peak
                sessions[number] = sessions.get(number, 0.0) + (
                    current_sessions + block[base + SESS_PREV] * left
                )
                requests[number] = requests.get(number, 0.0) + (
                    current_requests + block[base + REQ_PREV] * left
                )
                block_sessions[number] = block[base + SESS_MAX]
                block_requests[number] = block[base + REQ_MAX]
            else:
                sessions[number] = sessions.get(number, 0.0) + current_sessions * left
                requests[number] = requests.get(number, 0.0) + current_requests * left
        peak_sessions = list(map(add, peak_sessions, block_sessions))
        peak_requests = list(map(add, peak_requests, block_requests))
    return sessions, peak_sessions, requests, peak_requests


def highest_columns(blocks: Sequence[memoryview], rows: Sequence[Row]) -> list[list[int]]:
    """For each maximum field (lastsess, the longest times), its highest value over the
    workers, for every row after the global one: the rows follow each other with one width,
    so a field of every row is a strided slice of a block (C loops, no per-row work)."""
    if len(blocks) < 2 or len(rows) < 2:  # one block: the sums are the maxima
        return []
    start, width = rows[1].offset, len(COUNTER_FIELDS)
    end = start + width * (len(rows) - 1)
    return [
        list(map(max, *(block[start + index : end : width] for block in blocks)))
        for index in MAX_FIELDS
    ]


def summed(blocks: Sequence[memoryview], raws: Sequence[bytes] | None = None) -> list[int]:
    """The workers' blocks added slot by slot, as unbounded ints (exact sums of the
    unsigned 64-bit slots).

    Fast path: each block read as one big integer (its 64-bit slots are its "digits") and
    the integers added, so the additions are a few C loops over machine words instead of
    one Python int per slot and block (8 blocks of 75,000 slots: 11 ms instead of 21).
    That is exact only while no slot's sum reaches 2**64 (a carry would spill into the next
    slot): it is taken when every slot of every block is below 2**(64 - b), with b the bits
    of `len(blocks) - 1`, which the top byte of each slot tells (one C pass); otherwise the
    blocks are added slot by slot with map(add). `raws`: the blocks' bytes, if copied."""
    if len(blocks) >= _FEWEST_FOR_INTEGERS:
        allowed = _SMALL_TOP_BYTES.get(len(blocks))
        if raws is None:
            raws = [block.tobytes() for block in blocks]
        if allowed is not None and not any(
            raw[_TOP_BYTE::8].translate(None, allowed) for raw in raws
        ):
            number = sum(int.from_bytes(raw, sys.byteorder) for raw in raws)
            return memoryview(number.to_bytes(len(raws[0]), sys.byteorder)).cast("Q").tolist()
    total = blocks[0].tolist()
    for block in blocks[1:]:
        total = list(map(add, total, block))
    return total


def busy(
    blocks: Sequence[memoryview], raws: Sequence[bytes]
) -> tuple[list[memoryview], list[bytes]]:
    """The blocks with a non-zero slot, and their bytes (`raws`: each block's): a worker
    that served nothing yet adds nothing to a sum, a maximum or a rate. The first block
    when all are zero. One comparison of bytes (memcmp) per block, far cheaper than adding."""
    zero = bytes(len(raws[0]))
    kept = [index for index, raw in enumerate(raws) if raw != zero] or [0]
    return [blocks[index] for index in kept], [raws[index] for index in kept]


# From how many blocks adding them as big integers beats map(add) (measured: with 2
# blocks one map(add) is quicker than reading both as integers).
_FEWEST_FOR_INTEGERS = 3
# The byte of a slot that holds its top bits, and per number of blocks the top-byte values
# that leave room for the sum of that many slots in 64 bits (up to 256 blocks).
_TOP_BYTE = 7 if sys.byteorder == "little" else 0
_SMALL_TOP_BYTES = {
    count: bytes(range(1 << (8 - (count - 1).bit_length()))) for count in range(2, 257)
}


class ServerFacts:
    """What a server row needs from the configuration, looked up once per `show stat`."""

    __slots__ = ("addr", "agent", "backup", "maxqueue", "observe", "root", "root_agent",
                 "slowstart", "tracked")  # fmt: skip

    def __init__(self, reading: Reading, proxy: Proxy, slot: ServerSlot) -> None:
        # a dynamic server (`add server`) has no configuration line, even under the name of
        # a configured server it replaced (`del server`)
        server = None if slot.dynamic else reading.servers.get((slot.backend, slot.name))
        self.root = reading.roots.get((slot.backend, slot.name))
        self.tracked = ""
        self.root_agent = False
        if server is None:
            self.backup, self.slowstart, self.maxqueue = slot.backup, 0, ""
            self.addr = admin_address(reading.admin(slot))
            self.agent, self.observe = slot.agent, slot.observe
            self.root = None
            target = (
                tracked_by(reading.table.layout, slot.backend, slot.name) if slot.dynamic else None
            )
            if target is not None:  # `add server ... track`: shown as the chain's root is
                self.tracked = f"{target[0]}/{target[1]}"
                self.root = reading.roots.get(target, target)
                root_server = reading.servers.get(self.root)
                self.root_agent = root_server is not None and has_agent(root_server)
            return
        self.backup = slot.backup or bool(server.option("backup", False))
        self.slowstart = int(server.option("slowstart", 0) or 0)
        self.maxqueue = server.option("maxqueue", 0) or ""
        self.addr = str(server.address)
        self.agent = has_agent(server)
        self.observe = server.option("observe", "none") != "none"
        if self.root is not None:
            self.tracked = track_label(proxy, server)
            root_server = reading.servers.get(self.root)  # DRAIN shows its agent, as HAProxy's
            self.root_agent = root_server is not None and has_agent(root_server)


def admin_address(admin: AdminState) -> str:
    """A dynamic server's `addr` column from its admin row (where `add server` wrote its
    address), as HAProxy prints it: `IP:PORT`, `[IPv6]:PORT`, port 0 when none was given;
    empty for a name that is no IP address (the row has none)."""
    host = unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo)
    if host is None:
        return ""
    return f"[{host}]:{admin.port}" if ":" in host else f"{host}:{admin.port}"


def has_agent(server: Server) -> bool:
    return bool(server.option("agent-check") and server.option("agent-port"))


def info_rates(table: StatsTable, config: Config) -> dict[str, int]:
    """`show info`'s ConnRate, SessRate and their maxima: the frontends' rates added (every
    accepted connection is a session here, so both pairs are the same numbers)."""
    reading = Reading(table, config, time.time())
    rate = peak = 0
    for row in table.layout.rows:
        if row.kind == FRONTEND:
            sessions, highest, _, _ = reading.rates(row)
            rate += sessions
            peak += highest
    return {"ConnRate": rate, "MaxConnRate": peak, "SessRate": rate, "MaxSessRate": peak}
