"""A backend at run time: where its servers are, who gets the next session, and connecting to them.

`BackendRuntime` wraps the pure load-balancing pieces (haproxy_py.lb: the algorithm over its
farm, the FIFO queues) with the trio side: a session asks `connect()` for a server connection
and gets one holding a server slot, or None when nothing works (no usable server, `timeout
queue` expired, every attempt failed); it hands the slot back with `release()` on every way out.
Rules of this file:
- a slot is taken (`algorithm.take`) before connecting and released exactly once; a slot that
  frees goes straight to the oldest waiter (server queue or backend queue, whichever is older),
  so a newcomer never overtakes someone waiting;
- a waiter's `timeout queue` is its own trio deadline; the slot, if it was granted in the same
  instant, is kept (not leaked, not lost);
- connects are non-blocking (worker/connecting.py) under `timeout connect`; a failed attempt
  is retried `retries` times (none with `retry-on none`), after a turn-around pause of
  min(1 s, timeout connect) when it stays on the same server, and moved to another server on
  the retry `option redispatch [<interval>]` designates (the last one by default);
- counters (worker/counters.py) are updated here for everything queueing and connecting.
"""

from __future__ import annotations

import contextlib
import errno
import math
import random
import socket
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from haproxy_py.config.model import Proxy
from haproxy_py.lb import (
    CONNECT,
    NO_SERVER,
    QUEUE_SERVER,
    BackendQueues,
    Farm,
    LbServer,
    Waiter,
    assign_server,
    make_algorithm,
    queue_timeout_ms,
    source_key,
)
from haproxy_py.lb.dyncookie import dynamic_cookie
from haproxy_py.lb.persistence import CookiePersistence, CookiePolicy
from haproxy_py.logfmt import LogRecord
from haproxy_py.runtime_api.dyncookie import configured_setting
from haproxy_py.stats.layout import CONNECT as CONNECT_SLOT
from worker.connecting import connect_socket
from worker.counters import Counters
from worker.proxy_header import server_header

DEFAULT_RETRIES = 3  # HAProxy's `retries` when unset
TURNAROUND_MAX = 1.0  # seconds between two attempts on the same server, at most


@dataclass(frozen=True, slots=True)
class Target:
    """A server's address, resolved once at start-up.

    `relative`: the port is added to the client's destination port (`+N`/`-N`, or no port at
    all, which means the same port as the client connected to).
    """

    family: int  # AF_INET, AF_INET6 or AF_UNIX
    host: str  # IP address text, or the UNIX path ("\0name" for an abstract socket)
    port: int = 0
    relative: bool = False
    scope_id: int = 0  # IPv6 link-local scope from the resolver

    def sockaddr(self, destination_port: int) -> str | tuple | None:
        """What connect() takes, or None when the port falls outside 1..65535."""
        if self.family == socket.AF_UNIX:
            return self.host
        port = self.port + destination_port if self.relative else self.port
        if not 0 < port < 65536:
            return None
        if self.family == socket.AF_INET6:
            return (self.host, port, 0, self.scope_id)
        return (self.host, port)


@dataclass(eq=False, slots=True)
class ServerRuntime:
    name: str
    lb: LbServer
    target: Target | None  # None: no address (init-addr none), kept in maintenance
    counters: Counters
    check: object = None  # its health check's state (worker/checks.py `ServerCheck`), if checked
    admin_down: bool = False  # in maintenance or draining by an operator (worker/shared_state.py)
    draining: bool = False  # UP but drained by an operator: only persistent clients come
    # `observe layer4`: told each connection attempt's outcome (worker/check_observe.py)
    observe: Callable[[bool], None] | None = None
    # `observe layer7`: told each response's status (worker/http_session.py, http_fast.py)
    observe_http: Callable[[int], None] | None = None
    # `observe layer7`: told each failure of the server before a response (read error,
    # close, timeout, invalid response: worker/http_session.py `server_failed`)
    observe_failure: Callable[[BaseException], None] | None = None
    # send-proxy/send-proxy-v2: the server's options (worker/proxy_header.py), else None
    proxy_header: Any = None
    # HTTP: its pool of idle connections and need estimate (worker/http_server.py IdlePool)
    idle_pool: Any = None


