"""One session: from an accepted client socket to the end of its relay (TCP) or of its
last HTTP exchange (`mode http`: worker/http_session.py, dispatched here by the frontend's mode).

A session task runs in its listener's nursery (the relay adds its two direction tasks). It asks
the frontend's backend for a server connection (load balancing, queueing, retries: see
worker/backend.py), relays bytes until both sides are done, and accounts for what happened.
Rules of this file: whatever happens (server unreachable, relay error, cancellation by a hard
stop) the client and server sockets are closed, the server slot is released and the listener's
`maxconn` gates are released exactly once, in the `finally` blocks below; a client that gets no
server is simply closed, as HAProxy does in TCP mode: with a FIN, so what it had sent (up to a
buffer, what HAProxy would have read) is read and dropped first, since closing a socket with
unread bytes makes the kernel send a reset instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import sys
import time
from collections.abc import Callable

import trio

from haproxy_py.logfmt import LogRecord
from worker.backend import BackendRuntime, ServerRuntime
from worker.driven import run_driven
from worker.http_session import HttpSession
from worker.logs import ProxyLogger
from worker.proxy_header import accept_proxy, may_expect_proxy
from worker.relay import Termination, relay
from worker.rule_replies import SILENT_DROP, fill_captures, reset_connection
from worker.rules import FrontendRules, LiveContext, ProxyRules, Route, server_up
from worker.runtime import FrontendRuntime, ListenerRuntime
from worker.sessions_registry import LiveSession, register, unregister
from worker.tcp_inspect import ABORTED, end_inspected, inspect_content, inspect_response

_CLIENT_SIDE = (Termination.CLIENT_ABORT, Termination.CLIENT_TIMEOUT)
_SERVER_SIDE = (Termination.SERVER_ABORT, Termination.SERVER_TIMEOUT)


async def serve_session(listener: ListenerRuntime, client: socket.socket, peer: object) -> None:
    """Serve one accepted connection; the caller has already counted it in the listener's gates."""
    frontend = listener.frontend
    frontend.counters.session_opened()
    logger = frontend.logger
    rules = frontend.rules
    # A PROXY header (accept-proxy, or expect-proxy from a connection rule) is read after the
    # connection rules, which see the real addresses, and before anything else.
    proxied = bool(listener.spec.options.get("accept-proxy"))
    own = rules.own if rules is not None else None
    connection_rules = own.tcp_connection if own is not None else None
    early = proxied or (connection_rules is not None and may_expect_proxy(frontend.proxy))
    live = None
    accepted_at = (time.time(), trio.current_time()) if logger is not None else None
    try:
        ctx = None
        if rules is not None:
            ctx = LiveContext.open(client, peer, frontend.name)
        if early:
            if connection_rules is not None and not _tcp_accepts(connection_rules(ctx), client):
                frontend.counters.denied += 1
                _drop_unread(client)
                return
            if proxied or getattr(ctx, "expect_proxy", False):
                received = await accept_proxy(listener, client, peer)  # worker/proxy_header.py
                if received is None:
                    return
                client, peer = received
                if ctx is not None:
                    ctx = _reopened(ctx, client, peer)
        live = register(listener, client, peer)  # `show sess`, `shutdown session`
        refused = None
        if rules is not None:
            refused = await refused_by_tcp_rules(own, ctx, client, not early)  # type: ignore[arg-type]
        if refused is not None:
            frontend.counters.denied += 1
            dropped = _drop_unread(client)
            if refused == CONTENT and accepted_at is not None:
                _log_refused(frontend, client, peer, ctx, dropped, accepted_at)
            return
        if frontend.http is not None:
            await _serve_http(frontend, listener, client, peer, ctx, live)
        elif frontend.backend is not None or rules is not None:
            record = logger.start(frontend.name, client, peer) if logger is not None else None
            if record is not None:  # `%[...]` and set-log-level read the context at log time
                record.ctx = ctx
                if ctx is None and logger.samples:  # type: ignore[union-attr]
                    record.ctx = LiveContext.open(client, peer, frontend.name)
            await _forward(frontend, listener, client, peer, record, ctx, live)
        elif logger is not None:
            logger.start(frontend.name, client, peer)
    except Exception as exc:  # a bug: this connection ends, the worker and its others go on
        _report_internal_error(
            f"internal error while serving a connection from {_peer_text(peer)} on frontend "
            f"'{frontend.name}': {type(exc).__name__}: {exc} (connection closed; please report it)"
        )
    finally:
        if live is not None:
            unregister(live)
        client.close()
        frontend.counters.session_closed()
        listener.release()


