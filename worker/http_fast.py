"""The HTTP session's fast path: a plain request and its plain response, each in one step.

`fast_exchange(session)` is tried first by `HttpSession.exchange_unlogged` (worker/
http_session.py) for every exchange. It serves the common case without events: the request
read in one recv is exactly one canonical HTTP/1.1 or 1.0 head without a body
(proto/http1/plain.py), so its bytes are forwarded in one send, unchanged but for a
`Connection: keep-alive|close` line dropped (on 1.0, `Connection: keep-alive` added last)
and `option forwardfor`'s line added; the response read in one recv is exactly one whole
Content-Length (or bodiless) response, forwarded in one send with its Connection line
removed (and `Connection: close` added when a 1.1 client asked for close, `Connection:
keep-alive` when a 1.0 one asked for keep-alive). The sans-IO
connections are moved to the state the event path would leave (`take_plain_request`,
`sent_plain_request`, `pass_plain_response`), so that anything else
continues on the general path from where the fast one stopped, with the bytes already read
left in the connections' buffers:
- before anything was sent to a server (a partial head, a body, pipelining, Expect, Upgrade,
  any header the fast path does not forward as is, a soft stop): returns None and the general
  path parses the buffered head as usual (the rest of a partial head is read here first,
  under the general path's deadlines, so timeouts answer as they would there);
- after the request went out (a chunked, partial, close-delimited or interim response, a bad
  one): the session's own relay_response() and tunnel() take over.
Eligibility (`eligible`): no rules, a backend, keep-alive mode, no monitor-uri, no `option
originalto`, no request-based LB key, and logging (if any) without captures, unique ids or
`%[...]` samples: the log record is then filled here exactly as the general path fills it
(timers, status, bytes, server, termination). `option forwardfor` is applied here (its line
added last, as the general path adds it). Counters are kept as the general
path keeps them, the end of a plain exchange in one call (worker/counters.py `count_exchange`).
The session's loop, this included, is a coroutine the edge poller may be running
(worker/driven.py): its waits on drained sockets are `recv_edge` (the poller's markers), and
every trio operation (a connect or a queue, trio's waits, partial sends, the session's
answers, relay and tunnel) comes after `await to_trio()`, which hands the rest to the session
task; `_connects_at_once` tells when connect_server() needs no trio at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from haproxy_py.proto.http1.connection import pass_plain_response
from haproxy_py.proto.http1.head import parse_request_head
from haproxy_py.proto.http1.plain import CLOSE_LINE, KEEP_ALIVE_LINE
from haproxy_py.proto.http1.sizes import canonical_head_size
from worker.counters import count_bytes, count_exchange, count_forwarded
from worker.driven import DRIVE, to_trio
from worker.fastio import note_drained, run_time, take_drained, tick_clock
from worker.http_io import (
    RECV_SIZE,
    ClientGone,
    ServerFailed,
    recv_edge,
    recv_some,
    recv_some_or_gone,
)
from worker.http_server import TRUSTED_IDLE, ServerConn
from worker.http_settings import KEEP_ALIVE

if TYPE_CHECKING:
    from worker.backend import BackendRuntime
    from worker.http_session import HttpSession


# Header names whose presence changes framing or forwarding: a forwardfor header named so
# is left to the general path.
_FRAMING = frozenset(
    (b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"expect", b"host")
)
# What plain.py adds last: for an HTTP/1.1 client that closes, for a 1.0 one kept alive (and
# to a 1.0 request forwarded); HAProxy's byte counts leave them out (name and value: 15, 20).
_ADDED_CLOSE = b"\r\n" + CLOSE_LINE + b"\r\n"
_ADDED_KEEP_ALIVE = b"\r\n" + KEEP_ALIVE_LINE + b"\r\n"
_KEEP_ALIVE_END = KEEP_ALIVE_LINE + b"\r\n"


def eligible(session: HttpSession) -> bool:
    settings = session.settings
    return (
        (session.log_base is None or _logs_plainly(session))
        and session.rules is None
        and session.backend is not None
        and session.backend.cookie is None  # cookie persistence rewrites headers (H3)
        and settings.mode == KEEP_ALIVE
        and settings.monitor_uri is None
        and (settings.forwardfor is None or settings.forwardfor.name.lower() not in _FRAMING)
        and settings.originalto is None
        and settings.lb_key is None
        and settings.stats_page is None  # the stats page answers in forward() (H1)
    )


def _logs_plainly(session: HttpSession) -> bool:
    """The frontend logs only what the fast path fills: no header or cookie capture, no
    unique id, no `%[...]` sample (those read the parsed headers: general path)."""
    logger = session.logger
    return (
        logger is not None
        and not logger.request_captures
        and not logger.response_captures
        and logger.cookie_capture is None
        and logger.unique_id is None
        and not logger.samples
    )


async def fast_exchange(session: HttpSession) -> bool | None:
    """One exchange served here (True: keep the connection), or None: the general path goes on."""
    front = session.front
    if not front.idle_and_empty or not eligible(session):
        return None
    settings = session.settings
    first = session.requests == 0
    clock = session.counters.clock
    if first:
        tick_clock(clock)  # the counters' clock: one read per loop turn
    deadline = run_time(clock) + (
        settings.http_request_timeout if first else settings.keep_alive_timeout
    )
    client = session.client
    if take_drained(client.fileno()) and not first:
        try:
            data = await recv_edge(client, deadline)
        except OSError:
            raise ClientGone from None
    else:
        await to_trio()  # (trio's wait)
        data = await recv_some_or_gone(client, deadline, not first)
    if data is None:  # nothing came in time: as read_request() answers a silent client
        if not first or settings.ignore_probes:
            return False
        session.counters.failed_requests += 1
        await to_trio()
        await session.reply_and_close(408)
        return False
    front.receive_data(data)
    if not data:
        return None  # the client closed: the general path says how (between requests or not)
    session.bytes_seen = True
    record = session.record  # the log record, when the frontend logs (as read_request fills it)
    if record is not None:
        session.first_byte_at = trio.current_time()
        record.bytes_in += len(data)
    plain = None if session.worker.stopping else front.take_plain_request()
    if plain is None:
        if not first:  # the rest of the head must come in time, from the first byte on
            deadline = trio.current_time() + settings.http_request_timeout
        await to_trio()  # (trio's waits)
        if await _finish_head(session, deadline):
            return None
        return False
    method, wire = plain
    line_end = data.index(b"\r\n")  # the request line ends in `HTTP/1.1` or `HTTP/1.0`
    old = data[line_end - 1] == 0x30  # HTTP/1.0: plain.py added `Connection: keep-alive`
    # show stat's bin: as received (sizes.py), without the line added to a 1.0 request
    session.req_size = canonical_head_size(wire) - 20 if old else canonical_head_size(wire)
    session.res_size = 0
    if record is not None:  # as HttpSession.log_request() logs a parsed request
        record.t_request = 0  # the whole head came in the one recv that gave first_byte_at
        record.method = method.decode("latin-1")
        # A plain request line is `METHOD SP target SP HTTP/1.x`.
        record.uri = data[len(method) + 1 : line_end - 9].decode("latin-1")
        record.version = "HTTP/1.0" if old else "HTTP/1.1"
    if settings.forwardfor is not None:
        wire = _add_forwardfor(session, wire, old)
    keep = await _forward(session, wire, method)
    if keep and len(data) < RECV_SIZE:
        note_drained(client.fileno())  # our one recv this exchange was short
    return keep


def _connects_at_once(session: HttpSession, backend: BackendRuntime) -> bool:
    """Whether connect_server() will give a connection without any trio operation (in a
    coroutine the edge poller drives, anything else must go to the session task first):
    this client's kept connection (take_idle) to the server that backend.connect() takes
    without a queue (prefer-last-server's, or the only one), recent enough to be trusted
    without a peek. Mirrors worker/backend.py; a miss is caught (worker/driven.py strays)."""
    conn = session.private
    if conn is None or session.settings.abort_on_close:
        return False
    # (half TRUSTED_IDLE: take_idle() reads the clock again a moment later)
    if trio.current_time() - conn.idle_since >= TRUSTED_IDLE / 2:
        return False
    if backend.state_sync is not None:
        backend.state_sync()  # (connect() calls it again: same answer)
    server = conn.server
    lb = server.lb
    farm = backend.farm
    if not lb.eligible or farm.is_full(lb) or backend.servers.get(lb) is not server:
        return False
    if session.settings.prefer_last_server and session.last_server is server:
        return True
    servers = farm.servers
    return len(servers) == 1 and servers[0] is lb and not len(backend.queues)


def _add_forwardfor(session: HttpSession, head: bytes, old: bool) -> bytes:
    """The head with `option forwardfor`'s line last, as HttpSession.add_headers() adds it
    (on an HTTP/1.0 request, `old`, before the Connection line that serialising adds last)."""
    added = session.settings.forwardfor
    assert added is not None
    peer = session.peer
    if not isinstance(peer, tuple) or not added.applies_to(peer[0]):
        return head
    if added.if_none and b"\n" + added.name.lower() + b":" in head.lower():
        return head
    host = peer[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]  # an IPv4 client seen through a dual-stack listener
    # In lower case, as the general path adds it (HAProxy 2.6's HTX sends added names so).
    line = b"%s: %s\r\n" % (added.name.lower(), host.encode())
    if old:
        cut = len(head) - len(_KEEP_ALIVE_END)
        return head[:cut] + line + head[cut:]
    return head[:-2] + line + b"\r\n"


async def _finish_head(session: HttpSession, deadline: float) -> bool:
    """Read until the buffered head is whole (or too big, or the client closed); False when
    the client was answered 408 instead."""
    front = session.front
    while not front.head_complete and not front.eof_received:
        data = await recv_some_or_gone(session.client, deadline)
        if data is None:
            session.counters.failed_requests += 1
            await session.reply_and_close(408)
            return False
        if session.record is not None:
            session.record.bytes_in += len(data)
        front.receive_data(data)
    return True


async def _forward(session: HttpSession, head: bytes, method: bytes) -> bool:
    """HttpSession.forward() for a plain request (no headers to add, no rules, no body)."""
    session.requests += 1
    counters = session.counters
    counters.http_requests += 1
    backend = session.backend
    assert backend is not None
    settings = session.settings
    backend.session_started()
    server = None
    try:
        if DRIVE.in_poller and not _connects_at_once(session, backend):
            await to_trio()  # a queue, a connect: trio's
        opened = await session.connect_server(
            backend, None, prefer=session.last_server if settings.prefer_last_server else None
        )
        if opened is None:
            await to_trio()
            return await session.answer(503, session.error_pages)
        server, sock = opened
        if session.record is not None:
            session.log_server = server
            session.request_sent_at = run_time(server.counters.clock)  # (Tr: read in pairs)
        taken, session.taken = session.taken, None
        if taken is not None and taken.sock is sock:
            conn = taken
        else:
            conn = ServerConn(sock, server, settings.response_limits)
        session.last_server = server
        count_forwarded(backend.counters, server.counters)
        try:
            await _exchange_with(session, head, method, conn)
        except ServerFailed as failure:
            await to_trio()
            return await session.server_failed(failure, backend, server)
        return session.front.keep_alive
    finally:
        if session.req_size or session.res_size:  # not counted by count_exchange()
            count_bytes(
                session.counters,
                backend.counters,
                server.counters if server is not None else None,
                session.req_size,
                session.res_size,
            )
            session.req_size = session.res_size = 0
        if server is not None:
            backend.release(server)
        backend.session_ended()


async def _exchange_with(
    session: HttpSession, head: bytes, method: bytes, conn: ServerConn
) -> None:
    """HttpSession.exchange_with() for a plain request: send, relay, then keep or close."""
    current: ServerConn | None = conn
    try:
        conn.requests += 1
        if conn.requests > 1:
            conn.server.counters.reuses += 1
        conn.h1.sent_plain_request(method)
        try:
            await _to_server(session, conn, head)
            session.sent_at = session.counters.clock.read()  # for rtime
            tunnel = await _relay_response(session, conn)
        except ServerFailed as failure:
            if not (failure.replayable and conn.reused):
                raise
            # An idle connection the server had closed meanwhile: once more, on a new one.
            conn.close()
            request = parse_request_head(head, session.settings.request_limits)[0]
            await to_trio()
            current = await session.reopen(conn.server, request, head)
            tunnel = await session.relay_response(current) == "tunnel"
        if tunnel:
            await to_trio()
            await session.tunnel(current)
            return
        h1 = current.h1
        if h1.keep_alive and h1.their_state == "DONE" and h1.our_state == "DONE":
            h1.start_next_cycle()
            current.idle_since = trio.current_time()
            session.private, current = current, None
    finally:
        if current is not None:
            current.close()


async def _relay_response(session: HttpSession, conn: ServerConn) -> bool:
    """Read the response and forward it; True when the protocol switched (tunnel)."""
    h1 = conn.h1
    deadline = run_time(conn.server.counters.clock) + session.settings.server_timeout
    try:
        # Right after our request: the server cannot have answered yet, wait first.
        if conn.drained:
            conn.drained = False
            data = await recv_edge(conn.sock, deadline)
        else:
            await to_trio()  # (trio's wait)
            data = await recv_some(conn.sock, deadline, True)
    except OSError:
        raise ServerFailed(502, True) from None
    if data is None:
        raise ServerFailed(504, False)
    h1.receive_data(data)
    if data:
        plain = pass_plain_response(h1, session.front)
        if plain is not None:
            conn.drained = len(data) < RECV_SIZE
            wire, status = plain
            server = conn.server
            # show stat's bout: the response as received (sizes.py), without the
            # `Connection: close` line added for a closing client (name and value: 15).
            head_end = wire.find(b"\r\n\r\n") + 4
            size = canonical_head_size(wire, head_end) + len(wire) - head_end
            if wire.startswith(_ADDED_CLOSE, head_end - len(_ADDED_CLOSE)):
                size -= 15
            elif wire.startswith(_ADDED_KEEP_ALIVE, head_end - len(_ADDED_KEEP_ALIVE)):
                size -= 20
            count_exchange(
                session.counters,
                session.backend.counters,  # type: ignore[union-attr]
                server.counters,
                status,
                session.req_size,
                size,
                int((server.counters.clock.read() - session.sent_at) * 1000),
            )
            session.req_size = 0
            if server.observe_http is not None:  # `observe layer7`
                server.observe_http(status)
            record = session.record
            if record is not None:  # as HttpSession.log_response() logs a response head
                record.status = status
                record.t_response = int(
                    (run_time(server.counters.clock) - session.request_sent_at) * 1000
                )
                record.bytes_out += len(wire)  # counted sent or not, as HAProxy logs `CD`
            await _to_client(session, wire)
            return False
    await to_trio()
    try:
        return await session.relay_response(conn) == "tunnel"
    except ServerFailed as failure:
        if data:  # response bytes were read: not a failure to replay
            raise ServerFailed(failure.status, False, failure.termination) from None
        raise


async def _to_server(session: HttpSession, conn: ServerConn, data: bytes) -> None:
    """session.to_server() with the usual case (all sent at once) inline."""
    try:
        sent = conn.sock.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        raise ServerFailed(502, True) from None
    if sent < len(data):  # (counted once all is sent, as to_server() counts)
        await to_trio()
        await session.to_server(conn, memoryview(data)[sent:])  # type: ignore[arg-type]


async def _to_client(session: HttpSession, data: bytes) -> None:
    """session.to_client() with the usual case (all sent at once) inline."""
    try:
        sent = session.client.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        raise ClientGone from None
    if sent < len(data):
        await to_trio()
        await session.to_client(memoryview(data)[sent:])  # type: ignore[arg-type]
