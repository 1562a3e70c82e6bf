"""`show stat|info typed|json` over a real (in-memory) stats table, and the row selection the
stats page uses (haproxy_py/stats/typed.py, records.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haproxy_py.runtime_api.admin import apply_op, parse_admin
from haproxy_py.stats.csv import STAT_COLUMNS, show_stat
from haproxy_py.stats.layout import BIN, STOT
from haproxy_py.stats.records import csv_text, hide_legends, select, stat_records
from haproxy_py.stats.typed import (
    INFO_POSITIONS,
    STAT_POSITIONS,
    json_info,
    json_stat,
    show_info_answer,
    show_stat_answer,
    stat_tags,
    typed_info,
    typed_stat,
)
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
"""


@pytest.fixture
def loaded(tmp_path: Path):
    with stats_table(tmp_path, CFG) as table_and_config:
        yield table_and_config


def test_positions_skip_the_separator_column() -> None:
    # HAProxy numbers the typed fields without the CSV's `-` column.
    assert STAT_POSITIONS["pxname"] == 0
    assert STAT_POSITIONS["uweight"] == 99
    assert STAT_POSITIONS["agg_check_status"] == 102
    assert STAT_POSITIONS["ssl_sess"] == 103
    assert STAT_POSITIONS["h1_spliced_bytes_out"] == 126
    assert "-" not in STAT_POSITIONS
    assert len(STAT_POSITIONS) == len(STAT_COLUMNS) - 1
    # show info: the zlib pair (45, 46) is skipped but keeps its numbers.
    assert INFO_POSITIONS["CompressBpsRateLim"] == 44
    assert INFO_POSITIONS["Tasks"] == 47
    assert INFO_POSITIONS["Tainted"] == 71


def test_tags_depend_on_the_kind_where_haproxy_s_do() -> None:
    assert stat_tags("S", "act") == "SGP:u32"
    assert stat_tags("B", "act") == "MGP:u32"
    assert stat_tags("F", "stot") == "MCP:u64"
    assert stat_tags("S", "lastsess") == "MAP:s32"


def test_typed_lines_in_haproxy_shape(loaded) -> None:
    table, config = loaded
    table.counter_row(0, table.layout.frontend("fe"))[STOT] += 3
    table.counter_row(1, table.layout.frontend("fe"))[STOT] += 4
    text = show_stat_answer(table, config, ["typed"])
    lines = text.splitlines()
    assert text.endswith("\n\n") and lines[-1] == ""
    assert lines[0] == "F.1.0.0.pxname.1:KNS:str:fe"
    assert lines[1] == "F.1.0.1.svname.1:KNS:str:FRONTEND"
    assert "F.1.0.7.stot.1:MCP:u64:7" in lines  # summed over both workers' slots
    # Empty CSV fields are left out: a frontend has no queue.
    assert not any(line.startswith("F.1.0.2.qcur") for line in lines)
    server = [line for line in lines if line.startswith("S.2.1.")]
    assert server[0] == "S.2.1.0.pxname.1:KNS:str:be"
    assert "S.2.1.18.weight.1:MaP:u32:50" in server
    # Every line: KIND.IID.SID.POS.NAME.PROC:TAGS:TYPE:VALUE
    for line in lines[:-1]:
        head, tags, kind, _value = line.split(":", 3)
        assert (
            head.split(".")[0] in "FBS" and len(tags) == 3 and kind in ("str", "u32", "u64", "s32")
        )


def test_typed_fields_are_the_non_empty_csv_fields(loaded) -> None:
    table, config = loaded
    records = stat_records(table, config)
    assert records is not None
    typed = typed_stat(records).splitlines()[:-1]
    csv_lines = show_stat(table, config).splitlines()[1:-1]
    for record, csv_line in zip(records, csv_lines, strict=True):
        values = dict(zip(STAT_COLUMNS, csv_line.split(","), strict=False))
        kind = {"0": "F", "1": "B", "2": "S"}[values["type"]]
        prefix = f"{kind}.{values['iid']}.{values['sid']}."
        names = [line.split(":")[0].split(".")[4] for line in typed if line.startswith(prefix)]
        expected = [n for n in STAT_COLUMNS if n != "-" and values.get(n, "") != ""]
        assert names == expected, record["svname"]


