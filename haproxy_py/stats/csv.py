"""`show stat` as HAProxy 2.6 prints it: its exact CSV header, its row order, summed numbers.

The numbers come from the shared table (haproxy_py/process/shm.py: every worker's counter
slots summed, the server state rows), the rest from the configuration. Rules of this file:
pure (the caller hands it a table-like object and the configuration); a column we do not
compute yet is left empty, as HAProxy leaves a column empty where it does not apply, so the
header, the number of fields and the row order are always HAProxy's and tools reading columns
by name (hatop, haproxy_exporter, haproxyadmin) work.

One call reads the table once (`_Reading`): the workers' blocks summed in one pass, each
server's state rows read once, servers indexed by name and by backend, so the answer costs
time in proportion to the rows (1,000 servers: see docs/PERFORMANCE.md). Rates are read per
worker slot (each slot's current and previous second, interpolated as HAProxy's freq_ctr
does) and summed; time averages divide the summed sliding sums by the summed sample counts.
A row is put together by its kind's `_Assembly` (one itemgetter call, one %-format for the
CSV line): the per-row code only computes the values that are not plain counters.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import add, itemgetter
from typing import TYPE_CHECKING

from haproxy_py.checks.shared import warmup_percent, warmup_weight
from haproxy_py.checks.status import STATUSES
from haproxy_py.checks.track import roots as track_roots
from haproxy_py.checks.track import track_label
from haproxy_py.stats.layout import (
    AGENT_OFF,
    BACKEND,
    CHECK_STATUSES,
    CHKDOWN,
    CHKFAIL,
    CONNECT,
    COUNTER_FIELDS,
    CTIME_N,
    CTIME_SUM,
    DRAIN_MASK,
    FRONTEND,
    HANAFAIL,
    HEALTH_FIELDS,
    HEALTH_OFF,
    INFO_WORDS,
    LASTSESS,
    LBTOT,
    MAINT_MASK,
    QTIME_N,
    QTIME_SUM,
    RATE_SEC,
    REQ_CUR,
    REQ_MAX,
    REQ_PREV,
    RTIME_N,
    RTIME_SUM,
    RUNNING,
    SERVER,
    SESS_CUR,
    SESS_MAX,
    SESS_PREV,
    STARTING,
    STAT_TYPE,
    STATUSES_WITH_CODE,
    STOPPED,
    STOPPING,
    TTIME_N,
    TTIME_SUM,
    Row,
    ServerSlot,
    unpack_text,
)
from haproxy_py.stats.limits import ProxyLimits, proxy_limits

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy, Server
    from haproxy_py.process.shm import AdminState, Health, StatsTable

# HAProxy 2.6.12's `show stat` columns, in order (checked against the real haproxy's header).
STAT_COLUMNS: tuple[str, ...] = (
    "pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot", "bin", "bout", "dreq",
    "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status", "weight", "act", "bck",
    "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid", "throttle",
    "lbtot", "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code",
    "check_duration", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    "hanafail", "req_rate", "req_rate_max", "req_tot", "cli_abrt", "srv_abrt", "comp_in",
    "comp_out", "comp_byp", "comp_rsp", "lastsess", "last_chk", "last_agt", "qtime", "ctime",
    "rtime", "ttime", "agent_status", "agent_code", "agent_duration", "check_desc",
    "agent_desc", "check_rise", "check_fall", "check_health", "agent_rise", "agent_fall",
    "agent_health", "addr", "cookie", "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot",
    "intercepted", "dcon", "dses", "wrew", "connect", "reuse", "cache_lookups", "cache_hits",
    "srv_icur", "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint",
    "idle_conn_cur", "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight",
    "agg_server_status", "agg_server_check_status", "agg_check_status", "-", "ssl_sess",
    "ssl_reused_sess", "ssl_failed_handshake", "h2_headers_rcvd", "h2_data_rcvd",
    "h2_settings_rcvd", "h2_rst_stream_rcvd", "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors", "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp", "h2_goaway_resp", "h2_open_connections", "h2_backend_open_streams",
    "h2_total_connections", "h2_backend_total_streams", "h1_open_connections",
    "h1_open_streams", "h1_total_connections", "h1_total_streams", "h1_bytes_in",
    "h1_bytes_out", "h1_spliced_bytes_in", "h1_spliced_bytes_out",
)  # fmt: skip
CHECK_DESCRIPTIONS = {name: status.description for name, status in STATUSES.items()}
HEADER = "# " + ",".join(STAT_COLUMNS) + ",\n"
NO_SUCH_PROXY = "No such proxy.\n\n"
_LINE = ",".join(["%s"] * len(STAT_COLUMNS)) + ",\n"
_ODD = re.compile('["\r]')
_clock = time.monotonic  # system-wide on Linux: every worker's slots use the same seconds

# Counters every row kind shows (the others depend on the kind, below).
_COMMON = ("scur", "smax", "stot", "bin", "bout")
_FRONT = (*_COMMON, "dreq", "dresp", "ereq", "conn_tot", "dcon", "dses", "wrew")
_BACK = (*_COMMON, "qcur", "qmax", "dreq", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
         "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_SERVER = (*_COMMON, "qcur", "qmax", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
           "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_HTTP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot")
_FIELD_NAMES = tuple(spec.name for spec in COUNTER_FIELDS)
_MAX_FIELDS = tuple(index for index, spec in enumerate(COUNTER_FIELDS) if spec.agg == "max")
_TIMES = tuple((name, total, count, f"{name}_max") for name, total, count in (
    ("qtime", QTIME_SUM, QTIME_N), ("ctime", CTIME_SUM, CTIME_N),
    ("rtime", RTIME_SUM, RTIME_N), ("ttime", TTIME_SUM, TTIME_N),
))  # fmt: skip


def server_status(
    admin_state: int,
    op_state: int,
    checked: bool,
    health: int = 0,
    rise: int = 1,
    fall: int = 1,
    *,
    agent: bool = False,
    agent_health: int = 1,
) -> str:
    """The `status` column of a server row, with HAProxy's transitional states: `UP 1/3`
    (UP, failing: the failures so far out of `fall`), `DOWN 1/2` (DOWN, passing: the
    successes out of `rise`), `NOLB`, `DRAIN`, `MAINT`, `no check`."""
    if admin_state & MAINT_MASK:
        return "MAINT"
    top = rise + fall - 1
    if op_state in (RUNNING, STARTING):
        going_down = checked and health < top
        if admin_state & DRAIN_MASK:
            if agent:
                return "DRAIN (agent)"
            return f"DRAIN {health - rise + 1}/{fall}" if going_down else "DRAIN"
        if not checked:
            return "no check"
        return f"UP {health - rise + 1}/{fall}" if going_down else "UP"
    if op_state == STOPPING:
        return f"NOLB {health - rise + 1}/{fall}" if checked and health < top else "NOLB"
    if agent and not agent_health:
        return "DOWN (agent)"
    if checked and health > 0:
        return f"DOWN {health}/{rise}"
    return "DOWN"


def show_stat(
    table: StatsTable,
    config: Config,
    words: Sequence[str] = (),
    *,
    now: float | None = None,
    limits: ProxyLimits | None = None,
) -> str:
    """The whole `show stat [{proxy|iid} {type} {sid}]` answer, header and final empty line.
    `now` (epoch seconds) dates lastchg and downtime; the caller's clock, else the system's."""
    if now is None:
        now = time.time()
    wanted = _filter(config, words)
    if wanted is None:
        return NO_SUCH_PROXY
    lines = [HEADER]
    for _, assembly, source in _stat_rows(table, config, wanted, now, limits):
        lines.append(assembly.line(source))
    return "".join(lines) + "\n"


def csv_line(values: Mapping[str, object]) -> str:
    """One row as a CSV line: the columns in order, texts quoted where HAProxy quotes them."""
    return _line(list(map(values.get, STAT_COLUMNS, repeat(""))))


def _line(values: Sequence[object]) -> str:
    line = _LINE % tuple(values)  # one C call: measured twice as fast as join(map(str))
    # Rare: a check text with a comma, a quote or a line break. Then the line has more
    # commas or line breaks than its separators, and each field is quoted as it needs.
    if line.count(",") != len(STAT_COLUMNS) or line.count("\n") != 1 or _ODD.search(line):
        line = ",".join(_quoted(str(value)) for value in values) + ",\n"
    return line


class _Reading:
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
        self.blocks = [table.counter_block(w) for w in range(layout.workers)]
        self.snapshot = _summed(self.blocks)
        self.highest = _highest(self.blocks, layout.physical_rows)
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
        self._facts: dict[int, _ServerFacts] = {}
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
                for index, column in zip(_MAX_FIELDS, self.highest, strict=True):
                    found[index] = column[number]
            self._counters[row.index] = found
        return found

    def facts(self, proxy: Proxy, slot: ServerSlot) -> _ServerFacts:
        found = self._facts.get(slot.index)
        if found is None:
            found = self._facts[slot.index] = _ServerFacts(self, proxy, slot)
        return found

    def rates(self, row: Row) -> tuple[int, int, int, int]:
        """(sessions/s, highest, requests/s, highest) of a row, over the workers' slots.

        A slot's peak is the busiest finished second it has seen (its max slot, or its
        current count once that second is over: nobody rolled it since); the peaks of the
        slots are added, like smax, and the row's peak is at least its rate now."""
        if self._rates is None:
            self._rates = _rate_table(self.blocks, self.table.layout.physical_rows, self.second)
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


