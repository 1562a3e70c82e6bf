"""`show stat` as HAProxy 2.6 prints it: its exact CSV header, its row order, summed numbers.

The numbers come from the shared table (haproxy_py/process/shm.py: every worker's counter
slots summed, the server state rows), the rest from the configuration. Rules of this file:
pure (the caller hands it a table-like object and the configuration); a column we do not
compute yet is left empty, as HAProxy leaves a column empty where it does not apply, so the
header, the number of fields and the row order are always HAProxy's and tools reading columns
by name (hatop, haproxy_exporter, haproxyadmin) work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from haproxy_py.checks.shared import warmup_percent, warmup_weight
from haproxy_py.checks.status import STATUSES
from haproxy_py.checks.track import roots as track_roots
from haproxy_py.checks.track import track_label
from haproxy_py.stats.layout import (
    BACKEND,
    CHECK_STATUSES,
    DRAIN_MASK,
    FRONTEND,
    MAINT_MASK,
    RUNNING,
    SERVER,
    STARTING,
    STAT_TYPE,
    STATUSES_WITH_CODE,
    STOPPED,
    STOPPING,
    Row,
)

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy
    from haproxy_py.process.shm import StatsTable

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

# Counters every row kind shows (the others depend on the kind, below).
_COMMON = ("scur", "smax", "stot", "bin", "bout")
_FRONT = (*_COMMON, "dreq", "dresp", "ereq", "conn_tot", "intercepted", "dcon", "dses", "wrew")
_BACK = (*_COMMON, "qcur", "qmax", "dreq", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
         "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_SERVER = (*_COMMON, "qcur", "qmax", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
           "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_HTTP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot")


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
    return ",".join(_quoted(str(values.get(column, ""))) for column in STAT_COLUMNS) + ",\n"


def _stat_values(
    table: StatsTable, config: Config, wanted: tuple[str | None, int, int], now: float
) -> Iterable[tuple[Row, dict[str, object]]]:
    """The rows `wanted` (proxy filter, type mask, sid) selects, with their values."""
    proxy_filter, types, sid = wanted
    proxies = {proxy.name: proxy for proxy in config.proxies}
    snapshot = table.snapshot()
    roots = track_roots(config)
    for row in _rows(table.layout.rows, proxy_filter, types, sid):
        proxy = proxies.get(row.proxy)
        if proxy is not None:
            yield row, _row_values(table, row, proxy, snapshot, now, roots)


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


def _row_values(
    table: StatsTable, row: Row, proxy: Proxy, snapshot: list[int], now: float, roots: dict
) -> dict[str, object]:
    counters = table.row_counters(row, snapshot)
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
    }
    if row.kind == FRONTEND:
        names = _FRONT + (_HTTP if http else ())
        values.update({name: counters[name] for name in names})
        values.update(status="OPEN", slim=proxy.maxconn or "", rate=0, rate_lim=0, rate_max=0)
        values.update(conn_rate=0, conn_rate_max=0)
        if http:
            values.update(req_rate=0, req_rate_max=0)
    elif row.kind == SERVER:
        _server_values(table, row, proxy, counters, values, now, roots)
        if http:
            values.update({name: counters[name] for name in _HTTP if name != "req_tot"})
    else:
        _backend_values(table, row, proxy, counters, values, now)
        if http:
            values.update({name: counters[name] for name in _HTTP})
    return values


def _server_values(
    table: StatsTable,
    row: Row,
    proxy: Proxy,
    counters: dict,
    values: dict,
    now: float,
    roots: dict,
) -> None:
    slot = table.layout.server(row.proxy, row.name)
    admin = table.read_admin(slot)
    health = table.read_health(slot)
    server = next((s for s in proxy.servers if s.name == row.name), None)
    backup = bool(server.option("backup", False)) if server is not None else False
    root = roots.get((row.proxy, row.name))
    agent = server is not None and bool(
        server.option("agent-check") and server.option("agent-port")
    )
    status = ""
    if root is not None and server is not None:  # a tracking server: shown as its root is
        values["tracked"] = track_label(proxy, server)
        root_slot = table.layout.server(*root)
        root_admin = table.read_admin(root_slot).admin_state
        check_health = table.read_health(root_slot).check_health
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
    values.update(
        status=status,
        weight=weight,
        uweight=admin.uweight,
        act=int(not backup),
        bck=int(backup),
        slim=admin.maxconn or "",
        rate=0,
        rate_max=0,
        lastsess=counters["lastsess"] or -1,
        qtime=0,
        ctime=0,
        rtime=0,
        ttime=0,
        addr=str(server.address) if server is not None else "",
        idle_conn_cur=0,
        safe_conn_cur=0,
        used_conn_cur=counters["scur"],
        need_conn_est=0,
        qtime_max=0,
        ctime_max=0,
        rtime_max=0,
        ttime_max=0,
        srv_icur=0,
        lastchg=max(int(now) - health.last_change, 0),
    )
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
    table: StatsTable, row: Row, proxy: Proxy, counters: dict, values: dict, now: float
) -> None:
    active = backup = weight = 0
    up_since: list[int] = []  # when each usable server last changed
    down_since: list[int] = []
    for slot in table.layout.servers:
        if slot.backend != row.proxy:
            continue
        admin = table.read_admin(slot)
        health = table.read_health(slot)
        if health.op_state == STOPPED:
            down_since.append(health.last_change)
        else:
            up_since.append(health.last_change)
        if admin.admin_state & (MAINT_MASK | DRAIN_MASK) or health.op_state not in (
            RUNNING,
            STARTING,
        ):
            continue
        server = next((s for s in proxy.servers if s.name == slot.name), None)
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
        status="UP" if active or backup else "DOWN",
        weight=weight,
        uweight=weight,
        act=active,
        bck=backup,
        slim=proxy.fullconn or "",
        rate=0,
        rate_max=0,
        lastsess=counters["lastsess"] or -1,
        algo=proxy.balance.get("algorithm", "roundrobin"),
        chkdown=counters["chkdown"],
        # The backend has no state row: it changed when its earliest usable server came
        # up, or (all down) when the last one went down.
        lastchg=max(int(now) - (min(up_since) if up_since else max(down_since, default=0)), 0),
        downtime=0,
        comp_in=0,
        comp_out=0,
        comp_byp=0,
        comp_rsp=0,
        qtime=0,
        ctime=0,
        rtime=0,
        ttime=0,
        qtime_max=0,
        ctime_max=0,
        rtime_max=0,
        ttime_max=0,
    )
