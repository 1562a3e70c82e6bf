"""Runtime-API commands on checks and agents, stick tables and `show pools`, pure parts:
HAProxy 2.6's answers (observed over socat on the real haproxy 2.6), the accepted changes,
what the master replays, and the `show stat`/`show servers state` columns of checks turned
off through the health row's check_flags."""

from __future__ import annotations

import pytest

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.add_server import parse_add
from haproxy_py.runtime_api.check_commands import (
    CheckCommand,
    is_check_command,
    is_transient,
    parse_check_command,
)
from haproxy_py.runtime_api.commands import find_command, help_text
from haproxy_py.runtime_api.dynamic_master import master_add
from haproxy_py.runtime_api.pools import Pool, parse_mallocstats, show_pools, table_answer
from haproxy_py.runtime_api.show import show_servers_state
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import AGENT_OFF, HEALTH_OFF
from tests.helpers import stats_table

CONFIG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be
    server s1 127.0.0.1:8001 check inter 1s
    server s2 127.0.0.1:8002
    server s3 127.0.0.1:8003 check agent-check agent-port 8005 agent-inter 1s
    server s4 127.0.0.1:8004 track be/s1
"""


@pytest.fixture
def setup(tmp_path):
    with stats_table(tmp_path, CONFIG) as made:
        yield made


def ask(setup, line: str) -> CheckCommand | str:
    table, config = setup
    return parse_check_command(table, config, line.split())


# Every answer below is what haproxy 2.6 printed for the same command on the same servers.
ANSWERS = {
    "disable health": "Require 'backend/server'.\n\n",
    "disable health be": "Require 'backend/server'.\n\n",
    "disable health be/nosuch": "No such server.\n\n",
    "disable health nobe/s1": "No such backend.\n\n",
    "enable agent be/s2": "Agent was not configured on this server, cannot enable.\n\n",
    "enable health be/s2": "Health check was not configured on this server, cannot enable.\n\n",
    "enable health be/s4": "Health check was not configured on this server, cannot enable.\n\n",
    "set server be/s1 health": "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n",
    "set server be/s1 health bogus": (
        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
    ),
    "set server be/s4 health down": "cannot change health on a tracking server.\n\n",
    "set server be/s1 agent up": "agent checks are not enabled on this server.\n\n",
    "set server be/s4 agent down": "agent checks are not enabled on this server.\n\n",
    "set server be/s3 agent foo": "'set server <srv> agent' expects 'up' or 'down'.\n\n",
    "set server be/s1 agent-send hello": "agent checks are not enabled on this server.\n\n",
    "set server be/s1 check-addr": (
        "set server <b>/<s> check-addr requires an address and optionally a port.\n\n"
    ),
    "set server be/s2 check-addr": (
        "set server <b>/<s> check-addr requires an address and optionally a port.\n\n"
    ),
    "set server be/s1 check-addr bogus": "invalid addr 'bogus'\n",
    "set server be/s1 check-addr localhost": "invalid addr 'localhost'\n",
    "set server be/s1 check-addr 127.0.0.1 port": "provided port is not an integer\n",
    "set server be/s1 check-addr 127.0.0.1 port x": "provided port is not an integer\n",
    "set server be/s2 check-addr 127.0.0.1": "health checks are not enabled on this server\n",
    "set server be/s1 check-port": "set server <b>/<s> check-port requires a port.\n\n",
    "set server be/s2 check-port x": "health checks are not enabled on this server\n",
    "set server be/s4 check-port 1": "health checks are not enabled on this server\n",
    "set server be/s1 check-port x": "provided port is not an integer\n",
    "set server be/s1 check-port 12abc": "provided port is not an integer\n",
    "set server be/s1 check-port -1": "provided port is invalid\n",
    "set server be/s1 check-port 65536": "provided port is invalid\n",
    "set server be/s1 agent-addr 127.0.0.1": "agent checks are not enabled on this server\n",
    "set server be/s1 agent-port 20805": "agent checks are not enabled on this server\n",
    "set server be/s3 agent-addr": (
        "set server <b>/<s> agent-addr requires an address and optionally a port.\n\n"
    ),
    "set server be/s3 agent-addr 127.0.0.1 port x": "provided port is not an integer\n",
    "set server be/s3 agent-port": "set server <b>/<s> agent-port requires a port.\n\n",
    "set server be/s3 agent-port 70000": "provided port is invalid\n",
}


@pytest.mark.parametrize("line", sorted(ANSWERS))
def test_haproxy_answers(setup, line: str) -> None:
    assert is_check_command(line.split())
    assert ask(setup, line) == ANSWERS[line]


def test_accepted_commands(setup) -> None:
    assert ask(setup, "disable health be/s2") == CheckCommand("disable-health", "be", "s2")
    assert ask(setup, "enable agent be/#3") == CheckCommand("enable-agent", "be", "s3")
    assert ask(setup, "set server be/s2 health down") == CheckCommand("health", "be", "s2", "down")
    assert ask(setup, "set server be/s3 agent up") == CheckCommand("agent", "be", "s3", "up")
    assert ask(setup, "set server be/s1 check-addr ::1 port 99") == CheckCommand(
        "check-addr", "be", "s1", "::1", 99
    )
    assert ask(setup, "set server be/s1 check-addr 127.0.0.2 foo 1") == CheckCommand(
        "check-addr", "be", "s1", "127.0.0.2"
    )
    assert ask(setup, "set server be/s1 check-port 0") == CheckCommand("check-port", "be", "s1",
                                                                       port=0)  # fmt: skip
    assert ask(setup, "set server be/s3 agent-send") == CheckCommand("agent-send", "be", "s3")
    assert ask(setup, "set server be/s3 agent-port 65535").port == 65535


def test_checks_turned_off_refuse_their_settings(setup) -> None:
    table, _config = setup
    slot = table.layout.server("be", "s3")
    table.write_health(slot, 0, check_flags=HEALTH_OFF | AGENT_OFF)
    assert ask(setup, "set server be/s3 check-port 1") == (
        "health checks are not enabled on this server\n"
    )
    assert ask(setup, "set server be/s3 agent-port 1") == (
        "agent checks are not enabled on this server\n"
    )
    assert ask(setup, "set server be/s3 agent-send x") == (
        "agent checks are not enabled on this server.\n\n"
    )
    assert ask(setup, "set server be/s3 agent down") == (
        "agent checks are not enabled on this server.\n\n"
    )
    assert isinstance(ask(setup, "enable health be/s3"), CheckCommand)


def test_show_stat_and_servers_state_follow_check_flags(setup) -> None:
    table, config = setup

    def line(name: str) -> list[str]:
        lines = show_stat(table, config).splitlines()
        return next(x for x in lines if x.startswith(f"be,{name},")).split(",")

    header = show_stat(table, config).splitlines()[0].lstrip("# ").split(",")
    status, check, agent = (header.index(n) for n in ("status", "check_status", "agent_status"))
    assert line("s3")[check] == "INI" and line("s3")[agent] == "INI"
    table.write_health(table.layout.server("be", "s3"), 0, check_flags=HEALTH_OFF | AGENT_OFF)
    assert line("s3")[status] == "no check"
    assert line("s3")[check] == "" and line("s3")[agent] == ""
    states = show_servers_state(table, config, ["be"]).splitlines()
    assert states[2].split()[13] == "6" and states[4].split()[13] == "2"  # srv_check_state
    assert states[2].split()[14] == "0" and states[2].split()[-2:] == ["-", "0"]
    # srv_agent_state: agent, configured, no longer enabled; the agent's address and port
    assert states[4].split()[14] == "18" and states[4].split()[-2:] == ["127.0.0.1", "8005"]


def test_forced_states_are_not_replayed() -> None:
    assert is_transient(["set", "server", "be/s1", "health", "down"])
    assert is_transient(["set", "server", "be/s1", "agent", "up"])
    assert not is_transient(["set", "server", "be/s1", "check-port", "80"])
    assert not is_transient(["disable", "health", "be/s1"])
    assert not is_check_command(["set", "server", "be/s1", "state", "maint"])


MALLOCSTATS = """\
Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1              43           978
    1     32           2             764           256
   31    512           3              20             4

