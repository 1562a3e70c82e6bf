"""Check results in the shared table: owners, resuming from a row, the row's values, and what
`show stat` makes of them (status with transitional states, check columns, lastchg/downtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.checks import status as st
from haproxy_py.checks.health import Health
from haproxy_py.checks.shared import (
    Timeline,
    owner_of,
    resume,
    row_values,
    warmup_percent,
    warmup_weight,
)
from haproxy_py.checks.track import direct_trackers, roots, track_label
from haproxy_py.config import load_configuration
from haproxy_py.process.shm import create_table
from haproxy_py.stats.csv import server_status, show_stat
from haproxy_py.stats.layout import (
    CHECK_STATUS,
    CHK_FAILED,
    CHK_PASSED,
    CHKDOWN,
    CHKFAIL,
    FDRAIN,
    FMAINT,
    INFO_BYTES,
    RUNNING,
    STOPPED,
    STOPPING,
    layout_for,
    pack_text,
    unpack_text,
)


def test_every_server_has_exactly_one_owner() -> None:
    for workers in (1, 2, 3, 7):
        owners = [owner_of(index, workers) for index in range(50)]
        assert set(owners) == set(range(workers))  # spread over all of them
        assert owners == [owner_of(index, workers) for index in range(50)]  # stable
    assert owner_of(5, 1) == 0


def test_resume_keeps_the_side_and_clamps_the_counter() -> None:
    up = resume(RUNNING, 3, rise=2, fall=3)
    assert up.up and up.health == 3 and up.describe() == "2/3 UP"
    # The row came from a configuration with a larger fall: clamped to this one's top.
    assert resume(RUNNING, 9, rise=2, fall=3).health == 4
    down = resume(STOPPED, 1, rise=2, fall=3)
    assert not down.up and down.health == 1 and down.describe() == "1/2 DOWN"
    assert not resume(STOPPED, 7, rise=2, fall=3).up  # never UP from a DOWN row
    assert resume(STOPPED, 7, rise=2, fall=3).health == 1
    # A resumed machine goes on where the old owner stopped: one more success brings it up.
    assert down.record(True).transition == "UP"


def test_timeline_counts_downtime() -> None:
    line = Timeline(last_change=100)
    line.went_down(110)
    assert (line.last_change, line.down_since, line.downtime) == (110, 110, 0)
    line.went_up(125)
    assert (line.last_change, line.down_since, line.downtime) == (125, 0, 15)
    line.went_down(130)
    line.went_up(131)
    assert line.downtime == 16


def test_row_values() -> None:
    health = Health(2, 3)
    health.record(True)  # confirmed: at the top
    health.record(False)
    result = st.CheckResult(st.L7STS, 404, "Not Found", 3)
    values = row_values(result, health, Timeline(50, 4, 0))
    assert values["op_state"] == RUNNING and values["check_health"] == 3
    assert values["check_status"] == CHECK_STATUS["L7STS"] and values["check_code"] == 404
    assert values["check_result"] == CHK_FAILED and values["check_duration"] == 3
    assert (values["last_change"], values["downtime"], values["down_since"]) == (50, 4, 0)
    words = [values[f"info{i}"] for i in range(8)]
    assert unpack_text(values["info_len"], words) == "Not Found"
    ok = row_values(st.CheckResult(st.L4OK), Health(2, 3), Timeline(1))
    assert ok["check_result"] == CHK_PASSED and ok["check_code"] == 0 and ok["info_len"] == 0


def test_long_text_is_cut_on_a_character() -> None:
    text = "é" * 100
    packed = pack_text(text)
    assert packed["info_len"] <= INFO_BYTES
    out = unpack_text(packed["info_len"], [packed[f"info{i}"] for i in range(8)])
    assert out == "é" * (INFO_BYTES // 2)


@pytest.mark.parametrize(
    ("admin", "op", "checked", "health", "expected"),
    [
        (0, RUNNING, True, 4, "UP"),
        (0, RUNNING, True, 3, "UP 2/3"),  # one failure of fall 3 (health - rise + 1 left)
        (0, RUNNING, True, 2, "UP 1/3"),
        (0, STOPPED, True, 0, "DOWN"),
        (0, STOPPED, True, 1, "DOWN 1/2"),
        (0, RUNNING, False, 2, "no check"),
        (0, STOPPED, False, 0, "DOWN"),
        (FMAINT, RUNNING, True, 4, "MAINT"),
        (FDRAIN, RUNNING, True, 4, "DRAIN"),
        (FDRAIN, RUNNING, True, 3, "DRAIN 2/3"),
        (FDRAIN, STOPPED, True, 0, "DOWN"),  # a DOWN server shows DOWN, drained or not
        (0, STOPPING, True, 4, "NOLB"),
        (0, STOPPING, True, 3, "NOLB 2/3"),
    ],
)
def test_server_status(admin: int, op: int, checked: bool, health: int, expected: str) -> None:
    assert server_status(admin, op, checked, health, 2, 3) == expected


CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend be
    option httpchk GET /health
    server s1 127.0.0.1:1 check
    server s2 127.0.0.1:2 check rise 2 fall 3
    server s3 127.0.0.1:3
"""


