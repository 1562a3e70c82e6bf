"""The Prometheus exporter's page (`http-request use-service prometheus-exporter`), format 0.0.4.

Metric names, types and label sets are those of HAProxy 2.6's built-in exporter (checked
against the real haproxy's /metrics): `haproxy_process_*` from `show info`'s fields,
`haproxy_frontend_*`, `haproxy_backend_*` and `haproxy_server_*` from `show stat`'s columns
(haproxy_py/stats/records.py's rows: the same summed counters, nothing counted twice).
Rules of this file: pure (the caller hands over the table, the configuration and the
`show info` values); a value `show stat` leaves empty is left out for a frontend or backend
and written `NaN` for a server, as HAProxy does; times are printed in seconds; the HELP
texts are our own words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from haproxy_py.stats.layout import BACKEND, FRONTEND, SERVER, STAT_TYPE
from haproxy_py.stats.records import stat_records

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable

CONTENT_TYPE = b"text/plain; version=0.0.4"
SCOPES = ("global", "frontend", "backend", "server", "listener", "sticktable")
GAUGE, COUNTER = "gauge", "counter"
# Label values of the one-hot metrics, in HAProxy's order.
SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
PROXY_STATES = ("DOWN", "UP")
CHECK_STATES = (
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
)  # fmt: skip
RESPONSE_CODES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric family: `haproxy_<scope>_<name>`, read from `source` (a show stat column,
    a show info field, or a special name starting with `@`)."""

    name: str
    source: str
    type: str
    help: str
    seconds: bool = False  # the source is in milliseconds
    http: bool = False  # only for proxies in `mode http`


def _table(*entries: tuple) -> tuple[Metric, ...]:
    return tuple(Metric(*entry) for entry in entries)


