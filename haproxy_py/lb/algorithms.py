"""The load-balancing algorithms that need no key: roundrobin, static-rr, leastconn, first, random.

Every algorithm is an object over a `Farm` with the same surface:
- `pick(key, exclude)` returns the server for a new request or None (no eligible server, or
  all of them full: the request then waits in the backend queue);
- `server_changed(server)` after a server's weight or usable flag changed (cheap: O(log N) for
  the dynamic algorithms), `update()` after anything else (O(N) rebuild);
- `take(server)` / `release(server)` when a connection starts or ends on a server (they keep
  `cur_conns` and let leastconn reorder), `load_changed(server)` after `pending` moved.
Each algorithm keeps one pool for the active servers and one for the backups (used with
`option allbackups`); the base class picks the group. Hash-based algorithms live in hashed.py.
"""

from __future__ import annotations

import heapq
import itertools
import random
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from haproxy_py.lb.schedule import SmoothScheduler, weight_map
from haproxy_py.lb.server import Farm, LbServer

Accept = Callable[[LbServer], bool]

# Which servers an algorithm refuses besides the excluded ones.
SKIP_FULL = "full"  # any full server: the request rather waits in the backend queue
SKIP_FULL_UNLESS_MAXQUEUE = "full-unless-maxqueue"  # leastconn: a set maxqueue lets it queue there
SKIP_SATURATED = "saturated"  # only servers whose own queue is full too


class Pool:
    """One group's structure (active servers, or backups). Subclasses override all three."""

    def set(self, server: LbServer, weight: int, order: int) -> None:
        """Add, reweight or (weight 0) remove a server."""
        raise NotImplementedError

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        """Start over from (server, weight, order) triples."""
        raise NotImplementedError

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        raise NotImplementedError


class Algorithm:
    """The shared part: groups, eligibility, exclusion and the bookkeeping hooks."""

    name: ClassVar[str] = ""
    dynamic: bool = True  # False: runtime weights only switch a server on or off
    skip: ClassVar[str] = SKIP_FULL

    def __init__(self, farm: Farm, params: Mapping[str, Any] | None = None) -> None:
        self.farm = farm
        self.params = MappingProxyType(dict(params or {}))  # the balance line's arguments
        # Whether this algorithm follows the load (overrides load_changed): leastconn.
        self._load_ordered = type(self).load_changed is not Algorithm.load_changed
        self._active = self._new_pool()
        self._backup = self._new_pool()
        self.update()

    def _new_pool(self) -> Pool:
        raise NotImplementedError

    def _weight(self, server: LbServer) -> int:
        if not server.eligible:
            return 0
        # Static algorithms keep the configured weight (runtime weights only switch on or off).
        return server.weight if self.dynamic else server.initial_weight or server.weight

    # -- changes -----------------------------------------------------------------------------

    def update(self) -> None:
        """Rebuild from the farm after any change (servers added, removed, many changed)."""
        farm = self.farm
        farm.rescan()
        position = farm.position
        self._active.rebuild([(s, self._weight(s), position[s]) for s in farm.active])
        backups = farm.backups if farm.allbackups else ()
        self._backup.rebuild([(s, self._weight(s), position[s]) for s in backups])

    def server_changed(self, server: LbServer) -> None:
        """One server's weight or usable flag changed."""
        farm = self.farm
        farm.refresh(server)
        if server.backup and not farm.allbackups:
            return  # the farm tracks the first backup itself
        pool = self._backup if server.backup else self._active
        pool.set(server, self._weight(server), farm.position[server])

    def take(self, server: LbServer) -> None:
        """A connection to `server` starts."""
        server.cur_conns += 1
        if self._load_ordered:  # (a call per request saved where the load orders nothing)
            self.load_changed(server)

    def release(self, server: LbServer) -> None:
        """A connection to `server` ended."""
        if server.cur_conns > 0:
            server.cur_conns -= 1
        if self._load_ordered:
            self.load_changed(server)

    def load_changed(self, server: LbServer) -> None:
        """`cur_conns` or `pending` changed; only load-ordered algorithms care."""

    # -- choosing ----------------------------------------------------------------------------

    def pick(self, key: bytes | None = None, exclude: Collection[LbServer] = ()) -> LbServer | None:
        """The server for a new request, never one in `exclude`; None if there is none.

        `exclude` is strict: a redispatch that would rather reuse the failed server than fail
        can call again without it. Active servers are used while any is eligible; otherwise
        all eligible backups (`allbackups`) or the first one.
        """
        farm = self.farm
        accept = self._acceptor(exclude)
        if farm.active_count:
            return self._active.pick(self._hash(key), accept)
        if not farm.backup_count:
            return None
        if farm.allbackups:
            return self._backup.pick(self._hash(key), accept)
        first = farm.first_backup()
        return first if first is not None and accept(first) else None

    def _hash(self, key: bytes | None) -> int | None:
        return None  # key-less algorithms ignore the key

    def _acceptor(self, exclude: Collection[LbServer]) -> Accept:
        farm = self.farm
        if self.skip == SKIP_SATURATED:
            return lambda s: s not in exclude and not farm.is_saturated(s)
        if self.skip == SKIP_FULL_UNLESS_MAXQUEUE:
            # A full server still qualifies while its explicit maxqueue has room.
            return lambda s: s not in exclude and (not farm.is_full(s) or s.pending < s.maxqueue)
        return lambda s: s not in exclude and not farm.is_full(s)


