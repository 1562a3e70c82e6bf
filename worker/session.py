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
import socket
from collections.abc import Callable

import trio

from haproxy_py.logfmt import LogRecord
from worker.backend import BackendRuntime, ServerRuntime
from worker.http_session import HttpSession
from worker.logs import ProxyLogger
from worker.relay import Termination, relay
from worker.rules import FrontendRules, LiveContext, ProxyRules, Route
from worker.runtime import FrontendRuntime, ListenerRuntime

_CLIENT_SIDE = (Termination.CLIENT_ABORT, Termination.CLIENT_TIMEOUT)
_SERVER_SIDE = (Termination.SERVER_ABORT, Termination.SERVER_TIMEOUT)


async def serve_session(listener: ListenerRuntime, client: socket.socket, peer: object) -> None:
    """Serve one accepted connection; the caller has already counted it in the listener's gates."""
    frontend = listener.frontend
    frontend.counters.session_opened()
    logger = frontend.logger
    rules = frontend.rules
    try:
        ctx = None
        if rules is not None:
            ctx = LiveContext.open(client, peer, frontend.name)
            if not await accepted_by_tcp_rules(rules.own, ctx, client):
                frontend.counters.denied += 1
                _drop_unread(client)
                return
        if frontend.http is not None:
            await _serve_http(frontend, listener, client, peer, ctx)
        elif frontend.backend is not None or rules is not None:
            record = logger.start(frontend.name, client, peer) if logger is not None else None
            if record is not None:  # `%[...]` and set-log-level read the context at log time
                record.ctx = ctx
                if ctx is None and logger.samples:  # type: ignore[union-attr]
                    record.ctx = LiveContext.open(client, peer, frontend.name)
            await _forward(frontend, listener, client, peer, record, ctx)
        elif logger is not None:
            logger.start(frontend.name, client, peer)
    finally:
        client.close()
        frontend.counters.session_closed()
        listener.release()


async def _forward(
    frontend: FrontendRuntime,
    listener: ListenerRuntime,
    client: socket.socket,
    peer: object,
    record: LogRecord | None = None,
    ctx: LiveContext | None = None,
) -> None:
    backend = frontend.backend
    timeouts = frontend.timeouts
    forced = None
    if ctx is not None:
        route, forced = choose_route(frontend.rules, ctx)
        if route is None:
            _drop_unread(client)
            return
        backend, timeouts = route.backend, route.timeouts
    assert backend is not None
    backend.session_started()
    server = None
    sock = None
    started = trio.current_time() if record is not None else 0.0
    try:
        opened = await backend.connect(backend.key_for(peer), client, prefer=forced, log=record)
        if opened is None:
            dropped = _drop_unread(client)
            if record is not None:
                record.bytes_in = dropped  # read, never forwarded: HAProxy counts it too
            return
        server, sock = opened
        result = await relay(client, sock, pipes=listener.pipes, timeouts=timeouts)
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
    fill_counts(frontend, record, server)
    logger.log(record)


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
    if frontend.rules is not None:
        session.rules = frontend.rules
        session.ctx = ctx
        if ctx is not None:
            ctx.request_buffer = b""  # from here on, req.payload reads the request's body
    if frontend.logger is not None:
        session.start_logging(frontend.logger, frontend.name, peer, _http_log_end(frontend))
    await session.run()


def _http_log_end(frontend: FrontendRuntime) -> Callable[[LogRecord, object], None]:
    def end(record: LogRecord, server: object) -> None:
        fill_counts(frontend, record, server)
        frontend.logger.log(record)  # type: ignore[union-attr]

    return end


class _NeverStopping:
    stopping = False


_NOT_STOPPING = _NeverStopping()


def _drop_unread(client: socket.socket, limit: int = 16384) -> int:
    """Read and forget what the client sent, so that close() ends with a FIN, not a reset;
    returns how many bytes that was."""
    # OSError: nothing to read, or the client is gone already; close() is all that is left.
    with contextlib.suppress(OSError):
        return len(client.recv(limit, socket.MSG_DONTWAIT))
    return 0


# -- rules (worker/rules.py) ------------------------------------------------------------------

INSPECT_POLL = 0.01  # seconds between two looks at the client's data during inspect-delay


async def accepted_by_tcp_rules(
    rules: ProxyRules | None, ctx: LiveContext, client: socket.socket
) -> bool:
    """tcp-request connection rules, then content rules (with `tcp-request inspect-delay`,
    the client's first bytes are looked at, not consumed, until a rule matches, the buffer is
    full, the client ends its data, or the delay is over)."""
    if rules is None:
        return True
    if rules.tcp_connection is not None and rules.tcp_connection(ctx) is False:
        return False
    content = rules.tcp_content
    if content is None:
        return True
    if rules.inspect_delay <= 0:
        return content(ctx) is not False
    deadline = trio.current_time() + rules.inspect_delay
    with trio.move_on_at(deadline):
        await trio.lowlevel.wait_readable(client)
    while True:
        try:
            data = client.recv(INSPECT_BUFFER, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            ended = not data
        except BlockingIOError:
            data, ended = b"", False
        except OSError:
            return False
        ctx.request_buffer = data
        verdict = content(ctx)
        final = ended or len(data) >= INSPECT_BUFFER or trio.current_time() >= deadline
        if verdict is not None or final:
            return verdict is not False  # the buffer seen stays for use_backend
        await trio.sleep(min(INSPECT_POLL, max(0.0, deadline - trio.current_time())))


INSPECT_BUFFER = 16384 - 1024  # what HAProxy may inspect: a buffer less the rewrite reserve


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
        name = theirs.choose_server(ctx)
        if name is not None:
            return route, route.servers.get(name)
    return route, None
