"""Maintenance and drain passed down `track` chains (haproxy_py/checks/track_admin.py), on a
real in-memory stats table, with the lines haproxy 2.6 logs (recorded from it, be/s1 checked,
be2/s2 tracking it, be3/s3 tracking be2/s2, be3/s4 tracking be/s1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.checks.track import edges
from haproxy_py.checks.track_admin import follower_lines, inherit_all, inherited, own_maint_line
from haproxy_py.runtime_api.admin import AdminOp, apply_op, parse_admin
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import (
    CMAINT,
    FDRAIN,
    FMAINT,
    IDRAIN,
    IMAINT,
    STOPPED,
)
from tests.helpers import stats_table

CFG = """\
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend be
    server s1 127.0.0.1:1 check
    server s9 127.0.0.1:1
backend be2
    server s2 127.0.0.1:1 track be/s1
backend be3
    server s3 127.0.0.1:1 track be2/s2
    server s4 127.0.0.1:1 track be/s1
"""

W = "warning"


@pytest.fixture
def loaded(tmp_path: Path):
    with stats_table(tmp_path, CFG) as table_and_config:
        yield table_and_config


def run(table, config, *words: str) -> list[tuple[str, str]]:
    op = parse_admin(table, list(words))
    assert isinstance(op, AdminOp), op
    return apply_op(table, config, op)


def admin(table, name: str) -> int:
    return table.read_admin(table.layout.server(*name.split("/"))).admin_state


def statuses(table, config) -> dict[str, str]:
    lines = show_stat(table, config).splitlines()
    header = lines[0].lstrip("# ").split(",")
    found = {}
    for line in lines[1:]:
        row = line.split(",")
        if len(row) > 2 and row[1] not in ("FRONTEND", "BACKEND"):
            found[f"{row[0]}/{row[1]}"] = row[header.index("status")]
    return found


def test_maintenance_passes_down_with_haproxys_lines(loaded) -> None:
    table, config = loaded
    assert run(table, config, "disable", "server", "be/s1") == [
        (W, "Server be/s1 is going DOWN for maintenance. 1 active and 0 backup servers left."
            " 0 sessions active, 0 requeued, 0 remaining in queue."),
        (W, "Server be3/s4 is going DOWN for maintenance via be/s1. 1 active and 0 backup"
            " servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        (W, "Server be2/s2 is going DOWN for maintenance via be/s1. 0 active and 0 backup"
            " servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        ("alert", "backend 'be2' has no server available!"),
        (W, "Server be3/s3 is going DOWN for maintenance via be2/s2. 0 active and 0 backup"
            " servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        ("alert", "backend 'be3' has no server available!"),
    ]  # fmt: skip
    assert [admin(table, n) for n in ("be/s1", "be2/s2", "be3/s3", "be3/s4")] == [
        FMAINT, IMAINT, IMAINT, IMAINT,
    ]  # fmt: skip
    shown = statuses(table, config)
    assert shown["be2/s2"] == "MAINT (via be/s1)"
    assert shown["be3/s3"] == "MAINT (via be2/s2)"  # the server tracked directly
    assert run(table, config, "enable", "server", "be/s1") == [
        (W, "Server be/s1 is UP/READY (leaving forced maintenance)."),
        (W, "Server be3/s4 is UP/READY (leaving maintenance)."),
        (W, "Server be2/s2 is UP/READY (leaving maintenance)."),
        (W, "Server be3/s3 is UP/READY (leaving maintenance)."),
    ]
    assert [admin(table, n) for n in ("be2/s2", "be3/s3", "be3/s4")] == [0, 0, 0]


def test_own_maintenance_under_an_inherited_one(loaded) -> None:
    table, config = loaded
    run(table, config, "disable", "server", "be/s1")
    assert run(table, config, "disable", "server", "be2/s2") == []  # in maintenance already
    assert admin(table, "be2/s2") == FMAINT | IMAINT
    assert statuses(table, config)["be2/s2"] == "MAINT (via be/s1)"
    assert run(table, config, "set", "server", "be2/s2", "state", "drain") == [
        (W, "Server be2/s2 is leaving forced maintenance but remains in maintenance via be/s1."),
    ]
    assert admin(table, "be3/s3") == IMAINT | IDRAIN  # the drain passed down silently
    assert run(table, config, "enable", "server", "be/s1") == [
        (W, "Server be/s1 is UP/READY (leaving forced maintenance)."),
        (W, "Server be3/s4 is UP/READY (leaving maintenance)."),
        (W, "Server be2/s2 is UP/DRAIN (leaving maintenance)."),
        (W, "Server be2/s2 remains in forced drain mode."),
        (W, "Server be3/s3 is UP/DRAIN (leaving maintenance)."),
        (W, "Server be3/s3 is leaving forced drain but remains in drain mode via be2/s2."),
    ]
    # `enable server` ends the forced drain too, and the inherited one goes with it
    assert run(table, config, "enable", "server", "be2/s2") == [
        (W, "Server be2/s2 is UP (leaving forced drain)."),
        (W, "Server be3/s3 is UP (leaving forced drain)."),
    ]


def test_drain_then_maintenance_and_back_into_drain(loaded) -> None:
    table, config = loaded
    run(table, config, "set", "server", "be/s1", "state", "drain")
    assert admin(table, "be2/s2") == IDRAIN
    lines = run(table, config, "set", "server", "be/s1", "state", "maint")
    # drained followers were out of the farm: no backend is newly left empty
    assert [level for level, _ in lines] == [W] * 4
    assert "be3/s4 is going DOWN for maintenance via be/s1. 0 active" in lines[1][1]
    assert admin(table, "be2/s2") == IMAINT  # the drain ended with the root's
    assert run(table, config, "set", "server", "be/s1", "state", "drain") == [
        (W, "Server be/s1 is UP/DRAIN (leaving forced maintenance)."),
        (W, "Server be/s1 remains in forced drain mode."),
        (W, "Server be3/s4 is UP/DRAIN (leaving maintenance)."),
        (W, "Server be3/s4 is leaving forced drain but remains in drain mode via be/s1."),
        (W, "Server be2/s2 is UP/DRAIN (leaving maintenance)."),
        (W, "Server be2/s2 is leaving forced drain but remains in drain mode via be/s1."),
        (W, "Server be3/s3 is UP/DRAIN (leaving maintenance)."),
        (W, "Server be3/s3 is leaving forced drain but remains in drain mode via be2/s2."),
    ]


def test_down_followers_enter_maintenance_as_haproxy_says(loaded) -> None:
    table, config = loaded
    for name in ("be/s1", "be2/s2", "be3/s3", "be3/s4"):
        table.write_health(table.layout.server(*name.split("/")), 0, op_state=STOPPED)
    assert run(table, config, "set", "server", "be/s1", "state", "maint") == [
        (W, "Server be/s1 was DOWN and now enters maintenance."),
        (W, "Server be3/s4 was DOWN and now enters maintenance via be/s1."),
        (W, "Server be2/s2 was DOWN and now enters maintenance via be/s1."),
        (W, "Server be3/s3 was DOWN and now enters maintenance via be2/s2."),
    ]
    run(table, config, "set", "server", "be/s1", "state", "ready")
    # a DOWN server entering drain is worded as HAProxy words it, with no alert
    assert run(table, config, "set", "server", "be/s1", "state", "drain")[:2] == [
        (W, "Server be/s1 enters drain state. 1 active and 0 backup servers left. 0 sessions"
            " active, 0 requeued, 0 remaining in queue."),
        (W, "Server be3/s4 enters drain state via be/s1. 0 active and 0 backup servers left."
            " 0 sessions active, 0 requeued, 0 remaining in queue."),
    ]  # fmt: skip


def test_a_new_table_inherits_silently(loaded) -> None:
    table, config = loaded
    table.write_admin(table.layout.server("be", "s1"), admin_state=CMAINT)
    table.write_admin(table.layout.server("be2", "s2"), admin_state=FDRAIN)
    inherit_all(table, edges(config))
    assert admin(table, "be2/s2") == FDRAIN | IMAINT
    assert admin(table, "be3/s3") == IMAINT | IDRAIN  # down a chain
    assert admin(table, "be3/s4") == IMAINT


def test_pure_decisions() -> None:
    assert inherited(FMAINT | FDRAIN) == IMAINT | IDRAIN
    assert inherited(IMAINT) == IMAINT and inherited(0) == 0
    # in drain on its own before and after: nothing to say
    assert follower_lines("b/x", "a/y", FDRAIN, FDRAIN | IDRAIN, down=False, online=(1, 0),
                          sessions=0) == []  # fmt: skip
    assert follower_lines("b/x", "a/y", IMAINT, IMAINT | IDRAIN, down=False, online=(1, 0),
                          sessions=0) == []  # fmt: skip
    assert follower_lines("b/x", "a/y", 0, IMAINT, down=False, online=(0, 1), sessions=3) == [
        (W, "Server b/x is going DOWN for maintenance via a/y. 0 active and 1 backup servers"
            " left. 3 sessions active, 0 requeued, 0 remaining in queue."),
    ]  # fmt: skip
    assert own_maint_line("b/x", FMAINT | IMAINT, IMAINT, "a/y") is not None
    assert own_maint_line("b/x", FMAINT, 0, "a/y") is None
    assert own_maint_line("b/x", IMAINT, IMAINT | FDRAIN, "a/y") is None


def test_a_follower_in_its_own_maintenance_says_it_remains(loaded) -> None:
    table, config = loaded
    run(table, config, "disable", "server", "be2/s2")
    assert [line for _, line in run(table, config, "disable", "server", "be/s1")][1:] == [
        "Server be3/s4 is going DOWN for maintenance via be/s1. 0 active and 0 backup servers"
        " left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "backend 'be3' has no server available!",
    ]  # be2/s2 was in maintenance already: nothing said for it nor for be3/s3
    assert run(table, config, "enable", "server", "be/s1") == [
        (W, "Server be/s1 is UP/READY (leaving forced maintenance)."),
        (W, "Server be3/s4 is UP/READY (leaving maintenance)."),
        (W, "Server be2/s2 remains in forced maintenance."),
    ]
    assert admin(table, "be3/s3") == IMAINT  # still in maintenance via be2/s2