# fmt: off
PROCESS: tuple[Metric, ...] = _table(
    ("nbthread", "Nbthread", GAUGE, "Threads started in this process."),
    ("nbproc", "Nbproc", GAUGE, "Processes started (always 1 for HAProxy)."),
    ("relative_process_id", "Process_num", GAUGE, "Relative number of this process."),
    ("uptime_seconds", "Uptime_sec", GAUGE, "Seconds since the process started."),
    ("pool_failures_total", "PoolFailed", COUNTER, "Failed memory pool allocations."),
    ("max_fds", "Ulimit-n", GAUGE, "File descriptor limit of the process."),
    ("max_sockets", "Maxsock", GAUGE, "Socket limit of the process."),
    ("max_connections", "Maxconn", GAUGE, "Connection limit of the process."),
    ("hard_max_connections", "Hard_maxconn", GAUGE, "Hard connection limit."),
    ("current_connections", "CurrConns", GAUGE, "Connections open now."),
    ("connections_total", "CumConns", COUNTER, "Connections accepted since start."),
    ("requests_total", "CumReq", COUNTER, "HTTP requests since start."),
    ("max_ssl_connections", "MaxSslConns", GAUGE, "TLS connection limit."),
    ("current_ssl_connections", "CurrSslConns", GAUGE, "TLS connections open now."),
    ("ssl_connections_total", "CumSslConns", COUNTER, "TLS connections since start."),
    ("max_pipes", "Maxpipes", GAUGE, "Splice pipe limit."),
    ("pipes_used_total", "PipesUsed", COUNTER, "Splice pipes in use."),
    ("pipes_free_total", "PipesFree", COUNTER, "Splice pipes allocated and free."),
    ("current_connection_rate", "ConnRate", GAUGE, "Connections per second now."),
    ("limit_connection_rate", "ConnRateLimit", GAUGE, "Connection rate limit."),
    ("max_connection_rate", "MaxConnRate", GAUGE, "Highest connection rate seen."),
    ("current_session_rate", "SessRate", GAUGE, "Sessions per second now."),
    ("limit_session_rate", "SessRateLimit", GAUGE, "Session rate limit."),
    ("max_session_rate", "MaxSessRate", GAUGE, "Highest session rate seen."),
    ("current_ssl_rate", "SslRate", GAUGE, "TLS sessions per second now."),
    ("limit_ssl_rate", "SslRateLimit", GAUGE, "TLS session rate limit."),
    ("max_ssl_rate", "MaxSslRate", GAUGE, "Highest TLS session rate seen."),
    ("current_frontend_ssl_key_rate", "SslFrontendKeyRate", GAUGE, "Frontend TLS keys per second."),
    ("max_frontend_ssl_key_rate", "SslFrontendMaxKeyRate", GAUGE, "Highest frontend TLS key rate."),
    ("frontend_ssl_reuse", "SslFrontendSessionReuse_pct", GAUGE, "Frontend TLS session reuse %."),
    ("current_backend_ssl_key_rate", "SslBackendKeyRate", GAUGE, "Backend TLS keys per second."),
    ("max_backend_ssl_key_rate", "SslBackendMaxKeyRate", GAUGE, "Highest backend TLS key rate."),
    ("ssl_cache_lookups_total", "SslCacheLookups", COUNTER, "TLS session cache lookups."),
    ("ssl_cache_misses_total", "SslCacheMisses", COUNTER, "TLS session cache misses."),
    ("http_comp_bytes_in_total", "CompressBpsIn", COUNTER, "Bytes fed to the compressor."),
    ("http_comp_bytes_out_total", "CompressBpsOut", COUNTER, "Bytes out of the compressor."),
    ("limit_http_comp", "CompressBpsRateLim", GAUGE, "Compression rate limit."),
    ("current_zlib_memory", "ZlibMemUsage", GAUGE, "Memory used by zlib."),
    ("max_zlib_memory", "MaxZlibMemUsage", GAUGE, "Memory limit for zlib."),
    ("current_tasks", "Tasks", GAUGE, "Tasks now."),
    ("current_run_queue", "Run_queue", GAUGE, "Tasks in the run queue now."),
    ("idle_time_percent", "Idle_pct", GAUGE, "Idle time of the event loop, in percent."),
    ("stopping", "Stopping", GAUGE, "1 once the process is stopping."),
    ("jobs", "Jobs", GAUGE, "Active jobs (listeners, sessions, peers...)."),
    ("unstoppable_jobs", "Unstoppable Jobs", GAUGE, "Jobs a soft stop waits for."),
    ("listeners", "Listeners", GAUGE, "Listening sockets."),
    ("active_peers", "ActivePeers", GAUGE, "Peers known."),
    ("connected_peers", "ConnectedPeers", GAUGE, "Peers connected."),
    ("dropped_logs_total", "DroppedLogs", COUNTER, "Log messages dropped."),
    ("busy_polling_enabled", "BusyPolling", GAUGE, "1 when busy polling is on."),
    ("failed_resolutions", "FailedResolutions", COUNTER, "Failed name resolutions."),
    ("bytes_out_total", "TotalBytesOut", COUNTER, "Bytes sent to clients."),
    ("spliced_bytes_out_total", "TotalSplicdedBytesOut", COUNTER, "Of those, bytes spliced."),
    ("bytes_out_rate", "BytesOutRate", GAUGE, "Bytes per second sent lately."),
    ("recv_logs_total", "CumRecvLogs", COUNTER, "Log messages received."),
    ("build_info", "@build", GAUGE, "The version, as a label."),
    ("max_memory_bytes", "Memmax_bytes", GAUGE, "Memory limit of the process."),
    ("pool_allocated_bytes", "PoolAlloc_bytes", GAUGE, "Bytes allocated in pools."),
    ("pool_used_bytes", "PoolUsed_bytes", GAUGE, "Bytes used in pools."),
    ("start_time_seconds", "Start_time_sec", GAUGE, "Start time, in seconds since the epoch."),
)

