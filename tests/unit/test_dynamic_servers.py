"""Dynamic servers, pure parts: `add server`/`del server` checked with HAProxy 2.6's answers
(observed over socat on the real haproxy), the spare rows of the stats table (allocation,
the live layout every reader sees, reuse after `del`, exhaustion) and the master's writes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from haproxy_py.lb import Farm, LbServer, make_algorithm
from haproxy_py.process.shm import create_table, open_table
from haproxy_py.runtime_api.add_server import NAME_TOO_LONG, NOT_DYNAMIC_LB, parse_add
from haproxy_py.runtime_api.del_server import NO_SUCH_SERVER, PINNED, parse_del, pinned_servers
from haproxy_py.runtime_api.dynamic_master import (
    HAS_CONNECTIONS,
    NOT_IN_MAINT,
    master_add,
    master_del,
)
from haproxy_py.runtime_api.dynamic_servers import ALREADY_EXISTS, DELETED, REGISTERED
from haproxy_py.runtime_api.show import show_servers_conn, show_servers_state
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import (
    AGENT_OFF,
    COUNTER_FIELDS,
    FMAINT,
    HEALTH_OFF,
    MIN_SPARES,
    QCUR,
    SCUR,
    STOT,
    Layout,
    layout_for,
    spares_for,
)
from tests.helpers import load_text, stats_table

CONFIG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:20150
    default_backend be
backend be
    server s1 127.0.0.1:20151
    server s2 127.0.0.1:20152 id 5
backend src
    balance source
    server s1 127.0.0.1:20151
backend mapped
    balance uri
    server s1 127.0.0.1:20151
backend ring
    balance uri
    hash-type consistent
    server s1 127.0.0.1:20151
backend static
    balance static-rr
    server s1 127.0.0.1:20151
backend few
    balance leastconn
"""


NOT_ACCEPTED = "option is not accepted for dynamic server\n\n"
RANGE = "is not within 0 and 256"
NOT_YET = "is not yet supported on dynamic servers by haproxy-py.\n\n"


@pytest.fixture
def table(tmp_path: Path):
    with stats_table(tmp_path, CONFIG) as found:
        yield found


def add(table, config, line: str) -> str:
    """The whole `add server` as the CLI answers it: the worker's check, the master's write."""
    words = line.split()
    checked = parse_add(words, config, table.layout)
    if isinstance(checked, str):
        return checked
    return master_add(table, words, order=table.state_epoch()) or REGISTERED


def delete(table, line: str, config=None) -> str:
    words = line.split()
    checked = parse_del(words, table.layout, config)
    if isinstance(checked, str):
        return checked
    return master_del(table, words) or DELETED


# -- HAProxy's answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("add server be", "Require 'backend/server'.\n"),
        ("add server be/ 127.0.0.1:1", "Require 'backend/server'.\n"),
        ("add server /s 127.0.0.1:1", "Require 'backend/server'.\n"),
        ("add server nob/s3 127.0.0.1:1", "No such backend.\n"),
        ("add server src/s3 127.0.0.1:1", NOT_DYNAMIC_LB),
        ("add server mapped/s3 127.0.0.1:1", NOT_DYNAMIC_LB),
        ("add server static/s3 127.0.0.1:1", NOT_DYNAMIC_LB),
        ("add server be/s3", "'server' expects <name> and <addr>[:<port>] as arguments.\n\n"),
        ("add server be/s1 127.0.0.1:1", ALREADY_EXISTS),
        ("add server be/s3 127.0.0.1:1 cookie c", "'cookie' " + NOT_ACCEPTED),
        ("add server be/s3 127.0.0.1:1 init-addr none", "'init-addr' " + NOT_ACCEPTED),
        ("add server be/s3 127.0.0.1:1 non-stick", "'non-stick' " + NOT_ACCEPTED),
        ("add server be/s3 1.2.3.4:1 weight 300", f"weight of server s3 {RANGE} (300)..\n\n"),
        ("add server be/s3 127.0.0.1:1 id 0", "'id' : custom id has to be > 0.\n\n"),
        ("add server be/s3 127.0.0.1:1 agent-check",
         "server s3 does not have agent port. Agent check has been disabled.\n\n"),
        ("add server be/s3 127.0.0.1:1 pool-max-conn 2", "'pool-max-conn' " + NOT_YET),
        ("add server be/s3 127.0.0.1:1 foo", "unknown keyword 'foo'.\n\n"),
        ("add server be/" + "n" * 129 + " 127.0.0.1:1", NAME_TOO_LONG),
    ],
)  # fmt: skip
def test_add_refusals(table, line: str, answer: str) -> None:
    stats, config = table
    assert add(stats, config, line) == answer
    assert not [s for s in stats.layout.servers if s.dynamic]  # nothing written


