"""The plain exchange: recognising, in one pass each, the common request and response.

Owns two pure checks used by the connections' one-step calls (connection.py:
`FrontendConnection.take_plain_request`, `pass_plain_response`) and, through them, by the
worker's fast path (worker/http_fast.py):
- `plain_request(buf, limits)`: `buf` is exactly one request head with no body, already in
  the canonical form the general path would forward unchanged (`METHOD SP /target SP
  HTTP/1.1` or `HTTP/1.0`, `Name: value` lines, CRLF everywhere), with no framing or
  hop-by-hop header (Content-Length, Transfer-Encoding, Upgrade, Expect, Sec-WebSocket-Key),
  at most one Host and at most one `Connection: keep-alive` or `close`; gives the method, the
  bytes to forward to a kept-alive server connection (that Connection line removed; for
  HTTP/1.0, `Connection: keep-alive` added last, as the general path asks a 1.0 request's
  server to keep the connection), whether the client keeps the connection and the version,
  else None;
- `plain_response(buf, method, limits, last)`: `buf` is exactly one whole HTTP/1.1 final
  response framed by one plain Content-Length (or bodiless: HEAD, 204, 304), whose head is
  canonical apart from a `Connection: keep-alive` or `close` line; gives the bytes the
  general path would send to the client (that line removed, and `last` added as the last
  header line: `Connection: close` for an HTTP/1.1 client whose connection closes after it,
  `Connection: keep-alive` for an HTTP/1.0 one kept alive), the status and whether the
  server keeps the connection alive, else None.
Rules: both accept only what the strict parser (head.py, framing.py) accepts and give exactly
what the general event path gives (tests/unit/http1/test_plain.py checks this on the corpora
and on generated messages); None is never an error, only "take the general path", which
then finds any error itself. Neither copies the message when nothing is to be removed.
Each keeps its last verdict (one entry: the bytes, the other arguments, the answer): the
answer depends on nothing else, so equal bytes with the same limits (a frozen H1Limits, by
identity) get it without the match. wrk sends the same request on every connection and a
server the same response until its Date changes; most clients repeat themselves on one
connection. A different message costs one failed comparison (lengths differ, or memcmp
stops at the first difference); a response bigger than 8 KiB is not remembered.
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
# compares several) and one `Connection: keep-alive|close` (group 3 or 5: the line, 4 or 6:
# "keep-alive"), an origin-form target, HTTP/1.1 or 1.0 (group 2: the minor digit).
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
    + rb") /[\x21\x22\x24-\x7e]*+ HTTP/1\.([01])\r\n"
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
KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"
CLOSE_LINE = b"Connection: close\r\n"


_RequestVerdict = tuple[bytes, bytes, bool, bytes] | None
_ResponseVerdict = tuple[bytes, int, bool] | None
# A response up to this size is remembered (its body is compared too, which a big body
# would make dearer than the match, which reads the head only).
_CACHED_RESPONSE_MAX = 8192
# The last verdicts: (buf, limits, answer) and (buf, method, limits, last, answer).
_last_request: tuple[bytes, H1Limits | None, _RequestVerdict] = (b"", None, None)
_last_response: tuple[bytes, bytes, H1Limits | None, bytes, _ResponseVerdict] = (
    b"",
    b"",
    None,
    b"",
    None,
)


def plain_request(buf: bytes, limits: H1Limits) -> _RequestVerdict:
    """(method, bytes to forward, client keeps alive, version) for the plain request that
    `buf` is entirely, or None (see the module)."""
    global _last_request
    last = _last_request
    if last[0] == buf and last[1] is limits:
        return last[2]
    found = _plain_request(buf, limits)
    _last_request = (buf, limits, found)
    return found


def _plain_request(buf: bytes, limits: H1Limits) -> _RequestVerdict:
    if len(buf) > limits.max_head_size or limits.accept_invalid:
        return None
    match = _REQUEST.fullmatch(buf)
    if match is None:
        return None
    if buf.count(b"\n") - 1 > limits.max_headers:  # the start line counts, the empty one not
        return None
    method, minor, line_a, keep_a, line_b, keep_b = match.groups()
    if line_a is not None:
        start, end = match.span(3)
        keep_alive = keep_a is not None
    elif line_b is not None:
        start, end = match.span(5)
        keep_alive = keep_b is not None
    elif minor == b"1":
        return method, buf, True, b"1.1"
    else:
        # HTTP/1.0 without a Connection line: the client closes; the server is asked to keep.
        return method, buf[:-2] + KEEP_ALIVE_LINE + b"\r\n", False, b"1.0"
    # The forwarded request keeps the server connection alive: the line goes (and on 1.0,
    # whose default is to close, the keep-alive token is asked for last).
    if minor == b"1":
        return method, buf[:start] + buf[end:], keep_alive, b"1.1"
    return method, buf[:start] + buf[end:-2] + KEEP_ALIVE_LINE + b"\r\n", keep_alive, b"1.0"


def plain_response(
    buf: bytes, method: bytes, limits: H1Limits, last: bytes = b""
) -> _ResponseVerdict:
    """(bytes for the client, status, server keeps alive) for a plain response, or None.

    `last`: a header line added last (CLOSE_LINE, KEEP_ALIVE_LINE) or nothing."""
    global _last_response
    if len(buf) > _CACHED_RESPONSE_MAX:  # the match reads the head only: comparing costs more
        return _plain_response(buf, method, limits, last)
    seen = _last_response
    if seen[0] == buf and seen[1] == method and seen[2] is limits and seen[3] == last:
        return seen[4]
    found = _plain_response(buf, method, limits, last)
    _last_response = (buf, method, limits, last, found)
    return found


def _plain_response(buf: bytes, method: bytes, limits: H1Limits, last: bytes) -> _ResponseVerdict:
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
    if last:
        cut = head_end - 2
        return buf[:start] + buf[end:cut] + last + buf[cut:], status, keep_alive
    if start == end:
        return buf, status, keep_alive
    return buf[:start] + buf[end:], status, keep_alive