_SESSIONS = (
    ("current_sessions", "scur", GAUGE, "Sessions open now."),
    ("max_sessions", "smax", GAUGE, "Highest number of sessions open at once."),
    ("limit_sessions", "slim", GAUGE, "Session limit."),
    ("sessions_total", "stot", COUNTER, "Sessions since start."),
    ("bytes_in_total", "bin", COUNTER, "Bytes received from clients."),
    ("bytes_out_total", "bout", COUNTER, "Bytes sent to clients."),
)
_QUEUE = (
    ("current_queue", "qcur", GAUGE, "Requests waiting for a server now."),
    ("max_queue", "qmax", GAUGE, "Highest number of waiting requests."),
)
_ERRORS = (
    ("connection_errors_total", "econ", COUNTER, "Failed connections to servers."),
    ("response_errors_total", "eresp", COUNTER, "Response errors."),
    ("retry_warnings_total", "wretr", COUNTER, "Connection retries."),
    ("redispatch_warnings_total", "wredis", COUNTER, "Redispatches to another server."),
)
_RESPONSES = ("http_responses_total", "@responses", COUNTER, "HTTP responses by status class.",
              False, True)
_COMPRESSION = (
    ("http_comp_bytes_in_total", "comp_in", COUNTER, "Bytes fed to the compressor.", False, True),
    ("http_comp_bytes_out_total", "comp_out", COUNTER, "Bytes out of the compressor.", False,
     True),
    ("http_comp_bytes_bypassed_total", "comp_byp", COUNTER, "Bytes not compressed.", False, True),
    ("http_comp_responses_total", "comp_rsp", COUNTER, "Compressed responses.", False, True),
)
_CACHE = (
    ("http_cache_lookups_total", "cache_lookups", COUNTER, "Cache lookups.", False, True),
    ("http_cache_hits_total", "cache_hits", COUNTER, "Cache hits.", False, True),
)
_ABORTS = (
    ("client_aborts_total", "cli_abrt", COUNTER, "Transfers aborted by the client."),
    ("server_aborts_total", "srv_abrt", COUNTER, "Transfers aborted by the server."),
)
_TIMES = (
    ("last_session_seconds", "lastsess", GAUGE, "Seconds since the last session."),
    ("queue_time_average_seconds", "qtime", GAUGE, "Average time in the queue.", True),
    ("connect_time_average_seconds", "ctime", GAUGE, "Average connect time.", True),
    ("response_time_average_seconds", "rtime", GAUGE, "Average response time.", True),
    ("total_time_average_seconds", "ttime", GAUGE, "Average total session time.", True),
    ("failed_header_rewriting_total", "wrew", COUNTER, "Failed header rewrites."),
    ("connection_attempts_total", "connect", COUNTER, "Connection attempts to servers."),
    ("connection_reuses_total", "reuse", COUNTER, "Reused server connections."),
)
_MAX_TIMES = (
    ("max_queue_time_seconds", "qtime_max", GAUGE, "Longest time in the queue.", True),
    ("max_connect_time_seconds", "ctime_max", GAUGE, "Longest connect time.", True),
    ("max_response_time_seconds", "rtime_max", GAUGE, "Longest response time.", True),
    ("max_total_time_seconds", "ttime_max", GAUGE, "Longest total session time.", True),
    ("internal_errors_total", "eint", COUNTER, "Internal errors."),
)

