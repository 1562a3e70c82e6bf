"""Which shared-memory slots exist for a configuration, and where each one lives.

This module owns the shape of the stats table that every process of a generation maps
(haproxy_py/process/shm.py maps it): the counter fields of a stats row (named after HAProxy's
stats fields where HAProxy has one), the rows (global, then per proxy in configuration order:
FRONTEND, its listeners, its servers, BACKEND, which is `show stat`'s order), the per-server
state fields with their single writer, and the byte geometry. Rules of this file: pure (no os,
no mmap, no trio); a `Layout` is a frozen value that can be rebuilt from its own name table
(`to_names`/`from_names`), so a process holding only the table knows what is in it; anything
that changes the meaning of a slot changes LAYOUT_VERSION.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from haproxy_py.lb.server import servers_from_proxy  # pure; numbers servers as HAProxy does

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy

MAGIC = int.from_bytes(b"HAPYSTAT", "little")
LAYOUT_VERSION = 5  # 5: check_flags; 4: spare server rows; 3: rates and timing averages
WORD = 8  # every slot is an unsigned 64-bit integer
PAGE = 4096  # areas and per-worker counter blocks start on a page (no false sharing)
HEADER_WORDS = 16

# Row kinds; STAT_TYPE is HAProxy's `type` column (the global row has none).
GLOBAL, FRONTEND, BACKEND, SERVER, LISTENER = "global", "frontend", "backend", "server", "listener"
STAT_TYPE = {FRONTEND: 0, BACKEND: 1, SERVER: 2, LISTENER: 3}


@dataclass(frozen=True, slots=True)
class CounterField:
    """One counter slot of a row. `agg` says how readers combine the workers' slots."""

    name: str  # HAProxy's stats field name (or `show info` name for the global row)
    doc: str
    agg: str = "sum"  # "sum" | "max"
    haproxy: bool = True  # False: a haproxy-py addition, not a HAProxy column


# Maxima (smax, qmax) are per worker and summed: an upper bound of the true peak, exact with one
# worker, and close to it when the workers share the load evenly (their peaks coincide).
COUNTER_FIELDS: tuple[CounterField, ...] = (
    CounterField("qcur", "requests waiting for a server now"),
    CounterField("qmax", "highest qcur seen (sum of the workers' peaks)"),
    CounterField("scur", "sessions open now"),
    CounterField("smax", "highest scur seen (sum of the workers' peaks)"),
    CounterField("stot", "sessions since start"),
    CounterField("bin", "bytes from the clients"),
    CounterField("bout", "bytes to the clients"),
    CounterField("dreq", "requests denied by a rule"),
    CounterField("dresp", "responses denied by a rule"),
    CounterField("ereq", "request errors"),
    CounterField("econ", "failed server connections"),
    CounterField("eresp", "response errors"),
    CounterField("wretr", "connection retries"),
    CounterField("wredis", "redispatches to another server"),
    CounterField("chkfail", "failed health checks"),
    CounterField("chkdown", "UP to DOWN transitions"),
    CounterField("lbtot", "times the server was picked"),
    CounterField("hrsp_1xx", "responses 1xx"),
    CounterField("hrsp_2xx", "responses 2xx"),
    CounterField("hrsp_3xx", "responses 3xx"),
    CounterField("hrsp_4xx", "responses 4xx"),
    CounterField("hrsp_5xx", "responses 5xx"),
    CounterField("hrsp_other", "responses with another status"),
    CounterField("hanafail", "failed health-analyze checks"),
    CounterField("req_tot", "HTTP requests"),
    CounterField("cli_abrt", "data transfers aborted by the client"),
    CounterField("srv_abrt", "data transfers aborted by the server"),
    CounterField("comp_in", "bytes fed to the compressor"),
    CounterField("comp_out", "bytes out of the compressor"),
    CounterField("comp_byp", "bytes that bypassed the compressor"),
    CounterField("comp_rsp", "compressed responses"),
    CounterField("lastsess", "monotonic second of the last session, plus one", agg="max"),
    CounterField("conn_tot", "connections accepted"),
    CounterField("intercepted", "requests answered by haproxy-py itself"),
    CounterField("dcon", "connections denied by tcp-request connection rules"),
    CounterField("dses", "sessions denied by tcp-request session rules"),
    CounterField("wrew", "failed header rewrites"),
    CounterField("connect", "connection attempts to servers"),
    CounterField("reuse", "requests on a reused server connection"),
    CounterField("cache_lookups", "cache lookups"),
    CounterField("cache_hits", "cache hits"),
    CounterField("eint", "internal errors"),
    CounterField("qtimeout", "waiters dropped by `timeout queue`", haproxy=False),
    # Rates (HAProxy's freq_ctr idea): counts of the current and the previous second of the
    # monotonic clock, per worker slot; a reader interpolates each slot, then sums the slots.
    CounterField("rate_sec", "monotonic second the *_cur counts belong to", "max", False),
    CounterField("sess_cur", "sessions in that second", haproxy=False),
    CounterField("sess_prev", "sessions in the second before", haproxy=False),
    CounterField(
        "sess_max", "highest sessions per second (sum of the workers' peaks)", haproxy=False
    ),
    CounterField("req_cur", "HTTP requests in that second", haproxy=False),
    CounterField("req_prev", "HTTP requests in the second before", haproxy=False),
    CounterField(
        "req_max", "highest requests per second (sum of the workers' peaks)", haproxy=False
    ),
    # Timing averages: a sliding sum over the last 1024 samples (sum -= sum/1024; sum += v)
    # and the samples counted, capped at 1024, so summed slots divide into the average.
    CounterField("qtime_sum", "queue time sliding sum, ms", haproxy=False),
    CounterField("qtime_n", "queue time samples (at most 1024)", haproxy=False),
    CounterField("ctime_sum", "connect time sliding sum, ms", haproxy=False),
    CounterField("ctime_n", "connect time samples (at most 1024)", haproxy=False),
    CounterField("rtime_sum", "response time sliding sum, ms", haproxy=False),
    CounterField("rtime_n", "response time samples (at most 1024)", haproxy=False),
    CounterField("ttime_sum", "total time sliding sum, ms", haproxy=False),
    CounterField("ttime_n", "total time samples (at most 1024)", haproxy=False),
    CounterField("qtime_max", "longest queue time, ms", agg="max"),
    CounterField("ctime_max", "longest connect time, ms", agg="max"),
    CounterField("rtime_max", "longest response time, ms", agg="max"),
    CounterField("ttime_max", "longest total time, ms", agg="max"),
)

