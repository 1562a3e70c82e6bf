"""Server connections in HTTP mode and the per-server pools of idle ones.

A `ServerConn` is one socket to one server with its sans-IO `BackendConnection`. After a
response that leaves it reusable, the client session keeps it attached for its next request;
when the client leaves (or its next request goes to another server) it is closed under
`http-reuse never` or parked in the server's `IdlePool`, where any session may take it,
following HAProxy 2.6's `http-reuse` modes:
- never: no sharing;
- safe (default): a pooled connection serves only a request that is not the first of its
  client connection (a first request may be a client's probe of a broken keep-alive path);
- aggressive: a first request may use a pooled connection that has already been reused once
  (the server has shown it keeps connections alive);
- always: any pooled connection, for any request.
Pool rules: last in, first out (the warmest connection); at most `pool-max-conn` idle
connections per server (-1, the default, is no limit; 0 or `pool-purge-delay 0` disables
pooling). How many are kept follows HAProxy 2.6's estimate of the recent need
(haproxy_py/lb/idle_policy.py): a released connection is parked only while the pool is empty
or in-use + idle stays within the need, else closed at once, and every `pool-purge-delay` one
timer task per worker closes the coldest share of the excess. A connection taken from the pool
after more than TRUSTED_IDLE is peeked at first (a server that closed it, or sent something
unasked, makes it unusable). A pooled connection holds no server slot: slots (`maxconn`)
count requests being served, as in HAProxy; connections in use (a `ServerConn` not in a pool
and not closed) are counted on the server's `IdleNeed`.
Every socket closes on every path: `IdlePool.close_all()` at worker exit, `ServerConn.close()`
is idempotent.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

import trio

from haproxy_py.config.model import Proxy
from haproxy_py.lb.idle_policy import IdleNeed
from haproxy_py.proto.http1 import BackendConnection, H1Limits
from worker.backend import ServerRuntime

REUSE_MODES = ("never", "safe", "aggressive", "always")
DEFAULT_PURGE_DELAY = 5.0  # seconds: HAProxy's pool-purge-delay default
TRUSTED_IDLE = 0.5  # seconds idle below which a pooled connection is reused without a peek


class ServerConn:
    """One connection to a server: socket, protocol state, and how much it has served."""

    __slots__ = ("drained", "fd", "h1", "idle_since", "in_use", "requests", "server", "sock")

    def __init__(self, sock: socket.socket, server: ServerRuntime, limits: H1Limits) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.server = server
        self.h1 = BackendConnection(limits)
        self.requests = 0  # requests sent on it so far (1 while serving its first)
        self.idle_since = 0.0
        # No edge of the worker's edge-triggered epoll was taken for it without the socket
        # being read dry after (worker/fastio.py): true of a new socket, kept by http_fast.py.
        self.drained = True
        pool = server.idle_pool
        self.in_use = pool is not None  # counted on its server's IdleNeed (HTTP backends)
        if pool is not None:
            pool.acquired()

    @property
    def reused(self) -> bool:
        return self.requests > 1

    def close(self) -> None:
        if self.in_use:
            self.in_use = False
            self.server.idle_pool.need.release()
        self.sock.close()


def is_alive(sock: socket.socket) -> bool:
    """An idle connection is usable when a peek finds nothing to read and no error."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # EOF, or bytes nobody asked for: either way not reusable


