"""The worker's one state object (house rule 4) and how it is built from a `WorkerStart`.

`build_state()` runs every start-up check (worker/startup.py), resolves the servers, plans and
sets the descriptor limit (worker/limits.py), then assembles the run-time objects: one
`FrontendRuntime` per frontend (its backend, `maxconn` gate, counters, relay timeouts), one
`BackendRuntime` per backend (worker/backend.py), one `ListenerRuntime` per listening socket
served. Failures raise StartupError before anything is started; the only side effect of a
successful build is the new RLIMIT_NOFILE.

Limits in force: global `maxconn` (-n overrides the configuration), a frontend's `maxconn`
(else -N, else the global one, as HAProxy 2.6), a bind line's `maxconn` (else the frontend's).
"""

from __future__ import annotations

import random
import resource
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from haproxy_py.config.model import Config, Proxy
from haproxy_py.lb import default_fullconn, servers_from_proxy
from haproxy_py.process.handoff import WorkerStart
from haproxy_py.process.listeners import ListenerSpec
from haproxy_py.process.shm import StatsTable
from haproxy_py.report import Reporter
from haproxy_py.sample import MapCache
from haproxy_py.stats.limits import reached_backends
from worker.backend import BackendRuntime
from worker.counters import Counters, CounterTable
from worker.http_errors import load_error_pages
from worker.http_server import ServerPools
from worker.http_settings import HttpSettings, build_http_settings
from worker.limits import ConnLimit, FdLimitError, FdPlan, apply_fd_limit, plan_fd_limit
from worker.logs import LogCounters, LogSetupError, LogSockets, ProxyLogger, build_loggers
from worker.pipes import PipePool
from worker.relay import RelayTimeouts
from worker.startup import (
    StartupError,
    attach_rules,
    check_config,
    compile_rules,
    read_lines,
    resolve_servers,
    static_backend,
)
from worker.stats_page import attach_stats_pages


@dataclass(eq=False)
class FrontendRuntime:
    proxy: Proxy
    backend: BackendRuntime | None  # None: connections are closed at once
    limit: ConnLimit
    counters: Counters
    timeouts: RelayTimeouts  # client side from the frontend, server side from the backend
    # HTTP mode: the compiled settings, the backend's idle-connection pools, and the worker
    # state whose `stopping` flag sessions read between requests (set once the state exists).
    http: HttpSettings | None = None
    pools: ServerPools | None = None
    worker: WorkerState | None = None
    logger: ProxyLogger | None = None  # None: the frontend logs nothing (worker/logs.py)
    rules: Any = None  # worker/rules.py FrontendRules; None: no rule to run (the fast path)

    @property
    def name(self) -> str:
        return self.proxy.name


@dataclass(eq=False)
class ListenerRuntime:
    spec: ListenerSpec
    sock: socket.socket
    frontend: FrontendRuntime
    limits: tuple[ConnLimit, ...]  # the bind line's (if any), the frontend's, the global one
    pipes: PipePool | None  # None: copy (nosplice on the bind line, globally, or -dS)
    accepting: trio.CancelScope = field(default_factory=trio.CancelScope)
    # SIGTTOU/SIGTTIN (worker/pausing.py): `pausing` wraps the accept loop and is cancelled by
    # a pause; `resumed` is set by the resume (None while accepting).
    pausing: trio.CancelScope = field(default_factory=trio.CancelScope)
    resumed: trio.Event | None = None
    # worker/rate_limit.py FrontendRate (set by serve()); None: never rate-limited
    rate: Any = None

    def blocked_by(self) -> ConnLimit | None:
        """The first full limit, if any: accepting must wait for a connection to end."""
        for limit in self.limits:
            if limit.full:
                return limit
        return None

    def admit(self) -> None:
        for limit in self.limits:
            limit.take()

    def release(self) -> None:
        for limit in self.limits:
            limit.release()