class _Grant:
    """What a queued session waits for: the server whose slot it was handed."""

    __slots__ = ("event", "server")

    def __init__(self) -> None:
        self.server: ServerRuntime | None = None
        self.event = trio.Event()


class BackendRuntime:
    def __init__(
        self,
        proxy: Proxy,
        servers: list[tuple[LbServer, Target | None, Counters]],
        counters: Counters,
        *,
        fullconn: int,
        rng: random.Random,
    ) -> None:
        self.proxy = proxy
        self.name = proxy.name
        self.counters = counters
        farm = Farm(
            [lb for lb, _, _ in servers],
            allbackups=proxy.options.get("allbackups") is True,
            fullconn=proxy.fullconn or fullconn,
        )
        self.farm = farm
        self.algorithm = make_algorithm(proxy.balance, proxy.hash_type, farm, rng)
        self.servers = {
            lb: ServerRuntime(lb.name, lb, target, server_counters)
            for lb, target, server_counters in servers
        }
        for config in proxy.servers:  # the PROXY protocol towards servers
            if config.option("send-proxy") or config.option("send-proxy-v2"):
                for runtime in self.servers.values():
                    if runtime.name == config.name:
                        runtime.proxy_header = config.options
        self.hashes_source = proxy.balance.get("algorithm") == "source"
        timeouts = proxy.timeouts
        queue_ms = queue_timeout_ms(timeouts)
        self.queue_timeout = queue_ms / 1000 if queue_ms else math.inf
        self.queues = BackendQueues(None if math.isinf(self.queue_timeout) else self.queue_timeout)
        connect_ms = timeouts.get("connect")
        self.connect_timeout = connect_ms / 1000 if connect_ms else math.inf
        self.turnaround = min(TURNAROUND_MAX, self.connect_timeout)
        retries = DEFAULT_RETRIES if proxy.retries is None else proxy.retries
        self.retries = 0 if "none" in proxy.retry_on else retries
        self.redispatch = _redispatch_interval(proxy.options.get("redispatch"))
        # minconn/fullconn make limits follow the backend's load: waiters may then be served
        # when sessions arrive, not only when slots free.
        self.dynamic_limits = bool(farm.fullconn) and any(
            0 < lb.minconn < lb.maxconn for lb in farm.servers
        )
        # Cookie persistence (haproxy_py/lb/persistence.py): None without a `cookie` line.
        self.cookie = _cookie_persistence(proxy, self.servers.values())
        # `cookie ... dynamic`: the key deriving the cookies of servers without `cookie`.
        self.dynamic_cookie_key = _dynamic_cookie_key(proxy) if self.cookie else None
        # Both halves of it as the runtime API may change them (worker/cli_dyncookie.py).
        self.dynamic_cookie_setting = configured_setting(proxy)
        # Called before each server choice: applies the shared table's server states when
        # they changed (worker/shared_state.py); None when nothing is shared.
        self.state_sync: Callable[[], None] | None = None

    # -- the backend's own sessions -------------------------------------------------------------

    def session_started(self) -> None:
        self.farm.backend_conns = self.counters.session_opened()  # (cur_sessions)
        if self.dynamic_limits and len(self.queues):
            for lb in self.farm.servers:
                self._serve_queue(lb)

    def session_ended(self) -> None:
        self.farm.backend_conns = self.counters.session_closed()

    def key_for(self, peer: object) -> bytes | None:
        """The load-balancing key of a client: its address for `balance source`, else None."""
        if self.hashes_source and isinstance(peer, tuple):
            host = peer[0]
            if host.startswith("::ffff:") and "." in host:
                host = host[7:]  # an IPv4 client on a dual-stack listener hashes as IPv4
            return source_key(host)
        return None

    # -- getting a server connection ------------------------------------------------------------

    async def connect(
        self,
        key: bytes | None,
        client: socket.socket,
        *,
        prefer: ServerRuntime | None = None,
        take_idle: Callable[[ServerRuntime], socket.socket | None] | None = None,
        still_wanted: Callable[[], bool] | None = None,
        log: LogRecord | None = None,
        direct: ServerRuntime | None = None,
    ) -> tuple[ServerRuntime, socket.socket] | None:
        """A connected server socket and the server whose slot it holds, or None.

        HTTP mode's hooks: `prefer` is tried before the algorithm while it has a free slot
        (`option prefer-last-server`); `take_idle(server)` may give an idle pooled connection
        to that server instead of connecting; `still_wanted()` is asked when a slot is granted
        after waiting in a queue, and a False answer (the client left) hands it straight on.
        `log`, when the frontend logs, receives Tw, Tc, the retries, the server and the
        termination state of a failure (worker/logs.py). `direct`: the server a persistence
        cookie designates; it is used even when full (the request waits in its queue).
        """
        if self.state_sync is not None:
            self.state_sync()
        clock = self.counters.clock  # show stat's qtime/ctime: the counters' coarse clock
        began = clock.now if clock.live else clock.read()  # (read(), inlined)
        started = trio.current_time() if log is not None else 0.0
        if direct is not None:
            # None: its queue is full or timed out, or the client left (no load balancing then)
            server = await self._assign_direct(direct, key, still_wanted, log)
        else:
            server = self._take_preferred(prefer) if prefer is not None else None
            if server is None and key is None:
                server = self._take_solo()
            if server is None:
                server = await self._assign(key, (), still_wanted, log)
        if server is None:
            return None
        queued_at = clock.now if clock.live else clock.read()
        if log is not None:
            assigned = trio.current_time()
            log.t_queue = int((assigned - started) * 1000)
            log.server = server.name
        destination_port = -1  # learnt from the client socket only if a server needs it
        retried = 0
        try:
            while True:
                target = server.target
                assert target is not None  # servers without an address are never usable
                if take_idle is not None:
                    idle = take_idle(server)
                    if idle is not None:
                        if log is not None:
                            log.t_connect = 0
                        # (_count_times, inlined: no connect time)
                        server.counters.connected(int((queued_at - began) * 1000), 0)
                        return server, idle
                if target.relative and destination_port < 0:
                    destination_port = _destination_port(client)
                server.counters.row[CONNECT_SLOT] += 1  # show stat's connect: every attempt
                sock = await self._open(target, destination_port, log)
                if sock is not None and server.proxy_header is not None:
                    sock = _send_proxy_header(sock, server.proxy_header, client, log)
                if server.observe is not None:
                    server.observe(sock is not None)
                if sock is not None:
                    self._count_times(server, began, queued_at, clock.read())
                    if log is not None:
                        log.t_connect = int((trio.current_time() - assigned) * 1000)
                        if retried and log.termination in ("SC", "sC"):
                            log.termination = "--"  # an earlier attempt failed, this one did not
                    return server, sock
                if retried >= self.retries:
                    server.counters.conn_errors += 1
                    self.counters.conn_errors += 1
                    failed, server = server, None
                    self.release(failed)
                    return None
                retried += 1
                server.counters.retries += 1
                self.counters.retries += 1
                if log is not None:
                    log.retries = retried
                if self._redispatch_on(retried):
                    failed, server = server, None
                    self.release(failed)
                    server = await self._assign(key, (failed.lb,), None, log)
                    if server is None:
                        return None
                    if log is not None:
                        log.server = server.name
                        assigned = trio.current_time()
                    if server is not failed:
                        failed.counters.redispatches += 1
                        self.counters.redispatches += 1
                else:
                    await trio.sleep(self.turnaround)
        except BaseException:
            if server is not None:
                self.release(server)
            raise

    def _count_times(
        self, server: ServerRuntime, began: float, assigned: float, connected: float
    ) -> None:
        """qtime and ctime samples (ms) for show stat's averages (the server's row; the
        backend's averages are its servers', combined by the reader)."""
        queue_ms, connect_ms = int((assigned - began) * 1000), int((connected - assigned) * 1000)
        server.counters.connected(queue_ms, connect_ms)

    def _take_solo(self) -> ServerRuntime | None:
        """The backend's only server, taken, when it has a free slot and nobody waits: with
        one server every algorithm picks it, so the pick is skipped (the HTTP hot path's
        common case); None otherwise, and _assign() decides as usual."""
        farm = self.farm
        servers = farm.servers
        if len(servers) != 1 or len(self.queues):
            return None
        lb = servers[0]
        # (lb.eligible; and no maxconn: never full, see Farm.is_full)
        if not (lb.usable and lb.weight > 0) or (lb.maxconn > 0 and farm.is_full(lb)):
            return None
        server = self.servers[lb]
        self.algorithm.take(lb)  # (_take, inlined: one lookup)
        server.counters.session_opened()
        return server

    def _take_preferred(self, server: ServerRuntime) -> ServerRuntime | None:
        lb = server.lb
        if lb.eligible and not self.farm.is_full(lb):
            self._take(lb)
            return server
        return None

    async def _assign_direct(
        self,
        server: ServerRuntime,
        key: bytes | None,
        still_wanted: Callable[[], bool] | None,
        log: LogRecord | None,
    ) -> ServerRuntime | None:
        """A persistent request's own server: a free slot, else a place in its queue; when
        that queue is full, load balancing with `option redispatch`, else no server."""
        lb = server.lb
        if not self.farm.is_full(lb):
            self._take(lb)
            return server
        if not self.queues.can_queue(lb):  # `maxqueue` reached: redispatch if allowed, or 503
            if self.redispatch:
                return await self._assign(key, (), still_wanted, log)
            if log is not None:
                log.termination = "SQ"  # maxqueue reached: HAProxy 2.6 logs "SQ" here
                log.server = server.name  # and names the server it could not queue on
            return None
        started = trio.current_time() if log is not None else 0.0
        granted = await self._wait_in_queue(lb)
        if granted is None:
            if log is not None:
                log.termination = "sQ"
                log.t_queue = int((trio.current_time() - started) * 1000)
            return None
        if still_wanted is not None and not still_wanted():
            self.release(granted)
            if log is not None:
                log.termination = "CQ"
            return None
        return granted

    async def open_fresh(
        self, server: ServerRuntime, client: socket.socket
    ) -> socket.socket | None:
        """One new connection to `server` (whose slot the caller holds), or None."""
        target = server.target
        assert target is not None
        port = _destination_port(client) if target.relative else -1
        return await self._open(target, port)

    def _redispatch_on(self, retry: int) -> bool:
        """Whether retry number `retry` (1-based) goes to another server."""
        interval = self.redispatch
        if not interval:
            return False
        if interval > 0:
            return retry % interval == 0
        return retry == self.retries + 1 + interval  # -1: the last retry

    async def _open(
        self, target: Target, destination_port: int, log: LogRecord | None = None
    ) -> socket.socket | None:
        """One connection attempt under `timeout connect`; None when it failed (then `log`
        gets "sC" for a timeout, "SC" otherwise)."""
        address = target.sockaddr(destination_port)
        if address is None:
            return None
        deadline = trio.current_time() + self.connect_timeout
        nodelay = target.family != socket.AF_UNIX
        sock, error = await connect_socket(target.family, address, deadline, nodelay=nodelay)
        if sock is None:
            if log is not None:
                log.termination = "sC" if error == errno.ETIMEDOUT else "SC"
            return None
        return sock

    # -- slots and queues -----------------------------------------------------------------------

    async def _assign(
        self,
        key: bytes | None,
        exclude: Collection[LbServer],
        still_wanted: Callable[[], bool] | None = None,
        log: LogRecord | None = None,
    ) -> ServerRuntime | None:
        """A server with a slot taken for us, after waiting in a queue if needed; None if none."""
        assignment = assign_server(self.algorithm, key, exclude)
        if assignment.action == NO_SERVER and exclude:
            # Redispatching away from the only server there is: trying it again beats failing.
            assignment = assign_server(self.algorithm, key)
        lb = assignment.server
        if assignment.action == CONNECT:
            assert lb is not None
            self._take(lb)
            return self.servers[lb]
        if assignment.action == NO_SERVER:
            self.counters.conn_errors += 1
            if log is not None:
                log.termination = "SC"
            return None
        if assignment.action != QUEUE_SERVER or lb is None or not self.queues.can_queue(lb):
            lb = None  # the backend queue: any server's next free slot will do
        started = trio.current_time() if log is not None else 0.0
        server = await self._wait_in_queue(lb)
        if log is not None and server is None:
            log.termination = "sQ"
            log.t_queue = int((trio.current_time() - started) * 1000)
        if server is not None and still_wanted is not None and not still_wanted():
            self.release(server)  # the client left while queued: the next waiter gets it
            if log is not None:
                log.termination = "CQ"
            return None
        return server

    async def _wait_in_queue(self, lb: LbServer | None) -> ServerRuntime | None:
        grant = _Grant()
        now = trio.current_time()
        waiter = self.queues.enqueue(grant, now, lb)
        self._queue_counters(waiter).queued()
        if lb is not None:
            self.algorithm.load_changed(lb)
        try:
            with trio.move_on_at(now + self.queue_timeout):
                await grant.event.wait()
        except BaseException:
            if waiter.queued:
                self._leave_queue(waiter)
            elif grant.server is not None:
                self.release(grant.server)  # granted, then cancelled from outside
            raise
        if waiter.queued:  # `timeout queue`: nobody freed a slot in time
            self._leave_queue(waiter)
            self._queue_counters(waiter).queue_timeouts += 1
            if lb is not None:
                self.counters.queue_timeouts += 1
            return None
        return grant.server

    def _queue_counters(self, waiter: Waiter) -> Counters:
        return self.counters if waiter.server is None else self.servers[waiter.server].counters

    def _leave_queue(self, waiter: Waiter) -> None:
        self.queues.cancel(waiter)
        self._dequeued(waiter)

    def _dequeued(self, waiter: Waiter) -> None:
        self._queue_counters(waiter).dequeued()
        if waiter.server is not None:
            self.algorithm.load_changed(waiter.server)

    def _take(self, lb: LbServer) -> None:
        self.algorithm.take(lb)
        self.servers[lb].counters.session_opened()

    def release(self, server: ServerRuntime) -> None:
        """Give a slot back; the oldest waiter that may use it gets it at once."""
        lb = server.lb
        self.algorithm.release(lb)
        server.counters.session_closed()
        if len(self.queues):
            self._serve_queue(lb)

    def _serve_queue(self, lb: LbServer) -> None:
        """Hand `lb`'s free slots to waiters, oldest first, until it is full or nobody waits."""
        while True:
            limit = self.farm.limit(lb)
            if limit and lb.cur_conns >= limit:
                return
            waiter = self.queues.next_for(lb, from_backend=lb.eligible)
            if waiter is None:
                return
            self._dequeued(waiter)
            self._take(lb)
            grant: _Grant = waiter.payload
            grant.server = self.servers[lb]
            grant.event.set()

    # -- server state changes -------------------------------------------------------------------

    def readdressed(self, server: ServerRuntime) -> None:
        """`set server addr`: a server with a dynamic cookie gets its new address's value."""
        key = self.dynamic_cookie_key
        if self.cookie is None or key is None:
            return
        if any(s.name == server.name and s.option("cookie") for s in self.proxy.servers):
            return  # its own `cookie VALUE` does not follow the address
        self.cookie.set_value(server, server_dynamic_cookie(key, server.target))

    def set_usable(self, server: ServerRuntime, usable: bool) -> int:
        """A server goes UP or DOWN (health checks); returns the requests moved by it.

        Going down, the requests waiting in its own queue move to the backend queue (keeping
        their place) and free slots elsewhere take them; coming up, it takes waiters from the
        backend queue up to its limit. Sessions already on the server are left alone.
        """
        lb = server.lb
        usable = usable and not server.admin_down  # an operator's MAINT/DRAIN wins
        if lb.usable == usable:
            return 0
        lb.usable = usable
        self.algorithm.server_changed(lb)
        if not len(self.queues):
            return 0
        if usable:
            before = len(self.queues)
            self._serve_queue(lb)
            return before - len(self.queues)
        moved = self.queues.drain_server_to_backend(lb)
        for _ in range(moved):
            server.counters.dequeued()
            self.counters.queued()
        for other in self.farm.servers:
            if other.eligible:
                self._serve_queue(other)
        return moved

    # -- dynamic servers (`add server`, `del server`: worker/cli_dynamic.py) --------------------

    def add_server(self, lb: LbServer, target: Target | None, counters: Counters) -> ServerRuntime:
        """A server added at run time joins the farm (unusable until StateSync says
        otherwise) and every algorithm's structure."""
        server = ServerRuntime(lb.name, lb, target, counters)
        self.servers[lb] = server
        self.farm.add_server(lb)
        self.algorithm.update()
        return server

    def remove_server(self, server: ServerRuntime) -> None:
        """A deleted server (in maintenance, without sessions) leaves the farm. Requests
        still waiting in its own queue (a race with the master's check) go to the others."""
        lb = server.lb
        if lb not in self.servers:
            return
        if lb.usable:
            self.set_usable(server, False)
        moved = self.queues.drain_server_to_backend(lb)
        for _ in range(moved):
            server.counters.dequeued()
            self.counters.queued()
        del self.servers[lb]
        self.farm.remove_server(lb)
        self.algorithm.update()
        for other in self.farm.servers:
            if other.eligible:
                self._serve_queue(other)


