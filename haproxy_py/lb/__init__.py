"""Load balancing: server state, the `balance` algorithms, hashing, queues and limits.

Pure and sans-IO: algorithms take a key (bytes, or None) and return a server; clocks (`now`)
and random generators are passed in. The worker owns the `LbServer` records and tells the
algorithm when a server's weight, state or load changes.
"""

from __future__ import annotations

from haproxy_py.lb.algorithms import (
    Algorithm,
    First,
    LeastConn,
    Random,
    RoundRobin,
    StaticRoundRobin,
)
from haproxy_py.lb.assign import (
    CONNECT,
    NO_SERVER,
    QUEUE_BACKEND,
    QUEUE_SERVER,
    Assignment,
    assign_server,
)
from haproxy_py.lb.hashed import HashAlgorithm, Hdr, Source, Uri, UrlParam, source_key
from haproxy_py.lb.hashing import HASH_FUNCTIONS, HashType, avalanche, crc32, djb2, sdbm, wt6
from haproxy_py.lb.queue import (
    BackendQueues,
    PendingQueue,
    Waiter,
    default_fullconn,
    effective_maxconn,
    queue_timeout_ms,
)
from haproxy_py.lb.registry import ALGORITHMS, AlgorithmSpec, algorithm_for_proxy, make_algorithm
from haproxy_py.lb.schedule import SmoothScheduler, weight_map
from haproxy_py.lb.server import Farm, LbServer, farm_from_proxy, servers_from_proxy

__all__ = [
    "ALGORITHMS",
    "CONNECT",
    "HASH_FUNCTIONS",
    "NO_SERVER",
    "QUEUE_BACKEND",
    "QUEUE_SERVER",
    "Algorithm",
    "AlgorithmSpec",
    "Assignment",
    "BackendQueues",
    "Farm",
    "First",
    "HashAlgorithm",
    "HashType",
    "Hdr",
    "LbServer",
    "LeastConn",
    "PendingQueue",
    "Random",
    "RoundRobin",
    "SmoothScheduler",
    "Source",
    "StaticRoundRobin",
    "Uri",
    "UrlParam",
    "Waiter",
    "algorithm_for_proxy",
    "assign_server",
    "avalanche",
    "crc32",
    "default_fullconn",
    "djb2",
    "effective_maxconn",
    "farm_from_proxy",
    "make_algorithm",
    "queue_timeout_ms",
    "sdbm",
    "servers_from_proxy",
    "source_key",
    "weight_map",
    "wt6",
]