def _print_internal_error(text: str) -> None:
    print(f"[ALERT]    (haproxy-py) : {text}", file=sys.stderr, flush=True)


# Where a session's unexpected exception is reported. Sessions run in the listeners' nurseries,
# where an exception would cancel every other session and stop the worker; serve() points this
# at the worker's reporter (set_internal_error_report) once it has one.
_report_internal_error: Callable[[str], None] = _print_internal_error


def set_internal_error_report(report: Callable[[str], None]) -> None:
    global _report_internal_error
    _report_internal_error = report


def _peer_text(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) or "unix"


def _reopened(ctx: LiveContext, client: socket.socket, peer: object) -> LiveContext:
    """The rules' context after a PROXY header: its addresses, the variables set so far."""
    fresh = LiveContext.open(client, peer, ctx.frontend)
    with contextlib.suppress(AttributeError):
        fresh.variables = object.__getattribute__(ctx, "variables")
    return fresh


async def _forward(
    frontend: FrontendRuntime,
    listener: ListenerRuntime,
    client: socket.socket,
    peer: object,
    record: LogRecord | None = None,
    ctx: LiveContext | None = None,
    live: LiveSession | None = None,
) -> None:
    backend = frontend.backend
    timeouts = frontend.timeouts
    forced = None
    response_rules = None
    if ctx is not None:
        route, forced = choose_route(frontend.rules, ctx)
        if route is None:
            _drop_unread(client)
            return
        backend, timeouts = route.backend, route.timeouts
        if route.rules is not None and route.rules.tcp_response is not None:
            response_rules = route.rules
    assert backend is not None
    if live is not None:
        live.backend = backend
    backend.session_started()
    server = None
    sock = None
    started = trio.current_time() if record is not None else 0.0
    try:
        opened = await backend.connect(backend.key_for(peer), client, direct=forced, log=record)
        if opened is None:
            dropped = _drop_unread(client)
            if record is not None:
                record.bytes_in = dropped  # read, never forwarded: HAProxy counts it too
            return
        server, sock = opened
        if live is not None:
            live.server, live.server_sock = server, sock
            if live.killed:  # `shutdown session` while it waited for its server
                return
        inspected = None
        if response_rules is not None:  # tcp-response content (worker/tcp_inspect.py)
            ctx.server = server.name  # type: ignore[union-attr]
            inspected = await inspect_response(response_rules, ctx, client, sock)
            if inspected.verdict is not None and inspected.verdict is not True:
                counted = (frontend.counters, backend.counters, server.counters)
                await end_inspected(inspected, client, sock, counted, record, timeouts.client)
                return
        result = await relay(client, sock, pipes=listener.pipes, timeouts=timeouts)
        if inspected is not None and inspected.bytes_in:
            result = dataclasses.replace(result, bytes_in=result.bytes_in + inspected.bytes_in)
        if record is not None:
            record.termination = result.termination.value
            record.bytes_in = result.bytes_in
            record.bytes_out = result.bytes_out
        for counters in (frontend.counters, backend.counters, server.counters):
            counters.bytes_in += result.bytes_in
            counters.bytes_out += result.bytes_out
        if result.termination in _CLIENT_SIDE:
            backend.counters.client_aborts += 1
            server.counters.client_aborts += 1
        elif result.termination in _SERVER_SIDE:
            backend.counters.server_aborts += 1
            server.counters.server_aborts += 1
    finally:
        if sock is not None:
            sock.close()
        if server is not None:
            backend.release(server)
        backend.session_ended()
        if record is not None and live is not None and live.killed:
            # closed by the runtime API (K) or a server state change (D, U), while connected
            record.termination = live.killed + ("D" if server is not None else "C")
        if record is not None:
            _log_tcp(frontend, record, started, server, backend)


