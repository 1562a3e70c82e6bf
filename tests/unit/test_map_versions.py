"""Versioned map/ACL updates (haproxy_py/runtime_api/map_versions.py through maps.py's
`run_map_command`): `prepare`, `add|clear|show @<ver>`, `commit`, with HAProxy 2.6's answers
and the live lookups switching only at the commit."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from haproxy_py.runtime_api.map_versions import parse_version
from haproxy_py.runtime_api.maps import find_ref, is_write, run_map_command, write_answer
from haproxy_py.sample.maps import MapCache

FILES = {"/m/hosts.map": ["a 1", "b 2"], "/m/ips.acl": ["10.0.0.0/8"]}
UNKNOWN = "Unknown map identifier. Please use #<id> or <file>.\n\n"


@pytest.fixture
def cache():
    maps = MapCache(lambda path: FILES[path])
    ips = maps.acl_lookup([], ["/m/ips.acl"], "ip", False, as_map=False)  # ref #0
    hosts = maps.map_lookup("/m/hosts.map", "str", "str")  # ref #1
    return maps, ips, hosts


def ask(maps: MapCache, line: str) -> str:
    """As every worker runs a write: checked first (nothing changes), then made."""
    words = line.split()
    if is_write(words):
        checked = run_map_command(maps, words, commit=False)
        if checked != "\n":
            return checked
        run_map_command(maps, words, commit=True)
        return write_answer(maps, words)
    return run_map_command(maps, words)


def listing(maps: MapCache) -> str:
    return ask(maps, "show map").splitlines()[1].split(". ", 1)[1]


def test_prepare_fill_commit(cache) -> None:
    maps, _ips, hosts = cache
    assert ask(maps, "prepare map /m/hosts.map") == "New version created: 1\n\n"
    assert ask(maps, "prepare map #1") == "New version created: 2\n\n"
    assert listing(maps) == "curr_ver=0 next_ver=2 entry_cnt=2"
    assert ask(maps, "add map @1 #1 c 3") == "\n"
    assert ask(maps, "add map @2 #1 d 4") == "\n"
    assert hosts(b"c") is None  # not before the commit
    rows = [line.split()[1:] for line in ask(maps, "show map @1 #1").splitlines() if line]
    assert rows == [["c", "3"]]
    assert ask(maps, "show map @0 #1") == ask(maps, "show map #1")  # the current version
    assert ask(maps, "show map @5 #1") == "\n"
    assert ask(maps, "commit map @1 #1") == "\n"
    assert (hosts(b"c"), hosts(b"a")) == (b"3", None)
    assert listing(maps) == "curr_ver=1 next_ver=2 entry_cnt=2"  # version 2's entry is kept
    assert ask(maps, "commit map @1 #1") == "Version number out of range.\n\n"
    assert ask(maps, "commit map @2 #1") == "\n"
    assert (hosts(b"d"), hosts(b"c")) == (b"4", None)
    assert listing(maps) == "curr_ver=2 next_ver=2 entry_cnt=1"


def test_errors(cache) -> None:
    maps, _ips, _hosts = cache
    assert ask(maps, "prepare map") == UNKNOWN
    assert ask(maps, "prepare map nope") == UNKNOWN
    assert ask(maps, "prepare acl nope") == (
        "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
    )
    assert ask(maps, "add map @9 #1 k v") == (
        "Version number in the future, please use 'prepare map' before.\n\n"
    )
    assert ask(maps, "add acl @9 #0 1.2.3.4") == (
        "Version number in the future, please use 'prepare acl' before.\n\n"
    )
    assert ask(maps, "add map @3").startswith("'add map' expects three parameters")
    assert ask(maps, "commit map #1") == "Missing version number.\n\n"
    assert ask(maps, "commit map") == "Missing version number.\n\n"
    assert ask(maps, "commit map @3") == "Missing map identifier.\n\n"
    assert ask(maps, "commit acl @1") == "Missing ACL identifier.\n\n"
    assert ask(maps, "commit map @0 #1") == "Version number out of range.\n\n"
    assert ask(maps, "commit map @9 #1") == "Version number out of range.\n\n"
    assert ask(maps, "commit map @3 nope") == UNKNOWN
    assert ask(maps, "clear map @3") == "Missing map identifier.\n\n"
    assert ask(maps, "clear map @99 #1") == "\n"  # HAProxy: no error either
    for line in ("show map @2", "del map @2 #1 a", "set map @2 #1 a 5", "get map @2 #1 a"):
        assert ask(maps, line) == UNKNOWN, line


def test_acl_version_and_bad_pattern(cache) -> None:
    maps, ips, _hosts = cache
    assert ask(maps, "prepare acl #0") == "New version created: 1\n\n"
    bad = ask(maps, "add acl @1 #0 notanip")
    assert bad == ask(maps, "add acl #0 notanip") != "\n"  # the unversioned path's error
    assert ask(maps, "add acl @1 #0 192.168.0.0/16") == "\n"
    assert ask(maps, "add acl @1 #0 1.2.3.4") == "\n"
    assert ask(maps, "clear acl @1 #0") == "\n"
    assert ask(maps, "show acl @1 #0") == "\n"
    assert ask(maps, "add acl @1 #0 192.168.0.0/16") == "\n"
    assert ips(ip_address("192.168.1.1")) is None
    assert ask(maps, "commit acl @1 #0") == "\n"
    assert ips(ip_address("192.168.1.1")) is True
    assert ips(ip_address("10.1.1.1")) is None
    ref = find_ref(maps, "#0", "acl")
    assert ref is not None and (ref.curr_ver, ref.pending) == (1, {})


def test_version_numbers_as_haproxy_reads_them() -> None:
    assert parse_version("@3") == 3
    assert parse_version("@x") == parse_version("@") == 0
    assert parse_version("@-1") == 0xFFFFFFFF
    assert parse_version("@12abc") == 12