FRONTEND_METRICS: tuple[Metric, ...] = _table(
    *_SESSIONS,
    ("requests_denied_total", "dreq", COUNTER, "Requests denied by a rule."),
    ("responses_denied_total", "dresp", COUNTER, "Responses denied by a rule."),
    ("request_errors_total", "ereq", COUNTER, "Request errors."),
    ("status", "@status", GAUGE, "Current state, as a state label."),
    ("limit_session_rate", "rate_lim", GAUGE, "Session rate limit."),
    ("max_session_rate", "rate_max", GAUGE, "Highest session rate seen."),
    _RESPONSES,
    ("http_requests_rate_max", "req_rate_max", GAUGE, "Highest HTTP request rate.", False, True),
    ("http_requests_total", "req_tot", COUNTER, "HTTP requests received.", False, True),
    *_COMPRESSION,
    ("connections_rate_max", "conn_rate_max", GAUGE, "Highest connection rate seen."),
    ("connections_total", "conn_tot", COUNTER, "Connections accepted."),
    ("intercepted_requests_total", "intercepted", COUNTER, "Requests answered by the proxy.",
     False, True),
    ("denied_connections_total", "dcon", COUNTER, "Connections denied by tcp-request rules."),
    ("denied_sessions_total", "dses", COUNTER, "Sessions denied by tcp-request rules."),
    ("failed_header_rewriting_total", "wrew", COUNTER, "Failed header rewrites."),
    *_CACHE,
    ("internal_errors_total", "eint", COUNTER, "Internal errors."),
)

BACKEND_METRICS: tuple[Metric, ...] = _table(
    *_QUEUE,
    *_SESSIONS,
    ("requests_denied_total", "dreq", COUNTER, "Requests denied by a rule."),
    ("responses_denied_total", "dresp", COUNTER, "Responses denied by a rule."),
    *_ERRORS,
    ("status", "@status", GAUGE, "Current state, as a state label."),
    ("weight", "weight", GAUGE, "Total weight of the servers in service."),
    ("active_servers", "act", GAUGE, "Active servers in service."),
    ("backup_servers", "bck", GAUGE, "Backup servers in service."),
    ("check_up_down_total", "chkdown", COUNTER, "UP to DOWN transitions."),
    ("check_last_change_seconds", "lastchg", GAUGE, "Seconds since the last state change."),
    ("downtime_seconds_total", "downtime", COUNTER, "Seconds spent DOWN."),
    ("loadbalanced_total", "lbtot", COUNTER, "Times a server was picked."),
    ("max_session_rate", "rate_max", GAUGE, "Highest session rate seen."),
    _RESPONSES,
    ("http_requests_total", "req_tot", COUNTER, "HTTP requests.", False, True),
    *_ABORTS,
    *_COMPRESSION,
    *_TIMES,
    *_CACHE,
    *_MAX_TIMES,
    ("uweight", "uweight", GAUGE, "Total user weight of the servers in service."),
    ("agg_server_status", "@agg_status", GAUGE, "Servers in each state."),
    ("agg_server_check_status", "@agg_status", GAUGE, "Servers in each state (deprecated)."),
    ("agg_check_status", "@agg_check", GAUGE, "Servers by last check result."),
)

SERVER_METRICS: tuple[Metric, ...] = _table(
    *_QUEUE,
    *_SESSIONS,
    ("responses_denied_total", "dresp", COUNTER, "Responses denied by a rule."),
    *_ERRORS,
    ("status", "@status", GAUGE, "Current state, as a state label."),
    ("weight", "weight", GAUGE, "Effective weight."),
    ("check_failures_total", "chkfail", COUNTER, "Failed health checks."),
    ("check_up_down_total", "chkdown", COUNTER, "UP to DOWN transitions."),
    ("check_last_change_seconds", "lastchg", GAUGE, "Seconds since the last state change."),
    ("downtime_seconds_total", "downtime", COUNTER, "Seconds spent DOWN."),
    ("queue_limit", "qlimit", GAUGE, "Queue limit (maxqueue)."),
    ("current_throttle", "throttle", GAUGE, "Slow-start throttle, in percent."),
    ("loadbalanced_total", "lbtot", COUNTER, "Times the server was picked."),
    ("max_session_rate", "rate_max", GAUGE, "Highest session rate seen."),
    ("check_status", "@check", GAUGE, "Last health check result, as a state label."),
    ("check_code", "@check_code", GAUGE, "Status code of the last layer 7 check."),
    ("check_duration_seconds", "@check_duration", GAUGE, "Duration of the last check."),
    _RESPONSES,
    *_ABORTS,
    *_TIMES,
    ("idle_connections_current", "srv_icur", GAUGE, "Idle connections now."),
    ("idle_connections_limit", "src_ilim", GAUGE, "Idle connection limit."),
    *_MAX_TIMES,
    ("unsafe_idle_connections_current", "idle_conn_cur", GAUGE, "Unsafe idle connections."),
    ("safe_idle_connections_current", "safe_conn_cur", GAUGE, "Safe idle connections."),
    ("used_connections_current", "used_conn_cur", GAUGE, "Connections in use."),
    ("need_connections_current", "need_conn_est", GAUGE, "Connections estimated needed."),
    ("uweight", "uweight", GAUGE, "User weight."),
)
# fmt: on

