"""Runtime-API writes, pure parts: map/ACL commands on a MapCache (answers as HAProxy 2.6
gives them over socat), live lookups rebuilt on change, and `set server .. addr` /
`set maxconn server` parsing and their table writes."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from haproxy_py.runtime_api.admin import AdminOp, apply_op, parse_admin
from haproxy_py.runtime_api.maps import entry_id, find_ref, is_write, run_map_command
from haproxy_py.sample.maps import MapCache
from haproxy_py.stats.layout import unpack_address
from tests.helpers import stats_table

FILES = {
    "/m/hosts.map": ["foo.com be1", "bar.com be2", "# comment", ""],
    "/m/ips.acl": ["10.0.0.0/8", "192.168.1.1"],
}


@pytest.fixture
def cache() -> tuple[MapCache, object, object]:
    maps = MapCache(lambda path: FILES[path])
    ips = maps.acl_lookup([], ["/m/ips.acl"], "ip", False, as_map=False)  # ref #0
    maps.where = "file 'h.cfg' line 12"  # the compiler names the statement being compiled
    hosts = maps.map_lookup("/m/hosts.map", "str", "str")  # ref #1
    return maps, ips, hosts


def ask(maps: MapCache, line: str) -> str:
    return run_map_command(maps, line.split())


def test_lists_and_dumps(cache) -> None:
    maps, _ips, _hosts = cache
    assert ask(maps, "show map") == (
        "# id (file) description\n1 (/m/hosts.map) pattern loaded from file '/m/hosts.map'"
        " used by map at file 'h.cfg' line 12. curr_ver=0 next_ver=0 entry_cnt=2\n\n"
    )
    assert ask(maps, "show acl").startswith("# id (file) description\n0 (/m/ips.acl) ")
    ref = find_ref(maps, "/m/hosts.map", "map")
    first, second = (entry_id(ref, eid) for eid, _k, _v in ref.entries)
    assert ask(maps, "show map #1") == f"{first} foo.com be1\n{second} bar.com be2\n\n"
    assert ask(maps, "show map /m/hosts.map") == ask(maps, "show map #1")
    assert ask(maps, "show map #0") == "Unknown map identifier. Please use #<id> or <file>.\n\n"
    assert ask(maps, "show acl #1") == "Unknown ACL identifier. Please use #<id> or <file>.\n\n"


def test_get(cache) -> None:
    maps, _ips, _hosts = cache
    assert ask(maps, "get map #1 foo.com") == (
        'type=str, case=sensitive, found=yes, idx=tree, key="foo.com", value="be1", type="str"\n\n'
    )
    assert ask(maps, "get map #1 nope") == "type=str, case=sensitive, found=no\n\n"
    assert ask(maps, "get acl #0 10.1.2.3") == (
        'type=ip, case=sensitive, match=yes, idx=tree, pattern="10.0.0.0/8"\n\n'
    )
    assert ask(maps, "get acl #0 11.1.1.1") == "type=ip, case=sensitive, match=no\n\n"
    assert ask(maps, "get map") == "Missing map identifier and/or key.\n\n"
    assert ask(maps, "get acl #0") == "Missing ACL identifier and/or key.\n\n"


def test_writes_change_the_live_lookups(cache) -> None:
    maps, ips, hosts = cache
    assert hosts(b"baz.com") is None
    assert ask(maps, "add map #1 baz.com be2") == "\n"
    assert hosts(b"baz.com") == b"be2"
    assert ask(maps, "set map #1 baz.com be1") == "\n"
    assert hosts(b"baz.com") == b"be1"
    assert ask(maps, "del map #1 baz.com") == "\n"
    assert hosts(b"baz.com") is None
    assert ips(ip_address("1.2.3.4")) is None
    assert ask(maps, "add acl /m/ips.acl 1.2.3.4") == "\n"
    assert ips(ip_address("1.2.3.4")) is True
    assert ask(maps, "clear acl #0") == "\n"
    assert ips(ip_address("10.1.1.1")) is None
    assert ask(maps, "show acl #0") == "\n"


def test_entry_ids_address_one_entry(cache) -> None:
    maps, _ips, hosts = cache
    ask(maps, "add map #1 foo.com other")  # a second foo.com
    ref = find_ref(maps, "/m/hosts.map", "map")
    newest = entry_id(ref, ref.entries[-1][0])
    assert ask(maps, f"set map #1 #{newest} third") == "\n"
    assert [v for _e, k, v in ref.entries if k == "foo.com"] == ["be1", "third"]
    assert ask(maps, f"del map #1 #{newest}") == "\n"
    assert ask(maps, f"del map #1 #{newest}") == "Key not found.\n\n"
    assert ask(maps, "set map #1 #0x12 x") == "key or pattern not found.\n\n"
    assert hosts(b"foo.com") == b"be1"
    ask(maps, "add map #1 foo.com again")
    assert ask(maps, "del map #1 foo.com") == "\n"  # every entry of that key
    assert hosts(b"foo.com") is None


def test_errors_change_nothing(cache) -> None:
    maps, ips, _hosts = cache
    before = list(find_ref(maps, "/m/ips.acl", "acl").entries)
    assert ask(maps, "add acl #0 notanip") == "'notanip' is not a valid IPv4 or IPv6 address.\n\n"
    assert find_ref(maps, "/m/ips.acl", "acl").entries == before
    assert ips(ip_address("10.0.0.1")) is True
    assert ask(maps, "add map #1 k") == (
        "'add map' expects three parameters (map identifier, key and value) or one parameter"
        " (map identifier) and a payload\n\n"
    )
    assert ask(maps, "add acl #0") == (
        "'add acl' expects two parameters: ACL identifier and pattern.\n\n"
    )
    assert ask(maps, "add map /nope a b") == (
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    )
    assert ask(maps, "set map #1 a") == (
        "'set map' expects three parameters: map identifier, key and value.\n\n"
    )
    assert ask(maps, "set map #1 nokey v") == "entry not found.\n\n"
    assert (
        ask(maps, "del map #1")
        == "This command expects two parameters: map identifier and key.\n\n"
    )
    assert (
        ask(maps, "del acl #0")
        == "This command expects two parameters: ACL identifier and key.\n\n"
    )
    assert ask(maps, "del map #1 nokey") == "Key not found.\n\n"
    assert ask(maps, "clear map") == "Missing map identifier.\n\n"
    assert ask(maps, "clear acl") == "Missing ACL identifier.\n\n"


def test_dry_run_checks_without_changing(cache) -> None:
    maps, _ips, hosts = cache
    assert run_map_command(maps, ["add", "map", "#1", "new.com", "be2"], commit=False) == "\n"
    assert hosts(b"new.com") is None
    assert "new.com" not in ask(maps, "show map #1")
    assert is_write(["clear", "acl", "#0"]) and not is_write(["show", "map"])


CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:19690
    default_backend be
backend be
    server s1 127.0.0.1:19691
"""


