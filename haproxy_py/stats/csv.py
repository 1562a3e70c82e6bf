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
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from haproxy_py.checks.shared import warmup_percent, warmup_weight
from haproxy_py.checks.status import STATUSES
from haproxy_py.checks.track import roots as track_roots
from haproxy_py.checks.track import track_label
from haproxy_py.stats.layout import (
    BACKEND,
    CHECK_STATUSES,
    COUNTER_FIELDS,
    CTIME_N,
    CTIME_SUM,
    DRAIN_MASK,
    FRONTEND,
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
)

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
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
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
    table: StatsTable, config: Config, words: Sequence[str] = (), *, now: float | None = None
) -> str:
    """The whole `show stat [{proxy|iid} {type} {sid}]` answer, header and final empty line.
    `now` (epoch seconds) dates lastchg and downtime; the caller's clock, else the system's."""
    if now is None:
        now = time.time()
    wanted = _filter(config, words)
    if wanted is None:
        return NO_SUCH_PROXY
    lines = [HEADER]
    for _, values in _stat_values(table, config, wanted, now):
        lines.append(csv_line(values))
    return "".join(lines) + "\n"


def csv_line(values: Mapping[str, object]) -> str:
    """One row as a CSV line: the columns in order, texts quoted where HAProxy quotes them."""
    texts = list(map(str, map(values.get, STAT_COLUMNS, repeat(""))))
    if _NEEDS_QUOTES.search("\0".join(texts)):  # rare: a check text or address with a comma
        texts = [_quoted(text) for text in texts]
    return ",".join(texts) + ",\n"


class _Reading:
    """Everything one `show stat` reads, read once: the summed counters, the rates, each
    server's state rows, and the configuration indexed by name."""

    def __init__(self, table: StatsTable, config: Config, now: float) -> None:
        self.table = table
        self.now = now
        layout = table.layout
        # The blocks stay views on the shared memory: only the sum becomes Python ints.
        self.blocks = [table.counter_block(w) for w in range(layout.workers)]
        self.snapshot = _summed(self.blocks)
        self.highest = _highest(self.blocks, layout.rows)
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
        self._counters: dict[int, dict[str, int]] = {}

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

    def counters(self, row: Row) -> dict[str, int]:
        found = self._counters.get(row.index)
        if found is None:
            found = self._counters[row.index] = self._read_counters(row)
        return found

    def _read_counters(self, row: Row) -> dict[str, int]:
        base = row.offset
        values = self.snapshot[base : base + row.width]
        if self.highest:
            number = row.index - 1
            for index, column in zip(_MAX_FIELDS, self.highest, strict=True):
                values[index] = column[number]
        return dict(zip(_FIELD_NAMES, values, strict=True))

    def rates(self, row: Row) -> tuple[int, int, int, int]:
        """(sessions/s, highest, requests/s, highest) of a row, over the workers' slots.

        A slot's peak is the busiest finished second it has seen (its max slot, or its
        current count once that second is over: nobody rolled it since); the peaks of the
        slots are added, like smax, and the row's peak is at least its rate now."""
        now = self.second
        second = int(now)
        left = 1.0 - (now - second)  # what is left of the previous second's weight
        sessions = requests = 0.0
        peak_sessions = peak_requests = 0
        base = row.offset
        for block in self.blocks:
            seen = block[base + RATE_SEC]
            current_sessions, current_requests = block[base + SESS_CUR], block[base + REQ_CUR]
            if seen == second:
                sessions += current_sessions + block[base + SESS_PREV] * left
                requests += current_requests + block[base + REQ_PREV] * left
                current_sessions = current_requests = 0  # a second not over yet
            elif seen == second - 1:
                sessions += current_sessions * left
                requests += current_requests * left
            peak_sessions += max(block[base + SESS_MAX], current_sessions)
            peak_requests += max(block[base + REQ_MAX], current_requests)
        session_rate, request_rate = int(sessions), int(requests)
        return (
            session_rate,
            max(peak_sessions, session_rate),
            request_rate,
            max(peak_requests, request_rate),
        )

    def times(self, rows: Sequence[Row], values: dict[str, object]) -> None:
        """qtime, ctime, rtime, ttime: averages (ms) of the last samples of these rows (a
        server's own, or all of a backend's servers), and their maxima."""
        snapshot = self.snapshot
        if len(rows) == 1:  # a server: no combining
            base, counters = rows[0].offset, self.counters(rows[0])
            for name, total, count, highest in _TIMES:
                samples = snapshot[base + count]
                values[name] = snapshot[base + total] // samples if samples else 0
                values[highest] = counters[highest]
            return
        found = [self.counters(row) for row in rows]
        for name, total, count, highest in _TIMES:
            sums = samples = peak = 0
            for row, counters in zip(rows, found, strict=True):
                sums += snapshot[row.offset + total]
                samples += snapshot[row.offset + count]
                if counters[highest] > peak:
                    peak = counters[highest]
            values[name] = sums // samples if samples else 0
            values[highest] = peak

    def lastsess(self, counters: Mapping[str, int]) -> int:
        """Seconds since the last session (the slot holds its monotonic second plus one)."""
        last = counters["lastsess"]
        return max(int(self.second) + 1 - last, 0) if last else -1


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
    """The workers' blocks added slot by slot, straight from the shared views (zip and sum
    loop in C; measured faster than converting each block to a list first)."""
    if len(blocks) == 1:
        return blocks[0].tolist()
    return list(map(sum, zip(*blocks, strict=True)))