def _rate_table(blocks: Sequence[memoryview], rows: Sequence[Row], now: float) -> _Rates:
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


def _highest(blocks: Sequence[memoryview], rows: Sequence[Row]) -> list[list[int]]:
    """For each maximum field (lastsess, the longest times), its highest value over the
    workers, for every row after the global one: the rows follow each other with one width,
    so a field of every row is a strided slice of a block (C loops, no per-row work)."""
    if len(blocks) == 1 or len(rows) < 2:  # one block: the sums are the maxima
        return []
    start, width = rows[1].offset, len(COUNTER_FIELDS)
    end = start + width * (len(rows) - 1)
    return [
        list(map(max, *(block[start + index : end : width] for block in blocks)))
        for index in _MAX_FIELDS
    ]


def _summed(blocks: Sequence[memoryview]) -> list[int]:
    """The workers' blocks added slot by slot, straight from the shared views: one
    map(add) per further block, in C (measured three times faster than zip and sum)."""
    total = blocks[0].tolist()
    for block in blocks[1:]:
        total = list(map(add, total, block))
    return total


def _stat_values(
    table: StatsTable,
    config: Config,
    wanted: tuple[str | None, int, int],
    now: float,
    limits: ProxyLimits | None = None,
) -> Iterable[tuple[Row, dict[str, object]]]:
    """The rows `wanted` (proxy filter, type mask, sid) selects, each as {column: value}
    (every column; "" where empty)."""
    for row, assembly, source in _stat_rows(table, config, wanted, now, limits):
        yield row, dict(zip(STAT_COLUMNS, assembly.values(source), strict=True))