_Row = tuple[str, dict[str, object], bool]  # labels, show stat values, mode http
_KINDS = {str(number): kind for kind, number in STAT_TYPE.items()}  # show stat's `type`
_KIND_METRICS = (
    ("frontend", FRONTEND, FRONTEND_METRICS),
    ("backend", BACKEND, BACKEND_METRICS),
    ("server", SERVER, SERVER_METRICS),
)


class BadQuery(ValueError):
    """A query string the exporter refuses (HAProxy answers 400)."""


@dataclass(frozen=True, slots=True)
class Query:
    scopes: frozenset[str] = frozenset(SCOPES)
    no_maint: bool = False


def parse_query(query: str) -> Query:
    """The exporter's parameters: `scope=NAME` (repeatable; the first one replaces the default
    "everything", `*` means everything, an empty one removes everything asked so far) and
    `no-maint` (servers in maintenance are left out). Other parameters are ignored."""
    scopes: set[str] | None = None
    no_maint = False
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "scope":
            if scopes is None:
                scopes = set()
            if value == "*":
                scopes.update(SCOPES)
            elif value == "":
                scopes.clear()
            elif value in SCOPES:
                scopes.add(value)
            else:
                raise BadQuery(f"unknown scope '{value}'")
        elif name == "no-maint":
            no_maint = True
    return Query(frozenset(SCOPES) if scopes is None else frozenset(scopes), no_maint)


def render_metrics(
    table: StatsTable | None,
    config: Config,
    info: Mapping[str, object],
    query: Query = Query(),
) -> str:
    """The whole page: HELP and TYPE lines, then the samples, family after family."""
    out: list[str] = []
    if "global" in query.scopes:
        _process(out, info)
    if table is None:
        return "".join(out)
    http_proxies = {proxy.name for proxy in config.proxies if proxy.mode == "http"}
    rows: dict[str, list[_Row]] = {FRONTEND: [], BACKEND: [], SERVER: []}
    for values in stat_records(table, config, ["no-maint"] if query.no_maint else []) or ():
        kind = _KINDS.get(str(values.get("type")))
        if kind is None:
            continue
        labels = f'proxy="{_escape(str(values["pxname"]))}"'
        if kind == SERVER:
            labels += f',server="{_escape(str(values["svname"]))}"'
        rows[kind].append((labels, values, values["pxname"] in http_proxies))
    servers_of = _servers_by_backend(rows[SERVER])
    for scope, kind, metrics in _KIND_METRICS:
        if scope not in query.scopes:
            continue
        for metric in metrics:
            full = f"haproxy_{scope}_{metric.name}"
            lines = [
                f"{full}{{{labels}}} {value}\n"
                for labels, value in _samples(metric, kind, rows[kind], servers_of)
            ]
            if lines:
                out.append(f"# HELP {full} {metric.help}\n# TYPE {full} {metric.type}\n")
                out.extend(lines)
    return "".join(out)


def _process(out: list[str], info: Mapping[str, object]) -> None:
    for metric in PROCESS:
        full = f"haproxy_process_{metric.name}"
        if metric.source == "@build":
            version = info.get("Version")
            if version in (None, ""):
                continue
            sample = f'{full}{{version="{_escape(str(version))}"}} 1\n'
        else:
            value = info.get(metric.source)
            if value in (None, "") or not _is_number(value):
                continue
            sample = f"{full} {value}\n"
        out.append(f"# HELP {full} {metric.help}\n# TYPE {full} {metric.type}\n{sample}")