def test_forced_id_taken_names_its_line(table) -> None:
    stats, config = table
    answer = add(stats, config, "add server be/s3 127.0.0.1:1 id 5")
    where = f"{config.files[0]}:11"  # the file as named on the command line
    assert answer == f"'id' : custom id 5 already used at {where} ('server s2').\n\n"
    assert add(stats, config, "add server be/s3 127.0.0.1:1 id 7") == REGISTERED
    line = show_servers_state(stats, config, ["be"]).splitlines()[-2].split()
    assert line[2:4] == ["7", "s3"] and line[16] == "1"  # srv_f_forced_id, as HAProxy
    answer = add(stats, config, "add server be/s4 127.0.0.1:1 id 7")
    assert answer == "'id' : custom id 7 already used at (null):0 ('server s3').\n\n"


def test_algorithms_taking_servers_at_run_time(table) -> None:
    stats, config = table
    assert add(stats, config, "add server ring/s2 127.0.0.1:1") == REGISTERED
    assert add(stats, config, "add server few/a 127.0.0.1:1") == REGISTERED  # no servers yet


# -- the table: rows, ids, states ----------------------------------------------------------------


def test_added_server_is_in_maintenance_with_the_next_free_id(table) -> None:
    stats, config = table
    assert add(stats, config, "add server be/s3 127.0.0.1:20153 weight 7 maxconn 9") == (
        "New server registered.\n\n"
    )
    slot = stats.layout.server("be", "s3")
    assert slot.dynamic and slot.sid == 2 and slot.iweight == 7 and slot.maxconn == 9
    admin = stats.read_admin(slot)
    assert admin.admin_state == FMAINT and admin.uweight == 7 and admin.maxconn == 9
    assert admin.port == 20153 and admin.addr_gen == 0
    # `show stat` lists it after the backend's configured servers, before BACKEND.
    names = [line.split(",")[1] for line in show_stat(stats, config).splitlines()[1:] if line]
    be = names[names.index("FRONTEND") + 1 :]
    assert be[:4] == ["s1", "s2", "s3", "BACKEND"]
    state = [line for line in show_servers_state(stats, config, ["be"]).splitlines() if line]
    assert state[-1].split()[:9] == ["2", "be", "2", "s3", "127.0.0.1", "0", "1", "7", "7"]
    assert state[-1].split()[12] == "0"  # srv_check_health: 0 while in maintenance, as HAProxy
    conn = show_servers_conn(stats, config, ["be"]).splitlines()
    assert conn[-2].split()[:4] == ["be/s3", "2/2", "127.0.0.1", "20153"]
    assert add(stats, config, "add server be/s4 127.0.0.1:1 enabled") == REGISTERED
    assert stats.read_admin(stats.layout.server("be", "s4")).admin_state == 0
    assert stats.layout.server("be", "s4").sid == 3


def test_every_mapping_of_the_table_sees_the_server(table) -> None:
    stats, config = table
    other = open_table(os.dup(stats.fd))  # another process's mapping of the same table
    try:
        assert add(stats, config, "add server be/s3 127.0.0.1:1") == REGISTERED
        assert other.layout.server("be", "s3").sid == 2
        row = other.layout.server_row("be", "s3")
        other.counter_row(1, row)[STOT] += 4
        assert stats.read_counters("be", "s3")["stot"] == 4
        assert delete(stats, "del server be/s3") == DELETED
        with pytest.raises(KeyError):
            other.layout.server("be", "s3")
    finally:
        other.close()


def test_del_refusals_and_row_reuse(table) -> None:
    stats, config = table
    assert delete(stats, "del server be") == "Require 'backend/server'.\n"
    assert delete(stats, "del server nob/s1") == "No such backend.\n"
    assert delete(stats, "del server be/nope") == "No such server.\n"
    assert delete(stats, "del server be/s1") == "Only servers in maintenance mode can be deleted.\n"
    assert add(stats, config, "add server be/s3 127.0.0.1:1 enabled") == REGISTERED
    assert delete(stats, "del server be/s3") == "Only servers in maintenance mode can be deleted.\n"
    slot = stats.layout.server("be", "s3")
    stats.write_admin(slot, admin_state=FMAINT)
    row = stats.layout.server_row("be", "s3")
    stats.counter_row(1, row)[SCUR] = 1  # a session on worker 2
    stats.counter_row(1, row)[STOT] = 10
    assert delete(stats, "del server be/s3") == (
        "Server still has connections attached to it, cannot remove it.\n"
    )
    stats.counter_row(1, row)[SCUR] = 0
    assert delete(stats, "del server be/s3") == "Server deleted.\n"
    assert delete(stats, "del server be/s3") == "No such server.\n"
    # The freed row goes to the next server, its counters zeroed.
    assert add(stats, config, "add server be/s9 127.0.0.1:1") == REGISTERED
    again = stats.layout.server("be", "s9")
    assert again.index == slot.index and again.sid == 2
    assert stats.read_counters("be", "s9")["stot"] == 0