def _stat_rows(
    table: StatsTable,
    config: Config,
    wanted: tuple[str | None, int, int],
    now: float,
    limits: ProxyLimits | None = None,
) -> Iterable[tuple[Row, _Assembly, list[object]]]:
    """The rows `wanted` selects, each with its kind's assembly and its values for it."""
    proxy_filter, types, sid = wanted
    reading = _Reading(table, config, now, limits)
    for row in _rows(table.layout.rows, proxy_filter, types, sid):
        proxy = reading.proxies.get(row.proxy)
        if proxy is not None:
            yield row, *_row_values(reading, row, proxy)


def _filter(config: Config, words: Sequence[str]) -> tuple[str | None, int, int] | None:
    """(proxy name or None, type mask, sid or -1) of `show stat`'s arguments; None: no proxy."""
    args = [word for word in words if word not in ("typed", "json", "desc", "up", "no-maint")]
    if len(args) < 3:
        return None, -1, -1
    name, mask, sid = args[0], args[1], args[2]
    if name != "-1":
        if name.startswith("#") or name.isdigit():
            number = name.lstrip("#")
            found = [p for p in config.proxies if str(p.uuid) == number]
        else:
            found = [p for p in config.proxies if p.name == name]
        if not found:
            return None
        name = found[0].name
    try:
        return (None if name == "-1" else name), int(mask), int(sid)
    except ValueError:
        return None, -1, -1


