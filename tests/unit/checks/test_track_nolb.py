"""`track` and the states a tracked server passes on besides UP/DOWN: NOLB (disable-on-404)
and drain (the runtime API's or an agent's), over a real in-memory stats table."""

from __future__ import annotations

from pathlib import Path

from haproxy_py.checks.messages import server_stopping_line
from haproxy_py.checks.track import followers_in_order
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import FDRAIN, IDRAIN, STOPPED, STOPPING
from tests.helpers import load_text, stats_table

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend be
    server s1 127.0.0.1:1 check
    server a1 127.0.0.1:2 check agent-check agent-port 9
    server s2 127.0.0.1:2 track s1
backend be2
    server t 127.0.0.1:3 track be/s1
    server u 127.0.0.1:4 track be/s2
    server w 127.0.0.1:4 track be/a1
    server x 127.0.0.1:5 check
"""


def _status(table, config) -> dict[str, str]:
    lines = show_stat(table, config).splitlines()
    names = lines[0].removeprefix("# ").split(",")
    rows = [dict(zip(names, line.split(","), strict=False)) for line in lines[1:] if line]
    return {f"{r['pxname']}/{r['svname']}": r["status"] for r in rows if r["svname"] != "BACKEND"}


def test_followers_in_order_is_depth_first_as_haproxy(tmp_path: Path) -> None:
    config = load_text(tmp_path, CFG).config
    assert config is not None
    assert followers_in_order(config, ("be", "s1")) == [
        (("be2", "t"), ("be", "s1")),
        (("be", "s2"), ("be", "s1")),
        (("be2", "u"), ("be", "s2")),
    ]
    assert followers_in_order(config, ("be2", "x")) == []


def test_drain_passes_down_the_chain_and_back(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        lines = apply_op(table, config, AdminOp("be", "s1", set_bits=FDRAIN))
        assert lines == [
            ("warning", "Server be/s1 enters drain state. 2 active and 0 backup servers"
                        " online. 0 sessions requeued, 0 total in queue."),
            ("warning", "Server be2/t enters drain state via be/s1. 3 active and 0 backup"
                        " servers online. 0 sessions requeued, 0 total in queue."),
            ("warning", "Server be/s2 enters drain state via be/s1. 1 active and 0 backup"
                        " servers online. 0 sessions requeued, 0 total in queue."),
            ("warning", "Server be2/u enters drain state via be/s2. 2 active and 0 backup"
                        " servers online. 0 sessions requeued, 0 total in queue."),
        ]  # fmt: skip
        layout = table.layout
        for name in (("be2", "t"), ("be", "s2"), ("be2", "u")):
            assert table.read_admin(layout.server(*name)).admin_state == IDRAIN
        status = _status(table, config)
        # (a fresh table's health counters are not full yet: "DRAIN 1/3", "UP 1/3")
        assert [status[n].split()[0] for n in ("be/s1", "be/s2", "be2/t", "be2/u", "be2/w")] == [
            "DRAIN", "DRAIN", "DRAIN", "DRAIN", "UP",
        ]  # fmt: skip
        # A follower drained on its own stays so, and says nothing when its root leaves.
        apply_op(table, config, AdminOp("be2", "u", set_bits=FDRAIN))
        table.write_health(layout.server("be", "s2"), 0, op_state=STOPPED)
        lines = apply_op(table, config, AdminOp("be", "s1", clear_bits=FDRAIN))
        assert lines == [
            ("warning", "Server be/s1 is UP (leaving forced drain)."),
            ("warning", "Server be2/t is UP (leaving forced drain)."),
            ("warning", "Server be/s2 is DOWN (leaving forced drain)."),
        ]
        assert table.read_admin(layout.server("be2", "u")).admin_state == FDRAIN


def test_a_drained_agent_root_shows_on_its_followers(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        lines = apply_op(table, config, AdminOp("be", "a1", set_bits=FDRAIN))
        assert lines[-1] == (
            "warning", "Server be2/w enters drain state via be/a1. 3 active and 0 backup"
            " servers online. 0 sessions requeued, 0 total in queue.",
        )  # fmt: skip
        status = _status(table, config)
        assert status["be/a1"] == status["be2/w"] == "DRAIN (agent)"


def test_a_follower_in_stopping_shows_nolb(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        for name in (("be", "s1"), ("be2", "t")):
            table.write_health(table.layout.server(*name), 0, op_state=STOPPING, check_health=4)
        status = _status(table, config)
        assert status["be/s1"] == status["be2/t"] == "NOLB"


def test_stopping_line_via() -> None:
    line = server_stopping_line("be2", "t", False, None, active=2, backups=0, requeued=0,
                                queued=0, via="be/s1")  # fmt: skip
    assert line == (
        "Server be2/t is stopping via be/s1. 2 active and 0 backup servers online."
        " 0 sessions requeued, 0 total in queue."
    )


def test_disable_on_404_must_match_along_a_track(tmp_path: Path) -> None:
    head = "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n"
    be = "backend be\n option httpchk\n http-check disable-on-404\n server s 127.0.0.1:1 check\n"
    result = load_text(tmp_path, head + be + "backend be2\n server t 127.0.0.1:1 track be/s\n")
    assert result.config is None
    assert next(d.message for d in result.diagnostics) == (
        "'server be2/t' : unable to use be/s fortracking: disable-on-404 option inconsistency."
    )
    same = "backend be2\n http-check disable-on-404\n server t 127.0.0.1:1 track be/s\n"
    assert load_text(tmp_path, head + be + same).config is not None