def test_pool_exhausted(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONFIG).config
    stats = create_table(layout_for(config, 1, spares=2))
    try:
        for name in ("a", "b"):
            assert add(stats, config, f"add server be/{name} 127.0.0.1:1") == REGISTERED
        answer = add(stats, config, "add server be/c 127.0.0.1:1")
        assert answer.startswith("No spare server row left") and "2 dynamic servers" in answer
        stats.write_admin(stats.layout.server("be", "a"), admin_state=FMAINT)
        assert delete(stats, "del server be/a") == DELETED
        assert add(stats, config, "add server be/c 127.0.0.1:1") == REGISTERED
    finally:
        stats.close()


# -- the layout ---------------------------------------------------------------------------------


def test_spares_and_geometry(tmp_path: Path) -> None:
    assert spares_for(3) == MIN_SPARES and spares_for(5000) == 500
    config = load_text(tmp_path, CONFIG).config
    layout = layout_for(config, 2)
    assert layout.spares == MIN_SPARES
    assert len(layout.physical_rows) == len(layout.rows) + MIN_SPARES
    last = layout.spare_row(MIN_SPARES - 1)
    assert last.offset + last.width <= layout.block_words
    assert layout.state_slots == len(layout.servers) + MIN_SPARES
    assert layout.dynamic_offset < layout.counters_offset
    again = Layout.from_names(layout.names, 2)
    assert again == layout and again.spares == MIN_SPARES
    assert layout_for(config, 2, spares=3).digest != layout.digest  # spares are in the names
    assert len(COUNTER_FIELDS) == last.width


# -- load balancing takes the new server, and drops it ----------------------------------------


@pytest.mark.parametrize(
    ("balance", "hash_type", "key"),
    [
        ({"algorithm": "roundrobin"}, (), None),
        ({"algorithm": "leastconn"}, (), None),
        ({"algorithm": "first"}, (), None),
        ({"algorithm": "random"}, (), None),
        ({"algorithm": "uri"}, ("consistent",), "uri"),
        ({"algorithm": "source"}, ("consistent",), "source"),
    ],
)
def test_every_dynamic_algorithm_takes_and_drops_a_server(balance, hash_type, key) -> None:
    one = LbServer("one", 1, maxconn=1 if balance["algorithm"] == "first" else 0)
    farm = Farm([one])
    algorithm = make_algorithm(balance, hash_type, farm, random.Random(7))
    added = LbServer("added", 2)
    farm.add_server(added)
    algorithm.update()
    picked = set()
    for number in range(200):
        server = algorithm.pick(f"/{number}".encode() if key else None)
        picked.add(server.name)
        algorithm.take(server)  # load: leastconn spreads, `first` fills one up to its maxconn
    assert picked == {"one", "added"}
    farm.remove_server(added)
    one.cur_conns = 0
    algorithm.update()
    names = {algorithm.pick(f"/{n}".encode() if key else None).name for n in range(50)}
    assert names == {"one"}


# -- `del server` of a configured server ---------------------------------------------------------

PINNING = """\
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:20150
    acl up srv_is_up(be/s4)
    http-request deny if !up
    default_backend be
backend be
    server s1 127.0.0.1:20151 check
    server s2 127.0.0.1:20152 track s1
    server s3 127.0.0.1:20153
    server s4 127.0.0.1:20154
    server s5 127.0.0.1:20155 check
backend be2
    use-server s1 if { path /y }
    http-request set-header X-Up %[srv_is_up(s2)]
    server s1 127.0.0.1:20156
    server s2 127.0.0.1:20157
    server s3 127.0.0.1:20158 track be/s5
"""


def test_pinned_servers_are_those_haproxy_refuses(tmp_path: Path) -> None:
    config = load_text(tmp_path, PINNING).config
    assert pinned_servers(config) == {
        ("be", "s1"),  # tracked
        ("be", "s4"),  # srv_is_up in an ACL
        ("be", "s5"),  # tracked from another backend
        ("be2", "s1"),  # use-server
        ("be2", "s2"),  # srv_is_up in a log format, its backend implied
    }


