"""The answers a rule makes instead of the server: `Reply` (deny, tarpit, auth, return, the
error pages) and `Redirect` (both `redirect` forms), with HAProxy 2.6's reason phrases.

A Reply says how the session must count and log it (`kind`) and how long to hold the client
first (`hold`, tarpit); rendering is pure and runs only when the answer is sent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haproxy_py.sample import HttpResponse, SampleContext
from haproxy_py.sample.http_parts import path_and_query
from worker.http_errors import with_close

Formatted = Callable[[SampleContext], bytes]

# HAProxy 2.6's reason phrases for the statuses a rule may produce.
REASONS = {
    100: b"Continue", 200: b"OK", 201: b"Created", 202: b"Accepted",
    203: b"Non-Authoritative Information", 204: b"No Content", 205: b"Reset Content",
    206: b"Partial Content", 300: b"Multiple Choices", 301: b"Moved Permanently",
    302: b"Found", 303: b"See Other", 304: b"Not Modified", 307: b"Temporary Redirect",
    308: b"Permanent Redirect", 400: b"Bad Request", 401: b"Unauthorized",
    402: b"Payment Required", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 406: b"Not Acceptable", 407: b"Proxy Authentication Required",
    408: b"Request Time-out", 409: b"Conflict", 410: b"Gone", 411: b"Length Required",
    412: b"Precondition Failed", 413: b"Request Entity Too Large",
    414: b"Request-URI Too Long", 415: b"Unsupported Media Type", 421: b"Misdirected Request",
    425: b"Too Early", 429: b"Too Many Requests", 500: b"Internal Server Error",
    501: b"Not Implemented", 502: b"Bad Gateway", 503: b"Service Unavailable",
    504: b"Gateway Time-out", 505: b"HTTP Version not supported",
}  # fmt: skip
# A status without a phrase of its own gets its class's, as HAProxy's (299 -> "Success").
_CLASS_REASONS = {1: b"Informational", 2: b"Success", 3: b"Redirection", 4: b"Client Error",
                  5: b"Server Error"}  # fmt: skip
_NO_CACHE_CODES = (302, 303, 307)  # redirects HAProxy marks `cache-control: no-cache`
_BODYLESS = (204, 304)

# Reply kinds: how the session counts and logs the answer.
INTERCEPT = "intercept"  # return, redirect, auth: `intercepted`, termination LR
DENY = "deny"  # deny: `denied` (dreq), termination PR
TARPIT = "tarpit"  # held `hold` seconds, then answered: `denied`, termination PT
DROP = "drop"  # silent-drop: no answer, the connection vanishes; `denied`, PR
REJECT = "reject"  # http-request reject: no answer, the connection is closed; `denied`, PR


def reason_of(status: int) -> bytes:
    return REASONS.get(status) or _CLASS_REASONS.get(status // 100, b"Other")


def const(value: bytes) -> Formatted:
    return lambda ctx: value


@dataclass(frozen=True, slots=True)
class Reply:
    """A response made by a rule: a fixed page (deny's error page) or parts to format."""

    status: int
    page: bytes | None = None  # the whole response, as an error page is
    headers: tuple[tuple[bytes, Formatted], ...] = ()
    content_type: bytes | None = None
    body: Formatted | None = None
    length_first: bool = False  # redirects: content-length before the other headers
    kind: str = INTERCEPT
    hold: float = 0.0  # seconds to keep the client waiting first (tarpit)

    def render(self, ctx: SampleContext, close: bool) -> bytes:
        if self.page is not None:
            return with_close(self.page) if close else self.page
        status = self.status
        lines = [b"HTTP/1.1 %d %s" % (status, reason_of(status))]
        body = self.body(ctx) if self.body is not None else b""
        length = status not in _BODYLESS and status >= 200
        if self.length_first:
            lines.append(b"content-length: %d" % len(body))
            length = False
        lines += [name + b": " + value(ctx) for name, value in self.headers]
        if length:
            lines.append(b"content-length: %d" % len(body))
        if self.content_type is not None:
            lines.append(b"content-type: " + self.content_type)
        if close:
            lines.append(b"connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


SILENT_DROP = Reply(0, page=b"", kind=DROP)
REJECTED = Reply(0, page=b"", kind=REJECT)


def with_header(page: bytes, line: bytes) -> bytes:
    """An error page with one more header line at the end of its head (auth's realm)."""
    end = page.find(b"\r\n\r\n")
    return page[:end] + b"\r\n" + line + page[end:] if end >= 0 else page


def cookie_header(set_cookie: str | None, clear_cookie: str | None) -> bytes | None:
    """The set-cookie value of a redirect's `set-cookie NAME=V` or `clear-cookie NAME`."""
    if set_cookie is not None:
        return set_cookie.encode() + b"; path=/;"
    if clear_cookie is not None:
        return clear_cookie.encode() + b"; path=/; Max-Age=0;"
    return None


@dataclass(frozen=True, slots=True)
class Redirect:
    code: int
    kind: str  # location | prefix | scheme
    target: Formatted
    drop_query: bool = False
    append_slash: bool = False
    ignore_empty: bool = False
    cookie: bytes | None = None  # the whole set-cookie value

    def __call__(self, ctx: SampleContext) -> Reply | None:
        target = self.target(ctx)
        if not target and self.ignore_empty:
            return None
        location = target if self.kind == "location" else self._location(ctx, target)
        headers: list[tuple[bytes, Formatted]] = [(b"location", const(location))]
        if self.code in _NO_CACHE_CODES:
            headers.append((b"cache-control", const(b"no-cache")))
        if self.cookie is not None:
            headers.append((b"set-cookie", const(self.cookie)))
        return Reply(self.code, headers=tuple(headers), length_first=True)

    def _location(self, ctx: SampleContext, target: bytes) -> bytes:
        request = ctx.request
        raw = request.target if request is not None else b"/"
        path, query = path_and_query(raw)
        if self.append_slash and not path.endswith(b"/"):
            path += b"/"
        if query is not None and not self.drop_query:
            path += b"?" + query
        if self.kind == "prefix":
            return path if target == b"/" else target + path
        hosts = [v for k, v in request.headers if k.lower() == b"host"] if request else []
        return target + b"://" + (hosts[0] if hosts else b"") + path


# -- what the HTTP session does with a Reply (worker/http_session.py) -------------------------

_TERMINATION = {INTERCEPT: "LR", DENY: "PR", TARPIT: "PT", DROP: "PR", REJECT: "PR"}


def account_reply(reply: Reply, counters: Any, record: Any) -> None:
    """Count a rule's answer as HAProxy does (deny/tarpit/silent-drop: dreq; the others:
    intercepted) and give the log record its termination state (PR, PT or LR)."""
    if reply.kind == INTERCEPT:
        counters.intercepted += 1
    else:
        counters.denied += 1
    if record is not None:
        record.termination = _TERMINATION[reply.kind]
        if reply.kind in (DROP, REJECT):
            record.status = -1


_TCP_REPAIR = 19  # linux/tcp.h; not in the socket module


def reset_connection(sock: socket.socket) -> None:
    """silent-drop, as HAProxy: with CAP_NET_ADMIN, TCP_REPAIR makes the coming close send
    nothing at all (the client still believes the connection open); without it the close
    sends an RST whose TTL of 1 keeps it from passing the first router."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_REPAIR, 1)
        return
    except OSError:
        pass
    with contextlib.suppress(OSError):
        level, option = (
            (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)
            if sock.family == socket.AF_INET6
            else (socket.IPPROTO_IP, socket.IP_TTL)
        )
        sock.setsockopt(level, option, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def fill_captures(slots: list[str | None] | None, names: tuple, captured: dict[int, bytes]) -> None:
    """Put the values of `capture` actions into a log record's capture slots, each cut to its
    slot's length (a slot number the frontend does not have is dropped, as HAProxy's)."""
    if slots is None or not captured:
        return
    for slot, value in captured.items():
        if 0 <= slot < len(slots):
            slots[slot] = value[: names[slot][1]].decode("latin-1")


def after_response_rules(sources: tuple[Any, ...]) -> list[Callable[[SampleContext], Any]]:
    """The http-after-response rule sets among `sources` (ProxyRules or None), each once."""
    runners: list[Callable[[SampleContext], Any]] = []
    seen: set[int] = set()
    for rules in sources:
        if rules is not None and rules.http_after_response is not None and id(rules) not in seen:
            seen.add(id(rules))
            runners.append(rules.http_after_response)
    return runners


def apply_after_rules(
    page: bytes,
    ctx: SampleContext,
    runners: list[Callable[[SampleContext], Any]],
    close: bool = False,
) -> bytes:
    """HAProxy runs http-after-response rules on its own answers too: the answer's head is
    read back into `ctx.response`, the rules change it, and it is written again (header
    order kept, added headers last, names in lower case, as HAProxy's)."""
    head, sep, body = page.partition(b"\r\n\r\n")
    if not sep:
        return page
    status_line, *lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return page
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, _, value = line.partition(b":")
        headers.append((name, value.strip()))
    reason = parts[2] if len(parts) > 2 else b""
    response = ctx.response = HttpResponse(status, b"1.1", headers, reason=reason)
    for run in runners:
        run(ctx)
    lines = [b"HTTP/1.1 %d %s" % (response.status, response.reason)]
    lines += [name.lower() + b": " + value for name, value in response.headers]
    page = b"\r\n".join(lines) + b"\r\n\r\n" + body
    return with_close(page) if close else page  # the connection header comes last
