"""What to do with a new request: connect, wait on a server, wait on the backend, or give up.

This is the decision HAProxy takes after load balancing, written once so that TCP and HTTP
sessions share it: a server with a free slot is connected to; a designated server that is full
but whose queue has room (hashing, leastconn with maxqueue, random) holds the request in its
own queue; when every server is full, the request waits in the backend queue; when no server
is eligible at all (or all eligible ones are excluded), there is nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from haproxy_py.lb.algorithms import Algorithm
from haproxy_py.lb.server import LbServer

CONNECT = "connect"
QUEUE_SERVER = "queue-server"
QUEUE_BACKEND = "queue-backend"
NO_SERVER = "no-server"


@dataclass(frozen=True, slots=True)
class Assignment:
    action: str  # CONNECT, QUEUE_SERVER, QUEUE_BACKEND or NO_SERVER
    server: LbServer | None = None


def assign_server(
    algorithm: Algorithm, key: bytes | None = None, exclude: Collection[LbServer] = ()
) -> Assignment:
    """Pick a server and say what the caller does next (it still calls `take()` on connect)."""
    farm = algorithm.farm
    server = algorithm.pick(key, exclude)
    if server is None:
        if not farm.available:
            return Assignment(NO_SERVER)
        if exclude and all(s in exclude for s in farm.serving()):
            return Assignment(NO_SERVER)  # O(N), only on this rare path
        return Assignment(QUEUE_BACKEND)
    if not farm.is_full(server):
        return Assignment(CONNECT, server)
    return Assignment(QUEUE_SERVER, server)  # pick() never returns a saturated server
