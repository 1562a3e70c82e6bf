"""The PROXY protocol in the worker: the header read on `accept-proxy` listeners, the header
written first on `send-proxy`/`send-proxy-v2` server connections and on checks.

Receiving (`accept_proxy`): before anything else on the connection (rules, HTTP, relay), within
the frontend's `timeout client` as HAProxy 2.6 waits, the client's first bytes are peeked
(MSG_PEEK, so a refused connection still holds them and closes with a reset, as HAProxy's
does) and given to haproxy_py/proto/proxy_protocol.py; only the header's bytes are consumed.
The session then goes on with a `ProxiedSocket`: the same descriptor, whose getpeername() and
getsockname() answer the header's addresses, so that everything reading the client's or the
frontend's address (logs, `src`/`dst`, forwardfor, originalto, balance source) sees them.
A refused connection is logged as HAProxy logs it ("CLIENT:PORT [DATE] FE/LISTENER: REASON"),
except, with `option dontlognull`, one that sent nothing.

Sending (`server_header`): what a server connection starts with, from the session's addresses.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable
from typing import Any

import trio

from haproxy_py.logfmt.variables import date_ms
from haproxy_py.proto import proxy_protocol as pp
from haproxy_py.proto.syslog import INFO, LEVELS

PEEK_LIMIT = 16384  # tune.bufsize: the largest header read
POLL = 0.01  # seconds between two looks once part of a header is there
_ERR = LEVELS.index("err")


class ProxiedSocket(socket.socket):
    """A client socket whose addresses are those of its PROXY header."""

    proxied_peer: Any = None
    proxied_local: Any = None

    def getpeername(self) -> Any:
        return self.proxied_peer

    def getsockname(self) -> Any:
        return self.proxied_local


def with_addresses(client: socket.socket, header: pp.ProxyHeader) -> socket.socket:
    """`client` as a ProxiedSocket carrying the header's addresses (itself for LOCAL/UNKNOWN)."""
    if header.source is None:
        return client
    timeout = client.gettimeout()
    proxied = ProxiedSocket(client.family, client.type, client.proto, fileno=client.detach())
    proxied.settimeout(timeout)
    proxied.proxied_peer = header.source
    proxied.proxied_local = header.destination
    return proxied


async def read_header(client: socket.socket, timeout: float | None) -> pp.ProxyHeader:
    """Wait for the whole header (raises ProxyProtocolError with HAProxy's reason) and consume
    exactly its bytes."""
    deadline = trio.current_time() + timeout if timeout else float("inf")
    data = b""
    while True:
        try:
            data = client.recv(PEEK_LIMIT, socket.MSG_PEEK)
        except BlockingIOError:
            with trio.move_on_at(deadline):
                await trio.lowlevel.wait_readable(client)
                continue
            raise _timeout(data) from None
        except OSError:
            raise pp.ProxyProtocolError(pp.ABORTED) from None
        header = pp.parse_header(data, not data, PEEK_LIMIT)
        if header is pp.NEED_MORE and _peer_closed(client):
            # A peek cannot see the end of the stream behind the data: poll() says it.
            header = pp.parse_header(data, True, PEEK_LIMIT)
        if isinstance(header, pp.ProxyHeader):
            _consume(client, header.length)
            return header
        if trio.current_time() >= deadline:
            raise _timeout(data)
        await trio.sleep(min(POLL, max(0.0, deadline - trio.current_time())))


def _timeout(data: bytes) -> pp.ProxyProtocolError:
    error = pp.ProxyProtocolError(pp.TIMEOUT)
    error.received = bool(data)  # dontlognull keeps quiet only about silent clients
    return error


def _peer_closed(client: socket.socket) -> bool:
    poller = select.poll()
    poller.register(client.fileno(), select.POLLRDHUP)
    return any(events & (select.POLLRDHUP | select.POLLHUP) for _, events in poller.poll(0))


def _consume(client: socket.socket, length: int) -> None:
    while length > 0:  # the bytes were peeked: they are there
        try:
            taken = len(client.recv(length))
        except OSError:
            taken = 0
        if not taken:
            raise pp.ProxyProtocolError(pp.ABORTED)
        length -= taken