# Slot indexes within a proxy/server/listener row (a unit test checks them against the table).
# The data path writes `row[STOT] += 1` on the row's memoryview: one indexed store.
(
    QCUR, QMAX, SCUR, SMAX, STOT, BIN, BOUT, DREQ, DRESP, EREQ, ECON, ERESP, WRETR, WREDIS,
    CHKFAIL, CHKDOWN, LBTOT, HRSP_1XX, HRSP_2XX, HRSP_3XX, HRSP_4XX, HRSP_5XX, HRSP_OTHER,
    HANAFAIL, REQ_TOT, CLI_ABRT, SRV_ABRT, COMP_IN, COMP_OUT, COMP_BYP, COMP_RSP, LASTSESS,
    CONN_TOT, INTERCEPTED, DCON, DSES, WREW, CONNECT, REUSE, CACHE_LOOKUPS, CACHE_HITS, EINT,
    QTIMEOUT, RATE_SEC, SESS_CUR, SESS_PREV, SESS_MAX, REQ_CUR, REQ_PREV, REQ_MAX,
    QTIME_SUM, QTIME_N, CTIME_SUM, CTIME_N, RTIME_SUM, RTIME_N, TTIME_SUM, TTIME_N,
    QTIME_MAX, CTIME_MAX, RTIME_MAX, TTIME_MAX,
) = range(len(COUNTER_FIELDS))  # fmt: skip
TIME_SAMPLES = 1024  # HAProxy averages its q/c/r/t times over the last 1024 samples

# The process-wide row, named as `show info` names the fields.
GLOBAL_FIELDS: tuple[CounterField, ...] = (
    CounterField("CurrConns", "connections open now"),
    CounterField("CumConns", "connections accepted since start (CLI ones included)"),
    CounterField("CumReq", "HTTP requests since start"),
    CounterField("CurrSslConns", "TLS connections open now"),
    CounterField("CumSslConns", "TLS connections since start"),
    CounterField("PipesUsed", "splice pipes in use"),
    CounterField("DroppedLogs", "log messages dropped"),
    CounterField("FailedResolutions", "failed name resolutions"),
    CounterField("TotalBytesOut", "bytes sent to clients"),
    CounterField("TotalSplicdedBytesOut", "of which spliced (HAProxy's spelling)"),
    CounterField("CumRecvLogs", "log messages received"),
)
(
    G_CURR_CONNS, G_CUM_CONNS, G_CUM_REQ, G_CURR_SSL_CONNS, G_CUM_SSL_CONNS, G_PIPES_USED,
    G_DROPPED_LOGS, G_FAILED_RESOLUTIONS, G_TOTAL_BYTES_OUT, G_TOTAL_SPLICED_BYTES_OUT,
    G_CUM_RECV_LOGS,
) = range(len(GLOBAL_FIELDS))  # fmt: skip