def _cookie_persistence(
    proxy: Proxy, servers: Collection[ServerRuntime]
) -> CookiePersistence | None:
    setting = proxy.setting("cookie")
    if not setting or proxy.mode != "http":
        return None
    values = {server.name: server.option("cookie") for server in proxy.servers}
    made = CookiePersistence.build(
        CookiePolicy.from_setting(setting),
        proxy.options.get("persist") is True,
        [(server, values.get(server.name)) for server in servers],
    )
    key = _dynamic_cookie_key(proxy)
    if key is not None:
        for server in servers:
            if not values.get(server.name):
                made.set_value(server, server_dynamic_cookie(key, server.target))
    return made


def _dynamic_cookie_key(proxy: Proxy) -> str | None:
    """The `dynamic-cookie-key` when `cookie ... dynamic` is on (HAProxy needs both)."""
    setting = proxy.setting("cookie")
    key = proxy.setting("dynamic-cookie-key")
    if not setting or not setting.get("dynamic") or not key:
        return None
    return str(key)


def server_dynamic_cookie(key: str, target: Target | None) -> bytes | None:
    """A server's dynamic cookie from its address (haproxy_py/lb/dyncookie.py): IP only."""
    if target is None or target.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return dynamic_cookie(key, target.host, target.port)


def _redispatch_interval(option: object) -> int:
    """`option redispatch [<interval>]` as an interval: 0 off, -1 (the default) last retry."""
    if option is True:
        return -1
    if isinstance(option, Mapping):
        return int(option.get("interval", -1))
    return 0


def _send_proxy_header(
    sock: socket.socket, options: Mapping[str, Any], client: socket.socket, log: LogRecord | None
) -> socket.socket | None:
    """send-proxy(-v2): the header goes first on a new connection (a fresh socket's buffer
    takes it whole); a server that is gone already counts as a failed connection attempt."""
    unique = log.unique_id if log is not None else ""
    header = server_header(options, client, lambda: unique or "")
    with contextlib.suppress(OSError):
        if sock.send(header) == len(header):
            return sock
    sock.close()
    if log is not None:
        log.termination = "SC"
    return None


def _destination_port(client: socket.socket) -> int:
    """The port the client connected to (0 for a UNIX socket client: no port to follow)."""
    try:
        name = client.getsockname()
    except OSError:
        return 0
    return name[1] if isinstance(name, tuple) else 0