def _samples(
    metric: Metric,
    kind: str,
    rows: list[_Row],
    servers_of: Mapping[str, list[dict[str, object]]],
) -> Iterable[tuple[str, object]]:
    source, seconds = metric.source, metric.seconds
    if source.startswith("@"):
        for labels, values, http in rows:
            if http or not metric.http:
                yield from _special(source, kind, labels, values, servers_of)
        return
    # An empty field: 0 for HTTP-only fields of an HTTP proxy (no compression, no cache in
    # haproxy-py: truly nothing counted), NaN for a server, else the sample is left out.
    missing = 0 if metric.http else "NaN" if kind == SERVER else None
    for labels, values, http in rows:
        if metric.http and not http:
            continue
        value = values.get(source)
        if value == "" or value is None:
            if missing is None:
                continue
            value = missing
        elif seconds:
            value = _seconds(value)
        yield labels, value


def _special(
    source: str,
    kind: str,
    labels: str,
    values: dict[str, object],
    servers_of: Mapping[str, list[dict[str, object]]],
) -> Iterable[tuple[str, object]]:
    if source == "@status":
        status = str(values.get("status", ""))
        if kind == SERVER:
            state, states = server_state(status), SERVER_STATES
        else:
            state, states = proxy_state(status), PROXY_STATES
        for name in states:
            yield f'{labels},state="{name}"', int(name == state)
    elif source == "@responses":
        for code in RESPONSE_CODES:
            yield f'{labels},code="{code}"', values.get(f"hrsp_{code}") or 0
    elif source == "@check":
        status = values.get("check_status")
        if status:
            current = str(status).removeprefix("* ")
            for name in CHECK_STATES:
                yield f'{labels},state="{name}"', int(name == current)
    elif source in ("@check_code", "@check_duration"):
        if values.get("check_status"):  # a checked server
            raw = values.get(source[1:], "")
            number = raw if raw not in ("", None) else 0
            yield labels, _seconds(number) if source == "@check_duration" else number
    elif source == "@agg_status":
        servers = servers_of.get(str(values.get("pxname")), [])
        counts = {name: 0 for name in SERVER_STATES}
        for server in servers:
            counts[server_state(str(server.get("status", "")))] += 1
        for name in SERVER_STATES:
            yield f'{labels},state="{name}"', counts[name]
    elif source == "@agg_check":
        servers = servers_of.get(str(values.get("pxname")), [])
        counts = {name: 0 for name in CHECK_STATES}
        for server in servers:
            status = str(server.get("check_status") or "").removeprefix("* ")
            if status in counts:
                counts[status] += 1
        for name in CHECK_STATES:
            yield f'{labels},state="{name}"', counts[name]


def server_state(status: str) -> str:
    """The `state` label of a server's `show stat` status (`UP 1/3` is still UP, `no check`
    is UP, `MAINT (resolution)` is MAINT)."""
    word = status.split(" ", 1)[0]
    if status == "no check" or word == "UP":
        return "UP"
    if word in SERVER_STATES:
        return word
    return "DOWN"


def proxy_state(status: str) -> str:
    """A frontend is UP while OPEN or FULL; a backend shows UP or DOWN already."""
    return "UP" if status in ("OPEN", "FULL", "UP") else "DOWN"


def _servers_by_backend(servers: list[_Row]) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[dict[str, object]]] = {}
    for _, values, _ in servers:
        grouped.setdefault(str(values.get("pxname")), []).append(values)
    return grouped


def _seconds(milliseconds: object) -> str:
    try:
        return f"{int(milliseconds) / 1000:.6f}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "NaN"


def _is_number(value: object) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _escape(text: str) -> str:
    """A label value: backslash, double quote and newline escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
