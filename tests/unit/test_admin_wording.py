"""HAProxy 2.6's words for `disable server` on a server its checks already found DOWN
(recorded from the installed haproxy: "was DOWN and now enters maintenance", no farm count,
no "no server available" alert, since the server had already left the farm)."""

from __future__ import annotations

from pathlib import Path

from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.layout import FMAINT, STOPPED
from tests.helpers import TIMEOUTS, stats_table

CFG = (
    f"defaults\n    mode http\n{TIMEOUTS}backend be\n"
    "    server s1 127.0.0.1:21411\n    server d1 127.0.0.1:21412 check\n"
)


def test_disabling_a_down_server_says_it_was_down(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        table.write_health(table.layout.server("be", "d1"), 0, op_state=STOPPED)
        assert apply_op(table, config, AdminOp("be", "d1", set_bits=FMAINT)) == [
            ("warning", "Server be/d1 was DOWN and now enters maintenance.")
        ]
        # an UP server still goes DOWN for maintenance, with the farm's count
        lines = apply_op(table, config, AdminOp("be", "s1", set_bits=FMAINT))
        assert lines[0][1].startswith("Server be/s1 is going DOWN for maintenance. 0 active")
        assert lines[1:] == [("alert", "backend 'be' has no server available!")]