def test_json_is_one_line_of_rows_with_typed_values(loaded) -> None:
    table, config = loaded
    text = show_stat_answer(table, config, ["json"])
    assert text.endswith("]\n\n") and text.count("\n") == 2 and " " not in text[:200]
    rows = json.loads(text)
    assert [row[1]["value"]["value"] for row in rows] == ["FRONTEND", "s1", "s2", "BACKEND"]
    first = rows[0][0]
    assert list(first) == ["objType", "proxyId", "id", "field", "processNum", "tags", "value"]
    assert first == {
        "objType": "Frontend", "proxyId": 1, "id": 0, "field": {"pos": 0, "name": "pxname"},
        "processNum": 1, "tags": {"origin": "Key", "nature": "Name", "scope": "Service"},
        "value": {"type": "str", "value": "fe"},
    }  # fmt: skip
    stot = next(f for f in rows[0] if f["field"]["name"] == "stot")
    assert stot["value"] == {"type": "u64", "value": 0}  # a number, not a string
    assert rows[1][0]["objType"] == "Server" and rows[3][0]["objType"] == "Backend"


def test_filters_and_unknown_proxy(loaded) -> None:
    table, config = loaded
    assert show_stat_answer(table, config, ["be", "4", "-1", "typed"]).startswith("S.2.1.0.")
    assert show_stat_answer(table, config, ["nope", "-1", "-1", "json"]) == "No such proxy.\n\n"
    op = parse_admin(table, ["disable", "server", "be/s2"])
    apply_op(table, config, op)  # type: ignore[arg-type]
    names = [r["svname"] for r in stat_records(table, config, ["no-maint"]) or []]
    assert names == ["FRONTEND", "s1", "BACKEND"]
    up_csv = show_stat_answer(table, config, ["up"])
    assert ",s2," not in up_csv and ",s1," in up_csv


def test_csv_text_is_show_stat_byte_for_byte(loaded) -> None:
    table, config = loaded
    table.counter_row(0, table.layout.backend("be"))[BIN] += 12345
    records = stat_records(table, config, now=1000)
    assert csv_text(records or []) == show_stat(table, config, now=1000)


def test_select_scope_and_legends(loaded) -> None:
    table, config = loaded
    records = stat_records(table, config) or []
    assert {r["pxname"] for r in select(records, scope={"be"})} == {"be"}
    hidden = hide_legends(records)
    assert all("addr" not in r and "algo" not in r for r in hidden)
    assert any("addr" in r for r in records)


def test_info_typed_and_json() -> None:
    values = {"Name": "HAProxy", "Pid": 42, "Uptime": "0d 0h00m01s", "description": "", "Tasks": 3}
    assert typed_info(values) == (
        "0.Name.1:POS:str:HAProxy\n6.Pid.1:SGP:u32:42\n7.Uptime.1:MDP:str:0d 0h00m01s\n"
        "47.Tasks.1:MGP:u32:3\n\n"
    )
    fields = json.loads(json_info(values))
    assert fields[1] == {
        "field": {"pos": 6, "name": "Pid"}, "processNum": 1,
        "tags": {"origin": "Status", "nature": "Gauge", "scope": "Process"},
        "value": {"type": "u32", "value": 42},
    }  # fmt: skip
    assert show_info_answer(values, []).startswith("Name: HAProxy\nPid: 42\n")
    assert show_info_answer(values, ["json"]) == json_info(values)
    assert show_info_answer(values, ["typed"]) == typed_info(values)


def test_json_stat_of_nothing() -> None:
    assert json_stat([]) == "[]\n\n"