def _stat_values(
    table: StatsTable, config: Config, wanted: tuple[str | None, int, int], now: float
) -> Iterable[tuple[Row, dict[str, object]]]:
    """The rows `wanted` (proxy filter, type mask, sid) selects, with their values."""
    proxy_filter, types, sid = wanted
    reading = _Reading(table, config, now)
    for row in _rows(table.layout.rows, proxy_filter, types, sid):
        proxy = reading.proxies.get(row.proxy)
        if proxy is not None:
            yield row, _row_values(reading, row, proxy)


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


def _row_values(reading: _Reading, row: Row, proxy: Proxy) -> dict[str, object]:
    counters = reading.counters(row)
    http = proxy.mode == "http"
    values: dict[str, object] = {
        "pxname": row.proxy,
        "svname": row.name,
        "pid": 1,
        "iid": row.iid,
        "sid": row.sid,
        "type": STAT_TYPE[row.kind],
        "mode": proxy.mode,
        "-": "-",
        "eint": counters["eint"],
    }
    rate, rate_max, req_rate, req_rate_max = reading.rates(row)
    values.update(rate=rate, rate_max=rate_max)
    if row.kind == FRONTEND:
        names = _FRONT + (_HTTP if http else ())
        values.update({name: counters[name] for name in names})
        values.update(status="OPEN", slim=proxy.maxconn or "", rate_lim=0)
        # Every accepted connection is a session here: the connection rate is the session's.
        values.update(conn_rate=rate, conn_rate_max=rate_max, req_rate=req_rate)
        values.update(req_rate_max=req_rate_max, req_tot=counters["req_tot"])
        values.update(comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0)
        if http:
            values.update(cache_lookups=0, cache_hits=0, intercepted=counters["intercepted"])
    elif row.kind == SERVER:
        _server_values(reading, row, proxy, counters, values)
        if http:
            values.update({name: counters[name] for name in _HTTP})
    else:
        _backend_values(reading, row, proxy, counters, values)
        if http:
            values.update({name: counters[name] for name in _HTTP})
            values.update(cache_lookups=0, cache_hits=0)
    return values


def _server_values(reading: _Reading, row: Row, proxy: Proxy, counters: dict, values: dict) -> None:
    table, now = reading.table, reading.now
    slot = table.layout.server(row.proxy, row.name)
    admin = reading.admin(slot)
    health = reading.health(slot)
    server = reading.servers.get((row.proxy, row.name))
    backup = bool(server.option("backup", False)) if server is not None else False
    root = reading.roots.get((row.proxy, row.name))
    agent = server is not None and bool(
        server.option("agent-check") and server.option("agent-port")
    )
    status = ""
    if root is not None and server is not None:  # a tracking server: shown as its root is
        values["tracked"] = track_label(proxy, server)
        root_slot = table.layout.server(*root)
        root_admin = reading.admin(root_slot).admin_state
        check_health = reading.health(root_slot).check_health
        if root_admin & MAINT_MASK and not admin.admin_state & MAINT_MASK:
            status = f"MAINT (via {root[0]}/{root[1]})"
        else:
            status = server_status(admin.admin_state, health.op_state, True, check_health,
                                   root_slot.rise, root_slot.fall)  # fmt: skip
    else:
        status = server_status(
            admin.admin_state, health.op_state, slot.checked, health.check_health, slot.rise,
            slot.fall, agent=agent, agent_health=health.agent_health,
        )  # fmt: skip
    if agent:
        _agent_values(health, values)
    weight = admin.uweight
    slowstart = int(server.option("slowstart", 0) or 0) if server is not None else 0
    if health.op_state == STARTING and slowstart:
        elapsed = int(now * 1000) - health.changed_ms
        weight = warmup_weight(weight, elapsed, slowstart)
        values["throttle"] = warmup_percent(elapsed, slowstart)
    values.update({name: counters[name] for name in _SERVER})
    maxqueue = server.option("maxqueue", 0) if server is not None else 0
    values.update(
        status=status,
        weight=weight,
        uweight=admin.uweight,
        act=int(not backup),
        bck=int(backup),
        slim=admin.maxconn or "",
        qlimit=maxqueue or "",
        lastsess=reading.lastsess(counters),
        addr=str(server.address) if server is not None else "",
        idle_conn_cur=0,
        safe_conn_cur=0,
        used_conn_cur=counters["scur"],
        need_conn_est=0,
        srv_icur=0,
        lastchg=max(int(now) - health.last_change, 0),
    )
    reading.times((row,), values)
    if slot.checked:
        name = (
            CHECK_STATUSES[health.check_status] if health.check_status < len(CHECK_STATUSES) else ""
        )
        down = health.downtime + (max(int(now) - health.down_since, 0) if health.down_since else 0)
        values.update(
            chkfail=counters["chkfail"],
            chkdown=counters["chkdown"],
            downtime=down,
            check_status=name,
            check_desc=CHECK_DESCRIPTIONS.get(name, ""),
            last_chk=health.info,
            check_rise=slot.rise,
            check_fall=slot.fall,
            check_health=health.check_health,
        )
        if server is not None and server.option("observe", "none") != "none":
            values["hanafail"] = counters["hanafail"]
        if name in STATUSES_WITH_CODE:
            values["check_code"] = health.check_code
        if name not in ("UNK", "INI", "START"):
            values["check_duration"] = health.check_duration