@dataclass(eq=False)
class WorkerState:
    config: Config
    settings: Mapping[str, Any]
    reporter: Reporter
    fd_plan: FdPlan
    global_limit: ConnLimit
    counters: CounterTable
    frontends: dict[str, FrontendRuntime]
    backends: dict[str, BackendRuntime]
    listeners: list[ListenerRuntime]
    unserved: list[socket.socket]  # stats sockets: kept open (the runtime API comes later)
    pipes: PipePool | None
    stopping: bool = False  # a soft stop was asked for
    stopped_by: int = 0  # the signal (SIGINT/SIGTERM) that stopped everything at once
    # Set once the listeners are closed by a soft stop: the listener tasks may end with their
    # last session (until then they stay, even with nothing to accept on).
    stop_requested: trio.Event = field(default_factory=trio.Event)
    http_pools: list[ServerPools] = field(default_factory=list)  # idle server connections
    backend_pools: dict[str, ServerPools] = field(default_factory=dict)  # the same, by backend
    log_counters: LogCounters = field(default_factory=LogCounters)
    log_sockets: LogSockets | None = None
    shared: Any = None  # worker/shared_state.py SharedState: the stats table and its links
    maps: Any = None  # haproxy_py/sample/maps.py MapCache: the maps the runtime API edits
    closer: Any = None  # worker/close_spread.py SpreadCloser, with `close-spread-time`
    rates: Any = None  # worker/rate_limit.py RateLimits: the accept-rate limits (serve())

    def closes(self, session: object) -> bool:
        """During a soft stop: must this session's next response close the connection?"""
        return self.closer is None or self.closer.closes(session)

    def close(self) -> None:
        """Close every listening socket, the pipe pool (pipes in use close when returned) and
        the idle server connections."""
        for pools in self.http_pools:
            pools.close_all()
        for listener in self.listeners:
            listener.sock.close()
        for sock in self.unserved:
            sock.close()
        if self.pipes is not None:
            self.pipes.close()
        if self.log_sockets is not None:
            self.log_sockets.close()


def build_state(
    start: WorkerStart,
    sockets: list[socket.socket],
    reporter: Reporter,
    table: StatsTable | None = None,
) -> WorkerState:
    """Check, resolve, set the fd limit and assemble; StartupError lists every problem.
    `table`: the shared stats table the counters live in (slot `start.slot`)."""
    config = start.config
    settings = start.settings
    if len(sockets) != len(start.listeners):
        raise StartupError([f"{len(sockets)} sockets given for {len(start.listeners)} listeners"])
    messages = check_config(config)
    backends = [p for p in config.proxies if p.is_backend and not p.disabled]
    targets, errors = resolve_servers(
        backends, ignore_failures=bool(settings.get("ignore_resolution"))
    )
    messages += errors
    error_pages, page_errors = load_error_pages(config)
    messages += page_errors
    # Rules compile here, before the chroot: their pattern, map and reply files are read now.
    maps = MapCache(read_lines)  # one per worker: `add map`... edit it (runtime_api/maps.py)
    compiled_rules, rule_errors = compile_rules(config, error_pages, maps=maps)
    messages += rule_errors
    if messages:
        raise StartupError(messages)
    # Log sockets are opened now, before the worker isolates itself (chroot).
    log_counters = LogCounters()
    logging_proxies = [p for p in config.proxies if p.is_frontend and not p.disabled]
    try:
        loggers, log_sockets = build_loggers(config, logging_proxies, log_counters)
    except LogSetupError as exc:
        raise StartupError(exc.messages) from None
    splice = not (config.global_.setting("nosplice") or settings.get("nosplice"))
    plan = _set_fd_limit(config, settings, splice, len(sockets), reporter)

    counters = CounterTable(table, start.slot)
    fronts = [p for p in config.proxies if p.is_frontend and not p.disabled]
    maxconns = {
        p.name: p.maxconn or settings.get("maxconn_per_proxy") or plan.maxconn for p in fronts
    }
    routes = {p.name: static_backend(config, p) for p in fronts}
    # backend -> maxconns of the frontends that may route there (default_backend, every
    # static use_backend, a listen's own: HAProxy's rule, haproxy_py/stats/limits.py)
    feeding: dict[str, list[int]] = {}
    for proxy in fronts:
        for name in reached_backends(proxy):
            feeding.setdefault(name, []).append(maxconns[proxy.name])
    rng = random.Random()
    backend_runtimes = {
        proxy.name: _backend(proxy, targets, counters, feeding.get(proxy.name, []), rng)
        for proxy in backends
    }
    http_pools = {
        proxy.name: ServerPools(proxy, backend_runtimes[proxy.name].servers)
        for proxy in backends
        if proxy.mode == "http"
    }
    frontends = {}
    for proxy in fronts:
        target = routes[proxy.name]
        backend_runtime = backend_runtimes[target.name] if target is not None else None
        frontend = FrontendRuntime(
            proxy,
            backend_runtime,
            ConnLimit(maxconns[proxy.name]),
            counters.frontend(proxy.name),
            _timeouts(proxy, target),
        )
        if proxy.mode == "http":
            frontend.http = build_http_settings(
                config,
                proxy,
                target,
                error_pages,
                backend_runtime.key_for if backend_runtime is not None else None,
            )
            frontend.pools = http_pools.get(target.name) if target is not None else None
        frontend.logger = loggers.get(proxy.name)
        frontends[proxy.name] = frontend
    global_limit = ConnLimit(plan.maxconn)
    pipe_size = config.global_.setting("tune.pipesize")
    pipes = PipePool(plan.maxpipes, pipe_size=pipe_size) if splice and plan.maxpipes > 0 else None
    listeners, unserved = [], []
    for spec, sock in zip(start.listeners, sockets, strict=True):
        frontend = frontends.get(spec.proxy) if spec.proxy else None
        if frontend is None:
            unserved.append(sock)
        else:
            listeners.append(_listener(spec, sock, frontend, global_limit, pipes))
    state = WorkerState(
        config, settings, reporter, plan, global_limit, counters, frontends,
        backend_runtimes, listeners, unserved, pipes, http_pools=list(http_pools.values()),
    )  # fmt: skip
    state.backend_pools = http_pools  # `add server` gives a new server its pool (cli_dynamic)
    state.log_counters = log_counters
    state.maps = maps
    state.log_sockets = log_sockets
    attach_rules(
        config, frontends, backend_runtimes, http_pools, compiled_rules, error_pages, _timeouts
    )
    for frontend in frontends.values():
        frontend.worker = state
    attach_stats_pages(state)  # `stats enable`: worker/stats_page.py
    return state


