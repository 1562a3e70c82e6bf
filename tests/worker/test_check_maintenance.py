"""The owner's side of maintenance (worker/checks.py `follow_maintenance`): entering it,
leaving it, and what the server's row then says, as HAProxy 2.6 shows it; over a real
in-memory stats table and the worker's real runtime state."""

from __future__ import annotations

import io
from pathlib import Path

from haproxy_py.checks import status as st
from haproxy_py.checks.status import CheckResult
from haproxy_py.process.shm import create_table
from haproxy_py.report import Reporter
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import CHKDOWN, FMAINT, RUNNING, STOPPED, layout_for
from tests.worker.test_serve_startup import _start
from worker.checks import apply_result, checks_for, follow_maintenance
from worker.runtime import build_state
from worker.shared_state import SharedState, StateSync

CFG = """\
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend be
    server up 127.0.0.1:1 check rise 3 fall 3
    server down 127.0.0.1:2 check rise 2 fall 2
    server off 127.0.0.1:3 check disabled
"""
PASSED = CheckResult(st.L4OK, 0, "", 0)
FAILED = CheckResult(st.L4CON, 0, "Connection refused", 0)


def _worker(tmp_path: Path):
    start, sockets = _start(tmp_path, CFG)
    table = create_table(layout_for(start.config, 1))
    reporter = Reporter(stream=io.StringIO())
    state = build_state(start, sockets, reporter, table)
    state.shared = SharedState(table, 0, StateSync(table, state.backends), None, state.config,
                               reporter)  # fmt: skip
    return state, table


def _status(state, table, name: str) -> tuple[str, str, str]:
    lines = show_stat(table, state.config).splitlines()
    header = lines[0].removeprefix("# ").split(",")
    row = next(
        dict(zip(header, line.split(","), strict=True))
        for line in lines
        if line.startswith(f"be,{name},")
    )
    return row["status"], row["check_status"], row["check_health"]


def test_leaving_maintenance_is_up_at_rise_until_a_check(tmp_path: Path) -> None:
    state, table = _worker(tmp_path)
    shared = state.shared
    try:
        checks = {c.settings.server: c for c in checks_for(state, state.reporter)}
        up, down, off = checks["up"], checks["down"], checks["off"]
        for check in checks.values():
            follow_maintenance(check, shared)  # the first look: notes the state only
        assert off.paused and not up.paused
        assert table.read_health(off.slot).op_state == RUNNING  # nothing was written
        apply_result(up, PASSED, state.reporter, shared)
        apply_result(down, FAILED, state.reporter, shared)
        assert _status(state, table, "up") == ("UP", "L4OK", "5")
        assert _status(state, table, "down") == ("DOWN", "L4CON", "0")

        down_since = down.timeline.down_since
        for check in (up, down):
            table.write_admin(check.slot, admin_state=FMAINT)  # the master's write
            follow_maintenance(check, shared)
            assert check.paused
        assert up.server.counters.row[CHKDOWN] == 1  # UP going into maintenance counts
        assert down.server.counters.row[CHKDOWN] == 1  # (its own fall), not again
        assert up.timeline.down_since  # lastchg and downtime from now
        assert down.timeline.down_since == down_since  # already DOWN: they go on
        assert _status(state, table, "up") == ("MAINT", "", "")
        apply_result(up, FAILED, state.reporter, shared)  # a check that was in flight
        assert up.health.health == 3 and up.server.counters.row[CHKDOWN] == 1

        for check in (up, down):
            table.write_admin(check.slot, admin_state=0)
            follow_maintenance(check, shared)
            assert not check.paused and check.timeline.down_since == 0
        assert _status(state, table, "up") == ("UP 1/3", "L4OK", "3")
        assert _status(state, table, "down") == ("UP 1/2", "L4CON", "2")
        assert table.read_health(down.slot).op_state == RUNNING
        # the next check decides: one pass confirms, one failure takes it down
        apply_result(up, PASSED, state.reporter, shared)
        apply_result(down, FAILED, state.reporter, shared)
        assert _status(state, table, "up") == ("UP", "L4OK", "5")
        assert _status(state, table, "down") == ("DOWN", "L4CON", "0")
        assert table.read_health(down.slot).op_state == STOPPED
        assert down.server.counters.row[CHKDOWN] == 2
    finally:
        table.close()