# arenas allocated total           =                   40
"""


def test_show_pools_shape() -> None:
    pools = parse_mallocstats(MALLOCSTATS)
    assert pools == [
        Pool("pymalloc_16", 16, 1021, 43, 1),
        Pool("pymalloc_32", 32, 1020, 764, 2),
        Pool("pymalloc_512", 512, 24, 20, 3),
    ]
    answer = show_pools([Pool("pipe", 65536, 2, 1, 1), *pools])
    assert answer.splitlines() == [
        "Dumping pools usage. Use SIGQUIT to flush them.",
        "  - Pool pymalloc_16 (16 bytes) : 1021 allocated (16336 bytes), 43 used, 1 users",
        "  - Pool pymalloc_32 (32 bytes) : 1020 allocated (32640 bytes), 764 used, 2 users",
        "  - Pool pymalloc_512 (512 bytes) : 24 allocated (12288 bytes), 20 used, 3 users",
        "  - Pool pipe (65536 bytes) : 2 allocated (131072 bytes), 1 used, 1 users",
        "Total: 4 pools, 192336 bytes allocated, 100912 used.",
        "",
    ]


def test_stick_table_answers() -> None:
    assert table_answer(["show", "table"]) == "\n"
    assert table_answer(["show", "table", "foo", "data.gpc0", "gt", "1"]) == "No such table\n\n"
    assert table_answer(["clear", "table"]) == (
        'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table>'
        " key <key>\n\n"
    )
    assert table_answer(["clear", "table", "foo"]) == "No such table\n\n"
    assert table_answer(["set", "table"]) == (
        "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"
    )
    assert table_answer(["set", "table", "foo", "key", "x"]) == "No such table\n\n"


def test_command_table_levels() -> None:
    for line, level in (
        ("show pools", Level.USER), ("show table", Level.USER), ("clear table x", Level.USER),
        ("disable health be/s", Level.ADMIN), ("enable agent be/s", Level.ADMIN),
        ("shutdown frontend fe", Level.ADMIN), ("show version", Level.USER),
    ):  # fmt: skip
        keyword = find_command(line.split())
        assert keyword is not None and keyword.level == level, line
    listed = help_text(Level.USER)
    assert "  show pools  " in listed and "disable health" not in listed


def test_dynamic_server_checks_start_off(setup) -> None:
    """`add server ... check`: the record keeps rise and fall, the checks are off until
    `enable health` (HAProxy 2.6), and the check commands know the server is checked."""
    table, config = setup
    for line in ("add server be/d1 127.0.0.1:9001 check inter 300ms rise 4 fall 5",
                 "add server be/d2 127.0.0.1:9002"):  # fmt: skip
        words = line.split()
        assert not isinstance(parse_add(words, config, table.layout), str)
        assert master_add(table, words, order=table.state_epoch()) == ""
    checked, plain = table.layout.server("be", "d1"), table.layout.server("be", "d2")
    assert (checked.checked, checked.rise, checked.fall) == (True, 4, 5)
    assert (plain.checked, plain.rise, plain.fall) == (False, 2, 3)
    row = table.read_health(checked)
    assert row.check_flags == HEALTH_OFF and row.check_health == 0  # in maintenance
    assert table.read_health(plain).check_flags == 0
    assert ask(setup, "set server be/d1 check-port 80") == (
        "health checks are not enabled on this server\n"
    )
    assert ask(setup, "enable health be/d1") == CheckCommand("enable-health", "be", "d1")
    assert ask(setup, "enable health be/d2") == (
        "Health check was not configured on this server, cannot enable.\n\n"
    )
    assert ask(setup, "set server be/d1 agent up") == (
        "agent checks are not enabled on this server.\n\n"
    )
    table.write_health(checked, 0, check_flags=0)
    assert ask(setup, "set server be/d1 check-port 80") == CheckCommand(
        "check-port", "be", "d1", port=80
    )
    still = ["add", "server", "be/d3", "127.0.0.1:1", "pool-max-conn", "2"]
    assert parse_add(still, config, table.layout) == (
        "'pool-max-conn' is not yet supported on dynamic servers by haproxy-py.\n\n"
    )