def _set_fd_limit(
    config: Config, settings: Mapping[str, Any], splice: bool, listeners: int, reporter: Reporter
) -> FdPlan:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    plan = plan_fd_limit(
        maxconn=settings.get("maxconn") or config.global_.maxconn,
        maxpipes=config.global_.setting("maxpipes"),
        splice=splice,
        listeners=listeners,
        ulimit_n=config.global_.ulimit_n,
        soft=soft,
        hard=hard,
    )
    try:
        apply_fd_limit(plan)
    except FdLimitError as exc:
        raise StartupError([str(exc)]) from None
    if plan.warning:
        reporter.warning(plan.warning)
    return plan


def _listener(
    spec: ListenerSpec,
    sock: socket.socket,
    frontend: FrontendRuntime,
    global_limit: ConnLimit,
    pipes: PipePool | None,
) -> ListenerRuntime:
    own = spec.options.get("maxconn")
    limits = (ConnLimit(own),) if own else ()
    limits += (frontend.limit, global_limit)
    listener_pipes = None if spec.options.get("nosplice") else pipes
    return ListenerRuntime(spec, sock, frontend, limits, listener_pipes)


def _backend(
    proxy: Proxy,
    targets: Mapping[tuple[str, str], Any],
    counters: CounterTable,
    feeding: list[int],
    rng: random.Random,
) -> BackendRuntime:
    servers = []
    for server, lb in zip(proxy.servers, servers_from_proxy(proxy), strict=True):
        target = targets[(proxy.name, server.name)]
        if target is None:
            lb.usable = False  # `init-addr none` (or -dr): no address, starts in maintenance
        servers.append((lb, target, counters.server(proxy.name, server.name)))
    # fullconn's default: a tenth of the maxconns of the frontends that route here.
    return BackendRuntime(
        proxy,
        servers,
        counters.backend(proxy.name),
        fullconn=proxy.fullconn or default_fullconn(feeding),
        rng=rng,
    )


def _seconds(ms: int | None) -> float | None:
    return ms / 1000 if ms else None


def _timeouts(frontend: Proxy, backend: Proxy | None) -> RelayTimeouts:
    front = frontend.timeouts
    back = backend.timeouts if backend is not None else {}
    return RelayTimeouts(
        client=_seconds(front.get("client")),
        client_fin=_seconds(front.get("client-fin")),
        server=_seconds(back.get("server")),
        server_fin=_seconds(back.get("server-fin")),
        tunnel=_seconds(back.get("tunnel")),
    )
