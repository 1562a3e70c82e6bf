"""`show stat` CSV and the admin commands over a real (in-memory) stats table."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.runtime_api.admin import AdminOp, apply_op, get_weight, parse_admin, parse_weight
from haproxy_py.stats.csv import HEADER, STAT_COLUMNS, show_stat
from haproxy_py.stats.layout import CMAINT, FDRAIN, FMAINT, SCUR, STOT
from tests.helpers import stats_table

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:18080
    default_backend be
backend be
    server s1 127.0.0.1:1 weight 50
    server s2 127.0.0.1:2
    server b1 127.0.0.1:3 backup
"""


@pytest.fixture
def loaded(tmp_path: Path):
    with stats_table(tmp_path, CFG) as table_and_config:
        yield table_and_config


def test_header_is_haproxys() -> None:
    assert len(STAT_COLUMNS) == 128
    assert HEADER.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,")
    assert HEADER.endswith(",h1_spliced_bytes_in,h1_spliced_bytes_out,\n")
    assert STAT_COLUMNS[103] == "-" and STAT_COLUMNS[99] == "uweight"


def test_rows_in_haproxy_order_and_summed(loaded) -> None:
    table, config = loaded
    layout = table.layout
    for worker, count in ((0, 3), (1, 4)):
        table.counter_row(worker, layout.frontend("fe"))[STOT] += count
        table.counter_row(worker, layout.server_row("be", "s1"))[SCUR] += 1
    text = show_stat(table, config)
    lines = text.splitlines()
    assert text.endswith(",\n\n")
    assert [line.split(",")[:2] for line in lines[1:] if line] == [
        ["fe", "FRONTEND"], ["be", "s1"], ["be", "s2"], ["be", "b1"], ["be", "BACKEND"],
    ]  # fmt: skip
    for line in lines[1:-1]:
        assert line.count(",") == len(STAT_COLUMNS)
    rows = {tuple(line.split(",")[:2]): line.split(",") for line in lines[1:] if line}
    col = STAT_COLUMNS.index
    assert rows[("fe", "FRONTEND")][col("stot")] == "7"
    assert rows[("fe", "FRONTEND")][col("status")] == "OPEN"
    assert rows[("be", "s1")][col("scur")] == "2"
    assert rows[("be", "s1")][col("status")] == "no check"
    assert rows[("be", "BACKEND")][col("weight")] == "51"
    assert rows[("be", "BACKEND")][col("act")] == "2"
    assert rows[("be", "BACKEND")][col("bck")] == "1"
    assert show_stat(table, config, ["nope", "-1", "-1"]) == "No such proxy.\n\n"
    only = show_stat(table, config, ["be", "4", "-1"]).splitlines()
    assert [line.split(",")[1] for line in only[1:] if line] == ["s1", "s2", "b1"]


def test_admin_commands_and_their_errors(loaded) -> None:
    table, config = loaded
    # `disable server` ends a forced drain, `enable server` too (HAProxy 2.6: admin state 1, 0)
    assert parse_admin(table, ["disable", "server", "be/s1"]) == AdminOp("be", "s1", FMAINT, FDRAIN)
    assert parse_admin(table, ["enable", "server", "be/s1"]) == AdminOp(
        "be", "s1", 0, FMAINT | CMAINT | FDRAIN
    )
    assert parse_admin(table, ["disable", "server", "be"]) == "Require 'backend/server'.\n\n"
    assert parse_admin(table, ["disable", "server", "x/s1"]) == "No such backend.\n\n"
    assert parse_admin(table, ["disable", "server", "be/zz"]) == "No such server.\n\n"
    # Out of maintenance also takes a `disabled` server (CMAINT) out, as HAProxy does.
    assert parse_admin(table, ["set", "server", "be/s1", "state", "drain"]) == AdminOp(
        "be", "s1", FDRAIN, FMAINT | CMAINT
    )
    assert parse_weight("20%", 50) == 10
    assert parse_weight("-5", 50).startswith("Absolute weight")
    assert parse_weight("", 50) == "Require <weight> or <weight%>.\n\n"
    assert parse_weight("x", 50) == "Empty weight string empty or preceded by garbage\n"
    lines = apply_op(table, config, AdminOp("be", "s1", set_bits=FMAINT))
    assert lines == [
        (
            "warning",
            "Server be/s1 is going DOWN for maintenance. 1 active and 1 backup servers left. "
            "0 sessions active, 0 requeued, 0 remaining in queue.",
        )
    ]
    assert apply_op(table, config, AdminOp("be", "s1", clear_bits=FMAINT)) == [
        ("warning", "Server be/s1 is UP/READY (leaving forced maintenance).")
    ]
    op = parse_admin(table, ["set", "weight", "be/s1", "20%"])
    assert op == AdminOp("be", "s1", weight=10)
    apply_op(table, config, op)
    assert get_weight(table, "be/s1") == "10 (initial 50)\n\n"
