"""`show stat typed|json` and `show info typed|json`: HAProxy 2.6's typed and JSON shapes.

The values are the CSV renderer's (haproxy_py/stats/csv.py `stat_records`) and `show info`'s
(haproxy_py/runtime_api/info.py); this file only adds what the typed forms carry on top: each
field's position, its tags (origin, nature, scope) and its type. Rules of this file: a field
that is empty in the CSV is left out, as HAProxy leaves out empty fields, except the string
fields HAProxy prints even when empty (`last_chk` of a checked server); positions after the
CSV's `-` separator column do not count it, as in HAProxy. Pure: strings in, strings out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from haproxy_py.runtime_api.info import INFO_FIELDS, format_info
from haproxy_py.stats.csv import NO_SUCH_PROXY, STAT_COLUMNS, show_stat
from haproxy_py.stats.records import csv_text, stat_records

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable
    from haproxy_py.stats.limits import ProxyLimits

# Tags as `show stat typed` prints them: origin, nature, scope letters, then the type.
_ORIGINS = {"M": "Metric", "S": "Status", "K": "Key", "C": "Config", "P": "Product"}
_NATURES = {
    "A": "Age", "a": "Avg", "C": "Counter", "D": "Duration", "G": "Gauge", "L": "Limit",
    "M": "Max", "m": "Min", "N": "Name", "O": "Output", "R": "Rate", "T": "Time",
}  # fmt: skip
_SCOPES = {"C": "Cluster", "P": "Process", "S": "Service", "s": "System"}

# Each stat column's tags (observed on HAProxy 2.6.12's `show stat typed`); a few differ
# between object kinds (_KIND_TAGS). Columns HAProxy never showed us carry our best reading
# of its field table.
_STAT_TAGS: dict[str, str] = {
    "pxname": "KNS:str", "svname": "KNS:str", "qcur": "MGP:u32", "qmax": "MMP:u32",
    "scur": "MGP:u32", "smax": "MMP:u32", "slim": "CLP:u32", "stot": "MCP:u64",
    "bin": "MCP:u64", "bout": "MCP:u64", "dreq": "MCP:u64", "dresp": "MCP:u64",
    "ereq": "MCP:u64", "econ": "MCP:u64", "eresp": "MCP:u64", "wretr": "MCP:u64",
    "wredis": "MCP:u64", "status": "SGP:str", "weight": "MaP:u32", "act": "SGP:u32",
    "bck": "SGP:u32", "chkfail": "MCP:u64", "chkdown": "MCP:u64", "lastchg": "MAP:u32",
    "downtime": "MCP:u32", "qlimit": "CLP:u32", "pid": "KGP:u32", "iid": "KGS:u32",
    "sid": "KGS:u32", "throttle": "MaP:u32", "lbtot": "MCP:u64", "tracked": "CGS:str",
    "type": "CGS:u32", "rate": "MRP:u32", "rate_lim": "CLP:u32", "rate_max": "MMP:u32",
    "check_status": "MOP:str", "check_code": "MOP:u32", "check_duration": "MDP:u64",
    "hrsp_1xx": "MCP:u64", "hrsp_2xx": "MCP:u64", "hrsp_3xx": "MCP:u64", "hrsp_4xx": "MCP:u64",
    "hrsp_5xx": "MCP:u64", "hrsp_other": "MCP:u64", "hanafail": "MCP:u64",
    "req_rate": "MRP:u32", "req_rate_max": "MMP:u32", "req_tot": "MCP:u64",
    "cli_abrt": "MCP:u64", "srv_abrt": "MCP:u64", "comp_in": "MCP:u64", "comp_out": "MCP:u64",
    "comp_byp": "MCP:u64", "comp_rsp": "MCP:u64", "lastsess": "MAP:s32", "last_chk": "MOP:str",
    "last_agt": "MOP:str", "qtime": "MaP:u32", "ctime": "MaP:u32", "rtime": "MaP:u32",
    "ttime": "MaP:u32", "agent_status": "MOP:str", "agent_code": "MOP:u32",
    "agent_duration": "MDP:u64", "check_desc": "MOP:str", "agent_desc": "MOP:str",
    "check_rise": "CGS:u32", "check_fall": "CGS:u32", "check_health": "CGS:u32",
    "agent_rise": "CGS:u32", "agent_fall": "CGS:u32", "agent_health": "CGS:u32",
    "addr": "CGS:str", "cookie": "CGS:str", "mode": "CGS:str", "algo": "CGS:str",
    "conn_rate": "MRP:u32", "conn_rate_max": "MMP:u32", "conn_tot": "MCP:u64",
    "intercepted": "MCP:u64", "dcon": "MCP:u64", "dses": "MCP:u64", "wrew": "MCP:u64",
    "connect": "MCP:u64", "reuse": "MCP:u64", "cache_lookups": "MCP:u64",
    "cache_hits": "MCP:u64", "srv_icur": "MGP:u32", "src_ilim": "MGP:u32",
    "qtime_max": "MMP:u32", "ctime_max": "MMP:u32", "rtime_max": "MMP:u32",
    "ttime_max": "MMP:u32", "eint": "MCP:u64", "idle_conn_cur": "MGP:u32",
    "safe_conn_cur": "MGP:u32", "used_conn_cur": "MGP:u32", "need_conn_est": "MGP:u32",
    "uweight": "MaP:u32", "agg_server_status": "MGP:u32", "agg_server_check_status": "MGP:u32",
    "agg_check_status": "MGP:u32", "h2_open_connections": "MGP:u64",
    "h2_backend_open_streams": "MGP:u64", "h1_open_connections": "MGP:u64",
    "h1_open_streams": "MGP:u64",
}  # fmt: skip
# The TLS, HTTP/2 and HTTP/1 modules' counters (the four gauges above aside).
_STAT_TAGS.update(
    {name: "MCP:u64" for name in STAT_COLUMNS[STAT_COLUMNS.index("ssl_sess") :]}
    | {name: tag for name, tag in _STAT_TAGS.items() if name.startswith(("h1_", "h2_"))}
)
_KIND_TAGS = {
    "B": {"act": "MGP:u32", "bck": "MGP:u32", "rate": "MGP:u32", "rate_max": "MGP:u32"},
}
_OBJECT_TYPES = {"F": "Frontend", "B": "Backend", "S": "Server", "L": "Listener"}
_KIND_LETTERS = {0: "F", 1: "B", 2: "S", 3: "L"}  # the CSV's `type` column
# String fields HAProxy prints in the typed forms even when they are empty, per kind.
_EMPTY_STRINGS = {"S": ("last_chk",)}


def _stat_positions() -> dict[str, int]:
    positions, pos = {}, 0
    for name in STAT_COLUMNS:
        if name == "-":
            continue  # the separator column has no typed position
        positions[name] = pos
        pos += 1
    return positions


STAT_POSITIONS = _stat_positions()


def _info_positions() -> dict[str, int]:
    # HAProxy's info field list has ZlibMemUsage and MaxZlibMemUsage (positions 45 and 46)
    # after CompressBpsRateLim; its builds without zlib skip them but keep the numbering.
    after = INFO_FIELDS.index("CompressBpsRateLim")
    return {name: (i if i <= after else i + 2) for i, name in enumerate(INFO_FIELDS)}


INFO_POSITIONS = _info_positions()
INFO_TAGS: dict[str, str] = {
    "Name": "POS:str", "Version": "POS:str", "Release_date": "POS:str", "Nbthread": "CGS:u32",
    "Nbproc": "CGS:u32", "Process_num": "KGP:u32", "Pid": "SGP:u32", "Uptime": "MDP:str",
    "Uptime_sec": "MDP:u32", "Memmax_MB": "CLP:u32", "PoolAlloc_MB": "MGP:u32",
    "PoolUsed_MB": "MGP:u32", "PoolFailed": "MCP:u32", "Ulimit-n": "CLP:u32",
    "Maxsock": "CLP:u32", "Maxconn": "CLP:u32", "Hard_maxconn": "CLP:u32",
    "CurrConns": "MGP:u32", "CumConns": "MCP:u32", "CumReq": "MCP:u32",
    "MaxSslConns": "MMP:u32", "CurrSslConns": "MGP:u32", "CumSslConns": "MCP:u32",
    "Maxpipes": "CLP:u32", "PipesUsed": "MGP:u32", "PipesFree": "MGP:u32",
    "ConnRate": "MRP:u32", "ConnRateLimit": "CLP:u32", "MaxConnRate": "MMP:u32",
    "SessRate": "MRP:u32", "SessRateLimit": "CLP:u32", "MaxSessRate": "MRP:u32",
    "SslRate": "MRP:u32", "SslRateLimit": "CLP:u32", "MaxSslRate": "MMP:u32",
    "SslFrontendKeyRate": "MGP:u32", "SslFrontendMaxKeyRate": "MMP:u32",
    "SslFrontendSessionReuse_pct": "MGP:u32", "SslBackendKeyRate": "MRP:u32",
    "SslBackendMaxKeyRate": "MMP:u32", "SslCacheLookups": "MCP:u32",
    "SslCacheMisses": "MCP:u32", "CompressBpsIn": "MRP:u32", "CompressBpsOut": "MRP:u32",
    "CompressBpsRateLim": "CLP:u32", "Tasks": "MGP:u32", "Run_queue": "MGP:u32",
    "Idle_pct": "MaP:u32", "node": "COS:str", "description": "COS:str",
    "Stopping": "MGP:u32", "Jobs": "MGP:u32", "Unstoppable Jobs": "MGP:u32",
    "Listeners": "MGP:u32", "ActivePeers": "MGP:u32", "ConnectedPeers": "MGP:u32",
    "DroppedLogs": "MGP:u32", "BusyPolling": "MGP:u32", "FailedResolutions": "MGP:u32",
    "TotalBytesOut": "MGP:u64", "TotalSplicdedBytesOut": "MGP:u64", "BytesOutRate": "MRP:u64",
    "DebugCommandsIssued": "MGP:u32", "CumRecvLogs": "MCP:u32", "Build info": "POS:str",
    "Memmax_bytes": "CLP:u32", "PoolAlloc_bytes": "MGP:u64", "PoolUsed_bytes": "MGP:u64",
    "Start_time_sec": "MDP:u32", "Tainted": "SGP:str",
}  # fmt: skip


def stat_tags(kind: str, name: str) -> str:
    """`MCP:u64` for a column of a row kind (F, B, S, L)."""
    return _KIND_TAGS.get(kind, {}).get(name) or _STAT_TAGS[name]


def _typed_fields(record: Mapping[str, object]) -> Iterable[tuple[str, str, object]]:
    """(name, tags, value) of the fields a typed form prints for one row, in column order."""
    kind = _KIND_LETTERS[int(str(record["type"]))]
    keep_empty = _EMPTY_STRINGS.get(kind, ())
    for name in STAT_COLUMNS:
        if name == "-":
            continue
        value = record.get(name, "")
        if value == "" or value is None:
            # Only a checked server has a last_chk, which HAProxy then prints even empty.
            if name not in keep_empty or record.get("check_status", "") == "":
                continue
            value = ""
        yield name, stat_tags(kind, name), value


def typed_stat(records: Iterable[Mapping[str, object]]) -> str:
    """`show stat typed`: one line per field, rows one after the other, a final empty line."""
    lines = []
    for record in records:
        kind = _KIND_LETTERS[int(str(record["type"]))]
        prefix = f"{kind}.{record['iid']}.{record['sid']}."
        for name, tags, value in _typed_fields(record):
            lines.append(f"{prefix}{STAT_POSITIONS[name]}.{name}.1:{tags}:{value}\n")
    return "".join(lines) + "\n"


def _json_value(kind: str, value: object) -> object:
    if kind == "str":
        return str(value)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _json_tags(tags: str) -> tuple[dict[str, str], str]:
    letters, _, kind = tags.partition(":")
    origin, nature, scope = letters
    return (
        {"origin": _ORIGINS[origin], "nature": _NATURES[nature], "scope": _SCOPES[scope]},
        kind,
    )


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_stat(records: Iterable[Mapping[str, object]]) -> str:
    """`show stat json`: an array of rows, each an array of field objects, on one line."""
    rows = []
    for record in records:
        kind = _KIND_LETTERS[int(str(record["type"]))]
        head = {"objType": _OBJECT_TYPES[kind], "proxyId": int(str(record["iid"])),
                "id": int(str(record["sid"]))}  # fmt: skip
        fields = []
        for name, tags, value in _typed_fields(record):
            json_tags, value_type = _json_tags(tags)
            fields.append({
                **head,
                "field": {"pos": STAT_POSITIONS[name], "name": name},
                "processNum": 1,
                "tags": json_tags,
                "value": {"type": value_type, "value": _json_value(value_type, value)},
            })  # fmt: skip
        rows.append(fields)
    return _dumps(rows) + "\n\n"


def _info_items(values: Mapping[str, object]) -> Iterable[tuple[str, object]]:
    for name in INFO_FIELDS:
        value = values.get(name)
        if value not in ("", None):
            yield name, value


def typed_info(values: Mapping[str, object]) -> str:
    """`show info typed`: `6.Pid.1:SGP:u32:9568` per field, then an empty line."""
    lines = []
    for name, value in _info_items(values):
        lines.append(f"{INFO_POSITIONS[name]}.{name}.1:{INFO_TAGS[name]}:{value}\n")
    return "".join(lines) + "\n"


def json_info(values: Mapping[str, object]) -> str:
    """`show info json`: one array of field objects on one line, then an empty line."""
    fields = []
    for name, value in _info_items(values):
        json_tags, value_type = _json_tags(INFO_TAGS[name])
        fields.append({
            "field": {"pos": INFO_POSITIONS[name], "name": name},
            "processNum": 1,
            "tags": json_tags,
            "value": {"type": value_type, "value": _json_value(value_type, value)},
        })  # fmt: skip
    return _dumps(fields) + "\n\n"


def show_stat_answer(
    table: StatsTable, config: Config, words: Sequence[str], limits: ProxyLimits | None = None
) -> str:
    """The `show stat [...] [typed|json] [up|no-maint]` answer (words after `show stat`);
    `limits`: the maxconn/fullconn in force (haproxy_py/stats/limits.py)."""
    if not any(word in words for word in ("typed", "json", "up", "no-maint")):
        return show_stat(table, config, words, limits=limits)  # the plain CSV, from csv.py
    records = stat_records(table, config, words, limits=limits)
    if records is None:
        return NO_SUCH_PROXY
    if "json" in words:
        return json_stat(records)
    if "typed" in words:
        return typed_stat(records)
    return csv_text(records)


def show_info_answer(values: Mapping[str, object], words: Sequence[str]) -> str:
    """The `show info [typed|json]` answer (words after `show info`)."""
    if "json" in words:
        return json_info(values)
    if "typed" in words:
        return typed_info(values)
    return format_info(values)
