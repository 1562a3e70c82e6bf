"""`show stat` of a checked server in maintenance and of a server with `observe` but no
`check` (haproxy_py/stats/status_texts.py, rows.py), from a real shared table: as HAProxy
2.6 shows them (recorded from the installed haproxy)."""

from __future__ import annotations

import csv
from pathlib import Path

from haproxy_py.checks import status as st
from haproxy_py.checks.health import Health
from haproxy_py.checks.shared import Timeline, row_values
from haproxy_py.config import load_configuration
from haproxy_py.process.shm import StatsTable, create_table
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import CHKDOWN, FDRAIN, FMAINT, HANAFAIL, HEALTH_OFF, layout_for
from haproxy_py.stats.status_texts import unchecked_values

CFG = """\
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be
    server chk 127.0.0.1:1 check rise 3 fall 3
    server obs 127.0.0.1:2 observe layer4 error-limit 5
    server both 127.0.0.1:3 check observe layer4
    server plain 127.0.0.1:4
"""
CHECK_COLUMNS = ("check_status", "check_desc", "last_chk", "check_rise", "check_fall",
                 "check_health", "check_code", "check_duration")  # fmt: skip
COUNTERS = ("chkfail", "chkdown", "downtime", "hanafail")


def table_for(tmp_path: Path) -> tuple[StatsTable, object]:
    path = tmp_path / "t.cfg"
    path.write_text(CFG)
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    return create_table(layout_for(config, 1)), config


def rows_of(table: StatsTable, config: object, now: float) -> dict[str, dict[str, str]]:
    lines = [line for line in show_stat(table, config, now=now).splitlines() if line]
    header = lines[0].removeprefix("# ").split(",")
    rows = {}
    for values in csv.reader(lines[1:]):
        row = dict(zip(header, values, strict=True))
        rows[row["svname"]] = row
    return rows


def test_maintenance_empties_the_check_columns_but_keeps_its_counters(tmp_path: Path) -> None:
    table, config = table_for(tmp_path)
    layout = table.layout
    chk = layout.server("be", "chk")
    born = table.read_health(chk).last_change
    timeline = Timeline(born)
    health = Health(3, 3)
    health.record(True)
    passed = st.CheckResult(st.L4OK, 0, "", 0)
    table.write_health(chk, 0, **row_values(passed, health, timeline))
    table.counter_row(0, layout.server_row("be", "chk"))[CHKDOWN] += 1
    before = rows_of(table, config, born + 5)["chk"]
    assert [before[c] for c in CHECK_COLUMNS] == [
        "L4OK", "Layer4 check passed", "", "3", "3", "5", "", "0",
    ]  # fmt: skip
    # in maintenance, as the worker leaves the row: counter at rise, went down
    table.write_admin(chk, admin_state=FMAINT)
    health.health = health.rise
    timeline.went_down(born + 5)
    table.write_health(chk, 0, **row_values(passed, health, timeline))
    row = rows_of(table, config, born + 7)["chk"]
    assert row["status"] == "MAINT"
    assert [row[c] for c in CHECK_COLUMNS] == [""] * len(CHECK_COLUMNS)
    assert [row[c] for c in COUNTERS] == ["0", "1", "2", ""]
    assert row["lastchg"] == "2"
    # back: UP at rise, not yet confirmed by a check
    table.write_admin(chk, admin_state=0)
    timeline.down_since = 0
    timeline.last_change = born + 7
    table.write_health(chk, 0, **row_values(passed, health, timeline))
    row = rows_of(table, config, born + 7)["chk"]
    assert (row["status"], row["check_status"], row["check_health"]) == ("UP 1/3", "L4OK", "3")
    assert (row["lastchg"], row["downtime"]) == ("0", "0")
    # drain keeps the check columns (its checks go on)
    table.write_admin(chk, admin_state=FDRAIN)
    row = rows_of(table, config, born + 8)["chk"]
    assert (row["status"], row["check_health"]) == ("DRAIN 1/3", "3")
    table.close()


def test_hanafail_follows_observe_not_check(tmp_path: Path) -> None:
    table, config = table_for(tmp_path)
    layout = table.layout
    table.counter_row(0, layout.server_row("be", "both"))[HANAFAIL] += 2
    rows = rows_of(table, config, table.read_health(layout.server("be", "obs")).last_change)
    assert (rows["obs"]["status"], rows["obs"]["hanafail"], rows["obs"]["chkfail"]) == (
        "no check", "0", "",
    )  # fmt: skip
    assert rows["both"]["hanafail"] == "2"
    assert rows["plain"]["hanafail"] == rows["chk"]["hanafail"] == ""
    # `disable health` on an observed server: no check column but hanafail
    both = layout.server("be", "both")
    table.write_health(both, 0, check_flags=HEALTH_OFF)
    row = rows_of(table, config, 0)["both"]
    assert (row["status"], row["check_status"], row["chkfail"], row["hanafail"]) == (
        "no check", "", "", "2",
    )  # fmt: skip
    # in maintenance too
    table.write_health(both, 0, check_flags=0)
    table.write_admin(both, admin_state=FMAINT)
    row = rows_of(table, config, 0)["both"]
    assert (row["status"], row["check_status"], row["hanafail"]) == ("MAINT", "", "2")
    table.close()


def test_unchecked_values() -> None:
    counters = [0] * (HANAFAIL + 1)
    counters[HANAFAIL] = 7
    assert unchecked_values(counters, False) == ("",) * 12
    values = unchecked_values(counters, True)
    assert values[9] == 7 and values[:9] == ("",) * 9 and values[10:] == ("", "")