def test_set_server_addr_and_maxconn(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):

        def configured(backend: str, server: str) -> tuple[str, int]:
            return ("127.0.0.1", 19691)

        def parse(line: str) -> AdminOp | str:
            return parse_admin(table, line.split(), configured)

        by = "by 'stats socket command'\n\n"
        assert parse("set server be/s1 addr") == (
            "set server <b>/<s> addr requires an address and optionally a port.\n\n"
        )
        assert parse("set server be/s1 addr not-an-ip") == f"Invalid addr 'not-an-ip' {by}"
        assert parse("set server x/y addr 1.2.3.4") == "No such backend.\n\n"
        op = parse("set server be/s1 addr 127.0.0.2 port 19692")
        assert isinstance(op, AdminOp)
        assert op.answer == (
            f"IP changed from '127.0.0.1' to '127.0.0.2', port changed from '19691' to '19692' {by}"
        )
        apply_op(table, config, op)
        admin = table.read_admin(table.layout.server("be", "s1"))
        assert unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo) == "127.0.0.2"
        assert admin.port == 19692 and admin.addr_gen == 1
        again = parse("set server be/s1 addr 127.0.0.2 port abc")
        assert isinstance(again, AdminOp)
        assert again.answer == (
            f"no need to change the addr, problem converting port 'abc' to an int {by}"
        )
        assert parse("set maxconn server be/s1") == "Require <maxconn>.\n\n"
        assert parse("set maxconn server be/s1 x") == (
            "maxconn string empty or preceded by garbage\n"
        )
        assert parse("set maxconn server be/zz 3") == "No such server.\n\n"
        op = parse("set maxconn server be/s1 20")
        assert op == AdminOp("be", "s1", maxconn=20)
        apply_op(table, config, op)
        assert table.read_admin(table.layout.server("be", "s1")).maxconn == 20


def test_bad_weights_change_nothing(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, _config):
        assert parse_admin(table, ["set", "weight", "be/s1", "-5"]) == (
            "Absolute weight can only be between 0 and 256 inclusive.\n\n"
        )
        assert parse_admin(table, ["set", "server", "be/s1", "weight", "-5"]) == (
            "Absolute weight can only be between 0 and 256 inclusive.\n\n"
        )
        assert table.read_admin(table.layout.server("be", "s1")).uweight == 1


def test_one_file_as_map_and_as_pattern_file_is_read_both_ways() -> None:
    maps = MapCache(lambda path: ["foo.com be1"])
    lookup = maps.map_lookup("/m/both", "str", "str")
    patterns = maps.acl_lookup([], ["/m/both"], "str", False, as_map=False)
    assert lookup(b"foo.com") == b"be1"
    assert patterns(b"foo.com be1") is True and patterns(b"foo.com") is None
    assert run_map_command(maps, ["add", "map", "/m/both", "bar.com", "be2"]) == "\n"
    assert lookup(b"bar.com") == b"be2" and patterns(b"bar.com") is None
