"""The table of `balance` algorithms and the factory that builds one from the config model.

One row per algorithm: its name as written after `balance`, usage, summary, the key the caller
must pass to `pick()`, and how to build it. `make_algorithm` maps `Proxy.balance` (a mapping
such as {"algorithm": "random", "draws": 2}) and `Proxy.hash_type` (a tuple such as
("consistent",)) to an algorithm object over a farm.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from haproxy_py.lb.algorithms import (
    Algorithm,
    First,
    LeastConn,
    Random,
    RoundRobin,
    StaticRoundRobin,
)
from haproxy_py.lb.hashed import Hdr, Source, Uri, UrlParam
from haproxy_py.lb.hashing import HashType
from haproxy_py.lb.server import Farm, LbServer, farm_from_proxy

if TYPE_CHECKING:
    from haproxy_py.config.model import Proxy

Builder = Callable[[Farm, Mapping[str, Any], HashType, random.Random], Algorithm]


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    usage: str
    summary: str
    key: str  # what the caller passes to pick(): "" for nothing
    build: Builder


def _keyless(cls: type[Algorithm]) -> Builder:
    return lambda farm, params, hash_type, rng: cls(farm, params)


ALGORITHMS: Mapping[str, AlgorithmSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            AlgorithmSpec("roundrobin", "balance roundrobin",
                          "servers in turn by weight, smoothly; weights are dynamic", "",
                          _keyless(RoundRobin)),
            AlgorithmSpec("static-rr", "balance static-rr",
                          "servers in turn by weight; runtime weights only 0 or not", "",
                          _keyless(StaticRoundRobin)),
            AlgorithmSpec("leastconn", "balance leastconn",
                          "fewest connections and queued requests per weight", "",
                          _keyless(LeastConn)),
            AlgorithmSpec("first", "balance first",
                          "lowest-id server with a free slot below maxconn", "",
                          _keyless(First)),
            AlgorithmSpec("random", "balance random[(<draws>)]",
                          "least loaded of <draws> weighted random servers (default 2)", "",
                          lambda farm, params, hash_type, rng: Random(farm, params, rng)),
            AlgorithmSpec("source", "balance source",
                          "hash of the client address", "client address bytes",
                          lambda farm, params, hash_type, rng: Source(farm, params, hash_type)),
            AlgorithmSpec("uri", "balance uri [whole] [len <n>] [depth <n>]",
                          "hash of the URI (path part unless whole)", "URI",
                          lambda farm, params, hash_type, rng: Uri(farm, params, hash_type)),
            AlgorithmSpec("url_param", "balance url_param <param>",
                          "hash of a query-string parameter's value", "parameter value",
                          lambda farm, params, hash_type, rng: UrlParam(farm, params, hash_type)),
            AlgorithmSpec("hdr", "balance hdr(<name>)",
                          "hash of a request header's value", "header value",
                          lambda farm, params, hash_type, rng: Hdr(farm, params, hash_type)),
        )
    }
)  # fmt: skip


def make_algorithm(
    balance: Mapping[str, Any],
    hash_type: tuple[str, ...] | list[str],
    servers: Farm | Iterable[LbServer],
    rng: random.Random,
    *,
    allbackups: bool = False,
    fullconn: int = 0,
) -> Algorithm:
    """The algorithm object for a backend's `balance` and `hash-type` settings.

    `servers` is a Farm, or servers to build one with `allbackups` and `fullconn`. An empty
    `balance` is HAProxy's default, roundrobin. Raises ValueError for an unknown algorithm or
    hash type.
    """
    name = balance.get("algorithm", "roundrobin")
    spec = ALGORITHMS.get(name)
    if spec is None:
        raise ValueError(f"unknown load-balancing algorithm '{name}'")
    farm = (
        servers
        if isinstance(servers, Farm)
        else Farm(servers, allbackups=allbackups, fullconn=fullconn)
    )
    params = {k: v for k, v in balance.items() if k != "algorithm"}
    return spec.build(farm, params, HashType.from_config(hash_type), rng)


def algorithm_for_proxy(
    proxy: Proxy, rng: random.Random, *, fullconn: int | None = None
) -> Algorithm:
    """make_algorithm over a backend's own servers; `fullconn` overrides the proxy's value
    (pass `default_fullconn(...)` when the backend sets none)."""
    farm = farm_from_proxy(proxy, fullconn=fullconn)
    return make_algorithm(proxy.balance, proxy.hash_type, farm, rng)
