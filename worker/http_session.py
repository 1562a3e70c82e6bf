"""One HTTP/1.1 client connection: requests in, each load-balanced and forwarded, responses out.

One task per client connection, none per request: `serve_http()` loops over exchanges until the
connection is to close. Each exchange reads a request head under `timeout http-request` (the
first; later ones first wait under `timeout http-keep-alive`), picks a server per request
(worker/backend.py: algorithm, queues, maxconn, retries, redispatch), takes an idle server
connection when `http-reuse` allows (worker/http_server.py) or opens one, forwards the request
then the response through the sans-IO core (haproxy_py.proto.http1), and switches to the TCP
relay for Upgrade/101 and CONNECT.
The server connection of a keep-alive response stays attached to the session (`private`) and
serves the client's next request to the same server without a pool round trip (as HAProxy
keeps it attached to its session); it goes to the server's pool when the client leaves or asks
for another server. Socket I/O and the exceptions used below are in worker/http_io.py.
Rules of this file:
- sockets are non-blocking; every recv/send is tried first and we wait on the fd only on
  EAGAIN (or at once where the peer cannot have answered yet), under a deadline taken from a
  `timeout` keyword, with no cancel scope per wait (worker/fastio.py);
- writes are batched: what the parser produces from one read (head, body, end) goes out in one
  send;
- errors answer with the proxy's error page (worker/http_errors.py): 400/422 parse errors and
  408 close the connection; 502/503/504 keep it alive when the whole request was read;
- a reused server connection that fails before any response byte is replayed once on a fresh
  one, when the request was sent in one piece;
- the server slot is released, the server connection closed or pooled, and the client socket
  closed by the caller, on every way out; trio.Cancelled is never caught.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Protocol

import trio

from haproxy_py.lb.persistence import CookiePersistence, CookieVisit
from haproxy_py.logfmt import LogRecord
from haproxy_py.proto.http1 import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    FrontendConnection,
    H1Error,
    Request,
    Response,
)
from haproxy_py.proto.http1.connection import DONE
from haproxy_py.proto.http1.failure import closed_inside, invalid_response
from haproxy_py.proto.http1.sizes import (
    END_OF_CHUNKED,
    canonical_head_size,
    fields_size,
    request_head_size,
    response_head_size,
)
from haproxy_py.sample import HttpRequest, HttpResponse
from haproxy_py.stats.layout import RTIME_SUM
from worker import log_capture
from worker.backend import BackendRuntime, ServerRuntime
from worker.counters import Counters, count_bytes
from worker.driven import to_trio
from worker.error_captures import capture_error
from worker.http_fast import fast_exchange
from worker.http_io import (
    BadBody,
    ClientGone,
    ServerFailed,
    recv_some,
    recv_some_or_gone,
    send_all,
)
from worker.http_server import TRUSTED_IDLE, ServerConn, ServerPools, is_alive
from worker.http_settings import CLOSE, KEEP_ALIVE, HttpSettings
from worker.logs import ProxyLogger
from worker.pipes import PipePool
from worker.relay import RelayTimeouts, relay
from worker.rule_replies import (
    DROP,
    INTERCEPT,
    REJECT,
    account_reply,
    after_response_rules,
    apply_after_rules,
    fill_captures,
    reset_connection,
)
from worker.rules import FrontendRules, LiveContext, ProxyRules, Reply, Route, server_up

PageFunction = Callable[..., bytes]  # ErrorPages.page(status, close=...)


class StopFlag(Protocol):
    """What a session reads of the worker: WorkerState.stopping, set by a soft stop."""

    stopping: bool

    def closes(self, session: object) -> bool: ...


class HttpSession:
    """The state of one client connection across its exchanges."""

    def __init__(
        self,
        client: socket.socket,
        peer: object,
        settings: HttpSettings,
        backend: BackendRuntime | None,
        pools: ServerPools | None,
        frontend_counters: Counters,
        worker: StopFlag,
        pipes: PipePool | None,
        tunnel_timeouts: RelayTimeouts,
    ) -> None:
        self.client = client
        self.peer = peer
        self.frontend_name = ""  # for `show errors` captures (set by worker/session.py)
        self.settings = settings
        self.backend = backend
        self.pools = pools
        self.counters = frontend_counters
        self.worker = worker
        self.pipes = pipes
        self.tunnel_timeouts = tunnel_timeouts
        self.front = FrontendConnection(settings.request_limits)
        self.private: ServerConn | None = None  # `http-reuse never`: this client's own
        self.taken: ServerConn | None = None  # the idle connection take_idle() gave out
        self.last_server: ServerRuntime | None = None
        self.requests = 0
        self.bytes_seen = False  # the client sent at least one byte (http-ignore-probes)
        # Traffic logs (worker/logs.py): None unless the frontend logs; one record per request.
        self.log_base: LogRecord | None = None
        self.logger: ProxyLogger | None = None  # the frontend's (worker/logs.py), when it logs
        self.log_end: Callable[[LogRecord, object], None] | None = None
        self.record: LogRecord | None = None
        self.log_server: ServerRuntime | None = None
        self.idle_since = 0.0  # when the wait for the next request began (trio clock)
        self.first_byte_at = 0.0
        self.request_sent_at = 0.0
        # show stat's bin/bout of the current exchange (haproxy_py/proto/http1/sizes.py),
        # counted on its rows at its end; when the request went out (counters' clock: rtime).
        self.req_size = 0
        self.res_size = 0
        self.res_flushed = 0  # res_size when the response's parts read so far went out
        self.sent_at = 0.0
        self.request_captures: tuple[tuple[bytes, int], ...] = ()
        self.response_captures: tuple[tuple[bytes, int], ...] = ()
        # Rules (worker/rules.py): None unless the frontend or a backend it reaches has some.
        self.rules: FrontendRules | None = None
        self.ctx: LiveContext | None = None  # made at the first rule run, kept per connection
        self.response_rules: tuple[ProxyRules, ...] | None = None  # the current request's
        # Cookie persistence (haproxy_py/lb/persistence.py), when the backend has a `cookie`.
        self.persist_rule: str | None = None  # force-persist / ignore-persist that matched
        self.visit: CookieVisit | None = None  # what the current request's cookie said
        self.visit_method = b""

    def start_logging(
        self, logger: object, name: str, peer: object, end: Callable[[LogRecord, object], None]
    ) -> None:
        """Log each request through `end`; called once, at accept, when the frontend logs."""
        base = logger.start(name, self.client, peer)  # type: ignore[attr-defined]
        if base is not None:  # else the legacy "Connect from" line is already out
            self.log_base = base
            self.logger = logger  # type: ignore[assignment]
            self.log_end = end
            self.idle_since = trio.current_time()
            self.request_captures = _capture_names(logger.request_captures)  # type: ignore[attr-defined]
            self.response_captures = _capture_names(logger.response_captures)  # type: ignore[attr-defined]

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while await self.exchange():
                if self.req_size or self.res_size:
                    self.count_unforwarded()
                self.front.start_next_cycle()
        except ClientGone:
            pass
        finally:
            if self.req_size or self.res_size:
                self.count_unforwarded()
            kept = self.private
            if kept is not None:
                # The attached server connection outlives its client connection in the pool.
                if self.pools is not None and self.pools.shares:
                    self.pools.put(kept, kept.idle_since)
                else:
                    kept.close()
            if self.taken is not None:
                self.taken.close()

    def count_unforwarded(self) -> None:
        """The bytes of an exchange answered here (rules, monitor-uri, no backend): the
        frontend's row (forward() counts those of forwarded requests on all three)."""
        count_bytes(self.counters, None, None, self.req_size, self.res_size)
        self.req_size = self.res_size = 0

    async def exchange(self) -> bool:
        """One request and its response; True when the connection may serve another."""
        if self.log_base is None:
            return await self.exchange_unlogged()
        record = self.record = self.new_record()
        try:
            return await self.exchange_unlogged()
        except ClientGone:
            # Reset while a request was coming (or before the first): logged as a close there.
            if (not record.method and record.status < 0) and (
                record.bytes_in or (self.requests == 0 and not self.settings.ignore_probes)
            ):
                self.client_aborted()
            if record.termination == "--":
                record.termination = "CD" if record.status > 0 else "CR"
            raise
        finally:
            self.record = None
            self.end_record(record)

    def new_record(self) -> LogRecord:
        base = self.log_base
        assert base is not None
        if self.requests == 0:
            record = base
        else:
            record = LogRecord(time.time())
            for name in _COPIED:
                setattr(record, name, getattr(base, name))
        record.status = -1
        self.log_server = None
        return record

    def end_record(self, record: LogRecord) -> None:
        """Times, then the line, for a request that was read or answered with an error."""
        now = trio.current_time()
        if not record.method and record.status < 0:
            return  # the connection closed between requests: nothing to say
        backend = self.backend
        parsed = bool(record.method)
        # A request that could not be read reached no backend: HAProxy names the frontend.
        record.backend = backend.name if backend is not None and parsed else record.frontend
        since = self.idle_since
        # Unparsed, its whole wait counts as active time (HAProxy: Ta 1001 for a 408).
        first = (self.first_byte_at or now) if parsed else since
        record.t_idle = int((first - since) * 1000)
        record.request_date = record.accept_date + (first - since)
        record.t_active = int((now - first) * 1000)
        record.t_total = int((now - since) * 1000)
        self.idle_since = now
        self.first_byte_at = 0.0
        assert self.log_end is not None
        log_capture.on_end(self, record)
        self.log_end(record, self.log_server)

    async def exchange_unlogged(self) -> bool:
        served = await fast_exchange(self)  # the plain case in one step (worker/http_fast.py)
        if served is not None:
            return served
        # The general path is trio's: when the edge poller drove the fast path (worker/
        # driven.py: session.py runs run() so), it goes on in the session task.
        await to_trio()
        request = await self.read_request()
        if request is None:
            return False
        self.requests += 1
        counters = self.counters
        counters.http_requests += 1
        front = self.front
        settings = self.settings
        if settings.mode == CLOSE or (self.worker.stopping and self.worker.closes(self)):
            front.disable_keep_alive()
        if settings.monitor_uri is not None and request.target == settings.monitor_uri:
            counters.intercepted += 1
            return await self.answer(200, settings.frontend_pages.page)
        if self.rules is not None:
            return await self.apply_rules(request, self.rules)
        if self.backend is None:
            return await self.answer(503, settings.frontend_pages.page)
        return await self.forward(request, self.backend)

    # -- rules ---------------------------------------------------------------------------------

    async def apply_rules(self, request: Request, rules: FrontendRules) -> bool:
        """http-request rules, use_backend, the backend's rules, use-server; then forward."""
        ctx = self.ctx
        if ctx is None:
            ctx = self.ctx = LiveContext.open(self.client, self.peer, rules.name)
        else:
            ctx.next_transaction()
        sample = ctx.request = HttpRequest(
            request.method, request.target, request.version, request.headers
        )
        own = rules.own
        reply: Reply | None = None
        route = rules.default
        if own is not None:
            if own.http_request is not None:
                reply = own.http_request(ctx)
            if reply is None and own.choose_backend is not None:
                name = own.choose_backend(ctx)
                if name is not None:
                    route = rules.routes[name]
        forced: ServerRuntime | None = None
        self.persist_rule = None
        reached: ProxyRules | None = None  # the backend's rules, once the backend is chosen
        if reply is None and route is not None:
            ctx.backend = route.name
            theirs = reached = route.rules
            if theirs is not None:
                if theirs is not own and theirs.http_request is not None:
                    reply = theirs.http_request(ctx)
                # force-persist/ignore-persist before use-server, which may then pick a
                # DOWN server (HAProxy's order; worker/rules.py)
                if reply is None and theirs.choose_persistence is not None:
                    self.persist_rule = theirs.choose_persistence(ctx)
                if reply is None and theirs.choose_server is not None:
                    force = self.persist_rule == "force-persist"
                    name = theirs.choose_server(ctx, server_up(route.servers), force)
                    forced = route.servers.get(name) if name is not None else None
        request.method = sample.method  # set-method, set-path... changed the sample's
        request.target = sample.target
        if self.record is not None and ctx.request_captured:  # `capture` actions
            captured = self.record.request_captures
            fill_captures(captured, self.request_captures, ctx.request_captured)
        if reply is not None:
            return await self.answer_reply(reply, (reached, own))
        if route is None:
            return await self.answer(503, self.settings.frontend_pages.page)
        self.use_route(route)
        chain = tuple(
            r
            for r in (route.rules if route.rules is not own else None, own)
            if r is not None and (r.http_response is not None or r.http_after_response is not None)
        )
        self.response_rules = chain or None
        return await self.forward(request, route.backend, forced)

    def use_route(self, route: Route) -> None:
        """Serve this request from `route`'s backend, with that pair's settings."""
        if route.backend is not self.backend:
            kept, self.private = self.private, None
            if kept is not None:
                if self.pools is not None and self.pools.shares:
                    self.pools.put(kept, kept.idle_since)
                else:
                    kept.close()
            self.last_server = None
            self.backend = route.backend
            self.pools = route.pools
        self.settings = route.http
        if route.http.mode == CLOSE:
            self.front.disable_keep_alive()

    async def answer_reply(self, reply: Reply, sources: tuple = ()) -> bool:
        """A deny/return/redirect made by a rule; the connection stays open as HAProxy's does
        when the request had no body."""
        front = self.front
        if front.their_state != DONE:
            with contextlib.suppress(H1Error):
                front.next_event()  # a request without a body ends here
        ctx = self.ctx
        account_reply(reply, self.counters, self.record)  # worker/rule_replies.py
        if reply.kind in (DROP, REJECT):  # silent-drop, reject: closed without an answer
            if reply.kind == DROP:
                reset_connection(self.client)
            raise ClientGone
        if reply.hold:  # tarpit: the client waits, alone (its own task), then is answered
            await trio.sleep(reply.hold)
            if self.record is not None:
                self.record.t_queue = int(reply.hold * 1000)
                self.record.t_request = -1  # as HAProxy logs a tarpitted request
        after = after_response_rules(sources)  # http-after-response runs on ours too
        if after:
            return await self.answer(
                reply.status,
                lambda status, close: apply_after_rules(
                    reply.render(ctx, False), ctx, after, close
                ),
            )
        return await self.answer(reply.status, lambda status, close: reply.render(ctx, close))

    def apply_response_rules(self, response: Response, chain: tuple[ProxyRules, ...]) -> None:
        """http-response then http-after-response rules (backend's, then frontend's)."""
        ctx = self.ctx
        assert ctx is not None
        sample = ctx.response = HttpResponse(
            response.status, response.version, response.headers, reason=response.reason
        )
        for rules in chain:
            if rules.http_response is not None:
                reply = rules.http_response(ctx)
                if reply is not None:
                    raise RuleAnswer(reply, ctx)
        for rules in chain:
            if rules.http_after_response is not None:
                rules.http_after_response(ctx)
        response.status = sample.status
        response.reason = sample.reason

    async def read_request(self) -> Request | None:
        """The next request head, or None when the connection is to be closed."""
        front = self.front
        settings = self.settings
        first = self.requests == 0
        deadline = trio.current_time() + (
            settings.http_request_timeout if first else settings.keep_alive_timeout
        )
        waiting_for_first_byte = True
        closed = front.eof_received  # the client closed (or reset) before a whole head came
        while True:
            try:
                event = front.next_event()
            except H1Error as exc:
                self.counters.failed_requests += 1
                capture_error(front, exc, response=False, proxy=self.frontend_name, peer=self.peer)
                if closed:
                    self.client_aborted()
                else:
                    await self.reply_and_close(exc.status)
                return None
            if event is NEED_DATA:
                try:
                    data = await recv_some_or_gone(self.client, deadline, not first)
                except ClientGone:
                    data = b""  # a reset reads as a close here: the same log line
                closed = data == b""
                if data is None:  # timeout
                    if waiting_for_first_byte and (not first or settings.ignore_probes):
                        return None
                    self.counters.failed_requests += 1
                    await self.reply_and_close(408)
                    return None
                if data and waiting_for_first_byte:
                    waiting_for_first_byte = False
                    self.bytes_seen = True
                    if self.record is not None:
                        self.first_byte_at = trio.current_time()
                    if not first:  # from here on the whole head must come in time
                        deadline = trio.current_time() + settings.http_request_timeout
                if self.record is not None and data:
                    self.record.bytes_in += len(data)  # %U and dontlognull: what the client sent
                front.receive_data(data)
                continue
            if event.__class__ is Request:
                self.req_size = request_head_size(
                    event.method,  # type: ignore[union-attr]
                    event.target,  # type: ignore[union-attr]
                    event.version,  # type: ignore[union-attr]
                    event.headers,  # type: ignore[union-attr]
                )
                self.res_size = 0
                if self.record is not None:
                    self.log_request(event)  # type: ignore[arg-type]
                return event  # type: ignore[return-value]
            if first and not settings.ignore_probes:
                self.client_aborted()  # closed before its first byte: HAProxy still logs it
            return None  # ConnectionClosed: the client left between requests

    def client_aborted(self) -> None:
        """The client closed before a whole request head: HAProxy sends nothing (nobody is
        there to read it) and logs a 400 `CR` with 0 bytes."""
        record = self.record
        if record is not None:
            record.status = 400
            if record.termination == "--":
                record.termination = "CR"

    # -- answers made here ---------------------------------------------------------------------

    async def reply_and_close(self, status: int, logged: bool = False) -> None:
        """An error page, then close (parse errors, 408): no exchange state to keep.
        `logged`: its bytes count in the log line (a body error, found inside the stream)."""
        if status != 408 or self.bytes_seen or not self.settings.ignore_probes:
            page = self.settings.frontend_pages.page(status, close=True)
            record = self.record
            if record is not None:
                record.status = status
                if record.termination == "--":
                    record.termination = "cR" if status == 408 else "PR"
            try:
                await send_all(self.client, page, self.settings.client_timeout)
            except (OSError, trio.TooSlowError):
                return
            self.counters.response(status)
            # Else not in the log's bytes: HAProxy's HTTP/1 layer sends these pages itself,
            # outside any stream, and logs 0 bytes for them.
            if record is not None and logged:
                record.bytes_out += len(page)

    async def answer(self, status: int, pages: PageFunction) -> bool:
        """A page of ours as the response to the current request; True to keep alive."""
        front = self.front
        if front.their_state != DONE:
            with contextlib.suppress(H1Error):
                front.next_event()  # a request without a body ends here (as in answer_reply)
        if front.their_state != DONE:
            front.disable_keep_alive()  # the request body was not read: closing skips it
        base = pages(status, close=False)
        _, _, body = base.partition(b"\r\n\r\n")
        # The protocol state must see a response go out, but the bytes sent are the page's own.
        front.send(Response(status, b"", headers=[(b"content-length", b"%d" % len(body))]))
        front.send(Data(body))
        front.send(EndOfMessage())
        keep = front.keep_alive
        page = base if keep else pages(status, close=True)
        self.counters.response(status)
        record = self.record
        if record is not None:
            record.status = status
        try:
            await send_all(self.client, page, self.settings.client_timeout)
        except (OSError, trio.TooSlowError):
            raise ClientGone from None
        # show stat counts the page as sizes.py says, on the rows the exchange reached
        # (forward() counts them at its end, run() what no forward() counted).
        head_end = base.find(b"\r\n\r\n") + 4
        self.res_size += canonical_head_size(base, head_end) + len(base) - head_end
        if record is not None:
            record.bytes_out += len(page)
        return keep

    # -- forwarding ----------------------------------------------------------------------------

    def take_idle(self, server: ServerRuntime) -> socket.socket | None:
        """backend.connect()'s hook: this client's own connection, or a pooled one."""
        conn = self.private
        pools = self.pools
        if conn is not None:
            self.private = None
            if conn.server is server:
                # Kept attached since this client's previous request, as HAProxy does: no
                # pool round trip; trusted like a pooled connection idle for a moment.
                if trio.current_time() - conn.idle_since < TRUSTED_IDLE or is_alive(conn.sock):
                    self.taken = conn
                    return conn.sock
                conn.close()
            elif pools is not None and pools.shares:
                pools.put(conn, conn.idle_since)
            else:
                conn.close()
        if pools is not None:
            conn = pools.take(server, self.requests == 1)
            if conn is not None:
                self.taken = conn
                return conn.sock
        return None

    async def connect_server(
        self, backend: BackendRuntime, key: bytes | None, **options: object
    ) -> tuple[ServerRuntime, socket.socket] | None:
        """backend.connect() for this client. HAProxy serves a queued request whose client
        left, unless `option abortonclose`: then the client is watched while it waits, and
        one that closes is dropped at once, unanswered, logged `CQ` (`CC` if connecting)."""
        if not self.settings.abort_on_close:
            return await backend.connect(
                key, self.client, take_idle=self.take_idle, log=self.record, **options
            )  # type: ignore[arg-type]
        started = trio.current_time()
        opened = None
        gone = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal gone
                await trio.lowlevel.wait_readable(self.client)
                if not self.client_still_there():  # else pipelined bytes: nothing to watch
                    gone = True
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            opened = await backend.connect(
                key,
                self.client,
                take_idle=self.take_idle,
                still_wanted=self.client_still_there,
                log=self.record,
                **options,  # type: ignore[arg-type]
            )
            nursery.cancel_scope.cancel()
        record = self.record
        if gone and opened is not None:  # connected as the client left: give it all back
            backend.release(opened[0])
            opened[1].close()
            if self.taken is not None:  # a pooled one: no longer counted in use
                self.taken.close()
            self.taken = None
        if gone or (opened is None and record is not None and record.termination == "CQ"):
            if record is not None:
                queued = not record.server
                record.termination = "CQ" if queued else "CC"
                if queued:
                    record.t_queue = int((trio.current_time() - started) * 1000)
            raise ClientGone
        return opened

    def client_still_there(self) -> bool:
        """After waiting in a queue: a client that closed or reset gives its slot up."""
        try:
            return bool(self.client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return True
        except OSError:
            return False

    def add_headers(self, request: Request) -> None:
        settings = self.settings
        peer = self.peer
        host = peer[0] if isinstance(peer, tuple) else None
        added = settings.forwardfor
        if (
            added is not None
            and host is not None
            and added.applies_to(host)
            and not (added.if_none and _has(request, added.name))
        ):
            # HAProxy 2.6 sends the names it adds in lower case (HTX), whatever `header NAME`
            request.headers.append((added.name.lower(), _unmapped(host).encode()))
        added = settings.originalto
        if added is not None:
            try:
                local = self.client.getsockname()
            except OSError:
                local = None
            if isinstance(local, tuple) and added.applies_to(local[0]):
                request.headers.append((added.name.lower(), _unmapped(local[0]).encode()))

    async def forward(
        self, request: Request, backend: BackendRuntime, forced: ServerRuntime | None = None
    ) -> bool:
        settings = self.settings
        page = settings.stats_page  # `stats enable` on this frontend/backend pair
        if page is not None:
            options = page.match(request)
            if options is not None:
                return await page.serve(self, request, options)  # worker/stats_page.py
        if self.record is not None and self.logger.unique_id is not None:  # type: ignore[union-attr]
            log_capture.add_unique_id(self, self.record, request.headers)  # before X-F-F
        self.add_headers(request)
        visit = self.visit = None
        if backend.cookie is not None:
            visit = self.read_cookie(request, backend.cookie, forced)
        if request.expects_continue:
            # We answer 100 ourselves once a server is there (see docs/MIGRATING.md).
            request.headers[:] = [(k, v) for k, v in request.headers if k.lower() != b"expect"]
        key = settings.lb_key(request, self.peer) if settings.lb_key is not None else None
        backend.session_started()
        server: ServerRuntime | None = None
        conn: ServerConn | None = None
        try:
            opened = await self.connect_server(
                backend,
                key,
                prefer=self.last_server if settings.prefer_last_server else None,
                # a use-server choice, else a cookie's: queued on it even when it is full
                direct=forced or (visit.server if visit is not None else None),
            )
            if opened is None:
                return await self.answer(503, self.error_pages)
            server, sock = opened
            if self.ctx is not None:
                self.ctx.server = server.name  # srv_name, %s in http-response rules
            self.log_server = server
            self.request_sent_at = trio.current_time()
            taken, self.taken = self.taken, None
            if taken is not None and taken.sock is sock:
                conn = taken
            else:
                conn = ServerConn(sock, server, settings.response_limits)
            self.last_server = server
            server.counters.http_requests += 1
            backend.counters.http_requests += 1
            if request.expects_continue:
                await self.to_client(self.front.send(Response(100, b"Continue")))
            conn, given = None, conn  # exchange_with() disposes of it on every path
            try:
                await self.exchange_with(request, given)
            except RuleAnswer as ruled:  # http-response deny/return: the response is dropped
                if ruled.reply.kind == DROP:  # http-response silent-drop
                    reset_connection(self.client)
                    raise ClientGone from None
                if self.record is not None:
                    self.record.termination = "LH" if ruled.reply.kind == INTERCEPT else "PH"
                after = after_response_rules(self.response_rules or ())
                if after:
                    ctx, render = self.ctx, ruled.render
                    return await self.answer(
                        ruled.reply.status,
                        lambda status, close: apply_after_rules(
                            render(status, close=False), ctx, after, close
                        ),
                    )
                return await self.answer(ruled.reply.status, ruled.render)
            except BadBody as bad:
                # The server saw part of a request: its connection is closed (by
                # exchange_with), the client gets HAProxy's answer and is closed too.
                self.counters.failed_requests += 1
                await self.reply_and_close(bad.status, logged=True)
                return False
            except ServerFailed as failure:
                return await self.server_failed(failure, backend, server)
            return self.front.keep_alive
        finally:
            if conn is not None:
                conn.close()
            count_bytes(
                self.counters,
                backend.counters,
                server.counters if server is not None else None,
                self.req_size,
                self.res_size,
            )
            self.req_size = self.res_size = 0
            if server is not None:
                backend.release(server)
            backend.session_ended()

    async def server_failed(
        self, failure: ServerFailed, backend: BackendRuntime, server: ServerRuntime
    ) -> bool:
        """The server failed this exchange: count it, log why, and answer the client with
        the failure's status, or cut it when the response was already under way."""
        backend.counters.failed_responses += 1
        server.counters.failed_responses += 1
        if server.observe_failure is not None:  # `observe layer7` (worker/check_observe.py)
            server.observe_failure(failure)
        if self.record is not None:
            self.record.termination = failure.termination or _SERVER_FAILURE.get(
                failure.status, "SH"
            )
        if failure.status == 0:
            raise ClientGone from None  # response under way: cut the client
        # HAProxy counts the answer in the backend's hrsp_* too (not the server's).
        backend.counters.response(failure.status)
        return await self.answer(failure.status, self.error_pages)

    def read_cookie(
        self, request: Request, cookie: CookiePersistence, forced: ServerRuntime | None
    ) -> CookieVisit:
        """Find the persistence cookie, strip what the server must not see (see
        haproxy_py/lb/persistence.py); the visit says which server it designates."""
        rule = self.persist_rule
        visit = self.visit = cookie.read_request(
            request.headers,
            _usable,
            now=int(time.time()),
            force=rule == "force-persist",
            ignore=rule == "ignore-persist",
            assigned=forced,
        )
        self.visit_method = request.method
        if self.record is not None:
            self.record.cookies = visit.state + "N"
        return visit

    def write_cookie(self, response: Response, server: ServerRuntime) -> None:
        """The response side of cookie persistence: Set-Cookie handling, nocache."""
        visit = self.visit
        backend = self.backend
        assert visit is not None and backend is not None and backend.cookie is not None
        letter = backend.cookie.write_response(
            visit,
            response.headers,
            server,
            method=self.visit_method,
            status=response.status,
            now=int(time.time()),
        )
        if self.record is not None:
            self.record.cookies = visit.state + letter

    def error_pages(self, status: int, *, close: bool) -> bytes:
        backend_pages = self.settings.backend_pages
        if backend_pages.has(status):
            return backend_pages.page(status, close=close)
        return self.settings.frontend_pages.page(status, close=close)

    async def to_client(self, data: bytes) -> None:
        try:
            await send_all(self.client, data, self.settings.client_timeout)
        except (OSError, trio.TooSlowError):
            raise ClientGone from None

    async def exchange_with(self, request: Request, conn: ServerConn) -> None:
        """Send the request on `conn` and relay the response; then pool, keep or close `conn`."""
        current = conn
        try:
            if self.settings.mode != KEEP_ALIVE:
                conn.h1.disable_keep_alive()
            conn.requests += 1
            if conn.requests > 1:
                conn.server.counters.reuses += 1
            wire, whole = await self.send_request(request, conn)
            try:
                await self.to_server(conn, wire)
                self.sent_at = conn.server.counters.clock.read()  # for rtime
                outcome = await self.relay_response(conn)
            except ServerFailed as failure:
                if not (failure.replayable and conn.reused and whole):
                    raise
                # An idle connection the server had closed meanwhile: once more, on a new one.
                conn.close()
                current = await self.reopen(conn.server, request, wire)
                outcome = await self.relay_response(current)
            if outcome == "tunnel":
                await self.tunnel(current)
                return
            h1 = current.h1
            if h1.keep_alive and h1.their_state == DONE and h1.our_state == DONE:
                h1.start_next_cycle()
                current.idle_since = trio.current_time()
                self.private, current = current, None
        finally:
            if current is not None:
                current.close()

    async def reopen(self, server: ServerRuntime, request: Request, wire: bytes) -> ServerConn:
        assert self.backend is not None
        sock = await self.backend.open_fresh(server, self.client)
        if sock is None:
            raise ServerFailed(503, False)
        conn = ServerConn(sock, server, self.settings.response_limits)
        try:
            if self.settings.mode != KEEP_ALIVE:
                conn.h1.disable_keep_alive()
            # The protocol state of "this request was sent"; the bytes sent are `wire`.
            headers = [(k, v) for k, v in request.headers if k.lower() != b"content-length"]
            conn.h1.send(Request(request.method, request.target, request.version, headers))
            conn.h1.send(EndOfMessage())
            conn.requests = 1
            await self.to_server(conn, wire)
            self.sent_at = server.counters.clock.read()  # for rtime
        except BaseException:
            conn.close()
            raise
        return conn

    async def send_request(self, request: Request, conn: ServerConn) -> tuple[bytes, bool]:
        """Forward the request, keeping its last part unsent: (that part, it is the whole)."""
        front = self.front
        h1 = conn.h1
        parts = [h1.send(request)]
        whole = True
        while True:
            try:
                event = front.next_event()
            except H1Error as exc:
                self.capture(front, exc, conn, response=False)
                raise BadBody(exc.status) from None
            if event is NEED_DATA:
                await self.to_server(conn, b"".join(parts))
                parts.clear()
                whole = False
                deadline = trio.current_time() + self.settings.client_timeout
                data = await recv_some_or_gone(self.client, deadline)
                if not data:  # timeout or EOF inside the body
                    raise ClientGone
                if self.record is not None:
                    self.record.bytes_in += len(data)
                front.receive_data(data)
                continue
            parts.append(h1.send(event))  # type: ignore[arg-type]
            if event.__class__ is Data:
                self.req_size += len(event.data)  # type: ignore[union-attr]
            elif event.__class__ is EndOfMessage:
                if _chunked(request.headers):
                    self.req_size += END_OF_CHUNKED + fields_size(event.trailers)  # type: ignore[union-attr]
                return b"".join(parts), whole

    def capture(self, h1: object, exc: H1Error, conn: ServerConn, *, response: bool) -> None:
        """`show errors`: keep the message refused (worker/error_captures.py)."""
        backend = self.backend.name if self.backend is not None else ""
        proxy, other = (backend, self.frontend_name) if response else (self.frontend_name, backend)
        where = {"proxy": proxy, "other": other, "server": conn.server.name, "peer": self.peer}
        capture_error(h1, exc, response=response, in_body=True, **where)

    async def to_server(self, conn: ServerConn, data: bytes) -> None:
        if not data:
            return
        try:
            await send_all(conn.sock, data, self.settings.server_timeout)
        except trio.TooSlowError:
            raise ServerFailed(504, False) from None
        except OSError:
            raise ServerFailed(502, True) from None

    async def relay_response(self, conn: ServerConn) -> str:
        """Read the response and forward it; "tunnel" when the protocol switched."""
        h1 = conn.h1
        front = self.front
        sock = conn.sock
        out: list[bytes] = []
        started = False  # a final response head went to the client
        received = False
        server = conn.server
        timeout = self.settings.server_timeout
        chunked = False
        held: list = []  # body events read with a chunked head (read_held_body), reversed
        self.res_flushed = self.res_size  # bout of what went out: kept when refused
        while True:
            if held:
                event = held.pop()
            else:
                try:
                    event = h1.next_event()
                except H1Error as exc:
                    raise await self.refuse_response(conn, exc, started, received, out) from None
            cls = event.__class__
            if event is NEED_DATA:
                if out:
                    await self.flush(out)
                    self.res_flushed = self.res_size
                try:
                    # The first read follows our request: the server cannot have answered.
                    data = await recv_some(sock, trio.current_time() + timeout, not received)
                except OSError:
                    raise ServerFailed(0 if started else 502, not received) from None
                if data is None:
                    raise ServerFailed(0 if started else 504, False)
                if data:
                    received = True
                h1.receive_data(data)
                continue
            if cls is Data:
                self.res_size += len(event.data)  # type: ignore[union-attr]
                out.append(front.send(event))  # type: ignore[arg-type]
            elif cls is EndOfMessage:
                if chunked:
                    self.res_size += END_OF_CHUNKED + fields_size(event.trailers)  # type: ignore[union-attr]
                out.append(front.send(event))  # type: ignore[arg-type]
                await self.flush(out)
                return "done"
            elif cls is Response:
                status = event.status  # type: ignore[union-attr]
                headers = event.headers  # type: ignore[union-attr]
                self.res_size += response_head_size(event.version, event.reason, headers)  # type: ignore[union-attr]
                if status < 200 or status == 101:
                    out.append(front.send(event))  # type: ignore[arg-type]
                    if status != 101:
                        continue  # interim: the final response follows
                else:
                    chunked = _chunked(headers)
                    if chunked:
                        # A bad chunk read with the head makes it all invalid: 502, as
                        # HAProxy, before the head is counted, logged or sent.
                        try:
                            held = h1.read_held_body()
                        except H1Error as exc:
                            raise await self.refuse_response(conn, exc, False, True, out) from None
                        held.reverse()
                    # rtime: request sent to response head (the counters' coarse clock)
                    response_ms = int((server.counters.clock.read() - self.sent_at) * 1000)
                    server.counters.timing(RTIME_SUM, response_ms)
                    if self.response_rules is not None:
                        self.apply_response_rules(event, self.response_rules)  # type: ignore[arg-type]
                        status = event.status  # type: ignore[union-attr]
                    if self.visit is not None:
                        self.write_cookie(event, server)  # type: ignore[arg-type]
                    out.append(front.send(event))  # type: ignore[arg-type]
                started = True
                self.counters.response(status)
                if self.record is not None:
                    self.log_response(event)  # type: ignore[arg-type]
                server.counters.response(status)
                if server.observe_http is not None:  # `observe layer7`
                    server.observe_http(status)
                if self.backend is not None:
                    self.backend.counters.response(status)
                if status == 101 or front.our_state == "TUNNEL":
                    await self.flush(out)
                    return "tunnel"
            elif cls is ConnectionClosed:
                raise ServerFailed(0 if started else 502, not received)

    async def refuse_response(
        self, conn: ServerConn, exc: H1Error, started: bool, received: bool, out: list[bytes]
    ) -> ServerFailed:
        """An invalid response (haproxy_py/proto/http1/failure.py): before its head went
        out, 502 `PH` (what `out` holds, an interim response read with it, is dropped as
        HAProxy drops it); after, what was parsed before the error goes out, then the cut."""
        self.capture(conn.h1, exc, conn, response=True)
        closed = closed_inside(exc.reason)
        status, termination = invalid_response(started, closed)
        if started and out:
            with contextlib.suppress(ClientGone):
                await self.flush(out)
        elif not started:
            self.res_size = self.res_flushed  # show stat's bout: the dropped parts are not
        # Replayed on a fresh connection only when a reused one closed before a byte came.
        return ServerFailed(status, closed and not received, termination)

    async def flush(self, out: list[bytes]) -> None:
        data = b"".join(out) if len(out) > 1 else out[0]
        out.clear()
        if data:
            if self.record is not None:
                # Counted when forwarded, sent or not: HAProxy logs a `CD` response's bytes.
                self.record.bytes_out += len(data)
            await self.to_client(data)

    # -- logging (only when the frontend logs: self.record is None otherwise) -----------------

    def log_request(self, request: Request) -> None:
        record = self.record
        assert record is not None and self.log_base is not None
        now = trio.current_time()
        if not self.first_byte_at:
            self.first_byte_at = now
        record.t_request = int((now - self.first_byte_at) * 1000)
        record.method = request.method.decode("latin-1")
        record.uri = request.target.decode("latin-1")
        record.version = "HTTP/" + request.version.decode("latin-1")
        names = self.request_captures
        if names:
            record.request_captures = _capture(request.headers, names)
        log_capture.on_request(self, record, request.headers)

    def log_response(self, response: Response) -> None:
        record = self.record
        assert record is not None
        record.status = response.status
        if self.request_sent_at:
            record.t_response = int((trio.current_time() - self.request_sent_at) * 1000)
        names = self.response_captures
        if names:
            record.response_captures = _capture(response.headers, names)
            if self.ctx is not None and self.ctx.response_captured:  # `capture` actions
                fill_captures(record.response_captures, names, self.ctx.response_captured)
        log_capture.on_response(self, record, response.status, response.headers)

    async def tunnel(self, conn: ServerConn) -> None:
        """After 101 or a 2xx to CONNECT: bytes both ways until both sides are done."""
        early_from_client = self.front.take_trailing_data()
        early_from_server = conn.h1.take_trailing_data()
        if early_from_server:
            await self.to_client(early_from_server)
        if early_from_client:
            await self.to_server(conn, early_from_client)
        self.front.disable_keep_alive()
        try:
            await relay(self.client, conn.sock, pipes=self.pipes, timeouts=self.tunnel_timeouts)
        finally:
            conn.close()


class RuleAnswer(Exception):
    """An http-response rule answered instead of the server (deny, return)."""

    def __init__(self, reply: Reply, ctx: object) -> None:
        super().__init__(reply.status)
        self.reply = reply
        self.ctx = ctx

    def render(self, status: int, *, close: bool) -> bytes:
        return self.reply.render(self.ctx, close)  # type: ignore[arg-type]


# ServerFailed statuses -> termination state: cut during the response, bad response, timeout.
_SERVER_FAILURE = {0: "SD", 502: "SH", 503: "SC", 504: "sH"}
_COPIED = ("client_ip", "client_port", "frontend_ip", "frontend_port", "frontend", "mode",
           "pid", "hostname")  # fmt: skip


def _capture_names(captures: tuple) -> tuple[tuple[bytes, int], ...]:
    """(lower-case header name, length) per slot; b"" for a slot `capture` actions fill."""
    return tuple(((name or "").lower().encode("latin-1"), length) for name, length in captures)


def _capture(headers: list, names: tuple) -> list[str | None]:
    """The first value of each captured header, cut to its length (None when absent)."""
    found: list[str | None] = []
    for name, length in names:
        value = None
        for key, text in headers if name else ():
            if key.lower() == name:
                value = text.decode("latin-1")[:length]
                break
        found.append(value)
    return found


def _usable(server: ServerRuntime) -> bool:
    """A persistence cookie leads to its server while it is UP and not in maintenance (a
    draining server still takes its persistent clients)."""
    return server.lb.usable or server.draining


def _chunked(headers: list) -> bool:
    """A message with a Transfer-Encoding (framed as chunked: the parser refuses others)."""
    return any(len(key) == 17 and key.lower() == b"transfer-encoding" for key, _ in headers)


def _has(request: Request, name: bytes) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key, _ in request.headers)


def _unmapped(host: str) -> str:
    """An IPv4 client seen through a dual-stack listener is written as IPv4."""
    return host[7:] if host.startswith("::ffff:") and "." in host else host
