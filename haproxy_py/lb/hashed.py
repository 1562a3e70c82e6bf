"""Hash-based algorithms: source, uri, url_param and hdr, over a map or a consistent ring.

They all take a key from the caller (the client address bytes, the URI part, the parameter
value, the header value), hash it with the `hash-type` function and look the hash up:
- map-based: the static weight map (as static-rr's), indexed by hash modulo the total weight;
  runtime weights only switch servers on or off, and any change remaps most keys;
- consistent: a ring of points, `weight * points_per_weight` per server, placed by hashing the
  server's id and the point's number (rings agree across load balancers given equal ids); a
  key goes to the first point at or after its hash (binary search). Weights are dynamic, and
  removing a server only moves the keys it had.
A missing key (None) falls back to walking the map or the ring in turn, i.e. round robin, as
HAProxy does when the data is absent. A saturated or excluded server is passed over for the
next one along the map or ring.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import Any

from haproxy_py.lb.algorithms import SKIP_SATURATED, Accept, Algorithm, MapPool, Pool
from haproxy_py.lb.hashing import MASK32, HashType, avalanche
from haproxy_py.lb.server import Farm, LbServer

RING_BUDGET = 1 << 18  # points a ring aims at, at the configured weights
# A ring entry packs (point << 36) | (point number << 20) | the server's farm position.
_ORDER_BITS = 20
_ORDER_MASK = (1 << _ORDER_BITS) - 1
_NUMBER_MASK = 0xFFFF
_MAX_POINTS = _NUMBER_MASK + 1
_POINT_SHIFT = _ORDER_BITS + 16


def points_per_weight(weights: list[int]) -> int:
    """Ring points per unit of weight, fixed from the configured weights so that every load
    balancer with the same servers builds the same ring: more for small weights (a smoother
    ring), fewer for large ones, keeping a server under 4096 points and the ring near 2**18."""
    largest, total = max(weights, default=1) or 1, sum(weights) or 1
    return min(64, max(16, min(4096 // largest, RING_BUDGET // total)))


def source_key(address: str) -> bytes:
    """The key `balance source` hashes: the client's address in network byte order."""
    return ipaddress.ip_address(address).packed


class _RingPool(Pool):
    """The consistent-hash ring: one sorted list of ints, (point, point number, server order).

    The ring keeps every point a server has had; a point is live while its server is a member
    and its number is below the server's current point count. Lookups step over dead points,
    so a server going down or coming back is O(1), and a weight change only inserts the points
    the server never had. Dead points are swept out when they make up half of the ring.
    """

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.members: dict[LbServer, int] = {}  # member -> live point count
        self._placed: dict[LbServer, int] = {}  # server -> points of it in the ring
        self._owners: dict[int, LbServer] = {}  # order -> server
        self._ring: list[int] = []
        self._live = 0  # live points in the ring
        self._cursor = 0

    def _entries(self, server: LbServer, order: int, first: int, count: int) -> list[int]:
        base = server.id << 16
        return [
            (avalanche((base + n) & MASK32) << _POINT_SHIFT) | (n << _ORDER_BITS) | order
            for n in range(first, count)
        ]

    def set(self, server: LbServer, weight: int, order: int) -> None:
        count = min(weight * self.factor, _MAX_POINTS) if weight > 0 else 0
        self._live += count - self.members.pop(server, 0)
        if count:
            self.members[server] = count
        placed = self._placed.get(server, 0)
        self._owners[order] = server  # positions only change through rebuild()
        if count > placed:
            added = self._entries(server, order, placed, count)
            self._placed[server] = count
            if len(added) <= 32:
                for entry in added:
                    insort(self._ring, entry)
            else:
                self._ring.extend(added)
                self._ring.sort()  # two sorted runs: a linear merge
        if len(self._ring) > 1024 and self._live * 2 < len(self._ring):
            self._sweep()

    def _sweep(self) -> None:
        members, owners = self.members, self._owners
        self._ring = [
            v
            for v in self._ring
            if ((v >> _ORDER_BITS) & _NUMBER_MASK) < members.get(owners[v & _ORDER_MASK], 0)
        ]
        self._placed = dict(members)

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        self.members, self._placed, self._owners, self._ring, self._live = {}, {}, {}, [], 0
        for server, weight, order in members:
            count = min(weight * self.factor, _MAX_POINTS) if weight > 0 else 0
            self._owners[order] = server
            if count:
                self.members[server] = self._placed[server] = count
                self._live += count
                self._ring.extend(self._entries(server, order, 0, count))
        self._ring.sort()

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        ring, members, owners = self._ring, self.members, self._owners
        size = len(ring)
        if not members:
            return None
        start = self._cursor if key is None else bisect_left(ring, key << _POINT_SHIFT)
        refused: set[LbServer] = set()
        for step in range(size):
            index = (start + step) % size
            entry = ring[index]
            server = owners[entry & _ORDER_MASK]
            if server in refused or ((entry >> _ORDER_BITS) & _NUMBER_MASK) >= members.get(
                server, 0
            ):
                continue  # refused already, or a dead point
            if accept(server):
                if key is None:
                    self._cursor = index + 1
                return server
            refused.add(server)
            if len(refused) == len(members):
                break
        return None


class HashAlgorithm(Algorithm):
    """The shared hash path; subclasses only name the key the caller must provide."""

    skip = SKIP_SATURATED

    def __init__(
        self, farm: Farm, params: Mapping[str, Any] | None, hash_type: HashType | None = None
    ) -> None:
        self.hash_type = hash_type or HashType()
        self.hasher = self.hash_type.hasher()
        self.dynamic = self.hash_type.consistent
        self.points_per_weight = points_per_weight([s.initial_weight for s in farm.servers])
        super().__init__(farm, params)

    def _new_pool(self) -> Pool:
        if self.hash_type.consistent:
            return _RingPool(self.points_per_weight)
        return MapPool()

    def _hash(self, key: bytes | None) -> int | None:
        return None if key is None else self.hasher(key)


class Source(HashAlgorithm):
    """Key: the client address bytes (see `source_key`)."""

    name = "source"


class Uri(HashAlgorithm):
    """Key: the URI, cut by the caller per `whole`, `len` and `depth` (in `params`)."""

    name = "uri"


class UrlParam(HashAlgorithm):
    """Key: the value of the query parameter `params["param"]`."""

    name = "url_param"


class Hdr(HashAlgorithm):
    """Key: the value of the header `params["header"]`."""

    name = "hdr"