class IdlePool:
    """The idle connections of one server, most recently used last."""

    __slots__ = ("conns", "max_conns", "need", "purge_delay")

    def __init__(self, max_conns: int, purge_delay: float, server: ServerRuntime) -> None:
        self.conns: list[ServerConn] = []
        self.max_conns = 0 if purge_delay <= 0 else max_conns  # -1: unlimited
        self.purge_delay = purge_delay
        old = server.idle_pool  # a later pool replaces the first (CLI): same estimate
        self.need: IdleNeed = IdleNeed(0) if old is None else old.need
        server.idle_pool = self

    def acquired(self) -> None:
        """A connection to this server goes into use (counted; the purge periods run)."""
        need = self.need
        need.acquire()
        if need.next_purge is None:
            need.start(trio.current_time(), self.purge_delay)
            PURGES.watch(self)

    def put(self, conn: ServerConn, idle_since: float | None = None) -> bool:
        """Park `conn` (idle since now, or `idle_since`); False when the pool does not want
        it (the caller closes it)."""
        need = self.need
        if not need.may_park(len(self.conns), self.max_conns):
            return False
        if conn.in_use:
            conn.in_use = False
            need.release()
        now = trio.current_time()
        conn.idle_since = now if idle_since is None else idle_since
        self.conns.append(conn)
        if need.next_purge is None:  # one that was never counted in use (safety)
            need.start(now, self.purge_delay)
            PURGES.watch(self)
        return True

    def take(self, proven_only: bool) -> ServerConn | None:
        """The warmest live idle connection (one already reused, if `proven_only`)."""
        conns = self.conns
        if not conns:
            return None
        now = trio.current_time()
        for index in range(len(conns) - 1, -1, -1):
            conn = conns[index]
            if proven_only and not conn.reused:
                continue
            del conns[index]
            # A connection parked a moment ago is trusted (a failure before any response byte
            # is replayed on a fresh one); an older one is checked, as servers close idle ones.
            if now - conn.idle_since < TRUSTED_IDLE or is_alive(conn.sock):
                conn.in_use = True
                self.acquired()
                return conn
            conn.close()
        return None

    def purge(self, now: float) -> None:
        """The purge period is over: close the coldest connections beyond the need."""
        conns = self.conns
        count = self.need.purge(len(conns), now, self.purge_delay)
        for conn in conns[:count]:
            conn.close()
        del conns[:count]

    def close_all(self) -> None:
        for conn in self.conns:
            conn.close()
        self.conns.clear()
        self.need.next_purge = None


class PurgeTimer:
    """The worker's one task that purges the pools when their periods end. Started on the
    first parked connection as a trio system task (cancelled when the worker's run ends, so
    it never holds a soft stop back); it sleeps until the earliest due purge."""

    def __init__(self) -> None:
        self.pools: set[IdlePool] = set()
        self.scope: trio.CancelScope | None = None
        self.running = False

    def watch(self, pool: IdlePool) -> None:
        """`pool` has a purge due (pool.need.next_purge)."""
        self.pools.add(pool)
        due = pool.need.next_purge
        assert due is not None
        if not self.running:
            self.running = True
            trio.lowlevel.spawn_system_task(self._run)
        elif self.scope is not None and due < self.scope.deadline:
            self.scope.deadline = due

    async def _run(self) -> None:
        try:
            while self.pools:
                with trio.CancelScope(deadline=self._next_due()) as scope:
                    self.scope = scope
                    await trio.sleep_forever()
                self.scope = None
                now = trio.current_time()
                for pool in list(self.pools):
                    due = pool.need.next_purge
                    if due is not None and due <= now:
                        pool.purge(now)
                    if pool.need.next_purge is None:
                        self.pools.discard(pool)
        finally:
            self.running = False
            self.scope = None

    def _next_due(self) -> float:
        dues = [pool.need.next_purge for pool in self.pools]
        return min((due for due in dues if due is not None), default=trio.current_time())


PURGES = PurgeTimer()


class ServerPools:
    """One backend's idle pools (one per server) and its reuse mode."""

    def __init__(self, proxy: Proxy, servers: Mapping[object, ServerRuntime]) -> None:
        mode = proxy.setting("http-reuse") or "safe"
        self.mode = mode
        self.pools: dict[ServerRuntime, IdlePool] = {}
        by_name = {server.name: server for server in proxy.servers}
        for runtime in servers.values():
            config = by_name.get(runtime.name)
            max_conns = config.option("pool-max-conn", -1) if config is not None else -1
            if config is not None and (
                config.option("send-proxy") or config.option("send-proxy-v2")
            ):
                # Its connections carry one client's PROXY header: private to that client's
                # session (kept attached between its requests), never pooled for another.
                max_conns = 0
            delay = config.option("pool-purge-delay") if config is not None else None
            purge = delay / 1000 if delay is not None else DEFAULT_PURGE_DELAY
            low = config.option("pool-low-conn", 0) if config is not None else 0
            pool = IdlePool(-1 if max_conns is None else max_conns, purge, runtime)
            pool.need.low = low or 0
            self.pools[runtime] = pool

    @property
    def shares(self) -> bool:
        """Whether connections go to the shared pools (all modes but never)."""
        return self.mode != "never"

    def take(self, server: ServerRuntime, first_request: bool) -> ServerConn | None:
        """A pooled connection to `server` that this request may use under the reuse mode."""
        mode = self.mode
        if mode == "never" or (first_request and mode == "safe"):
            return None
        return self.pools[server].take(proven_only=first_request and mode == "aggressive")

    def put(self, conn: ServerConn, idle_since: float | None = None) -> None:
        if not self.pools[conn.server].put(conn, idle_since):
            conn.close()

    def close_all(self) -> None:
        for pool in self.pools.values():
            pool.close_all()
