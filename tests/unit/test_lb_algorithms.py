"""The key-less `balance` algorithms, the farm's backup rules, exclusion and the factory."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.lb import (
    ALGORITHMS,
    CONNECT,
    NO_SERVER,
    QUEUE_BACKEND,
    QUEUE_SERVER,
    Algorithm,
    Farm,
    First,
    Hdr,
    LbServer,
    LeastConn,
    Random,
    RoundRobin,
    SmoothScheduler,
    StaticRoundRobin,
    algorithm_for_proxy,
    assign_server,
    make_algorithm,
    weight_map,
)
from tests.helpers import TIMEOUTS, load_text

WEIGHTS = (1, 2, 3, 10, 0)


def make_servers(*weights: int, **options: int) -> list[LbServer]:
    return [
        LbServer(f"s{index}", index + 1, initial_weight=weight, **options)  # type: ignore[arg-type]
        for index, weight in enumerate(weights)
    ]


def build(name: str, servers: list[LbServer], seed: int = 7, **balance: object) -> Algorithm:
    return make_algorithm({"algorithm": name, **balance}, (), servers, random.Random(seed))


def picks(algorithm: Algorithm, count: int, key: bytes | None = None) -> Counter[str]:
    counter: Counter[str] = Counter()
    for _ in range(count):
        server = algorithm.pick(key)
        assert server is not None
        counter[server.name] += 1
    return counter


# -- weighted distributions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roundrobin", "static-rr", "random"])
def test_weighted_distribution_matches_weights_within_two_percent(name: str) -> None:
    servers = make_servers(*WEIGHTS)
    counts = picks(build(name, servers), 10_000)
    total = sum(WEIGHTS)
    for server, weight in zip(servers, WEIGHTS, strict=True):
        assert abs(counts[server.name] / 10_000 - weight / total) <= 0.02, counts
    assert counts["s4"] == 0  # weight 0 never chosen


@pytest.mark.parametrize("name", ["roundrobin", "static-rr"])
def test_round_robins_are_exact_over_each_cycle(name: str) -> None:
    counts = picks(build(name, make_servers(*WEIGHTS)), 16 * 50)
    assert [counts[f"s{i}"] for i in range(4)] == [50, 100, 150, 500]


def test_smooth_roundrobin_interleaves() -> None:
    algorithm = build("roundrobin", make_servers(5, 1, 1))
    letters = "".join("abc"[algorithm.pick().id - 1] for _ in range(700))  # type: ignore[union-attr]
    assert letters[:7].count("a") == 5
    assert "aaaa" not in letters  # never even 4 in a row, let alone 5
    for start in range(0, 700, 7):
        assert sorted(letters[start : start + 7]) == sorted("aaaaabc")


def test_roundrobin_weight_change_takes_effect_at_once() -> None:
    servers = make_servers(1, 1)
    algorithm = build("roundrobin", servers)
    assert picks(algorithm, 1000) == {"s0": 500, "s1": 500}
    servers[1].weight = 3
    algorithm.server_changed(servers[1])
    counts = picks(algorithm, 4000)
    assert abs(counts["s1"] - 3000) <= 2
    servers[1].weight = 0
    algorithm.server_changed(servers[1])
    assert picks(algorithm, 10) == {"s0": 10}


def test_roundrobin_server_down_and_back() -> None:
    servers = make_servers(1, 1, 1)
    algorithm = build("roundrobin", servers)
    servers[0].usable = False
    algorithm.server_changed(servers[0])
    assert set(picks(algorithm, 30)) == {"s1", "s2"}
    servers[0].usable = True
    algorithm.server_changed(servers[0])
    counts = picks(algorithm, 300)
    assert all(abs(counts[name] - 100) <= 2 for name in ("s0", "s1", "s2"))


def test_roundrobin_many_servers_stays_fair() -> None:
    servers = make_servers(*[1 + i % 7 for i in range(500)])
    algorithm = build("roundrobin", servers)
    total = sum(s.initial_weight for s in servers)
    counts = picks(algorithm, total)
    assert all(counts[s.name] == s.initial_weight for s in servers)


def test_static_rr_ignores_weight_changes_other_than_zero() -> None:
    servers = make_servers(1, 1)
    algorithm = build("static-rr", servers)
    servers[1].weight = 5
    algorithm.server_changed(servers[1])
    assert picks(algorithm, 100) == {"s0": 50, "s1": 50}
    servers[1].weight = 0
    algorithm.server_changed(servers[1])
    assert picks(algorithm, 10) == {"s0": 10}
    assert not algorithm.dynamic


# -- leastconn ----------------------------------------------------------------------------------


def test_leastconn_picks_the_least_loaded() -> None:
    servers = make_servers(1, 1, 1)
    algorithm = build("leastconn", servers)
    for server, conns in zip(servers, (5, 2, 7), strict=True):
        server.cur_conns = conns
        algorithm.load_changed(server)
    assert algorithm.pick() is servers[1]
    servers[1].pending = 4  # queued requests count as load
    algorithm.load_changed(servers[1])
    assert algorithm.pick() is servers[0]


def test_leastconn_respects_weights() -> None:
    servers = make_servers(1, 3)
    algorithm = build("leastconn", servers)
    for _ in range(400):
        server = algorithm.pick()
        assert server is not None
        algorithm.take(server)
    assert abs(servers[0].cur_conns - 100) <= 1
    assert abs(servers[1].cur_conns - 300) <= 1


def test_leastconn_round_robins_among_equals() -> None:
    servers = make_servers(1, 1, 1)
    algorithm = build("leastconn", servers)
    seen = []
    for _ in range(9):
        server = algorithm.pick()
        assert server is not None
        algorithm.take(server)
        algorithm.release(server)
        seen.append(server.name)
    assert Counter(seen) == {"s0": 3, "s1": 3, "s2": 3}
    assert seen[:3] == seen[3:6]


def test_leastconn_corrects_a_load_that_grew_unannounced() -> None:
    servers = make_servers(1, 1)
    algorithm = build("leastconn", servers)
    first = algorithm.pick()
    assert first is not None
    first.cur_conns = 10  # no load_changed(): the pick notices on its own
    assert algorithm.pick() is not first


def test_leastconn_queues_on_a_full_server_only_with_maxqueue() -> None:
    servers = make_servers(1, 1, maxconn=1)
    algorithm = build("leastconn", servers)
    for server in servers:
        algorithm.take(server)
    assert algorithm.pick() is None  # both full, no maxqueue: the backend queue
    servers[0].maxqueue = 2
    assert algorithm.pick() is servers[0]


# -- first --------------------------------------------------------------------------------------


def test_first_fills_servers_in_id_order_up_to_maxconn() -> None:
    servers = [LbServer(f"id{n}", n, maxconn=2) for n in (3, 1, 2)]
    algorithm = build("first", servers)
    order = []
    for _ in range(6):
        server = algorithm.pick()
        assert server is not None
        algorithm.take(server)
        order.append(server.id)
    assert order == [1, 1, 2, 2, 3, 3]
    assert algorithm.pick() is None
    assert assign_server(algorithm).action == QUEUE_BACKEND
    algorithm.release(servers[0])  # id 3
    assert algorithm.pick() is servers[0]


def test_first_without_maxconn_always_uses_the_first() -> None:
    algorithm = build("first", make_servers(1, 1, 1))
    assert picks(algorithm, 20) == {"s0": 20}


# -- random -------------------------------------------------------------------------------------


def test_random_prefers_the_less_loaded_of_two_draws() -> None:
    servers = make_servers(1, 1)
    servers[0].cur_conns = 50
    counts = picks(build("random", servers, draws=2), 2000)
    # s1 wins unless both draws are s0 (a quarter of the time).
    assert 0.20 <= counts["s0"] / 2000 <= 0.30
    counts = picks(build("random", servers, draws=1), 2000)
    assert 0.45 <= counts["s0"] / 2000 <= 0.55


def test_random_is_reproducible_with_an_injected_generator() -> None:
    def sequence(seed: int) -> list[str]:
        algorithm = build("random", make_servers(1, 2, 3), seed=seed)
        return [algorithm.pick().name for _ in range(50)]  # type: ignore[union-attr]

    assert sequence(3) == sequence(3)
    assert sequence(3) != sequence(4)


# -- backups and exclusion ----------------------------------------------------------------------


def backup_farm(allbackups: bool) -> tuple[list[LbServer], Farm]:
    servers = [
        LbServer("a", 1),
        LbServer("b", 2),
        LbServer("bk3", 4, backup=True, initial_weight=1),
        LbServer("bk2", 3, backup=True, initial_weight=3),
    ]
    return servers, Farm(servers, allbackups=allbackups)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_backups_serve_only_when_no_active_server_is_usable(name: str) -> None:
    servers, farm = backup_farm(allbackups=False)
    algorithm = make_algorithm({"algorithm": name}, (), farm, random.Random(1))
    key = b"10.0.0.1"
    assert {algorithm.pick(key).name for _ in range(20)} <= {"a", "b"}  # type: ignore[union-attr]
    for server in servers[:2]:
        server.usable = False
        algorithm.server_changed(server)
    assert {algorithm.pick(key).name for _ in range(20)} == {"bk2"}  # type: ignore[union-attr]
    servers[3].weight = 0  # bk2 leaves: the next backup by id takes over
    algorithm.server_changed(servers[3])
    assert algorithm.pick(key) is servers[2]
    servers[0].usable = True
    algorithm.server_changed(servers[0])
    assert algorithm.pick(key) is servers[0]


def test_allbackups_balances_over_every_backup() -> None:
    servers, farm = backup_farm(allbackups=True)
    algorithm = make_algorithm({}, (), farm, random.Random(1))
    for server in servers[:2]:
        server.usable = False
        algorithm.server_changed(server)
    assert picks(algorithm, 400) == {"bk3": 100, "bk2": 300}
    assert farm.serving() == (servers[3], servers[2])


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_exclude_avoids_the_failed_server(name: str) -> None:
    servers = make_servers(1, 1, 1)
    algorithm = build(name, servers)
    for n in range(50):
        chosen = algorithm.pick(b"key%d" % n, exclude={servers[0]})
        assert chosen is not None and chosen is not servers[0]
    assert algorithm.pick(b"key", exclude=set(servers)) is None
    assert assign_server(algorithm, b"key", exclude=set(servers)).action == NO_SERVER


def test_nothing_eligible_means_no_server() -> None:
    servers = make_servers(1, 1)
    algorithm = build("roundrobin", servers)
    for server in servers:
        server.usable = False
    algorithm.update()
    assert algorithm.pick() is None
    assert assign_server(algorithm).action == NO_SERVER


def test_assign_server_actions() -> None:
    servers = make_servers(1, maxconn=1, maxqueue=1)
    algorithm = make_algorithm({"algorithm": "source"}, (), servers, random.Random(1))
    assert assign_server(algorithm, b"k") == (a := assign_server(algorithm, b"k"))
    assert a.action == CONNECT and a.server is servers[0]
    algorithm.take(servers[0])
    assert assign_server(algorithm, b"k").action == QUEUE_SERVER  # hashed: wait on it
    servers[0].pending = 1  # its queue is full now
    assert assign_server(algorithm, b"k").action == QUEUE_BACKEND


def test_dynamic_maxconn_follows_the_backend_load() -> None:
    servers = make_servers(1, maxconn=10, minconn=2)
    farm = Farm(servers, fullconn=100)
    algorithm = make_algorithm({}, (), farm, random.Random(1))
    servers[0].cur_conns = 2
    assert algorithm.pick() is None  # at no load the limit is minconn
    farm.backend_conns = 50
    assert farm.limit(servers[0]) == 5
    assert algorithm.pick() is servers[0]


def test_servers_added_and_removed_at_runtime() -> None:
    servers = make_servers(1, 1)
    farm = Farm(servers)
    algorithm = make_algorithm({}, (), farm, random.Random(1))
    extra = LbServer("extra", 9, initial_weight=2)
    farm.add_server(extra)
    algorithm.update()
    assert picks(algorithm, 400) == {"s0": 100, "s1": 100, "extra": 200}
    farm.remove_server(servers[0])
    algorithm.update()
    assert set(picks(algorithm, 30)) == {"s1", "extra"}
    with pytest.raises(ValueError, match="same id"):
        farm.add_server(LbServer("clash", 9))
    with pytest.raises(ValueError, match="not part of this farm"):
        algorithm.server_changed(servers[0])


# -- factory ------------------------------------------------------------------------------------


def test_make_algorithm_maps_the_config_shapes() -> None:
    servers = make_servers(1, 1)
    rng = random.Random(1)
    assert isinstance(make_algorithm({}, (), servers, rng), RoundRobin)
    kinds = {
        "static-rr": StaticRoundRobin,
        "leastconn": LeastConn,
        "first": First,
    }
    for name, cls in kinds.items():
        assert type(make_algorithm({"algorithm": name}, (), servers, rng)) is cls
    chosen = make_algorithm({"algorithm": "random", "draws": 3}, (), servers, rng)
    assert isinstance(chosen, Random) and chosen.draws == 3
    hdr = make_algorithm({"algorithm": "hdr", "header": "Host"}, ("consistent",), servers, rng)
    assert isinstance(hdr, Hdr) and hdr.params["header"] == "Host" and hdr.dynamic
    with pytest.raises(ValueError, match="unknown load-balancing algorithm 'rdp-cookie'"):
        make_algorithm({"algorithm": "rdp-cookie"}, (), servers, rng)
    with pytest.raises(ValueError, match="unknown hash method"):
        make_algorithm({"algorithm": "source"}, ("ring",), servers, rng)


def test_every_algorithm_of_the_config_parser_has_a_row() -> None:
    from haproxy_py.config.keywords.proxy_kw import BALANCE_ALGORITHMS

    assert set(BALANCE_ALGORITHMS) == set(ALGORITHMS)
    assert all(spec.usage.startswith("balance ") and spec.summary for spec in ALGORITHMS.values())


def test_algorithm_for_proxy_reads_a_parsed_backend(tmp_path: Path) -> None:
    result = load_text(
        tmp_path,
        "defaults\n    mode http\n" + TIMEOUTS + "backend be\n"
        "    balance hdr(Host)\n"
        "    hash-type consistent djb2 avalanche\n"
        "    option allbackups\n"
        "    fullconn 100\n"
        "    server a 127.0.0.1:1 weight 3 maxconn 10 minconn 2 maxqueue 4\n"
        "    server b 127.0.0.1:2 id 1 backup disabled\n"
        "    server c 127.0.0.1:3\n",
    )
    proxy = result.config.backend("be")
    assert proxy is not None
    algorithm = algorithm_for_proxy(proxy, random.Random(1))
    farm = algorithm.farm
    assert isinstance(algorithm, Hdr) and farm.allbackups and farm.fullconn == 100
    assert [(s.name, s.id) for s in farm.servers] == [("b", 1), ("a", 2), ("c", 3)]
    a = farm.servers[1]
    assert (a.initial_weight, a.maxconn, a.minconn, a.maxqueue) == (3, 10, 2, 4)
    assert not farm.servers[0].usable and farm.servers[0].backup
    assert algorithm.pick(b"example.com") in (farm.servers[1], farm.servers[2])


# -- properties ---------------------------------------------------------------------------------

server_state = st.tuples(
    st.integers(0, 5),  # weight
    st.booleans(),  # usable
    st.booleans(),  # backup
    st.integers(0, 3),  # maxconn
    st.integers(0, 3),  # cur_conns
    st.integers(0, 2),  # maxqueue
    st.integers(0, 2),  # pending
)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ALGORITHMS)),
    states=st.lists(server_state, min_size=1, max_size=6),
    changes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.booleans()), max_size=6),
    excluded=st.sets(st.integers(0, 5), max_size=3),
    allbackups=st.booleans(),
    hashing=st.sampled_from([(), ("consistent",)]),
)
def test_pick_never_returns_a_server_it_must_not(
    name: str,
    states: list[tuple[int, bool, bool, int, int, int, int]],
    changes: list[tuple[int, int, bool]],
    excluded: set[int],
    allbackups: bool,
    hashing: tuple[str, ...],
) -> None:
    servers = [
        LbServer(f"s{i}", i + 1, initial_weight=w, usable=u, backup=b, maxconn=m,
                 cur_conns=c, maxqueue=q, pending=p)
        for i, (w, u, b, m, c, q, p) in enumerate(states)
    ]  # fmt: skip
    farm = Farm(servers, allbackups=allbackups)
    algorithm = make_algorithm({"algorithm": name}, hashing, farm, random.Random(0))
    for index, weight, usable in changes:  # runtime changes, announced one by one
        server = servers[index % len(servers)]
        server.weight, server.usable = weight, usable
        algorithm.server_changed(server)
    exclude = {servers[i] for i in excluded if i < len(servers)}
    serving = set(farm.serving())
    for n in range(5):
        chosen = algorithm.pick(b"k%d" % n, exclude)
        if chosen is None:
            continue
        assert chosen not in exclude
        assert chosen.usable and chosen.weight > 0
        assert chosen in serving  # never a backup while an active server is eligible
        assert not farm.is_saturated(chosen)


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.integers(1, 20), min_size=1, max_size=8),
    changes=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 7), st.integers(0, 20)), max_size=10
    ),
)
def test_scheduler_settles_on_the_new_weights_without_a_burst(
    weights: list[int], changes: list[tuple[int, int, int]]
) -> None:
    scheduler: SmoothScheduler[int] = SmoothScheduler()
    for member, weight in enumerate(weights):
        scheduler.set(member, weight, member)
    for served, member, weight in changes:
        for _ in range(served):
            scheduler.next()
        scheduler.set(member % len(weights), weight, member % len(weights))
    if not scheduler.total:
        assert scheduler.next() is None
        return
    expected = {member: scheduler.weight(member) for member in scheduler.members()}
    counts = Counter(scheduler.next() for _ in range(3 * scheduler.total))
    assert set(counts) == set(expected)
    assert all(abs(counts[m] - 3 * w) <= 2 for m, w in expected.items())


@given(st.lists(st.integers(0, 300), max_size=12))
def test_weight_map_holds_each_member_weight_times(weights: list[int]) -> None:
    table = weight_map(list(enumerate(weights)))
    counts = Counter(table)
    assert all(counts[m] == w for m, w in enumerate(weights))
    assert len(table) == sum(weights)