# Gauges describe the present: a worker re-using a dead worker's slots zeroes them first.
GAUGES = frozenset({QCUR, SCUR})
GLOBAL_GAUGES = frozenset({G_CURR_CONNS, G_CURR_SSL_CONNS, G_PIPES_USED})
# `clear counters` (without `all`) resets the maxima, as HAProxy does.
MAXIMA = frozenset({QMAX, SMAX, SESS_MAX, REQ_MAX, QTIME_MAX, CTIME_MAX, RTIME_MAX, TTIME_MAX})

# -- server state ------------------------------------------------------------------------------

# srv_admin_state bits (show servers state)
FMAINT, IMAINT, CMAINT, FDRAIN, IDRAIN, RMAINT, HMAINT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
MAINT_MASK = FMAINT | IMAINT | CMAINT | RMAINT | HMAINT
DRAIN_MASK = FDRAIN | IDRAIN
FORCED_MASK = FMAINT | FDRAIN  # what an operator set: the bits a reload carries over
# srv_op_state
STOPPED, STARTING, RUNNING, STOPPING = 0, 1, 2, 3
# srv_check_result
CHK_UNKNOWN, CHK_NEUTRAL, CHK_FAILED, CHK_PASSED, CHK_CONDPASS = 0, 1, 2, 3, 4
# srv_check_status: HAProxy's numbering (observed: INI 1, L4OK 6, L4CON 8), name as in stats.
CHECK_STATUSES: tuple[str, ...] = (
    "UNK", "INI", "START", "CHECKED", "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK",
    "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L57DATA", "L7OK", "L7OKC", "L7STS", "PROCERR",
    "PROCTOUT", "PROCOK",
)  # fmt: skip
CHECK_STATUS = {name: number for number, name in enumerate(CHECK_STATUSES)}
# show stat's check_code is printed for these (the layer 5-7 results), as HAProxy does.
STATUSES_WITH_CODE = frozenset({"L57DATA", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCOK"})

# A state row: two sections, each with exactly one writer and its own sequence word.
# ADMIN: the master (runtime API admin commands). HEALTH: the worker owning the server's checks.
ADMIN_FIELDS = (
    "admin_state",  # srv_admin_state bits
    "uweight",  # user weight (set weight), 0..256
    "iweight",  # initial (configured) weight
    "maxconn",  # current maxconn (set maxconn server), 0 = unlimited
    "addr_gen",  # bumped by each `set server addr`; 0 = the configured address
    "addr_family",  # 0 none, 4, 6
    "addr_hi",  # the IP's 16 bytes (IPv4 in addr_lo)
    "addr_lo",
    "port",  # 0: the configured port
    "admin_changed",  # epoch seconds of the last admin change
)
HEALTH_FIELDS = (
    "op_state",  # what the checks say: STOPPED..STOPPING (MAINT is admin_state's business)
    "check_status",  # index in CHECK_STATUSES
    "check_result",  # CHK_*
    "check_health",  # 0 .. rise+fall-1; UP at >= rise
    "check_code",  # L7 status code of the last check
    "check_duration",  # ms
    "last_change",  # epoch seconds of the last op_state change
    "downtime",  # seconds spent DOWN before `down_since`
    "down_since",  # epoch seconds the server went DOWN, 0 while UP
    "changed_ms",  # epoch milliseconds of the last op_state change (slowstart's ramp)
    "info_len",  # bytes of the last check's text (show stat's last_chk), in the info words
    *(f"info{i}" for i in range(8)),  # that text, UTF-8, at most INFO_BYTES
    "agent_status",  # index in CHECK_STATUSES of the last agent check
    "agent_code",
    "agent_duration",  # ms
    "agent_health",  # 1 while the agent has not said down/fail/stopped
    "agent_info_len",  # the last agent check's text (show stat's last_agt)
    *(f"agent_info{i}" for i in range(8)),
    "check_flags",  # HEALTH_OFF | AGENT_OFF: `disable health|agent` (runtime API)
)
# check_flags bits: checks or agent stopped by the runtime API (HAProxy's CHK_ST_ENABLED off)
HEALTH_OFF, AGENT_OFF = 0x1, 0x2
INFO_WORDS = 8
INFO_BYTES = INFO_WORDS * WORD
ADMIN_SEQ = 0
ADMIN_BASE = 1
HEALTH_SEQ = ADMIN_BASE + len(ADMIN_FIELDS)
HEALTH_BASE = HEALTH_SEQ + 1
STATE_WIDTH = 48  # words per server: 45 used, padded to six cache lines
ADMIN_INDEX = {name: ADMIN_BASE + i for i, name in enumerate(ADMIN_FIELDS)}
HEALTH_INDEX = {name: HEALTH_BASE + i for i, name in enumerate(HEALTH_FIELDS)}
assert HEALTH_BASE + len(HEALTH_FIELDS) <= STATE_WIDTH


def pack_text(text: str, prefix: str = "info") -> dict[str, int]:
    """A check's text as the health row's info words (cut at INFO_BYTES, on a character);
    `prefix` "agent_info" for the agent's."""
    return dict(_packed(text, prefix))


@functools.lru_cache(maxsize=1024)  # a check's texts repeat: packed once each
def _packed(text: str, prefix: str) -> tuple[tuple[str, int], ...]:
    data = text.encode("utf-8", "replace")[:INFO_BYTES].decode("utf-8", "ignore").encode()
    padded = data.ljust(INFO_BYTES, b"\0")
    values = [(f"{prefix}_len", len(data))]
    for i in range(INFO_WORDS):
        values.append((f"{prefix}{i}", int.from_bytes(padded[i * WORD : (i + 1) * WORD], "little")))
    return tuple(values)


def unpack_text(length: int, words: Iterable[int]) -> str:
    data = b"".join(word.to_bytes(WORD, "little") for word in words)
    return data[: min(length, INFO_BYTES)].decode("utf-8", "replace")


def effective_op_state(admin_state: int, op_state: int) -> int:
    """srv_op_state as `show servers state` prints it: a server in maintenance is stopped."""
    return STOPPED if admin_state & MAINT_MASK else op_state


def lb_view(admin_state: int, uweight: int, op_state: int) -> tuple[bool, int]:
    """(usable, weight) for haproxy_py.lb's LbServer: usable when UP or starting (slowstart),
    and neither in maintenance nor draining."""
    usable = op_state in (RUNNING, STARTING) and not admin_state & (MAINT_MASK | DRAIN_MASK)
    return usable, uweight


def pack_address(ip: str) -> tuple[int, int, int]:
    """(addr_family, addr_hi, addr_lo) of an IP address text; ValueError if it is not one."""
    address = ipaddress.ip_address(ip)
    number = int(address)
    return address.version, number >> 64, number & 0xFFFF_FFFF_FFFF_FFFF


def unpack_address(family: int, hi: int, lo: int) -> str | None:
    if family == 4:
        return str(ipaddress.IPv4Address(lo))
    if family == 6:
        return str(ipaddress.IPv6Address(hi << 64 | lo))
    return None


# -- rows and the layout ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One counter row: `offset` is its first word inside every worker's counter block."""

    index: int
    kind: str
    proxy: str  # "" for the global row
    name: str  # svname: FRONTEND, BACKEND, the server or listener name; "" for global
    iid: int  # proxy id
    sid: int  # server or listener id, else 0
    offset: int
    width: int

    @property
    def fields(self) -> tuple[CounterField, ...]:
        return GLOBAL_FIELDS if self.kind == GLOBAL else COUNTER_FIELDS


@dataclass(frozen=True, slots=True)
class ServerSlot:
    """One server's state row and what the master writes into it at creation."""

    index: int
    backend: str
    name: str
    iid: int
    sid: int
    row: int  # its counter row
    iweight: int
    maxconn: int
    disabled: bool  # `disabled` in the configuration: starts with CMAINT
    checked: bool
    rise: int
    fall: int
    dynamic: bool = False  # added by `add server`: lives in a spare row (see DYN_FIELDS)
    backup: bool = False  # known for dynamic servers only (static ones: the configuration)
    forced_id: bool = False  # known for dynamic servers only: added with `id`
    agent: bool = False  # known for dynamic servers only: added with `agent-check`
    observe: bool = False  # known for dynamic servers only: added with `observe`
    tracks: int = -1  # known for dynamic servers only: the state slot of the server it tracks

    def flags(self) -> tuple[int, int, int, int]:
        return int(self.disabled), int(self.checked), self.rise, self.fall


# -- spare rows: dynamic servers (`add server`) ---------------------------------------------------
# A table has `spares` server rows no configured server uses: a counter row each (after the
# configured rows) and a state row each (after the configured ones), plus a record each in the
# dynamic area saying who holds it. The master is the one writer of that area (a seqlock word
# first, odd while it writes); every reader rebuilds its view of the layout when the word moved.
DYN_FIELDS = (
    "in_use",  # 0: free
    "iid",  # the backend's proxy id
    "sid",  # the server's id
    "iweight",
    "maxconn",
    "flags",  # DYN_DISABLED | DYN_BACKUP | DYN_FORCED_ID | DYN_CHECKED, rise and fall above
    "order",  # the master's add counter: servers of a backend are listed in the order added
    "name_len",
)
DYN_DISABLED, DYN_BACKUP, DYN_FORCED_ID, DYN_CHECKED = 1, 2, 4, 8
# `del server` of a configured server: a record naming it (iid, sid, name) with this flag
# hides its rows from the live layout until a reload (its spare row stays unused).
DYN_DELETED = 16
DYN_AGENT = 32  # added with `agent-check` (and `agent-port`): show stat's agent columns
DYN_RISE_SHIFT, DYN_FALL_SHIFT = 16, 32  # a checked server's rise and fall, 16 bits each
DYN_OBSERVE = 64  # added with `observe layer4|layer7`: show stat's hanafail column
# added with `track`: the state slot of the server it tracks, plus one, in the top 16 bits
DYN_TRACK_SHIFT = 48


def dynamic_flags(checked: bool, rise: int, fall: int) -> int:
    """The flags word's check part (`add server ... check`): rise and fall kept too."""
    if not checked:
        return 0
    return DYN_CHECKED | (rise & 0xFFFF) << DYN_RISE_SHIFT | (fall & 0xFFFF) << DYN_FALL_SHIFT


DYN_NAME_WORDS = 16
DYN_NAME_BYTES = DYN_NAME_WORDS * WORD  # a longer server name is refused by `add server`
DYN_WIDTH = 24  # words per record: 8 fields and the name
DYN_INDEX = {name: i for i, name in enumerate(DYN_FIELDS)}
DYN_NAME = len(DYN_FIELDS)
assert DYN_NAME + DYN_NAME_WORDS <= DYN_WIDTH
MIN_SPARES = 64


def pack_name(name: str) -> list[int]:
    """A dynamic server's name as its record's words: [length, word0, ...]; ValueError if
    it does not fit DYN_NAME_BYTES."""
    data = name.encode("utf-8", "surrogateescape")
    if len(data) > DYN_NAME_BYTES:
        raise ValueError(f"server name longer than {DYN_NAME_BYTES} bytes")
    padded = data.ljust(DYN_NAME_BYTES, b"\0")
    words = [
        int.from_bytes(padded[i * WORD : (i + 1) * WORD], "little") for i in range(DYN_NAME_WORDS)
    ]
    return [len(data), *words]


def unpack_name(length: int, words: Iterable[int]) -> str:
    data = b"".join(word.to_bytes(WORD, "little") for word in words)
    return data[: min(length, DYN_NAME_BYTES)].decode("utf-8", "surrogateescape")


def spares_for(servers: int) -> int:
    """Spare rows of a table whose configuration declares `servers`: max(64, 10 %)."""
    return max(MIN_SPARES, servers // 10)


@dataclass(frozen=True, slots=True)
class DynamicEntry:
    """One spare row's record as the master wrote it (`spare` counts from 0)."""

    spare: int
    iid: int
    sid: int
    iweight: int
    maxconn: int
    flags: int
    order: int
    name: str


def name_digest(names: bytes) -> int:
    """The 64-bit digest of a name table, kept in the header to check the table's integrity."""
    return int.from_bytes(hashlib.blake2b(names, digest_size=8).digest(), "little")


def _align(value: int, to: int) -> int:
    return -(-value // to) * to


@dataclass(frozen=True)
class Layout:
    """Every slot of one generation's table. Build it with `layout_for(config, workers)`."""

    workers: int
    rows: tuple[Row, ...]
    servers: tuple[ServerSlot, ...]
    spares: int = 0  # spare server rows for `add server`
    # A live view (`with_dynamic`): the configured layout it extends; None for that one.
    base: Layout | None = field(default=None, repr=False, compare=False)
    names: bytes = field(init=False, repr=False)  # the name table stored in the table
    digest: int = field(init=False)  # 64-bit hash of the name table
    _by_key: dict[tuple[str, str, str], Row] = field(init=False, repr=False, compare=False)
    _by_server: dict[tuple[str, str], ServerSlot] = field(init=False, repr=False, compare=False)
    _by_index: dict[int, Row] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("a stats table needs at least one worker")
        root = self.base
        names = self.to_names() if root is None else root.names
        set_ = object.__setattr__
        set_(self, "names", names)
        set_(self, "digest", name_digest(names))
        set_(self, "_by_key", {(r.kind, r.proxy, r.name): r for r in self.rows})
        set_(self, "_by_server", {(s.backend, s.name): s for s in self.servers})
        set_(self, "_by_index", {r.index: r for r in self.rows})

    @property
    def root(self) -> Layout:
        """The configured layout (without dynamic servers): the table's geometry."""
        return self if self.base is None else self.base

    # -- spare rows ---------------------------------------------------------------------------

    @property
    def row_words(self) -> int:
        """Words of the configured rows in a counter block (the spare rows follow)."""
        last = self.root.rows[-1]
        return last.offset + last.width

    def spare_row(self, spare: int) -> Row:
        """The counter row of spare `spare` (unnamed)."""
        root = self.root
        width = len(COUNTER_FIELDS)
        return Row(len(root.rows) + spare, SERVER, "", "", 0, 0,
                   self.row_words + spare * width, width)  # fmt: skip

    @property
    def physical_rows(self) -> tuple[Row, ...]:
        """Every counter row in block order, spare ones included: index i is row i."""
        root = self.root
        return root.rows + tuple(self.spare_row(i) for i in range(root.spares))

    def row_at(self, index: int) -> Row:
        """The row with that index (a configured row, or a dynamic server's)."""
        return self._by_index[index]

    @property
    def state_slots(self) -> int:
        return len(self.root.servers) + self.root.spares

    def with_dynamic(self, entries: Iterable[DynamicEntry]) -> Layout:
        """The live layout: the configured one with the dynamic servers of `entries`, each
        listed after its backend's servers (in the order added), as `show stat` lists them."""
        root = self.root
        backends = {r.iid: r.proxy for r in root.rows if r.kind == BACKEND}
        added: dict[str, list[DynamicEntry]] = {}
        gone: set[tuple[int, str]] = set()  # configured servers deleted (DYN_DELETED)
        for entry in sorted(entries, key=lambda e: e.order):
            if entry.flags & DYN_DELETED:
                gone.add((entry.iid, entry.name))
            elif entry.iid in backends:
                added.setdefault(backends[entry.iid], []).append(entry)
        if not added and not gone:
            return root
        rows: list[Row] = []
        servers = [s for s in root.servers if (s.iid, s.name) not in gone]
        for row in root.rows:
            if row.kind == SERVER and (row.iid, row.name) in gone:
                continue
            if row.kind == BACKEND:
                for entry in added.get(row.proxy, ()):
                    spare = self.spare_row(entry.spare)
                    rows.append(Row(spare.index, SERVER, row.proxy, entry.name, row.iid,
                                    entry.sid, spare.offset, spare.width))  # fmt: skip
                    servers.append(
                        ServerSlot(
                            len(root.servers) + entry.spare,
                            row.proxy,
                            entry.name,
                            row.iid,
                            entry.sid,
                            spare.index,
                            entry.iweight,
                            entry.maxconn,
                            bool(entry.flags & DYN_DISABLED),
                            bool(entry.flags & DYN_CHECKED),
                            (entry.flags >> DYN_RISE_SHIFT & 0xFFFF) or 2,
                            (entry.flags >> DYN_FALL_SHIFT & 0xFFFF) or 3,
                            dynamic=True,
                            backup=bool(entry.flags & DYN_BACKUP),
                            forced_id=bool(entry.flags & DYN_FORCED_ID),
                            agent=bool(entry.flags & DYN_AGENT),
                            observe=bool(entry.flags & DYN_OBSERVE),
                            tracks=(entry.flags >> DYN_TRACK_SHIFT & 0xFFFF) - 1,
                        )
                    )
            rows.append(row)
        return Layout(self.workers, tuple(rows), tuple(servers), root.spares, root)

    # -- look-ups ---------------------------------------------------------------------------

    def global_row(self) -> Row:
        return self.rows[0]

    def frontend(self, proxy: str) -> Row:
        return self._by_key[(FRONTEND, proxy, "FRONTEND")]

    def backend(self, proxy: str) -> Row:
        return self._by_key[(BACKEND, proxy, "BACKEND")]

    def server_row(self, backend: str, server: str) -> Row:
        return self._by_key[(SERVER, backend, server)]

    def listeners(self, proxy: str) -> list[Row]:
        """A frontend's listener rows, in listener_specs() order (sock-1, sock-2...)."""
        return [row for row in self.rows if row.kind == LISTENER and row.proxy == proxy]

    def server(self, backend: str, server: str) -> ServerSlot:
        """The state slot of a server; KeyError when it does not exist."""
        return self._by_server[(backend, server)]

    def find_row(self, proxy: str, name: str) -> Row | None:
        """The row `show stat` names (pxname, svname), whatever its kind."""
        for kind in (FRONTEND, BACKEND, SERVER, LISTENER):
            row = self._by_key.get((kind, proxy, name))
            if row is not None:
                return row
        return None

    # -- geometry (bytes unless named words) -------------------------------------------------

    @property
    def block_words(self) -> int:
        """One worker's counter block (spare rows included), padded to a page."""
        words = self.row_words + self.root.spares * len(COUNTER_FIELDS)
        return _align(words, PAGE // WORD)

    @property
    def epochs_offset(self) -> int:
        return HEADER_WORDS * WORD

    @property
    def names_offset(self) -> int:
        return self.epochs_offset + (self.workers + 1) * WORD

    @property
    def state_offset(self) -> int:
        return _align(self.names_offset + len(self.names), PAGE)

    @property
    def dynamic_offset(self) -> int:
        """The dynamic area: a seqlock word, then one DYN_WIDTH record per spare row."""
        return self.state_offset + self.state_slots * STATE_WIDTH * WORD

    @property
    def counters_offset(self) -> int:
        return _align(self.dynamic_offset + (1 + self.root.spares * DYN_WIDTH) * WORD, PAGE)

    @property
    def size(self) -> int:
        return self.counters_offset + self.workers * self.block_words * WORD

    def header(self) -> list[int]:
        """The header words, in the order shm.py writes and checks them."""
        if self.base is not None:
            return self.base.header()
        return [
            MAGIC,
            LAYOUT_VERSION,
            self.size,
            self.workers,
            len(self.rows),
            self.block_words,
            len(self.servers),
            STATE_WIDTH,
            self.digest,
            self.names_offset,
            len(self.names),
            self.state_offset,
            self.counters_offset,
            self.epochs_offset,
            0,  # generation: the master's reload count, written by the master
            0,  # created: epoch second, written by shm.create_table
        ]

    # -- the name table ----------------------------------------------------------------------

    def to_names(self) -> bytes:
        """The layout as JSON (proxy/server names, ids, configured values), stored in the table."""
        if self.base is not None:
            return self.base.to_names()
        data = {
            "version": LAYOUT_VERSION,
            "counter_fields": [f.name for f in COUNTER_FIELDS],
            "global_fields": [f.name for f in GLOBAL_FIELDS],
            "state_fields": [*ADMIN_FIELDS, *HEALTH_FIELDS],
            "rows": [[r.kind, r.proxy, r.name, r.iid, r.sid] for r in self.rows],
            "servers": [
                [s.backend, s.name, s.iid, s.sid, s.row, s.iweight, s.maxconn, *s.flags()]
                for s in self.servers
            ],
            "spares": self.spares,
        }
        return json.dumps(data, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_names(cls, names: bytes, workers: int) -> Layout:
        """Rebuild a layout from its name table; ValueError if it is not this version's."""
        try:
            data = json.loads(names)
        except ValueError as exc:
            raise ValueError(f"unreadable name table: {exc}") from None
        expected = {
            "version": LAYOUT_VERSION,
            "counter_fields": [f.name for f in COUNTER_FIELDS],
            "global_fields": [f.name for f in GLOBAL_FIELDS],
            "state_fields": [*ADMIN_FIELDS, *HEALTH_FIELDS],
        }
        for key, value in expected.items():
            if data.get(key) != value:
                raise ValueError(f"name table has another {key.replace('_', ' ')}")
        rows = _place(tuple(entry) for entry in data["rows"])
        servers = tuple(
            ServerSlot(i, *entry[:7], bool(entry[7]), bool(entry[8]), *entry[9:])
            for i, entry in enumerate(data["servers"])
        )
        spares = data.get("spares")
        if not isinstance(spares, int) or spares < 0:
            raise ValueError("name table has no spare row count")
        return cls(workers, rows, servers, spares)


def _place(entries: Iterable[tuple[str, str, str, int, int]]) -> tuple[Row, ...]:
    """Rows with their offsets, from (kind, proxy, name, iid, sid) in order."""
    rows, offset = [], 0
    for index, (kind, proxy, name, iid, sid) in enumerate(entries):
        width = len(GLOBAL_FIELDS if kind == GLOBAL else COUNTER_FIELDS)
        rows.append(Row(index, kind, proxy, name, iid, sid, offset, width))
        offset += width
    return tuple(rows)


def layout_for(config: Config, workers: int, spares: int | None = None) -> Layout:
    """The table of `config` for `workers` processes, rows in `show stat` order, with
    `spares` spare server rows (default: `spares_for` the declared servers)."""
    entries: list[tuple[str, str, str, int, int]] = [(GLOBAL, "", "", 0, 0)]
    servers: list[ServerSlot] = []
    for proxy in config.proxies:
        if proxy.is_frontend:
            entries.append((FRONTEND, proxy.name, "FRONTEND", proxy.uuid, 0))
            for number, name in enumerate(_listener_names(proxy), start=1):
                entries.append((LISTENER, proxy.name, name, proxy.uuid, number))
        if proxy.is_backend:
            for server, lb in zip(proxy.servers, servers_from_proxy(proxy), strict=True):
                servers.append(
                    ServerSlot(
                        index=len(servers),
                        backend=proxy.name,
                        name=server.name,
                        iid=proxy.uuid,
                        sid=lb.id,
                        row=len(entries),
                        iweight=lb.initial_weight,
                        maxconn=lb.maxconn,
                        disabled=bool(server.option("disabled", False)),
                        checked=bool(server.option("check", False)),
                        rise=int(server.option("rise", 2)),
                        fall=int(server.option("fall", 3)),
                    )
                )
                entries.append((SERVER, proxy.name, server.name, proxy.uuid, lb.id))
            entries.append((BACKEND, proxy.name, "BACKEND", proxy.uuid, 0))
    if spares is None:
        spares = spares_for(len(servers))
    return Layout(workers, _place(entries), tuple(servers), spares)


def _listener_names(proxy: Proxy) -> list[str]:
    """One name per listening socket, as listener_specs() expands them (port ranges too)."""
    names = []
    for bind in proxy.binds:
        for address in bind.addresses:
            count = 1
            if address.is_inet:
                count = (address.port_last or address.port) - address.port + 1
            for _ in range(count):
                names.append(bind.options.get("name") or f"sock-{len(names) + 1}")
    return names


def initial_state(slot: ServerSlot) -> dict[str, int]:
    """The state row of a server of a new table, before any carry-over."""
    return {
        "admin_state": CMAINT if slot.disabled else 0,
        "uweight": slot.iweight,
        "iweight": slot.iweight,
        "maxconn": slot.maxconn,
        "op_state": RUNNING,  # HAProxy 2.6 starts checked servers UP, health at `rise`
        "check_status": CHECK_STATUS["INI"],
        "check_result": CHK_UNKNOWN,
        "check_health": slot.rise,
        "agent_health": 1,
        "agent_status": CHECK_STATUS["INI"],
    }


# -- hot-path helpers (any mutable sequence of ints: a row memoryview, a list in tests) -------


def session_opened(row: MutableSequence[int]) -> None:
    cur = row[SCUR] + 1
    row[SCUR] = cur
    row[STOT] += 1
    if cur > row[SMAX]:
        row[SMAX] = cur


def session_closed(row: MutableSequence[int]) -> None:
    row[SCUR] -= 1


def queued(row: MutableSequence[int]) -> None:
    cur = row[QCUR] + 1
    row[QCUR] = cur
    if cur > row[QMAX]:
        row[QMAX] = cur


def dequeued(row: MutableSequence[int]) -> None:
    row[QCUR] -= 1


def count_response(row: MutableSequence[int], status: int) -> None:
    """Count one response by its status class."""
    if 100 <= status < 600:
        row[HRSP_1XX + status // 100 - 1] += 1
    else:
        row[HRSP_OTHER] += 1
