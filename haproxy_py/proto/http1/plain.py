"""The plain exchange: recognising, in one pass each, the common request and response.

Owns two pure checks used by the connections' one-step calls (connection.py:
`FrontendConnection.take_plain_request`, `pass_plain_response`) and, through them, by the
worker's fast path (worker/http_fast.py):
- `plain_request(buf, limits)`: `buf` is exactly one request head with no body, already in
  the canonical form the general path would forward unchanged (`METHOD SP /target SP
  HTTP/1.1`, `Name: value` lines, CRLF everywhere), with no framing or hop-by-hop header
  (Content-Length, Transfer-Encoding, Upgrade, Expect, Sec-WebSocket-Key), at most one Host
  and at most one `Connection: keep-alive` or `close`; gives the method, the bytes to forward
  (that Connection line removed) and whether the client keeps the connection, else None;
- `plain_response(buf, method, limits)`: `buf` is exactly one whole HTTP/1.1 final response
  framed by one plain Content-Length (or bodiless: HEAD, 204, 304), whose head is canonical
  apart from a `Connection: keep-alive` or `close` line; gives the bytes the general path
  would send to an HTTP/1.1 client (that line removed, and `Connection: close` added last when
  the client connection closes after it), the status and whether the server keeps the
  connection alive, else None.
Rules: both accept only what the strict parser (head.py, framing.py) accepts and give exactly
what the general event path gives (tests/unit/http1/test_plain.py checks this on the corpora
and on generated messages); None is never an error, only "take the general path", which
then finds any error itself. Neither copies the message when nothing is to be removed.
"""

from __future__ import annotations

import re

from haproxy_py.proto.http1.framing import MAX_CONTENT_LENGTH
from haproxy_py.proto.http1.head import H1Limits

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]++"
# A header line's value exactly as headers.py writes it: one space after the colon, no blank
# at either end, no CR, LF or NUL (the strict parser refuses those). Quantifiers are
# possessive: one pass, no backtracking. An empty value is left to the general path (the
# lookbehind sees the separator's space).
_VALUE = rb": (?:[^\x00\t\n\r ][^\x00\r\n]*+)?(?<![ \t])\r\n"


def _others(*special: bytes) -> bytes:
    """Any number of header lines whose name is none of `special` (any case)."""
    names = b"|".join(special)
    return rb"(?:(?!(?i:" + names + rb"):)" + _TOKEN + _VALUE + rb")*+"


# A request: no framing or hop-by-hop header but at most one Host (the general path
# compares several) and one `Connection: keep-alive|close` (group 2 or 4: the line, 3 or 5:
# "keep-alive"), an origin-form target, HTTP/1.1.
_REQUEST_OTHERS = _others(
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"upgrade",
    b"expect",
    b"sec-websocket-key",
    b"host",
)
_REQUEST_HOST = rb"(?i:host)" + _VALUE + _REQUEST_OTHERS
_REQUEST_CONNECTION = rb"((?i:connection): (?i:(keep-alive)|close)\r\n)" + _REQUEST_OTHERS
_REQUEST = re.compile(
    rb"(?!CONNECT )("
    + _TOKEN
    + rb") /[\x21\x22\x24-\x7e]*+ HTTP/1\.1\r\n"
    + _REQUEST_OTHERS
    + rb"(?:"
    + (_REQUEST_HOST + rb"(?:" + _REQUEST_CONNECTION + rb")?")
    + rb"|"
    + (_REQUEST_CONNECTION + rb"(?:" + _REQUEST_HOST + rb")?")
    + rb")?\r\n"
)
# A response: at most one Content-Length (group 2 or 7: its digits), at most one Connection
# whose value is keep-alive or close (group 3 or 5: the whole line; 4 or 6: "keep-alive"),
# no Transfer-Encoding. The reason phrase is written back as parsed: it may not start with a
# blank (the parser would take that blank as the separator) and holds no control but HTAB.
_RESPONSE_OTHERS = _others(b"content-length", b"connection", b"transfer-encoding")
_CONTENT_LENGTH = rb"(?i:content-length): ([0-9]++)\r\n" + _RESPONSE_OTHERS
_CONNECTION = rb"((?i:connection): (?i:(keep-alive)|close)\r\n)" + _RESPONSE_OTHERS
_RESPONSE = re.compile(
    rb"HTTP/1\.1 ([2-5][0-9][0-9]) (?:[^\x00-\x08\x0a-\x20\x7f][^\x00-\x08\x0a-\x1f\x7f]*+)?\r\n"
    + _RESPONSE_OTHERS
    + rb"(?:"
    + (_CONTENT_LENGTH + rb"(?:" + _CONNECTION + rb")?")
    + rb"|"
    + (_CONNECTION + rb"(?:" + _CONTENT_LENGTH + rb")?")
    + rb")?\r\n"
)
_NO_BODY_STATUSES = (204, 304)
_CLOSE = b"Connection: close\r\n"


def plain_request(buf: bytes, limits: H1Limits) -> tuple[bytes, bytes, bool] | None:
    """(method, bytes to forward, client keeps alive) for the plain request that `buf` is
    entirely, or None (see the module)."""
    if len(buf) > limits.max_head_size or limits.accept_invalid:
        return None
    match = _REQUEST.fullmatch(buf)
    if match is None:
        return None
    if buf.count(b"\n") - 1 > limits.max_headers:  # the start line counts, the empty one not
        return None
    method, line_a, keep_a, line_b, keep_b = match.groups()
    if line_a is not None:
        start, end = match.span(2)
        keep_alive = keep_a is not None
    elif line_b is not None:
        start, end = match.span(4)
        keep_alive = keep_b is not None
    else:
        return method, buf, True
    # The forwarded request keeps the server connection alive: the line goes.
    return method, buf[:start] + buf[end:], keep_alive


def plain_response(
    buf: bytes, method: bytes, limits: H1Limits, close: bool = False
) -> tuple[bytes, int, bool] | None:
    """(bytes for the client, status, server keeps alive) for a plain response, or None.

    `close`: the client connection closes after it (`Connection: close` is added last)."""
    if limits.accept_invalid or method == b"CONNECT":
        return None  # (a 2xx to CONNECT switches to a tunnel)
    match = _RESPONSE.match(buf)
    if match is None:
        return None
    head_end = match.end()
    if head_end > limits.max_head_size or buf.count(b"\n", 0, head_end) - 1 > limits.max_headers:
        return None
    status, length_a, line_a, keep_a, line_b, keep_b, length_b = match.groups()
    status = int(status)
    if method == b"HEAD" or status in _NO_BODY_STATUSES:
        length = 0  # whatever Content-Length says, as response_framing() decides
    else:
        digits = length_a or length_b
        if digits is None:
            return None  # delimited by the server's close
        length = int(digits)
        if length > MAX_CONTENT_LENGTH:
            return None
    if head_end + length != len(buf):
        return None
    if line_a is not None:
        start, end = match.span(3)
        keep_alive = keep_a is not None
    elif line_b is not None:
        start, end = match.span(5)
        keep_alive = keep_b is not None
    else:
        start = end = head_end - 2
        keep_alive = True
    if close:
        cut = head_end - 2
        return buf[:start] + buf[end:cut] + _CLOSE + buf[cut:], status, keep_alive
    if start == end:
        return buf, status, keep_alive
    return buf[:start] + buf[end:], status, keep_alive