def test_show_stat_check_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(CFG)
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    table = create_table(layout_for(config, 2))
    layout = table.layout
    s1, s2 = layout.server("be", "s1"), layout.server("be", "s2")
    born = table.read_health(s1).last_change
    line = Timeline(born)
    confirmed = Health(2, 3)
    confirmed.record(True)  # a fresh server is "UP 1/3" until its first success
    table.write_health(s1, 1, **row_values(st.CheckResult(st.L7OK, 200, "", 2), confirmed, line))
    down = Health(2, 3)
    down.record(False)  # a fresh server falls at its first failure (HAProxy 2.6)
    line = Timeline(born)
    line.went_down(born + 10)
    failed = st.CheckResult(st.L4CON, 0, "Connection refused", 0)
    table.write_health(s2, 0, **row_values(failed, down, line))
    for worker in (0, 1):
        table.counter_row(worker, layout.server_row("be", "s2"))[CHKFAIL] += 1
    table.counter_row(0, layout.server_row("be", "s2"))[CHKDOWN] += 1
    text = show_stat(table, config, now=born + 25)
    header = text.splitlines()[0].removeprefix("# ").split(",")
    rows = {}
    for line_ in text.splitlines()[1:]:
        if line_:
            values = dict(zip(header, line_.split(","), strict=True))
            rows[values["svname"]] = values

    def pick(name: str, *columns: str) -> list[str]:
        return [rows[name][column] for column in columns]

    columns = ("status", "check_status", "check_code", "check_duration", "last_chk",
               "check_desc", "chkfail", "chkdown", "lastchg", "downtime",
               "check_health")  # fmt: skip
    assert pick("s1", *columns) == [
        "UP", "L7OK", "200", "2", "", "Layer7 check passed", "0", "0", "25", "0", "4",
    ]  # fmt: skip
    assert pick("s2", *columns) == [
        "DOWN", "L4CON", "", "0", "Connection refused", "Layer4 connection problem", "2", "1",
        "15", "15", "0",
    ]  # fmt: skip
    # Not checked: lastchg, but none of the check columns.
    assert pick("s3", *columns) == ["no check", "", "", "", "", "", "", "", "25", "", ""]
    # Not checked yet: as HAProxy 2.6 shows a server before its first check.
    table.write_health(s1, 1, **row_values(st.CheckResult(st.INI), Health(2, 3), Timeline(born)))
    text = show_stat(table, config, now=born + 1)
    row = next(line_ for line_ in text.splitlines() if line_.startswith("be,s1,"))
    values = dict(zip(header, row.split(","), strict=True))
    assert [values[column] for column in columns] == [
        "UP 1/3", "INI", "", "", "", "Initializing", "0", "0", "1", "0", "2",
    ]  # fmt: skip
    assert rows["BACKEND"]["status"] == "UP" and rows["BACKEND"]["act"] == "2"
    table.close()


def test_warmup_ramp() -> None:
    # HAProxy 2.6 at 0.6 s of a 10 s slowstart: throttle 6 %, weight 40 -> 3.
    assert warmup_percent(600, 10_000) == 6 and warmup_weight(40, 600, 10_000) == 3
    assert warmup_percent(3100, 10_000) == 31 and warmup_weight(40, 3100, 10_000) == 13
    assert warmup_weight(1, 0, 10_000) == 1  # never 0 while warming
    assert warmup_weight(0, 500, 10_000) == 0  # a drained weight stays 0
    assert warmup_weight(40, 10_000, 10_000) == 40 and warmup_percent(12_000, 10_000) == 100
    assert warmup_weight(40, 5, 0) == 40  # no slowstart


TRACK_CFG = """\
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend be
    server s1 127.0.0.1:1 check
    server s2 127.0.0.1:2 track s1
backend be2
    server t 127.0.0.1:3 track be/s1
    server u 127.0.0.1:4 track be/s2
"""


def test_track_chains(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(TRACK_CFG)
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    # HAProxy visits the trackers of a server in the reverse of their declaration order.
    assert direct_trackers(config) == {
        ("be", "s1"): [("be2", "t"), ("be", "s2")],
        ("be", "s2"): [("be2", "u")],
    }
    assert roots(config) == {
        ("be", "s2"): ("be", "s1"),
        ("be2", "t"): ("be", "s1"),
        ("be2", "u"): ("be", "s1"),
    }
    be2 = next(p for p in config.proxies if p.name == "be2")
    assert [track_label(be2, s) for s in be2.servers] == ["be/s1", "be/s2"]


def test_track_errors_are_haproxys(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n"
        "backend be\n server a 127.0.0.1:1 track b\n server b 127.0.0.1:2 track a\n"
        " server c 127.0.0.1:3 track d\n server d 127.0.0.1:4\n server e 127.0.0.1:5 track x\n"
        " server f 127.0.0.1:6 track nope/d\n"
    )
    result = load_configuration([str(path)], env={})
    assert result.config is None
    texts = [item.message for item in result.diagnostics]
    assert texts[:4] == [
        "'server be/b' : unable to track be/a as it belongs to a tracking chain looping back"
        " to be/b.",
        "'server be/c' : unable to use be/d for tracking as it does not have any check nor"
        " agent enabled.",
        "'server be/e' : unable to find required server 'x' for tracking.",
        "'server be/f' : unable to find required proxy 'nope' for tracking.",
    ]
