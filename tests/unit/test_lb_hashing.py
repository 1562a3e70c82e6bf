"""Hash functions, `hash-type`, and the hash-based algorithms (map-based and consistent)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.lb import (
    HASH_FUNCTIONS,
    Algorithm,
    HashType,
    LbServer,
    avalanche,
    crc32,
    djb2,
    make_algorithm,
    sdbm,
    source_key,
    wt6,
)
from haproxy_py.lb.hashed import points_per_weight
from haproxy_py.lb.hashing import as_number

KEYS = [b"key-%d" % n for n in range(10_000)]


# -- the functions, from their textbook definitions ---------------------------------------------


def textbook_sdbm(data: bytes) -> int:
    value = 0
    for byte in data:
        value = (byte + value * 65599) % 2**32
    return value


def textbook_djb2(data: bytes) -> int:
    value = 5381
    for byte in data:
        value = (value * 33 + byte) % 2**32
    return value


@given(st.binary(max_size=64))
def test_sdbm_and_djb2_match_their_definitions(data: bytes) -> None:
    assert sdbm(data) == textbook_sdbm(data)
    assert djb2(data) == textbook_djb2(data)


def test_crc32_is_the_ethernet_crc() -> None:
    assert crc32(b"123456789") == 0xCBF43926  # the standard check value
    assert crc32(b"") == 0


# Outputs of HAProxy 2.6.12's converters sdbm, djb2, wt6, crc32, then the same with their
# avalanche argument set, for each key.
HAPROXY_VALUES = {
    b"a": (97, 177670, 1900802597, 3904355907, 1830748055, 3548763807, 1986649387, 1288200982),
    b"abc": (807794786, 193485963, 2483038440, 891568578,
             659243622, 2235766107, 266135527, 930845320),
    b"hello": (684824882, 261238937, 3538347703, 907060870,
               2061535398, 1119739105, 140457739, 3902247103),
    b"GET /index.html": (925523308, 4186564527, 1285641346, 328503981,
                         2158171870, 312776139, 1321141913, 1113618796),
    b"10.0.0.1": (2328198470, 2449759777, 2819036262, 654229907,
                  1884530463, 4267860023, 3919572834, 2412181287),
    "café".encode(): (410727374, 255161979, 4032769363, 2561491637,
                      893138644, 2101834577, 4018618666, 3526435070),
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(HAPROXY_VALUES))
def test_functions_give_haproxys_values(key: bytes) -> None:
    plain = tuple(f(key) for f in (sdbm, djb2, wt6, crc32))
    mixed = tuple(avalanche(value) for value in plain)
    assert plain + mixed == HAPROXY_VALUES[key]


def test_values_are_32_bit() -> None:
    for function in HASH_FUNCTIONS.values():
        for data in (b"", b"\xff" * 100, b"x"):
            assert 0 <= function(data) < 2**32
            assert 0 <= avalanche(function(data)) < 2**32


def test_none_function_reads_numbers() -> None:
    assert as_number(b"1234") == 1234
    assert as_number(bytes([10, 0, 0, 1])) == 0x0A000001
    assert as_number(bytes(range(8))) == 0x00010203 ^ 0x04050607


# -- hash-type ----------------------------------------------------------------------------------


def test_hash_type_defaults_and_shapes() -> None:
    assert HashType.from_config(()) == HashType("map-based", "sdbm", False)
    assert HashType.from_config(("map-based",)) == HashType("map-based", "sdbm", False)
    # consistent without a function: sdbm with avalanche; with one, avalanche only if asked.
    assert HashType.from_config(("consistent",)) == HashType("consistent", "sdbm", True)
    assert HashType.from_config(("consistent", "djb2")) == HashType("consistent", "djb2", False)
    assert HashType.from_config(("map-based", "wt6", "avalanche")).avalanche
    hasher = HashType.from_config(("map-based", "crc32", "avalanche")).hasher()
    assert hasher(b"abc") == 930845320
    for bad in (("ring",), ("consistent", "md5"), ("consistent", "sdbm", "twice")):
        with pytest.raises(ValueError):
            HashType.from_config(bad)


def test_source_key_is_the_packed_address() -> None:
    assert source_key("10.0.0.1") == bytes([10, 0, 0, 1])
    assert len(source_key("2001:db8::1")) == 16


def test_ring_points_stay_bounded() -> None:
    assert points_per_weight([1] * 10) == 64
    assert points_per_weight([256, 1]) == 16
    assert points_per_weight([25] * 1000) == 16  # about 2**18 points in all, like HAProxy's 16


# -- the algorithms -----------------------------------------------------------------------------


def farm_of(*weights: int) -> list[LbServer]:
    return [LbServer(f"s{i}", i + 1, initial_weight=w) for i, w in enumerate(weights)]


def mapping(algorithm: Algorithm, keys: list[bytes] = KEYS) -> dict[bytes, str]:
    result = {}
    for key in keys:
        server = algorithm.pick(key)
        assert server is not None
        result[key] = server.name
    return result


def hashed(servers: list[LbServer], *hash_type: str, name: str = "source") -> Algorithm:
    return make_algorithm({"algorithm": name}, hash_type, servers, random.Random(1))


def test_consistent_removal_moves_only_the_removed_servers_keys() -> None:
    servers = farm_of(*[1] * 10)
    algorithm = hashed(servers, "consistent")
    before = mapping(algorithm)
    servers[3].usable = False
    algorithm.server_changed(servers[3])
    after = mapping(algorithm)
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(before[key] == "s3" for key in moved)
    assert moved and len(moved) <= 1.5 * len(KEYS) / 10
    servers[3].usable = True
    algorithm.server_changed(servers[3])
    assert mapping(algorithm) == before  # back exactly as it was


def test_consistent_weight_increase_only_moves_keys_to_that_server() -> None:
    servers = farm_of(1, 1, 1, 1)
    algorithm = hashed(servers, "consistent", "djb2", "avalanche")
    before = mapping(algorithm)
    servers[0].weight = 3
    algorithm.server_changed(servers[0])
    after = mapping(algorithm)
    moved = [key for key in KEYS if before[key] != after[key]]
    assert moved and all(after[key] == "s0" for key in moved)
    assert 0.4 <= Counter(after.values())["s0"] / len(KEYS) <= 0.6  # about 3/6


def test_consistent_rings_are_equal_for_equal_ids() -> None:
    one = mapping(hashed(farm_of(1, 2, 3), "consistent"))
    two = mapping(hashed(list(reversed(farm_of(1, 2, 3))), "consistent"))
    assert one == two


def test_map_based_is_stable_and_balanced_by_weight() -> None:
    servers = farm_of(1, 2, 3, 4)
    first = mapping(hashed(servers, "map-based", "sdbm", "avalanche"))
    again = hashed(servers, "map-based", "sdbm", "avalanche")
    assert mapping(again) == first
    assert mapping(again) == first  # picking changes nothing
    counts = Counter(first.values())
    for server in servers:
        assert abs(counts[server.name] / len(KEYS) - server.initial_weight / 10) <= 0.03


def test_map_based_ignores_runtime_weights_but_not_removal() -> None:
    servers = farm_of(1, 1)
    algorithm = hashed(servers)
    before = mapping(algorithm)
    servers[0].weight = 7
    algorithm.server_changed(servers[0])
    assert mapping(algorithm) == before
    servers[0].weight = 0
    algorithm.server_changed(servers[0])
    assert set(mapping(algorithm).values()) == {"s1"}


@pytest.mark.parametrize("method", ["map-based", "consistent"])
def test_missing_key_falls_back_to_round_robin(method: str) -> None:
    servers = farm_of(1, 3)
    algorithm = hashed(servers, method, name="url_param")
    laps = 4 if method == "map-based" else 1
    per_lap = 4 if method == "map-based" else 4 * algorithm.points_per_weight  # type: ignore[attr-defined]
    counts = Counter(algorithm.pick(None).name for _ in range(per_lap * laps))  # type: ignore[union-attr]
    assert counts["s1"] == 3 * counts["s0"]


@pytest.mark.parametrize("method", ["map-based", "consistent"])
def test_hash_skips_excluded_and_saturated_servers(method: str) -> None:
    servers = farm_of(1, 1, 1)
    algorithm = hashed(servers, method)
    for key in KEYS[:200]:
        home = algorithm.pick(key)
        assert home is not None
        other = algorithm.pick(key, exclude={home})
        assert other is not None and other is not home
        home.maxconn, home.cur_conns, home.maxqueue, home.pending = 1, 1, 1, 1  # saturated
        assert algorithm.pick(key) is other  # the next one along, as for an exclusion
        home.maxconn = home.cur_conns = home.maxqueue = home.pending = 0


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.integers(1, 8), min_size=2, max_size=8),
    removed=st.integers(0, 7),
    function=st.sampled_from(sorted(HASH_FUNCTIONS)),
)
def test_consistent_removal_property(weights: list[int], removed: int, function: str) -> None:
    servers = farm_of(*weights)
    algorithm = hashed(servers, "consistent", function, "avalanche")
    keys = KEYS[:300]
    before = mapping(algorithm, keys)
    gone = servers[removed % len(servers)]
    gone.weight = 0
    algorithm.server_changed(gone)
    after = mapping(algorithm, keys)
    assert all(before[k] == gone.name for k in keys if before[k] != after[k])
    assert gone.name not in after.values()
