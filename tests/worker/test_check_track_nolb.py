"""The owner's side of `track` and NOLB: a root's disable-on-404 passed down its followers
(rows, farms, log lines), and brought in line silently when a worker takes over; over a
real in-memory stats table and the worker's real runtime state."""

from __future__ import annotations

import io
from pathlib import Path

from haproxy_py.checks import status as st
from haproxy_py.checks.status import CheckResult
from haproxy_py.process.shm import create_table
from haproxy_py.report import Reporter
from haproxy_py.stats.layout import RUNNING, STOPPED, STOPPING, layout_for
from tests.worker.test_serve_startup import _start
from worker.checks import apply_result, checks_for
from worker.runtime import build_state
from worker.shared_state import SharedState, StateSync

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
    option httpchk GET /health
    http-check disable-on-404
backend be
    server s1 127.0.0.1:1 check rise 1 fall 1
backend be2
    server t 127.0.0.1:2 track be/s1
    server u 127.0.0.1:3 track be2/t
    server x 127.0.0.1:4 check
"""


def _worker(tmp_path: Path):
    start, sockets = _start(tmp_path, CFG)
    table = create_table(layout_for(start.config, 1))
    stream = io.StringIO()
    reporter = Reporter(stream=stream)
    state = build_state(start, sockets, reporter, table)
    state.shared = SharedState(table, 0, StateSync(table, state.backends), None, state.config,
                               reporter)  # fmt: skip
    return state, table, stream


def _op_states(table) -> dict[str, int]:
    return {
        name: table.read_health(table.layout.server(*name.split("/"))).op_state
        for name in ("be/s1", "be2/t", "be2/u")
    }


def _server(state, backend: str, name: str):
    return next(s for s in state.backends[backend].servers.values() if s.name == name)


def test_nolb_passes_down_and_back(tmp_path: Path) -> None:
    state, table, stream = _worker(tmp_path)
    try:
        checks = {c.settings.server: c for c in checks_for(state, state.reporter)}
        s1 = checks["s1"]
        apply_result(s1, CheckResult(st.L7OK, 200), state.reporter, state.shared)
        apply_result(s1, CheckResult(st.L7OKC, 404), state.reporter, state.shared)
        assert _op_states(table) == {"be/s1": STOPPING, "be2/t": STOPPING, "be2/u": STOPPING}
        t, u = _server(state, "be2", "t"), _server(state, "be2", "u")
        assert t.draining and u.draining and not t.lb.usable and not u.lb.usable
        lines = stream.getvalue().splitlines()
        assert [line.split(" : ", 1)[1] for line in lines[-2:]] == [
            "Server be2/t is stopping via be/s1. 2 active and 0 backup servers online."
            " 0 sessions requeued, 0 total in queue.",
            "Server be2/u is stopping via be2/t. 1 active and 0 backup servers online."
            " 0 sessions requeued, 0 total in queue.",
        ]
        apply_result(s1, CheckResult(st.L7OK, 200), state.reporter, state.shared)
        assert set(_op_states(table).values()) == {RUNNING}
        assert t.lb.usable and u.lb.usable and not t.draining
        assert "Server be2/u is UP via be2/t. 3 active" in stream.getvalue()
        # DOWN from NOLB: the followers go DOWN with it, no "no server" alert for be2.
        apply_result(s1, CheckResult(st.L7OKC, 404), state.reporter, state.shared)
        apply_result(s1, CheckResult(st.L7STS, 500), state.reporter, state.shared)
        assert set(_op_states(table).values()) == {STOPPED}
        assert "Server be2/u is DOWN via be2/t." in stream.getvalue()
    finally:
        state.close()
        table.close()


def test_a_new_owner_aligns_the_followers_with_a_nolb_root(tmp_path: Path) -> None:
    state, table, stream = _worker(tmp_path)
    try:
        slot = table.layout.server("be", "s1")
        table.write_health(slot, 0, op_state=STOPPING, check_health=1)  # its last owner's
        checks = {c.settings.server: c for c in checks_for(state, state.reporter)}
        assert checks["s1"].stopping
        assert _op_states(table) == {"be/s1": STOPPING, "be2/t": STOPPING, "be2/u": STOPPING}
        assert _server(state, "be2", "u").draining
        assert "stopping" not in stream.getvalue()  # silently
    finally:
        state.close()
        table.close()