def _rows(rows: Iterable[Row], proxy: str | None, types: int, sid: int) -> Iterable[Row]:
    bits = {FRONTEND: 1, BACKEND: 2, SERVER: 4}
    for row in rows:
        if row.kind not in bits:  # the global row; listeners only with `option socket-stats`
            continue
        if proxy is not None and row.proxy != proxy:
            continue
        if types != -1 and not types & bits[row.kind]:
            continue
        if sid != -1 and row.kind == SERVER and row.sid != sid:
            continue
        yield row


def _quoted(text: str) -> str:
    """A text field as HAProxy's CSV writes it: quoted when it holds a comma, a quote or a
    line break (quotes doubled)."""
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _row_values(reading: _Reading, row: Row, proxy: Proxy) -> _Built:
    """One row's assembly and the values it puts together (its counters, then the values
    computed for its kind)."""
    if row.kind == SERVER:
        return _server_values(reading, row, proxy)
    if row.kind == FRONTEND:
        return _frontend_values(reading, row, proxy)
    return _backend_values(reading, row, proxy)


class _Assembly:
    """How one kind of row is put together: every column of STAT_COLUMNS is taken, by one
    itemgetter call, from [the row's counters..., the values computed for it (`computed`,
    in that order)..., the constants of its kind..., ""]. The sources are chosen once, at
    import, so a row costs one C call rather than a dict entry per column. Its CSV line is
    one %-format whose constants and empty columns are already written in (`line`)."""

    __slots__ = ("format", "pick", "tail", "variable")

    def __init__(
        self,
        counters: Iterable[tuple[str, str]],
        computed: Sequence[str],
        constants: Mapping[str, object],
    ) -> None:
        where = {column: _FIELD[name] for column, name in counters}
        after = _WIDTH + len(computed)
        where.update({column: after + i for i, column in enumerate(constants)})
        where.update({column: _WIDTH + i for i, column in enumerate(computed)})
        self.tail = [*constants.values(), ""]
        blank = after + len(constants)
        sources = [where.get(column, blank) for column in STAT_COLUMNS]
        self.pick = itemgetter(*sources)
        self.variable = itemgetter(*(source for source in sources if source < after))
        fixed = [str(value).replace("%", "%%") for value in self.tail]
        texts = ["%s" if source < after else fixed[source - after] for source in sources]
        self.format = ",".join(texts) + ",\n"

    def values(self, source: list[object]) -> tuple[object, ...]:
        """Every column's value, in STAT_COLUMNS order ("" where empty)."""
        return self.pick(source + self.tail)

    def line(self, source: list[object]) -> str:
        """The CSV line (constants never need quotes: only the values are looked at)."""
        line = self.format % self.variable(source)
        if line.count(",") != len(STAT_COLUMNS) or line.count("\n") != 1 or _ODD.search(line):
            return _line(self.values(source))  # rare: a check text with a comma or a quote
        return line


_Built = tuple[_Assembly, list[object]]  # a row's assembly, and the values it takes
_FIELD = {name: index for index, name in enumerate(_FIELD_NAMES)}
_WIDTH = len(_FIELD_NAMES)
_TIME_SLOTS = tuple((total, count, _FIELD[highest]) for _, total, count, highest in _TIMES)
_IDENTITY = ("pxname", "svname", "iid", "sid", "mode", "rate", "rate_max")
_COMP = dict.fromkeys(("comp_in", "comp_out", "comp_byp", "comp_rsp"), 0)
_CACHE = dict.fromkeys(("cache_lookups", "cache_hits"), 0)
# The TLS and HTTP/2 module counters HAProxy prints for every proxy (TLS also for servers):
# always 0 here, as neither is served. The h1_* ones are real counters there: left empty.
_SSL = dict.fromkeys(("ssl_sess", "ssl_reused_sess", "ssl_failed_handshake"), 0)
_H2 = STAT_COLUMNS[
    STAT_COLUMNS.index("h2_headers_rcvd") : STAT_COLUMNS.index("h1_open_connections")
]
_MODULES = {**_SSL, **dict.fromkeys(_H2, 0)}
_FRONTEND_COMPUTED = (*_IDENTITY, "conn_rate", "conn_rate_max", "req_rate", "req_rate_max",
                      "slim", "rate_lim")  # fmt: skip