def _agent_values(health: object, values: dict) -> None:
    """The agent columns of a server that has an agent (its rise and fall are 1)."""
    index = health.agent_status  # type: ignore[attr-defined]
    name = CHECK_STATUSES[index] if index < len(CHECK_STATUSES) else ""
    values.update(
        agent_status=name,
        agent_desc=CHECK_DESCRIPTIONS.get(name, ""),
        agent_rise=1,
        agent_fall=1,
        agent_health=health.agent_health,  # type: ignore[attr-defined]
        last_agt=health.agent_info,  # type: ignore[attr-defined]
    )
    if name in STATUSES_WITH_CODE:
        values["agent_code"] = health.agent_code  # type: ignore[attr-defined]
    if name not in ("UNK", "INI", "START"):
        values["agent_duration"] = health.agent_duration  # type: ignore[attr-defined]


def _quoted(text: str) -> str:
    """A text field as HAProxy's CSV writes it: quoted when it holds a comma, a quote or a
    line break (quotes doubled)."""
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _backend_values(
    reading: _Reading, row: Row, proxy: Proxy, counters: dict, values: dict
) -> None:
    now = reading.now
    active = backup = weight = 0
    up_since: list[int] = []  # when each usable server last changed
    down_since: list[int] = []
    slots = reading.by_backend.get(row.proxy, [])
    for slot in slots:
        admin = reading.admin(slot)
        health = reading.health(slot)
        if health.op_state == STOPPED:
            down_since.append(health.last_change)
        else:
            up_since.append(health.last_change)
        if admin.admin_state & (MAINT_MASK | DRAIN_MASK) or health.op_state not in (
            RUNNING,
            STARTING,
        ):
            continue
        server = reading.servers.get((slot.backend, slot.name))
        if server is not None and server.option("backup", False):
            backup += 1
        else:
            active += 1
            slowstart = int(server.option("slowstart", 0) or 0) if server is not None else 0
            if health.op_state == STARTING and slowstart:
                elapsed = int(now * 1000) - health.changed_ms
                weight += warmup_weight(admin.uweight, elapsed, slowstart)
            else:
                weight += admin.uweight
    values.update({name: counters[name] for name in _BACK})
    values.update(
        # HAProxy: a backend without any server is UP (nothing to be down); with servers,
        # it is UP while one of them can take traffic.
        status="UP" if active or backup or not slots else "DOWN",
        weight=weight,
        uweight=weight,
        act=active,
        bck=backup,
        slim=proxy.fullconn or "",
        algo=proxy.balance.get("algorithm", "roundrobin"),
        chkdown=counters["chkdown"],
        # The backend has no state row: it changed when its earliest usable server came
        # up, or (all down) when the last one went down.
        lastchg=max(int(now) - _backend_changed(reading.table, up_since, down_since), 0),
        downtime=0 if slots else "",
        comp_in=0,
        comp_out=0,
        comp_byp=0,
        comp_rsp=0,
        agg_server_status=0,
        agg_server_check_status=0,
        agg_check_status=0,
    )
    # What the data path counts on the servers only (one row to write per event, not two):
    # picks, connection attempts, times and the last session, combined over the servers.
    rows = [reading.table.layout.rows[slot.row] for slot in slots]
    server_counters = [reading.counters(server_row) for server_row in rows]
    values["lbtot"] = sum(c["lbtot"] for c in server_counters)
    values["connect"] = sum(c["connect"] for c in server_counters)
    last = max((c["lastsess"] for c in server_counters), default=0)
    values["lastsess"] = reading.lastsess({"lastsess": last})
    reading.times(rows, values)


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