# -- roundrobin --------------------------------------------------------------------------------


class _SmoothPool(Pool):
    def __init__(self) -> None:
        self.scheduler: SmoothScheduler[LbServer] = SmoothScheduler()

    def set(self, server: LbServer, weight: int, order: int) -> None:
        self.scheduler.set(server, weight, order)

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        keep = {server for server, weight, _ in members if weight > 0}
        for server in [s for s in self.scheduler.members() if s not in keep]:
            self.scheduler.set(server, 0)
        for server, weight, order in members:
            self.scheduler.set(server, weight, order)

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        return self.scheduler.next(accept)


class RoundRobin(Algorithm):
    """Smooth weighted round robin with dynamic weights, O(log N) per pick and per change."""

    name = "roundrobin"

    def _new_pool(self) -> Pool:
        return _SmoothPool()


# -- static-rr ---------------------------------------------------------------------------------


class MapPool(Pool):
    """A precomputed weight map walked in turn: O(1) per pick, O(W log N) per rebuild.

    Changes only mark the map stale; it is rebuilt on the next pick, so a burst of changes
    costs one rebuild.
    """

    def __init__(self) -> None:
        self.members: dict[LbServer, tuple[int, int]] = {}  # server -> (weight, order)
        self._map: list[LbServer] = []
        self._stale = False
        self._cursor = 0

    def set(self, server: LbServer, weight: int, order: int) -> None:
        if weight > 0:
            if self.members.get(server) != (weight, order):
                self.members[server] = (weight, order)
                self._stale = True
        elif self.members.pop(server, None) is not None:
            self._stale = True

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        self.members = {s: (w, order) for s, w, order in members if w > 0}
        self._stale = True

    def table(self) -> list[LbServer]:
        if self._stale:
            ranked = sorted(self.members.items(), key=lambda item: item[1][1])
            self._map = weight_map((server, weight) for server, (weight, _) in ranked)
            self._stale = False
        return self._map

    def walk(self, start: int, accept: Accept) -> tuple[LbServer, int] | None:
        """The first accepted server from map index `start` on, and its index."""
        table = self.table()
        size = len(table)
        refused: set[LbServer] = set()
        for step in range(size):
            index = (start + step) % size
            server = table[index]
            if server in refused:
                continue
            if accept(server):
                return server, index
            refused.add(server)
            if len(refused) == len(self.members):
                break
        return None

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        if not self.members:
            return None
        start = self._cursor if key is None else key % len(self.table())
        found = self.walk(start, accept)
        if found is None:
            return None
        if key is None:
            self._cursor = (found[1] + 1) % len(self._map)
        return found[0]


class StaticRoundRobin(Algorithm):
    """Round robin over a static weight map; runtime weights only switch servers on or off."""

    name = "static-rr"
    dynamic = False

    def _new_pool(self) -> Pool:
        return MapPool()


# -- leastconn ---------------------------------------------------------------------------------


class _LeastConnPool(Pool):
    """Servers ordered by (load + 1) / weight in a heap; ties go to the least recently moved.

    Each server has one live heap entry, tagged with a sequence number; entries of earlier
    positions are skipped lazily. The top entry's key is checked against the live load before
    use, so a load that grew without notice is corrected on the spot.
    """

    def __init__(self) -> None:
        self.weights: dict[LbServer, int] = {}
        self._tag: dict[LbServer, int] = {}
        self._heap: list[tuple[float, int, LbServer]] = []
        self._seq = itertools.count()

    @staticmethod
    def _key(server: LbServer, weight: int) -> float:
        return (server.cur_conns + server.pending + 1) / weight

    def _push(self, server: LbServer) -> None:
        tag = next(self._seq)
        self._tag[server] = tag
        heapq.heappush(self._heap, (self._key(server, self.weights[server]), tag, server))
        if len(self._heap) > 2 * len(self.weights) + 64:
            live = [(self._key(s, w), self._tag[s], s) for s, w in self.weights.items()]
            heapq.heapify(live)
            self._heap = live

    def set(self, server: LbServer, weight: int, order: int) -> None:
        if weight <= 0:
            self.weights.pop(server, None)
            self._tag.pop(server, None)
        elif self.weights.get(server) != weight:
            self.weights[server] = weight
            self._push(server)

    def touch(self, server: LbServer) -> None:
        if server in self.weights:
            self._push(server)

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        self.weights, self._tag, self._heap = {}, {}, []
        for server, weight, order in sorted(members, key=lambda m: m[2]):
            self.set(server, weight, order)

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        heap, refused, found = self._heap, [], None
        while heap:
            stored, tag, server = heap[0]
            if self._tag.get(server) != tag:
                heapq.heappop(heap)
                continue
            if stored != self._key(server, self.weights[server]):
                heapq.heappop(heap)
                self._push(server)
                continue
            if accept(server):
                found = server
                break
            refused.append(heapq.heappop(heap))
        for entry in refused:
            heapq.heappush(heap, entry)
        return found


