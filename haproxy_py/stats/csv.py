"""`show stat` as HAProxy 2.6 prints it: its exact CSV header, its row order, summed numbers.

The numbers come from the shared table (haproxy_py/process/shm.py: every worker's counter
slots summed, the server state rows), the rest from the configuration. Rules of this file:
pure (the caller hands it a table-like object and the configuration); a column we do not
compute yet is left empty, as HAProxy leaves a column empty where it does not apply, so the
header, the number of fields and the row order are always HAProxy's and tools reading columns
by name (hatop, haproxy_exporter, haproxyadmin) work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

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


def server_status(admin_state: int, op_state: int, checked: bool) -> str:
    """The `status` column of a server row."""
    if admin_state & MAINT_MASK:
        return "MAINT"
    if admin_state & DRAIN_MASK:
        return "DRAIN"
    if not checked:
        return "no check"
    return "UP" if op_state in (RUNNING, STARTING) else "DOWN"


def show_stat(table: StatsTable, config: Config, words: Sequence[str] = ()) -> str:
    """The whole `show stat [{proxy|iid} {type} {sid}]` answer, header and final empty line."""
    wanted = _filter(config, words)
    if wanted is None:
        return NO_SUCH_PROXY
    proxy_filter, types, sid = wanted
    proxies = {proxy.name: proxy for proxy in config.proxies}
    snapshot = table.snapshot()
    lines = [HEADER]
    for row in _rows(table.layout.rows, proxy_filter, types, sid):
        proxy = proxies.get(row.proxy)
        if proxy is None:
            continue
        values = _row_values(table, row, proxy, snapshot)
        lines.append(",".join(str(values.get(column, "")) for column in STAT_COLUMNS) + ",\n")
    return "".join(lines) + "\n"


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
    table: StatsTable, row: Row, proxy: Proxy, snapshot: list[int]
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
        _server_values(table, row, proxy, counters, values)
        if http:
            values.update({name: counters[name] for name in _HTTP if name != "req_tot"})
    else:
        _backend_values(table, row, proxy, counters, values)
        if http:
            values.update({name: counters[name] for name in _HTTP})
    return values


def _server_values(table: StatsTable, row: Row, proxy: Proxy, counters: dict, values: dict) -> None:
    slot = table.layout.server(row.proxy, row.name)
    admin = table.read_admin(slot)
    health = table.read_health(slot)
    server = next((s for s in proxy.servers if s.name == row.name), None)
    backup = bool(server.option("backup", False)) if server is not None else False
    status = server_status(admin.admin_state, health.op_state, slot.checked)
    values.update({name: counters[name] for name in _SERVER})
    values.update(
        status=status,
        weight=admin.uweight,
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
        lastchg=0,
    )
    if slot.checked:
        values.update(
            chkfail=counters["chkfail"],
            chkdown=counters["chkdown"],
            check_status=CHECK_STATUSES[health.check_status]
            if health.check_status < len(CHECK_STATUSES)
            else "",
            check_rise=slot.rise,
            check_fall=slot.fall,
            check_health=health.check_health,
        )


def _backend_values(
    table: StatsTable, row: Row, proxy: Proxy, counters: dict, values: dict
) -> None:
    active = backup = weight = 0
    for slot in table.layout.servers:
        if slot.backend != row.proxy:
            continue
        admin = table.read_admin(slot)
        health = table.read_health(slot)
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
        lastchg=0,
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