_BACKEND_COMPUTED = (
    *_IDENTITY, "status", "weight", "uweight", "act", "bck", "slim", "algo", "lastchg",
    "downtime", "lbtot", "connect", "lastsess", "qtime", "ctime", "rtime", "ttime",
    "qtime_max", "ctime_max", "rtime_max", "ttime_max",
)  # fmt: skip
_SERVER_COMPUTED = (
    *_IDENTITY, "status", "weight", "uweight", "act", "bck", "slim", "qlimit", "lastsess",
    "addr", "lastchg", "tracked", "throttle", "qtime", "ctime", "rtime", "ttime", "chkfail",
    "chkdown", "downtime", "check_status", "check_desc", "last_chk", "check_rise",
    "check_fall", "check_health", "hanafail", "check_code", "check_duration", "agent_status",
    "agent_desc", "agent_rise", "agent_fall", "agent_health", "last_agt", "agent_code",
    "agent_duration",
)  # fmt: skip
_NO_AGENT = ("",) * 8
_NO_CHECK = ("",) * 12


def _assemblies(http: bool) -> dict[str, _Assembly]:
    """The three row kinds of a proxy in mode http (`http`) or not."""
    extra = _HTTP if http else ()
    common = {"pid": 1, "-": "-"}
    return {
        FRONTEND: _Assembly(
            ((n, n) for n in (*_FRONT, "eint", "req_tot", *extra)
             + (("intercepted",) if http else ())),
            _FRONTEND_COMPUTED,
            {**common, "type": STAT_TYPE[FRONTEND], "status": "OPEN", "rate_lim": 0, **_COMP,
             **_MODULES, **(_CACHE if http else {})},
        ),
        BACKEND: _Assembly(
            ((n, n) for n in (*_BACK, "chkdown", *extra)),
            _BACKEND_COMPUTED,
            {**common, "type": STAT_TYPE[BACKEND], **_COMP, **_MODULES, "agg_server_status": 0,
             "agg_server_check_status": 0, "agg_check_status": 0, **(_CACHE if http else {})},
        ),
        SERVER: _Assembly(
            (*((n, n) for n in (*_SERVER, *extra)), ("used_conn_cur", "scur"),
             *((highest, highest) for _, _, _, highest in _TIMES)),
            _SERVER_COMPUTED,
            {**common, "type": STAT_TYPE[SERVER], "idle_conn_cur": 0, "safe_conn_cur": 0,
             "need_conn_est": 0, "srv_icur": 0, **_SSL},
        ),
    }  # fmt: skip


_ASSEMBLIES = {True: _assemblies(True), False: _assemblies(False)}


def _frontend_values(reading: _Reading, row: Row, proxy: Proxy) -> _Built:
    rate, rate_max, req_rate, req_rate_max = reading.rates(row)
    # Every accepted connection is a session here: the connection rate is the session's.
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, rate, rate_max,
        rate, rate_max, req_rate, req_rate_max, reading.limits.frontend_slim(proxy),
        proxy.setting("rate-limit sessions") or 0,
    ]  # fmt: skip
    return _ASSEMBLIES[proxy.mode == "http"][FRONTEND], reading.counters(row) + computed


class _ServerFacts:
    """What a server row needs from the configuration, looked up once per `show stat`."""

    __slots__ = ("addr", "agent", "backup", "maxqueue", "observe", "root", "root_agent",
                 "slowstart", "tracked")  # fmt: skip

    def __init__(self, reading: _Reading, proxy: Proxy, slot: ServerSlot) -> None:
        server = reading.servers.get((slot.backend, slot.name))
        self.root = reading.roots.get((slot.backend, slot.name))
        self.tracked = ""
        self.root_agent = False
        if server is None:  # a dynamic server (`add server`): no configuration line
            self.backup, self.slowstart, self.maxqueue, self.addr = slot.backup, 0, "", ""
            self.agent = self.observe = False
            self.root = None
            return
        self.backup = slot.backup or bool(server.option("backup", False))
        self.slowstart = int(server.option("slowstart", 0) or 0)
        self.maxqueue = server.option("maxqueue", 0) or ""
        self.addr = str(server.address)
        self.agent = _has_agent(server)
        self.observe = server.option("observe", "none") != "none"
        if self.root is not None:
            self.tracked = track_label(proxy, server)
            root_server = reading.servers.get(self.root)  # DRAIN shows its agent, as HAProxy's
            self.root_agent = root_server is not None and _has_agent(root_server)