class LeastConn(Algorithm):
    """Fewest connections (plus queued requests) relative to weight; round robin among equals."""

    name = "leastconn"
    skip = SKIP_FULL_UNLESS_MAXQUEUE

    def _new_pool(self) -> Pool:
        return _LeastConnPool()

    def load_changed(self, server: LbServer) -> None:
        pool = self._backup if server.backup else self._active
        assert isinstance(pool, _LeastConnPool)
        pool.touch(server)


# -- first -------------------------------------------------------------------------------------


class _OrderedPool(Pool):
    """Eligible servers in id order; a pick scans from the lowest id (O(full servers))."""

    def __init__(self) -> None:
        self.members: dict[LbServer, int] = {}  # server -> order
        self._ordered: list[LbServer] | None = []

    def set(self, server: LbServer, weight: int, order: int) -> None:
        if weight > 0:
            self.members[server] = order
        else:
            self.members.pop(server, None)
        self._ordered = None

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        self.members = {s: order for s, w, order in members if w > 0}
        self._ordered = None

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        if self._ordered is None:
            self._ordered = sorted(self.members, key=self.members.__getitem__)
        return next((s for s in self._ordered if accept(s)), None)


class First(Algorithm):
    """The lowest-id server with a free slot below its maxconn; weights are ignored."""

    name = "first"

    def _new_pool(self) -> Pool:
        return _OrderedPool()


# -- random ------------------------------------------------------------------------------------


class _RandomPool(Pool):
    """Weighted draws by bisection over cumulative weights: O(log N) per draw, O(N) per change
    (the cumulative table is rebuilt lazily, once per burst of changes)."""

    def __init__(self, rng: random.Random, draws: int) -> None:
        self.rng = rng
        self.draws = draws
        self.members: dict[LbServer, tuple[int, int]] = {}
        self._servers: list[LbServer] = []
        self._cumulative: list[int] = []
        self._stale = False

    def set(self, server: LbServer, weight: int, order: int) -> None:
        if weight > 0:
            self.members[server] = (weight, order)
        else:
            self.members.pop(server, None)
        self._stale = True

    def rebuild(self, members: list[tuple[LbServer, int, int]]) -> None:
        self.members = {s: (w, order) for s, w, order in members if w > 0}
        self._stale = True

    def _table(self) -> tuple[list[LbServer], list[int]]:
        if self._stale:
            ranked = sorted(self.members.items(), key=lambda item: item[1][1])
            self._servers = [server for server, _ in ranked]
            self._cumulative = list(itertools.accumulate(w for _, (w, _) in ranked))
            self._stale = False
        return self._servers, self._cumulative

    def _draw(self, servers: list[LbServer], cumulative: list[int]) -> LbServer:
        return servers[bisect_right(cumulative, self.rng.randrange(cumulative[-1]))]

    def pick(self, key: int | None, accept: Accept) -> LbServer | None:
        servers, cumulative = self._table()
        if not servers:
            return None
        best: LbServer | None = None
        for _ in range(self.draws):
            candidate = self._draw(servers, cumulative)
            if not accept(candidate):
                allowed = [s for s in servers if accept(s)]  # rare: exclusions, full queues
                if not allowed:
                    return None
                weights = itertools.accumulate(self.members[s][0] for s in allowed)
                candidate = self._draw(allowed, list(weights))
            if best is None or _less_loaded(candidate, best, self.members):
                best = candidate
        return best


def _less_loaded(a: LbServer, b: LbServer, members: Mapping[LbServer, tuple[int, int]]) -> bool:
    """a.load / a.weight < b.load / b.weight, without division."""
    return a.load * members[b][0] < b.load * members[a][0]


class Random(Algorithm):
    """`draws` weighted random candidates, the least loaded of them wins (power of two)."""

    name = "random"
    skip = SKIP_SATURATED

    def __init__(self, farm: Farm, params: Mapping[str, Any] | None, rng: random.Random) -> None:
        self.rng = rng
        self.draws = int((params or {}).get("draws", 2))
        if self.draws < 1:
            raise ValueError("balance random needs at least one draw")
        super().__init__(farm, params)

    def _new_pool(self) -> Pool:
        return _RandomPool(self.rng, self.draws)
