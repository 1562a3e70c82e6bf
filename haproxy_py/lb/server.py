"""The servers as load balancing sees them, and the farm that groups them.

`LbServer` is a small mutable record per server. The caller (the worker; later the shared-memory
table) owns it and writes its fields: the current weight (runtime API, slow start, agent), whether
the server is usable (UP, not in MAINT or DRAIN), its connection and queue counts. Algorithms
only read it. `Farm` knows which servers are active and which are backups, and applies HAProxy's
rule: backups serve only when no active server is eligible, and then only the first eligible
backup (in id order) unless `option allbackups` is set. It also answers "is this server full?"
from `maxconn`, `minconn` and the backend's `fullconn`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from haproxy_py.lb.queue import effective_maxconn

if TYPE_CHECKING:
    from haproxy_py.config.model import Proxy


@dataclass(eq=False, slots=True)
class LbServer:
    """One server's load-balancing state. Compared and hashed by identity."""

    name: str
    id: int  # the numeric id (`id` keyword or position): orders `first` and the backups
    initial_weight: int = 1  # the configured weight ("iweight" in the stats)
    weight: int = -1  # the current effective weight; -1 means "start at initial_weight"
    backup: bool = False
    usable: bool = True  # UP and neither in maintenance nor draining
    maxconn: int = 0  # 0: unlimited
    maxqueue: int = 0  # 0: unlimited
    minconn: int = 0  # with the backend's fullconn, makes the limit dynamic
    cur_conns: int = 0  # connections (HTTP: requests) being served now
    pending: int = 0  # requests waiting in this server's own queue

    def __post_init__(self) -> None:
        if self.weight < 0:
            self.weight = self.initial_weight

    @property
    def eligible(self) -> bool:
        """Takes part in load balancing: usable with a non-zero weight."""
        return self.usable and self.weight > 0

    @property
    def load(self) -> int:
        return self.cur_conns + self.pending


class Farm:
    """A backend's servers, in id order, split into active servers and backups.

    The farm keeps counts of eligible active and backup servers so that choosing the group to
    balance over is O(1). It learns about changes only through `refresh(server)` (one server,
    O(1)) or `rescan()` (all of them); algorithms call these from their own `server_changed()`
    and `update()`, so callers normally talk to the algorithm only.
    """

    def __init__(
        self, servers: Iterable[LbServer], *, allbackups: bool = False, fullconn: int = 0
    ) -> None:
        self.allbackups = allbackups
        self.fullconn = fullconn  # 0: no dynamic limit (minconn ignored)
        self.backend_conns = 0  # the backend's current connections, kept by the caller
        self._set_servers(list(servers))

    # -- membership --------------------------------------------------------------------------

    def _set_servers(self, servers: list[LbServer]) -> None:
        ids = [server.id for server in servers]
        if len(set(ids)) != len(ids):
            raise ValueError("two servers of a farm share the same id")
        self.servers: tuple[LbServer, ...] = tuple(sorted(servers, key=lambda s: s.id))
        self.active = tuple(s for s in self.servers if not s.backup)
        self.backups = tuple(s for s in self.servers if s.backup)
        self.position = {server: index for index, server in enumerate(self.servers)}
        self.rescan()

    def add_server(self, server: LbServer) -> None:
        """A server added at runtime; call the algorithm's `update()` afterwards."""
        self._set_servers([*self.servers, server])

    def remove_server(self, server: LbServer) -> None:
        """A server deleted at runtime; call the algorithm's `update()` afterwards."""
        self._set_servers([s for s in self.servers if s is not server])

    # -- eligibility counts ------------------------------------------------------------------

    def rescan(self) -> None:
        """Recount eligible servers after any number of changes (O(N))."""
        self._counted = {server: server.eligible for server in self.servers}
        self.active_count = sum(1 for s in self.active if self._counted[s])
        self.backup_count = sum(1 for s in self.backups if self._counted[s])
        self._first_backup: LbServer | None = None
        self._first_backup_known = False

    def refresh(self, server: LbServer) -> None:
        """Account for one server's weight or usable flag having changed (O(1))."""
        now = server.eligible
        before = self._counted.get(server)
        if before is None:
            raise ValueError(f"server '{server.name}' is not part of this farm")
        if before == now:
            return
        self._counted[server] = now
        delta = 1 if now else -1
        if server.backup:
            self.backup_count += delta
            self._first_backup_known = False
        else:
            self.active_count += delta

    def first_backup(self) -> LbServer | None:
        """The eligible backup with the lowest id (cached until a backup changes)."""
        if not self._first_backup_known:
            self._first_backup = next((s for s in self.backups if self._counted[s]), None)
            self._first_backup_known = True
        return self._first_backup

    @property
    def available(self) -> bool:
        """Some server can take traffic (if none is picked, they are all full)."""
        return bool(self.active_count or self.backup_count)

    def serving(self) -> tuple[LbServer, ...]:
        """The servers load balancing uses right now (O(N); for tests and the stats)."""
        if self.active_count:
            return tuple(s for s in self.active if self._counted[s])
        if self.allbackups:
            return tuple(s for s in self.backups if self._counted[s])
        first = self.first_backup()
        return (first,) if first else ()

    # -- connection limits -------------------------------------------------------------------

    def limit(self, server: LbServer) -> int:
        """The server's current connection limit (0: unlimited), minconn/fullconn applied."""
        return effective_maxconn(server.maxconn, server.minconn, self.fullconn, self.backend_conns)

    def is_full(self, server: LbServer) -> bool:
        """No free slot, or others already waiting for one (a newcomer must not overtake)."""
        if server.maxconn <= 0:
            return False  # no limit at all (effective_maxconn: 0), without the call
        limit = self.limit(server)
        return limit > 0 and (server.pending > 0 or server.cur_conns >= limit)

    def is_saturated(self, server: LbServer) -> bool:
        """Full and its own queue is full too: a request cannot even wait there."""
        return server.maxqueue > 0 and server.pending >= server.maxqueue and self.is_full(server)


def servers_from_proxy(proxy: Proxy) -> list[LbServer]:
    """One LbServer per `server` line of a backend, ids assigned the way HAProxy numbers them.

    A server without an `id` gets the lowest id not taken, in file order, which is its position
    when no server sets one. Servers with `disabled` start unusable (maintenance).
    """
    taken = {s.option("id") for s in proxy.servers if s.option("id") is not None}
    next_id = 1
    result = []
    for server in proxy.servers:
        sid = server.option("id")
        if sid is None:
            while next_id in taken:
                next_id += 1
            sid = next_id
            taken.add(sid)
        weight = int(server.option("weight", 1))
        result.append(
            LbServer(
                name=server.name,
                id=int(sid),
                initial_weight=weight,
                backup=bool(server.option("backup", False)),
                usable=not server.option("disabled", False),
                maxconn=int(server.option("maxconn", 0) or 0),
                maxqueue=int(server.option("maxqueue", 0) or 0),
                minconn=int(server.option("minconn", 0) or 0),
            )
        )
    return result


def farm_from_proxy(proxy: Proxy, *, fullconn: int | None = None) -> Farm:
    """The farm of a backend; `fullconn` overrides the proxy's (e.g. the computed default)."""
    allbackups = proxy.options.get("allbackups") is True
    limit = proxy.fullconn if fullconn is None else fullconn
    return Farm(servers_from_proxy(proxy), allbackups=allbackups, fullconn=limit or 0)