def _log_tcp(
    frontend: FrontendRuntime,
    record: LogRecord,
    started: float,
    server: ServerRuntime | None,
    backend: BackendRuntime,
) -> None:
    """The session's line, once its server slot is given back (as HAProxy counts then)."""
    logger: ProxyLogger = frontend.logger  # type: ignore[assignment]
    record.t_total = int((trio.current_time() - started) * 1000)
    record.status = 0
    record.backend = backend.name
    names = getattr(logger, "request_captures", ())
    captured = getattr(record.ctx, "request_captured", None) if names else None
    if captured:  # `tcp-request content capture` slots, logged by %hr as in HTTP mode
        record.request_captures = [None] * len(names)
        fill_captures(record.request_captures, names, captured)
    fill_counts(frontend, record, server)
    logger.log(record)


def _log_refused(
    frontend: FrontendRuntime,
    client: socket.socket,
    peer: object,
    ctx: LiveContext | None,
    dropped: int,
    accepted_at: tuple[float, float],
) -> None:
    """A session a `tcp-request content` rule refused (reject, silent-drop): HAProxy logs
    it with termination `PR`, no server and the frontend as backend. A connection-rule
    refusal is not logged (it never became a session)."""
    record = frontend.logger.start(frontend.name, client, peer)  # type: ignore[union-attr]
    if record is None:  # the legacy format logged the connection already
        return
    record.accept_date = record.request_date = accepted_at[0]
    record.ctx = ctx
    record.termination = "PR"
    record.bytes_in = dropped  # read and dropped, as HAProxy counts it
    record.backend = frontend.name
    record.t_total = record.t_active = int((trio.current_time() - accepted_at[1]) * 1000)
    fill_counts(frontend, record, None)
    frontend.logger.log(record)  # type: ignore[union-attr]


def fill_counts(frontend: FrontendRuntime, record: LogRecord, server: object) -> None:
    """ac/fc/bc/sc/sq/bq as they are now (the caller has released its server slot)."""
    worker = frontend.worker
    record.actconn = worker.global_limit.current if worker is not None else 0
    record.feconn = frontend.counters.cur_sessions
    backend = frontend.backend
    if backend is None:
        return
    record.beconn = backend.counters.cur_sessions
    record.backend_queue = len(backend.queues.backend)
    if isinstance(server, ServerRuntime):
        record.srvconn = server.lb.cur_conns
        record.srv_queue = server.lb.pending


async def _serve_http(
    frontend: FrontendRuntime,
    listener: ListenerRuntime,
    client: socket.socket,
    peer: object,
    ctx: LiveContext | None = None,
    live: LiveSession | None = None,
) -> None:
    """`mode http`: one HttpSession loops over the requests (worker/http_session.py)."""
    assert frontend.http is not None
    session = HttpSession(
        client,
        peer,
        frontend.http,
        frontend.backend,
        frontend.pools,
        frontend.counters,
        frontend.worker or _NOT_STOPPING,
        listener.pipes,
        frontend.timeouts,
    )
    session.frontend_name = frontend.name  # `show errors` captures (worker/error_captures.py)
    if live is not None:
        live.http = session  # `show sess` reads its backend and last server when asked
    if frontend.rules is not None:
        session.rules = frontend.rules
        session.ctx = ctx
        if ctx is not None:
            ctx.request_buffer = b""  # from here on, req.payload reads the request's body
    if frontend.logger is not None:
        session.start_logging(frontend.logger, frontend.name, peer, _http_log_end(frontend))
    if frontend.worker is not None and frontend.worker.closer is not None:
        frontend.worker.closer.register(session)  # close-spread-time (worker/close_spread.py)
    # Its plain exchanges run on the edge poller's wakes, no task switch (worker/driven.py).
    await run_driven(session.run())


