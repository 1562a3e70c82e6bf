"""The read-only runtime API answers (haproxy_py/runtime_api/show.py) over a real in-memory
stats table: HAProxy 2.6's formats and error strings, observed on the real haproxy."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import COMMANDS, find_command, help_text
from haproxy_py.runtime_api.show import (
    SERVERS_STATE_HEADER,
    IdleCounts,
    clear_counters,
    show_activity,
    show_backend,
    show_env,
    show_servers_conn,
    show_servers_state,
)
from haproxy_py.stats.layout import CONN_TOT, FMAINT, SCUR, SMAX, STOT
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
    server s1 127.0.0.1:8001 weight 50 check
    server s2 localhost:8002 id 7 pool-max-conn 10 pool-purge-delay 2s
listen other
    bind 127.0.0.1:18081
    server o1 127.0.0.1:9000
"""


@pytest.fixture
def loaded(tmp_path: Path):
    with stats_table(tmp_path, CFG) as table_and_config:
        yield table_and_config


def test_servers_state_version_1(loaded) -> None:
    table, config = loaded
    slot = table.layout.server("be", "s1")
    table.write_admin(slot, admin_state=FMAINT)
    table.write_health(slot, 0, last_change=1000)
    text = show_servers_state(table, config, now=1042, resolved={("be", "s2"): "127.0.0.1"})
    lines = text.split("\n")
    assert lines[0] == "1"
    assert lines[1] + "\n" == SERVERS_STATE_HEADER
    assert len(lines[1].split()) - 1 == 25  # the comment mark, then 25 columns
    s1, s2, o1 = (line.split(" ") for line in lines[2:5])
    assert text.endswith("\n\n") and lines[5] == ""
    # be_id be_name srv_id srv_name srv_addr op admin uweight iweight since status result
    # health check_state agent bk_forced srv_forced fqdn port srvrecord ssl chk_port
    # chk_addr agent_addr agent_port
    assert s1 == ["2", "be", "1", "s1", "127.0.0.1", "0", "1", "50", "50", "42", "1", "0",
                  "2", "6", "0", "0", "0", "-", "8001", "-", "0", "0", "-", "-", "0"]  # fmt: skip
    assert s2[:5] == ["2", "be", "7", "s2", "127.0.0.1"]
    assert s2[13] == "0" and s2[16] == "1" and s2[17] == "localhost" and s2[18] == "8002"
    assert o1[:4] == ["3", "other", "1", "o1"]
    only = show_servers_state(table, config, ["other"], now=1042)
    assert only.count("\n") == 4 and " o1 " in only
    assert show_servers_state(table, config, ["#3"], now=1042) == only  # by id too
    assert show_servers_state(table, config, ["nope"]) == "Can't find backend.\n\n"
    assert show_servers_state(table, config, ["fe"]) == "Can't find backend.\n\n"


def test_servers_conn(loaded) -> None:
    table, config = loaded
    row = table.layout.server_row("be", "s2")
    for worker in (0, 1):
        table.counter_row(worker, row)[SCUR] = 1
        table.counter_row(worker, row)[SMAX] = 2
    text = show_servers_conn(table, config, ["be"], idle={("be", "s2"): IdleCounts(1, 2)})
    lines = text.split("\n")
    assert lines[0] == (
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est"
        " unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]"
    )
    assert lines[1] == "be/s1 2/1 127.0.0.1 8001 - 5000 0 0 0 0 0 -1 0 0"
    assert lines[2] == "be/s2 2/7 - 8002 - 2000 2 4 4 1 2 10 3 3"  # smax: sum of peaks
    assert lines[3:] == ["", ""]
    resolved = show_servers_conn(table, config, ["be"], resolved={("be", "s2"): "127.0.0.2"})
    assert resolved.split("\n")[2].startswith("be/s2 2/7 127.0.0.2 8002 ")
    assert show_servers_conn(table, config, ["x"]) == "Can't find backend.\n\n"


def test_backend_env_errors() -> None:
    class Proxy:
        def __init__(self, name: str, kind: str, backend: bool) -> None:
            self.name, self.kind, self.is_backend, self.uuid = name, kind, backend, 1

    class Config:
        proxies: ClassVar[list[Proxy]] = [
            Proxy("fe", "frontend", False), Proxy("be", "backend", True),
            Proxy("li", "listen", True),
        ]  # fmt: skip

    assert show_backend(Config) == "# name\nbe\nli\n\n"  # type: ignore[arg-type]
    env = {"HOME": "/root", "A": "1=2"}
    assert show_env(env) == "HOME=/root\nA=1=2\n\n"
    assert show_env(env, ["A"]) == "A=1=2\n\n"
    assert show_env(env, ["NOPE"]) == "Variable not found\n\n"


def test_activity_and_clear_counters(loaded) -> None:
    table, _ = loaded
    front = table.layout.frontend("fe")
    table.counter_row(0, front)[CONN_TOT] = 3
    table.counter_row(1, front)[CONN_TOT] = 4
    table.counter_row(1, table.layout.frontend("other"))[CONN_TOT] = 1
    text = show_activity(table, 1, now=1795285398.812063)
    assert text == ("thread_id: 2 (1..2)\ndate_now: 1795285398.812063\naccepted: 8 [ 3 5 ]\n\n")
    for worker in (0, 1):
        row = table.counter_row(worker, front)
        row[SCUR], row[SMAX], row[STOT] = 1, 5, 9
    assert clear_counters(table, everything=False) == "\n"
    assert table.read_counters("fe", "FRONTEND")["smax"] == 2  # back to the (summed) scur
    assert table.read_counters("fe", "FRONTEND")["stot"] == 18
    clear_counters(table, everything=True)
    counters = table.read_counters("fe", "FRONTEND")
    assert counters["stot"] == 0 and counters["scur"] == 2  # the present stays


def test_commands_are_in_the_table_with_haproxys_levels() -> None:
    levels = {
        "show servers state": Level.USER,
        "show servers conn": Level.USER,
        "show backend": Level.USER,
        "show activity": Level.USER,
        "get weight": Level.USER,
        "show env": Level.OPERATOR,
        "show errors": Level.OPERATOR,
        "show sess": Level.OPERATOR,
        "clear counters": Level.OPERATOR,
    }
    for text, level in levels.items():
        keyword = find_command(text.split())
        assert keyword is not None, text
        assert keyword.level == level, text
    listed = help_text(Level.USER)
    assert "  show servers state [<backend>]          : " in listed
    assert "show env" not in listed and "show sess" not in listed
    assert "show env [var]" in help_text(Level.OPERATOR)
    assert "show sess [id]" in help_text(Level.OPERATOR)  # tests/unit/test_runtime_sessions.py
    usages = [keyword.usage for keyword in COMMANDS]
    assert usages == sorted(usages)  # help lists them in HAProxy's (alphabetical) order