async def accept_proxy(
    listener: Any, client: socket.socket, peer: object
) -> tuple[socket.socket, object] | None:
    """The client socket and peer address to serve with (the header's), or None once a
    refused connection has been logged; the caller closes `client` then (unread bytes make
    that close a reset, as HAProxy's)."""
    accepted = time.time()
    frontend = listener.frontend
    try:
        header = await read_header(client, frontend.timeouts.client)
    except pp.ProxyProtocolError as exc:
        silent = str(exc) == pp.EMPTY or (str(exc) == pp.TIMEOUT and not exc.received)
        _log_refused(listener, exc.source or peer, accepted, str(exc), silent)
        return None
    if header.source is None:
        return client, peer
    return with_addresses(client, header), header.source


def may_expect_proxy(proxy: Any) -> bool:
    """Whether a `tcp-request connection expect-proxy` rule may ask for a header."""
    return any(
        rule.action == "expect-proxy" for rule in proxy.rules.get("tcp-request connection", ())
    )


def _log_refused(
    listener: Any, peer: object, accepted: float, reason: str, silent: bool = False
) -> None:
    logger = listener.frontend.logger
    if logger is None or logger.format is None or not logger.targets:
        return
    if logger.dontlognull and silent:
        return  # the client sent nothing
    host, port = (peer[0], peer[1]) if isinstance(peer, tuple) else ("unix", "")
    line = f"{host}:{port} [{date_ms(accepted)}] {listener_label(listener)}: {reason}"
    logger.emit(_ERR if logger.separate_errors else INFO, line)


def listener_label(listener: Any) -> str:
    """FRONTEND/NAME: the bind line's `name`, else the listener's number in its frontend."""
    frontend = listener.frontend
    name = listener.spec.options.get("name")
    if not name:
        number = 1
        state = frontend.worker
        if state is not None:
            mine = [x for x in state.listeners if x.frontend is frontend]
            number = next((i for i, x in enumerate(mine, 1) if x is listener), 1)
        name = str(number)
    return f"{frontend.name}/{name}"


# -- sending ----------------------------------------------------------------------------------


def server_header(
    options: Any, client: socket.socket | None, unique_id: Callable[[], str] | None = None
) -> bytes:
    """The header a `send-proxy`/`send-proxy-v2` server (its options) gets first, for the
    session of `client` (its addresses: the PROXY header's when it came with one); b"" when
    the server sends none."""
    v2 = options.get("send-proxy-v2")
    if not v2 and not options.get("send-proxy"):
        return b""
    source = destination = None
    if client is not None:
        with contextlib.suppress(OSError):
            source, destination = client.getpeername(), client.getsockname()
    if not v2:
        return pp.build_v1(source, destination)
    chosen = options.get("proxy-v2-options") or ()
    tlvs = []
    # `authority` is the client's TLS SNI: without TLS there is none, and HAProxy then
    # writes no such TLV either.
    if "unique-id" in chosen:
        value = unique_id() if unique_id is not None else ""
        tlvs.append((pp.PP2_TYPE_UNIQUE_ID, (value or "").encode()[:128]))
    return pp.build_v2(source, destination, tlvs, crc="crc32c" in chosen)


def check_header(options: Any, sock: socket.socket) -> bytes:
    """What a health check connection starts with: v2 LOCAL for a `send-proxy-v2` server,
    else a v1 line with the check connection's own addresses (as HAProxy 2.6 sends them)."""
    if options.get("send-proxy-v2"):
        return pp.build_v2(None, None)
    try:
        local, remote = sock.getsockname(), sock.getpeername()
    except OSError:
        local = remote = None
    return pp.build_v1(local, remote)


def checks_send_proxy(options: Any) -> bool:
    """check-send-proxy, or a send-proxy server checked on its own address and port."""
    if options.get("check-send-proxy"):
        return True
    sends = options.get("send-proxy") or options.get("send-proxy-v2")
    return bool(sends) and not options.get("port") and not options.get("addr")