def test_del_configured_server(tmp_path: Path) -> None:
    config = load_text(tmp_path, PINNING).config
    stats = create_table(layout_for(config, 2))
    try:
        maint = {(s.backend, s.name) for s in stats.layout.servers}
        for backend, name in maint:
            stats.write_admin(stats.layout.server(backend, name), admin_state=FMAINT)
        pinned = PINNED
        for name in ("be/s1", "be/s4", "be/s5", "be2/s1", "be2/s2"):
            assert delete(stats, f"del server {name}", config) == pinned, name
        # The refusal comes before the maintenance check, as in HAProxy 2.6.
        stats.write_admin(stats.layout.server("be", "s1"), admin_state=0)
        assert delete(stats, "del server be/s1", config) == pinned
        stats.write_admin(stats.layout.server("be", "s3"), admin_state=0)
        assert delete(stats, "del server be/s3", config) == NOT_IN_MAINT
        stats.write_admin(stats.layout.server("be", "s3"), admin_state=FMAINT)
        row = stats.layout.server_row("be", "s3")
        stats.counter_row(1, row)[QCUR] = 1
        assert delete(stats, "del server be/s3", config) == HAS_CONNECTIONS
        stats.counter_row(1, row)[QCUR] = 0
        other = open_table(os.dup(stats.fd))  # a worker's mapping
        try:
            assert delete(stats, "del server be/s3", config) == DELETED
            for view in (stats, other):
                assert [s.name for s in view.layout.servers if s.backend == "be"] == [
                    "s1", "s2", "s4", "s5"
                ]  # fmt: skip
                assert view.layout.find_row("be", "s3") is None
            names = [line.split(",")[:2] for line in show_stat(other, config).splitlines()]
            assert ["be", "s3"] not in names and ["be", "s4"] in names
            state = show_servers_state(other, config, ["be"]).split("\n")
            assert not any(line.split()[3:4] == ["s3"] for line in state[2:] if line)
            conn = show_servers_conn(other, config, ["be"])
            assert "be/s3 " not in conn and "be/s4 " in conn
            # A tracker is deletable; what it tracked stays pinned (as HAProxy).
            assert delete(stats, "del server be2/s3", config) == DELETED
            assert delete(stats, "del server be/s5", config) == pinned
            assert delete(stats, "del server be/s3", config) == NO_SUCH_SERVER
            # The name is free again: `add server` takes it, with the lowest free id.
            assert add(stats, config, "add server be/s3 127.0.0.1:9") == REGISTERED
            again = other.layout.server("be", "s3")
            assert again.dynamic and again.sid == 3
            state = show_servers_state(other, config, ["be"]).split("\n")
            assert [line.split()[3] for line in state[2:] if line] == [
                "s1", "s2", "s4", "s5", "s3"
            ]  # fmt: skip
            assert show_servers_conn(other, config, ["be"]).count("be/s3 ") == 1
            stats.write_admin(again, admin_state=FMAINT)
            assert delete(stats, "del server be/s3", config) == DELETED
            assert delete(stats, "del server be/s3", config) == NO_SUCH_SERVER
        finally:
            other.close()
    finally:
        stats.close()


def test_del_configured_server_needs_a_spare_record(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONFIG).config
    stats = create_table(layout_for(config, 1, spares=1))
    try:
        assert add(stats, config, "add server be/a 127.0.0.1:1") == REGISTERED
        stats.write_admin(stats.layout.server("be", "s1"), admin_state=FMAINT)
        answer = delete(stats, "del server be/s1", config)
        assert answer.startswith("No spare server row left") and "record the deletion" in answer
        assert stats.layout.server("be", "s1")
    finally:
        stats.close()


def test_agent_check_starts_off_until_enable_agent(table) -> None:
    stats, config = table
    line = "add server be/a 127.0.0.1:1 agent-check agent-port 2 agent-inter 500 check"
    assert add(stats, config, line) == REGISTERED
    slot = stats.layout.server("be", "a")
    assert slot.agent and slot.checked
    assert stats.read_health(slot).check_flags == HEALTH_OFF | AGENT_OFF
    assert add(stats, config, "add server be/b 127.0.0.1:1 send-proxy-v2 slowstart 5s") == (
        REGISTERED
    )
    plain = stats.layout.server("be", "b")
    assert not plain.agent and not plain.checked
    assert stats.read_health(plain).check_flags == 0
    # `track` needs a checked target (tests/unit/test_dynamic_track.py)
    assert add(stats, config, "add server be/c 127.0.0.1:1 track s1") == (
        "unable to use be/s1 for tracking as it does not have any check nor agent enabled.\n\n"
    )
