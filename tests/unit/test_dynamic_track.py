"""`add server ... track|observe|on-marked-*` (pure parts): HAProxy 2.6's answers (recorded
over socat from haproxy 2.6), the record the master writes (the tracked server's slot, the
observe flag, the inherited maintenance), the tracking edges every process reads from the
live layout, maintenance passed down to a dynamic tracker with HAProxy's lines, and `del
server` of a tracked server refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.checks.track import dynamic_edges, followers_in_order, tracked_by
from haproxy_py.runtime_api.add_server import parse_add
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.runtime_api.del_server import PINNED, parse_del
from haproxy_py.runtime_api.dynamic_master import master_add, master_del
from haproxy_py.runtime_api.dynamic_servers import REGISTERED
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import FMAINT, IMAINT, STOPPED
from tests.helpers import stats_table

CONFIG = """\
defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    server s1 127.0.0.1:1 check
    server s9 127.0.0.1:1
    server a1 127.0.0.1:1 agent-check agent-port 2
backend be2
    server s2 127.0.0.1:1 track be/s1
backend hb
    mode http
    server h1 127.0.0.1:1 check
"""


@pytest.fixture
def table(tmp_path: Path):
    with stats_table(tmp_path, CONFIG) as loaded:
        yield loaded


def add(stats, config, line: str) -> str:
    words = line.split()
    checked = parse_add(words, config, stats.layout)
    if isinstance(checked, str):
        return checked
    return master_add(stats, words, order=stats.state_epoch()) or REGISTERED


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ("track be/nosuch", "unable to find required server 'nosuch' for tracking.\n\n"),
        ("track nosuch/s1", "unable to find required proxy 'nosuch' for tracking.\n\n"),
        ("track be/s9", "unable to use be/s9 for tracking as it does not have any check nor"
                        " agent enabled.\n\n"),
        ("check track be/s1", "unable to enable checks and tracking at the same time!\n\n"),
        ("check track be/nosuch", "unable to enable checks and tracking at the same time!\n\n"),
        ("track", "'track' expects [<proxy>/]<server> as argument..\n\n"),
        ("observe layer7", "'layer7' can only be used in http proxies..\n\n"),
        ("observe foo", "'observe' expects one of 'none', 'layer4', 'layer7' but got 'foo'.\n\n"),
        ("observe", "'observe' expects <mode> as argument..\n\n"),
        ("on-error bar", "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death'"
                         " or 'mark-down' but got 'bar'.\n\n"),
        ("on-error", "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or"
                     " 'mark-down' but got ''.\n\n"),
        ("error-limit x", "error-limit has to be > 0..\n\n"),
        ("error-limit 0", "error-limit has to be > 0..\n\n"),
        ("on-marked-down foo", "'on-marked-down' expects 'shutdown-sessions' but got 'foo'.\n\n"),
        ("on-marked-up foo",
         "'on-marked-up' expects 'shutdown-backup-sessions' but got 'foo'.\n\n"),
    ],
)  # fmt: skip
def test_refusals_are_haproxys(table, options: str, answer: str) -> None:
    stats, config = table
    assert add(stats, config, f"add server be2/x 127.0.0.1:1 {options}") == answer
    assert not [s for s in stats.layout.servers if s.dynamic]


def test_tracking_a_dynamic_server_is_refused(table) -> None:
    stats, config = table
    assert add(stats, config, "add server be2/x 127.0.0.1:1 track be/s1") == REGISTERED
    assert add(stats, config, "add server be2/y 127.0.0.1:1 track x") == (
        "unable to use be2/x for tracking as it is a dynamic server.\n\n"
    )


def test_accepted_and_recorded(table) -> None:
    stats, config = table
    for line in (
        "add server be2/x 127.0.0.1:1 track be/s1",
        "add server be2/y 127.0.0.1:1 track s2",  # a chain: its root be/s1 is checked
        "add server be2/z 127.0.0.1:1 track be/a1",  # an agent is enough
        "add server be2/w 127.0.0.1:1 track be/s9 track be/s1",  # the last one counts
        "add server be2/o 127.0.0.1:1 check observe layer4 error-limit 3 on-error mark-down",
        "add server hb/o 127.0.0.1:1 observe layer7 on-marked-down shutdown-sessions"
        " on-marked-up shutdown-backup-sessions",
    ):
        assert add(stats, config, line) == REGISTERED, line
    layout = stats.layout
    assert tracked_by(layout, "be2", "x") == ("be", "s1")
    assert tracked_by(layout, "be2", "y") == ("be2", "s2")
    assert tracked_by(layout, "be2", "o") is None
    assert layout.server("be2", "o").observe and not layout.server("be2", "x").observe
    assert dynamic_edges(layout) == [
        (("be2", "x"), ("be", "s1")),
        (("be2", "y"), ("be2", "s2")),
        (("be2", "z"), ("be", "a1")),
        (("be2", "w"), ("be", "s1")),
    ]
    # HAProxy visits the last tracker added first
    assert followers_in_order(config, ("be", "s1"), dynamic_edges(layout)) == [
        (("be2", "w"), ("be", "s1")),
        (("be2", "x"), ("be", "s1")),
        (("be2", "s2"), ("be", "s1")),
        (("be2", "y"), ("be2", "s2")),
    ]
    stats.write_health(layout.server("be2", "o"), 0, check_flags=0)  # `enable health be2/o`
    lines = show_stat(stats, config).splitlines()
    rows = {f"{row[0]}/{row[1]}": row for row in (line.split(",") for line in lines if line)}
    assert rows["be2/x"][17] == "MAINT" and rows["be2/x"][31] == "be/s1"  # tracked column
    assert rows["be2/o"][31] == "" and rows["be2/o"][45] == "0"  # hanafail, for `observe`
    assert rows["be2/x"][45] == ""


def test_maintenance_reaches_a_dynamic_tracker(table) -> None:
    stats, config = table
    add(stats, config, "add server be2/x 127.0.0.1:1 track be/s1 enabled")
    x = stats.layout.server("be2", "x")
    assert stats.read_admin(x).admin_state == 0
    lines = apply_op(stats, config, AdminOp("be", "s1", set_bits=FMAINT))
    assert lines[1:3] == [
        ("warning", "Server be2/x is going DOWN for maintenance via be/s1. 1 active and 0"
                    " backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        ("warning", "Server be2/s2 is going DOWN for maintenance via be/s1. 0 active and 0"
                    " backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
    ]  # fmt: skip
    assert stats.read_admin(x).admin_state == IMAINT
    # added while its target is in maintenance: in maintenance too (see docs/MIGRATING.md)
    add(stats, config, "add server be2/y 127.0.0.1:1 track be/s1 enabled")
    assert stats.read_admin(stats.layout.server("be2", "y")).admin_state == IMAINT
    # added disabled: its own maintenance stays when the target's ends
    add(stats, config, "add server be2/z 127.0.0.1:1 track be/s1")
    lines = apply_op(stats, config, AdminOp("be", "s1", clear_bits=FMAINT))
    assert ("warning", "Server be2/z remains in forced maintenance.") in lines
    assert ("warning", "Server be2/x is UP/READY (leaving maintenance).") in lines


def test_a_new_tracker_starts_as_its_target(table) -> None:
    stats, config = table
    stats.write_health(stats.layout.server("be", "s1"), 0, op_state=STOPPED)
    add(stats, config, "add server be2/x 127.0.0.1:1 track be/s1 enabled")
    assert stats.read_health(stats.layout.server("be2", "x")).op_state == STOPPED


def test_del_refuses_a_tracked_server(table) -> None:
    stats, config = table
    add(stats, config, "add server be2/x 127.0.0.1:1 track be/a1")
    apply_op(stats, config, AdminOp("be", "a1", set_bits=FMAINT))
    assert parse_del(["del", "server", "be/a1"], stats.layout, config) == PINNED
    assert master_del(stats, ["del", "server", "be/a1"]) == PINNED
    assert master_del(stats, ["del", "server", "be2/x"]) == ""  # in maintenance via be/a1
    assert parse_del(["del", "server", "be/a1"], stats.layout, config) == ("be", "a1")