def _http_log_end(frontend: FrontendRuntime) -> Callable[[LogRecord, object], None]:
    def end(record: LogRecord, server: object) -> None:
        fill_counts(frontend, record, server)
        frontend.logger.log(record)  # type: ignore[union-attr]

    return end


class _NeverStopping:
    stopping = False

    def closes(self, session: object) -> bool:
        return True


_NOT_STOPPING = _NeverStopping()


def _drop_unread(client: socket.socket, limit: int = 16384) -> int:
    """Read and forget what the client sent, so that close() ends with a FIN, not a reset;
    returns how many bytes that was."""
    # OSError: nothing to read, or the client is gone already; close() is all that is left.
    with contextlib.suppress(OSError):
        return len(client.recv(limit, socket.MSG_DONTWAIT))
    return 0


# -- rules (worker/rules.py) ------------------------------------------------------------------


CONNECTION, CONTENT, ABORT = "connection", "content", "abort"  # who refused a session


async def refused_by_tcp_rules(
    rules: ProxyRules | None, ctx: LiveContext, client: socket.socket, connection: bool = True
) -> str | None:
    """None when the session goes on, else what ended it (CONNECTION, CONTENT, ABORT).

    tcp-request connection rules (unless `connection` is False: they ran before the PROXY
    header), then content rules (with `tcp-request inspect-delay`,
    the client's first bytes are looked at, not consumed, until the rules decide or run out
    without waiting for data, the buffer is full, the client ends, or the delay is over:
    worker/tcp_inspect.py)."""
    if rules is None:
        return None
    if (
        connection
        and rules.tcp_connection is not None
        and not _tcp_accepts(rules.tcp_connection(ctx), client)
    ):
        return CONNECTION
    content = rules.tcp_content
    if content is None:
        return None
    if rules.inspect_delay <= 0:
        return None if _tcp_accepts(content(ctx), client) else CONTENT

    def store(data: bytes) -> None:
        ctx.request_buffer = data  # stays for use_backend and the log

    verdict = await inspect_content(client, content, ctx, rules.inspect_delay, store)
    if verdict is ABORTED:
        return ABORT
    return None if _tcp_accepts(verdict, client) else CONTENT


def _tcp_accepts(verdict: object, client: socket.socket) -> bool:
    """A tcp-request verdict: False (reject) and silent-drop refuse (the latter makes the
    coming close invisible to the client); True or None (no rule matched) accept."""
    if verdict is SILENT_DROP:
        reset_connection(client)
        return False
    return verdict is not False


def choose_route(
    rules: FrontendRules, ctx: LiveContext
) -> tuple[Route | None, ServerRuntime | None]:
    """TCP mode: use_backend (first match, else the default) and the backend's use-server."""
    own = rules.own
    route = rules.default
    if own is not None and own.choose_backend is not None:
        name = own.choose_backend(ctx)
        if name is not None:
            route = rules.routes[name]
    if route is None:
        return None, None
    ctx.backend = route.name
    theirs = route.rules
    if theirs is not None and theirs.choose_server is not None:
        # force-persist/ignore-persist first: force-persist lets use-server pick a DOWN server
        persist = theirs.choose_persistence(ctx) if theirs.choose_persistence else None
        name = theirs.choose_server(ctx, server_up(route.servers), persist == "force-persist")
        if name is not None:
            return route, route.servers.get(name)
    return route, None