def _has_agent(server: Server) -> bool:
    return bool(server.option("agent-check") and server.option("agent-port"))


def _server_values(reading: _Reading, row: Row, proxy: Proxy) -> _Built:
    table, now = reading.table, reading.now
    slot = table.layout.server(row.proxy, row.name)
    facts = reading.facts(proxy, slot)
    admin = reading.admin(slot)
    health = reading.health(slot)
    admin_state, op_state = admin.admin_state, health.op_state
    # `disable health|agent` (runtime API): shown as HAProxy shows checks that are off
    checked = slot.checked and not health.check_flags & HEALTH_OFF
    agent = facts.agent and not health.check_flags & AGENT_OFF
    root = facts.root
    if root is not None:  # a tracking server: shown as its root is
        root_slot = table.layout.server(*root)
        root_admin = reading.admin(root_slot).admin_state
        check_health = reading.health(root_slot).check_health
        if root_admin & MAINT_MASK and not admin_state & MAINT_MASK:
            status = f"MAINT (via {root[0]}/{root[1]})"
        else:
            status = _status(admin_state, op_state, True, check_health, root_slot.rise,
                             root_slot.fall, facts.root_agent, 1)  # fmt: skip
    else:
        status = _status(admin_state, op_state, checked, health.check_health, slot.rise,
                         slot.fall, agent, health.agent_health)  # fmt: skip
    weight = uweight = admin.uweight
    throttle: object = ""
    if op_state == STARTING and facts.slowstart:
        elapsed = int(now * 1000) - health.changed_ms
        weight = warmup_weight(weight, elapsed, facts.slowstart)
        throttle = warmup_percent(elapsed, facts.slowstart)
    counters = reading.counters(row)
    snapshot, base = reading.snapshot, row.offset
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, *reading.rates(row)[:2],
        status, weight, uweight, int(not facts.backup), int(facts.backup),
        admin.maxconn or "", facts.maxqueue, reading.lastsess(counters[LASTSESS]), facts.addr,
        max(int(now) - health.last_change, 0), facts.tracked, throttle,
    ]  # fmt: skip
    for total, count, _ in _TIME_SLOTS:
        samples = snapshot[base + count]
        computed.append(snapshot[base + total] // samples if samples else 0)
    if checked:
        computed += _check_values(reading, slot, health, counters, facts.observe)
    else:
        computed += _NO_CHECK
    computed += _agent_values(health) if agent else _NO_AGENT
    return _ASSEMBLIES[proxy.mode == "http"][SERVER], counters + computed


def _check_values(
    reading: _Reading, slot: ServerSlot, health: Health, counters: list[int], observe: bool
) -> tuple[object, ...]:
    """chkfail ... check_duration of a checked server (_SERVER_COMPUTED's order)."""
    now = int(reading.now)
    index = health.check_status
    name = CHECK_STATUSES[index] if index < len(CHECK_STATUSES) else ""
    down = health.downtime + (max(now - health.down_since, 0) if health.down_since else 0)
    return (
        counters[CHKFAIL], counters[CHKDOWN], down, name, CHECK_DESCRIPTIONS.get(name, ""),
        _text(health, _INFO), slot.rise, slot.fall, health.check_health,
        counters[HANAFAIL] if observe else "",
        health.check_code if name in STATUSES_WITH_CODE else "",
        health.check_duration if name not in _NO_DURATION else "",
    )  # fmt: skip


def _agent_values(health: Health) -> tuple[object, ...]:
    """The agent columns of a server that has an agent (its rise and fall are 1)."""
    index = health.agent_status
    name = CHECK_STATUSES[index] if index < len(CHECK_STATUSES) else ""
    return (
        name, CHECK_DESCRIPTIONS.get(name, ""), 1, 1, health.agent_health,
        _text(health, _AGENT_INFO),
        health.agent_code if name in STATUSES_WITH_CODE else "",
        health.agent_duration if name not in _NO_DURATION else "",
    )  # fmt: skip


_NO_DURATION = frozenset({"UNK", "INI", "START"})
_INFO = HEALTH_FIELDS.index("info_len")
_AGENT_INFO = HEALTH_FIELDS.index("agent_info_len")


@functools.lru_cache(maxsize=1024)
def _decoded(key: tuple[int, ...]) -> str:
    return unpack_text(key[0], key[1:])


def _text(health: Health, start: int) -> str:
    """A check text of the health row (its length word, then the packed words), decoded
    once per distinct text: servers mostly share a few ("Layer4 check passed")."""
    return _decoded(health[start : start + 1 + INFO_WORDS])


@functools.lru_cache(maxsize=1024)
def _status(
    admin_state: int, op_state: int, checked: bool, health: int, rise: int, fall: int,
    agent: bool, agent_health: int,
) -> str:  # fmt: skip
    """server_status() for a state tuple: a few dozen tuples cover every server."""
    return server_status(admin_state, op_state, checked, health, rise, fall, agent=agent,
                         agent_health=agent_health)  # fmt: skip


def _backend_values(reading: _Reading, row: Row, proxy: Proxy) -> _Built:
    now = reading.now
    active = backup = weight = 0
    up_since: list[int] = []  # when each usable server last changed
    down_since: list[int] = []
    slots = reading.by_backend.get(row.proxy, [])
    for slot in slots:
        admin = reading.admin(slot)
        health = reading.health(slot)
        op_state = health.op_state
        (down_since if op_state == STOPPED else up_since).append(health.last_change)
        if admin.admin_state & (MAINT_MASK | DRAIN_MASK) or op_state not in (RUNNING, STARTING):
            continue
        facts = reading.facts(proxy, slot)
        if facts.backup:
            backup += 1
            continue
        active += 1
        if op_state == STARTING and facts.slowstart:
            elapsed = int(now * 1000) - health.changed_ms
            weight += warmup_weight(admin.uweight, elapsed, facts.slowstart)
        else:
            weight += admin.uweight
    # What the data path counts on the servers only (one row to write per event, not two):
    # picks, connection attempts, times and the last session, combined over the servers.
    rows = [reading.table.layout.row_at(slot.row) for slot in slots]
    found = [reading.counters(server_row) for server_row in rows]
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, *reading.rates(row)[:2],
        # HAProxy: a backend without any server is UP (nothing to be down); with servers,
        # it is UP while one of them can take traffic.
        "UP" if active or backup or not slots else "DOWN", weight, weight, active, backup,
        reading.limits.backend_slim(proxy), proxy.balance.get("algorithm", "roundrobin"),
        # The backend has no state row: it changed when its earliest usable server came
        # up, or (all down) when the last one went down.
        max(int(now) - _backend_changed(reading.table, up_since, down_since), 0),
        0 if slots else "",
        sum(counters[LBTOT] for counters in found),
        sum(counters[CONNECT] for counters in found),
        reading.lastsess(max((counters[LASTSESS] for counters in found), default=0)),
    ]  # fmt: skip
    snapshot, peaks = reading.snapshot, []
    for total, count, highest in _TIME_SLOTS:
        sums = sum(snapshot[server_row.offset + total] for server_row in rows)
        samples = sum(snapshot[server_row.offset + count] for server_row in rows)
        computed.append(sums // samples if samples else 0)
        peaks.append(max((counters[highest] for counters in found), default=0))
    computed += peaks
    return _ASSEMBLIES[proxy.mode == "http"][BACKEND], reading.counters(row) + computed


def _backend_changed(table: StatsTable, up_since: list[int], down_since: list[int]) -> int:
    """When a backend last changed: its earliest usable server came up, or (all down) the
    last one went down; without servers, when the table was made (at start or reload)."""
    if up_since:
        return min(up_since)
    return max(down_since) if down_since else table.created


def info_rates(table: StatsTable, config: Config) -> dict[str, int]:
    """`show info`'s ConnRate, SessRate and their maxima: the frontends' rates added (every
    accepted connection is a session here, so both pairs are the same numbers)."""
    reading = _Reading(table, config, time.time())
    rate = peak = 0
    for row in table.layout.rows:
        if row.kind == FRONTEND:
            sessions, highest, _, _ = reading.rates(row)
            rate += sessions
            peak += highest
    return {"ConnRate": rate, "MaxConnRate": peak, "SessRate": rate, "MaxSessRate": peak}
