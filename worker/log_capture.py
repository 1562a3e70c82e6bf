"""What an HTTP request gives its log line besides the request line: `capture cookie` values,
the unique id and its header, the sample context `%[...]` reads.

Called by worker/http_session.py only when the frontend has a logger (`session.logger`), so
a frontend that logs nothing pays nothing.
"""

from __future__ import annotations

from typing import Any

from haproxy_py.logfmt import LogRecord
from haproxy_py.sample.context import HttpRequest, HttpResponse
from worker.rules import LiveContext


def find_cookie(
    headers: list[tuple[bytes, bytes]], header: bytes, prefix: bytes, length: int
) -> str:
    """The first `name=value` of a `header` (Cookie or Set-Cookie) whose name starts with
    `prefix`, cut to `length`; "" when there is none (`capture cookie`)."""
    for key, value in headers:
        if key.lower() != header:
            continue
        # Cookie carries several pairs split by ';'; Set-Cookie one pair then attributes.
        pairs = value.split(b";") if header == b"cookie" else value.split(b";", 1)[:1]
        for pair in pairs:
            pair = pair.strip()
            if pair.startswith(prefix) and b"=" in pair:
                return pair[:length].decode("latin-1")
    return ""


def on_request(session: Any, record: LogRecord, headers: list[tuple[bytes, bytes]]) -> None:
    """At the request head: the request cookie capture and, for `%[...]`, the context."""
    logger = session.logger
    capture = logger.cookie_capture
    if capture is not None:
        name, length = capture
        record.request_cookie = find_cookie(headers, b"cookie", name.encode("latin-1"), length)
    unique = logger.unique_id
    if unique is not None and (logger.samples or session.rules is not None):
        ctx = session.ctx  # the `unique-id` fetch makes the id when a rule first reads it
        if ctx is None:
            ctx = session.ctx = LiveContext.open(session.client, session.peer, record.frontend)
        ctx.unique_id = lambda: logger.make_unique_id(record)
    if logger.samples:
        ctx = session.ctx
        if ctx is None:
            ctx = session.ctx = LiveContext.open(session.client, session.peer, record.frontend)
        ctx.request = HttpRequest(
            record.method.encode("latin-1"),
            record.uri.encode("latin-1"),
            record.version.encode("latin-1"),
            headers,
        )
        record.ctx = ctx


def on_response(session: Any, record: LogRecord, status: int, headers: list) -> None:
    """At the response head: the response cookie capture; `status` for `%[status]`."""
    logger = session.logger
    capture = logger.cookie_capture
    if capture is not None:
        name, length = capture
        record.response_cookie = find_cookie(headers, b"set-cookie", name.encode("latin-1"), length)
    ctx = record.ctx
    if ctx is not None and ctx.response is None:  # type: ignore[attr-defined]
        ctx.response = HttpResponse(status, headers=headers)  # type: ignore[attr-defined]


def add_unique_id(session: Any, record: LogRecord, headers: list[tuple[bytes, bytes]]) -> None:
    """Before the request goes to a server: make the unique id, add `unique-id-header`."""
    logger = session.logger
    unique = logger.make_unique_id(record)
    name = logger.unique_header
    if name is not None:
        headers.append((name, unique.encode("latin-1", "replace")))


def on_end(session: Any, record: LogRecord) -> None:
    """At the request's end: the level a `set-log-level` rule chose (then forgotten, so the
    connection's next request starts from the proxy's own level)."""
    ctx = session.ctx
    if ctx is not None:
        if ctx.log_level >= 0:
            record.level = ctx.log_level
            ctx.log_level = -1
        if not record.method:
            ctx.unique_id = None  # no request, no id (a parsed one gets its own at its head)
    if record.ctx is None and session.logger.samples:  # a request that was never parsed
        if ctx is None:
            ctx = session.ctx = LiveContext.open(session.client, session.peer, record.frontend)
        record.ctx = ctx
