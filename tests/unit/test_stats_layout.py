"""The shared stats table's layout: which rows and slots exist, their names, the geometry,
the name table a new generation maps rows by, and the pure helpers around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haproxy_py.config.model import Config
from haproxy_py.stats import layout as L
from haproxy_py.stats.layout import (
    BACKEND,
    COUNTER_FIELDS,
    FRONTEND,
    GLOBAL,
    GLOBAL_FIELDS,
    LISTENER,
    PAGE,
    SERVER,
    WORD,
    Layout,
    layout_for,
)
from tests.helpers import load_text

BASE = (
    "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
    "    timeout connect 1s\n"
)
CONFIG = BASE + (
    "frontend fe\n"
    "    bind 127.0.0.1:8000-8002\n"
    "    bind 127.0.0.1:9000 name web\n"
    "    default_backend be\n"
    "backend be\n"
    "    server s1 127.0.0.1:1 weight 10 check rise 3 fall 4\n"
    "    server s2 127.0.0.1:2 disabled maxconn 5 id 7\n"
    "    server s3 127.0.0.1:3\n"
    "listen app\n"
    "    bind 127.0.0.1:7000\n"
    "    server x 127.0.0.1:4\n"
)

# HAProxy 2.6's show stat columns 0..99 (reference §1.10), to check our field names against.
SHOW_STAT_COLUMNS = frozenset([
    "pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot", "bin", "bout", "dreq",
    "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status", "weight", "act", "bck",
    "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid", "throttle",
    "lbtot", "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code",
    "check_duration", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    "hanafail", "req_rate", "req_rate_max", "req_tot", "cli_abrt", "srv_abrt", "comp_in",
    "comp_out", "comp_byp", "comp_rsp", "lastsess", "last_chk", "last_agt", "qtime", "ctime",
    "rtime", "ttime", "agent_status", "agent_code", "agent_duration", "check_desc", "agent_desc",
    "check_rise", "check_fall", "check_health", "agent_rise", "agent_fall", "agent_health",
    "addr", "cookie", "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot", "intercepted",
    "dcon", "dses", "wrew", "connect", "reuse", "cache_lookups", "cache_hits", "srv_icur",
    "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint", "idle_conn_cur",
    "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight",
])  # fmt: skip
SHOW_INFO_FIELDS = frozenset([
    "CurrConns", "CumConns", "CumReq", "CurrSslConns", "CumSslConns", "PipesUsed", "DroppedLogs",
    "FailedResolutions", "TotalBytesOut", "TotalSplicdedBytesOut", "CumRecvLogs",
])  # fmt: skip


def config_of(tmp_path: Path, text: str = CONFIG) -> Config:
    result = load_text(tmp_path, text)
    assert result.config is not None, result.diagnostics
    return result.config


# -- field tables ------------------------------------------------------------------------------


def test_field_names_are_haproxys_and_unique() -> None:
    names = [f.name for f in COUNTER_FIELDS]
    assert len(names) == len(set(names))
    assert {f.name for f in COUNTER_FIELDS if f.haproxy} <= SHOW_STAT_COLUMNS
    assert [f.name for f in COUNTER_FIELDS if not f.haproxy] == [
        "qtimeout", "rate_sec", "sess_cur", "sess_prev", "sess_max", "req_cur", "req_prev",
        "req_max", "qtime_sum", "qtime_n", "ctime_sum", "ctime_n", "rtime_sum", "rtime_n",
        "ttime_sum", "ttime_n",
    ]  # fmt: skip
    assert {f.name for f in GLOBAL_FIELDS} <= SHOW_INFO_FIELDS
    assert all(f.agg in ("sum", "max") for f in (*COUNTER_FIELDS, *GLOBAL_FIELDS))


def test_index_constants_follow_the_field_tables() -> None:
    for index, spec in enumerate(COUNTER_FIELDS):
        assert getattr(L, spec.name.upper()) == index, spec.name
    global_names = {
        "G_CURR_CONNS": "CurrConns",
        "G_CUM_CONNS": "CumConns",
        "G_CUM_REQ": "CumReq",
        "G_CURR_SSL_CONNS": "CurrSslConns",
        "G_CUM_SSL_CONNS": "CumSslConns",
        "G_PIPES_USED": "PipesUsed",
        "G_DROPPED_LOGS": "DroppedLogs",
        "G_FAILED_RESOLUTIONS": "FailedResolutions",
        "G_TOTAL_BYTES_OUT": "TotalBytesOut",
        "G_TOTAL_SPLICED_BYTES_OUT": "TotalSplicdedBytesOut",
        "G_CUM_RECV_LOGS": "CumRecvLogs",
    }
    assert len(global_names) == len(GLOBAL_FIELDS)
    for constant, name in global_names.items():
        assert GLOBAL_FIELDS[getattr(L, constant)].name == name


def test_state_sections_and_haproxy_values() -> None:
    assert (L.FMAINT, L.IMAINT, L.CMAINT, L.FDRAIN) == (0x01, 0x02, 0x04, 0x08)
    assert (L.IDRAIN, L.RMAINT, L.HMAINT) == (0x10, 0x20, 0x40)
    assert (L.STOPPED, L.STARTING, L.RUNNING, L.STOPPING) == (0, 1, 2, 3)
    # numbers observed in HAProxy 2.6's `show servers state`
    assert L.CHECK_STATUS["INI"] == 1
    assert L.CHECK_STATUS["L4OK"] == 6
    assert L.CHECK_STATUS["L4CON"] == 8
    assert L.CHK_FAILED == 2 and L.CHK_PASSED == 3
    indexes = sorted([L.ADMIN_SEQ, L.HEALTH_SEQ, *L.ADMIN_INDEX.values(), *L.HEALTH_INDEX.values()])
    assert indexes == list(range(len(indexes)))  # every state word has one meaning
    assert indexes[-1] < L.STATE_WIDTH
    assert min(L.ADMIN_INDEX.values()) > L.ADMIN_SEQ
    assert max(L.ADMIN_INDEX.values()) < L.HEALTH_SEQ < min(L.HEALTH_INDEX.values())


# -- rows of a configuration ----------------------------------------------------------------


def test_rows_follow_show_stat_order(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path), workers=2)
    keys = [(row.kind, row.proxy, row.name) for row in layout.rows]
    assert keys == [
        (GLOBAL, "", ""),
        (FRONTEND, "fe", "FRONTEND"),
        (LISTENER, "fe", "sock-1"),  # a port range is one listener per port
        (LISTENER, "fe", "sock-2"),
        (LISTENER, "fe", "sock-3"),
        (LISTENER, "fe", "web"),  # `name` names the listener
        (SERVER, "be", "s1"),
        (SERVER, "be", "s2"),
        (SERVER, "be", "s3"),
        (BACKEND, "be", "BACKEND"),
        (FRONTEND, "app", "FRONTEND"),
        (LISTENER, "app", "sock-1"),
        (SERVER, "app", "x"),
        (BACKEND, "app", "BACKEND"),
    ]
    assert [row.index for row in layout.rows] == list(range(len(layout.rows)))
    assert layout.rows[0].width == len(GLOBAL_FIELDS)
    assert all(row.width == len(COUNTER_FIELDS) for row in layout.rows[1:])
    for before, after in zip(layout.rows, layout.rows[1:], strict=False):
        assert after.offset == before.offset + before.width  # packed, no overlap
    assert [row.sid for row in layout.listeners("fe")] == [1, 2, 3, 4]


def test_servers_carry_ids_and_configured_values(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path), workers=1)
    s1, s2, s3 = (layout.server("be", name) for name in ("s1", "s2", "s3"))
    assert (s1.sid, s2.sid, s3.sid) == (1, 7, 2)  # explicit ids taken, the others fill in
    assert (s1.iweight, s1.checked, s1.rise, s1.fall, s1.disabled) == (10, True, 3, 4, False)
    assert (s2.maxconn, s2.disabled, s2.checked, s2.rise, s2.fall) == (5, True, False, 2, 3)
    assert layout.rows[s2.row] == layout.server_row("be", "s2")
    assert [s.index for s in layout.servers] == [0, 1, 2, 3]
    assert L.initial_state(s2)["admin_state"] == L.CMAINT
    assert L.initial_state(s1)["check_health"] == 3
    assert L.initial_state(s1)["uweight"] == 10
    with pytest.raises(KeyError):
        layout.server("be", "nope")


def test_look_ups(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path), workers=1)
    assert layout.global_row().kind == GLOBAL
    assert layout.frontend("app").iid == layout.backend("app").iid
    assert layout.find_row("be", "BACKEND") == layout.backend("be")
    assert layout.find_row("fe", "web") == layout.listeners("fe")[-1]
    assert layout.find_row("be", "s3") == layout.server_row("be", "s3")
    assert layout.find_row("be", "nope") is None


# -- geometry and the name table --------------------------------------------------------------


def test_geometry_is_page_aligned(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path), workers=3)
    last = layout.rows[-1]
    assert layout.block_words * WORD % PAGE == 0
    assert layout.block_words >= last.offset + last.width
    assert layout.names_offset >= layout.epochs_offset + 4 * WORD  # master + 3 workers
    assert layout.state_offset % PAGE == 0
    assert layout.state_offset >= layout.names_offset + len(layout.names)
    assert layout.counters_offset % PAGE == 0
    assert layout.counters_offset >= layout.state_offset + 4 * L.STATE_WIDTH * WORD
    assert layout.size == layout.counters_offset + 3 * layout.block_words * WORD
    header = layout.header()
    assert len(header) == L.HEADER_WORDS
    assert header[:4] == [L.MAGIC, L.LAYOUT_VERSION, layout.size, 3]
    assert header[8] == layout.digest


def test_name_table_round_trip(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path), workers=4)
    again = Layout.from_names(layout.names, 4)
    assert again == layout
    assert again.digest == layout.digest
    assert again.server("be", "s2") == layout.server("be", "s2")


def test_digest_follows_names_not_worker_count(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    assert layout_for(config, 1).digest == layout_for(config, 8).digest
    renamed = config_of(tmp_path, CONFIG.replace("server s3 ", "server s9 "))
    assert layout_for(renamed, 1).digest != layout_for(config, 1).digest


def test_name_table_of_another_version_is_refused(tmp_path: Path) -> None:
    data = json.loads(layout_for(config_of(tmp_path), workers=1).names)
    for key, value in (("version", 99), ("counter_fields", ["stot"]), ("state_fields", [])):
        changed = dict(data, **{key: value})
        with pytest.raises(ValueError, match=key.replace("_", " ")):
            Layout.from_names(json.dumps(changed).encode(), 1)
    with pytest.raises(ValueError, match="unreadable"):
        Layout.from_names(b"\xff{", 1)


def test_at_least_one_worker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        layout_for(config_of(tmp_path), workers=0)


def big_config(backends: int, servers: int) -> str:
    lines = [BASE, "frontend fe\n    bind 127.0.0.1:8000\n    default_backend be0\n"]
    for b in range(backends):
        lines.append(f"backend be{b}\n")
        lines += [f"    server s{s} 10.0.{b}.{s + 1}:80 check\n" for s in range(servers)]
    return "".join(lines)


def test_a_thousand_servers_on_eight_workers_stay_small(tmp_path: Path) -> None:
    layout = layout_for(config_of(tmp_path, big_config(100, 10)), workers=8)
    assert len(layout.servers) == 1000
    assert len(layout.rows) == 1 + 2 + 1000 + 100
    assert layout.size < 6 * 1024 * 1024  # about 4.6 MiB with the rate and time slots


# -- pure helpers -----------------------------------------------------------------------------


def test_hot_path_helpers_on_any_sequence() -> None:
    row = [0] * len(COUNTER_FIELDS)
    L.session_opened(row)
    L.session_opened(row)
    L.session_closed(row)
    L.session_opened(row)
    assert (row[L.SCUR], row[L.SMAX], row[L.STOT]) == (2, 2, 3)
    L.queued(row)
    L.dequeued(row)
    L.queued(row)
    assert (row[L.QCUR], row[L.QMAX]) == (1, 1)
    for status in (100, 204, 302, 404, 503, 99, 600, 200):
        L.count_response(row, status)
    counts = [row[i] for i in range(L.HRSP_1XX, L.HRSP_OTHER + 1)]
    assert counts == [1, 2, 1, 1, 1, 2]


def test_states_as_the_load_balancer_and_the_cli_see_them() -> None:
    assert L.lb_view(0, 10, L.RUNNING) == (True, 10)
    assert L.lb_view(0, 10, L.STARTING) == (True, 10)
    assert L.lb_view(0, 10, L.STOPPED) == (False, 10)
    assert L.lb_view(L.FMAINT, 10, L.RUNNING) == (False, 10)
    assert L.lb_view(L.FDRAIN, 10, L.RUNNING) == (False, 10)
    assert L.effective_op_state(L.CMAINT, L.RUNNING) == L.STOPPED
    assert L.effective_op_state(L.FDRAIN, L.RUNNING) == L.RUNNING


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::7"])
def test_addresses_pack_into_three_words(ip: str) -> None:
    family, hi, lo = L.pack_address(ip)
    assert family in (4, 6) and 0 <= hi < 1 << 64 and 0 <= lo < 1 << 64
    assert L.unpack_address(family, hi, lo) == ip
    assert L.unpack_address(0, 0, 0) is None
    with pytest.raises(ValueError):
        L.pack_address("not-an-ip")
