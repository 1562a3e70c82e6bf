"""Deciding how a parsed message's body is delimited, and whether the connection survives it.

Owns the anti-smuggling rules on Content-Length and Transfer-Encoding, as HAProxy 2.6.12 applies
them (each verified against the installed haproxy, see tests/unit/http1/test_hostile.py):
- Transfer-Encoding wins over Content-Length; the Content-Length headers are removed from the
  event (so they are never forwarded) and the connection is closed after the exchange;
- a request's codings must end with exactly one `chunked` (else 400); other codings before
  it get 422, as HAProxy answers (an empty item, as in `,chunked`, counts as another coding);
  a response's likewise (else 502);
- Content-Length is a comma list of digits (OWS allowed around items); different values, an
  empty item, a sign or anything not a digit is an error; identical repeats are merged into
  one header;
- a request with two different Host values, or whose absolute-form target names another
  authority than Host, is refused; a WebSocket upgrade without Sec-WebSocket-Key is refused.
Missing Host on HTTP/1.1 is accepted (HAProxy 2.6 forwards it).
"""

from __future__ import annotations

from haproxy_py.proto.http1.events import H1Error, Headers, Request, Response
from haproxy_py.proto.http1.head import HeadInfo
from haproxy_py.proto.http1.headers import lower_names, split_tokens

# Body kinds.
NO_BODY = 0
LENGTH = 1
CHUNKED = 2
UNTIL_CLOSE = 3  # responses only: the body ends when the server closes
TUNNEL = 4  # after the head, bytes are opaque both ways (101, 2xx to CONNECT)

MAX_CONTENT_LENGTH = 2**63 - 1


class Framing:
    """How the body after a head is delimited, and whether keep-alive is possible."""

    __slots__ = ("keep_alive", "kind", "length")

    def __init__(self, kind: int, length: int, keep_alive: bool) -> None:
        self.kind = kind
        self.length = length
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"Framing(kind={self.kind}, length={self.length}, keep_alive={self.keep_alive})"


def _keep_alive(version: bytes, connection: list[bytes]) -> bool:
    if not connection:
        return version != b"1.0"
    if len(connection) == 1 and b"," not in connection[0]:
        # The usual single token; the parser has trimmed the value's blanks already.
        token = connection[0].strip(b" \t").lower()
        found = [token]
    else:
        found = []
        for value in connection:
            found.extend(split_tokens(value))
    if version == b"1.0":
        return b"keep-alive" in found and b"close" not in found
    return b"close" not in found


def transfer_codings(value: bytes) -> list[bytes]:
    """The codings of one Transfer-Encoding value, lower-cased, as HAProxy 2.6 reads them.

    Blanks around items are skipped; an item that is empty because a comma comes first or
    right after another comma (",chunked", "gzip,,chunked") is an unknown coding (b""), which
    makes `,chunked` a request HAProxy answers 422; a trailing comma adds nothing.
    """
    codings: list[bytes] = []
    for item in value.split(b","):
        codings.append(item.strip(b" \t").lower())
    if len(codings) > 1 and not codings[-1] and value.rstrip(b" \t").endswith(b","):
        codings.pop()  # "chunked," : the last comma starts no item
    if codings == [b""]:
        return []
    return codings


def _chunked_last(info: HeadInfo, status: int) -> bool:
    """Check Transfer-Encoding; True when other codings come before `chunked`."""
    codings: list[bytes] = []
    for _, value, _ in info.transfer_encoding:
        codings.extend(transfer_codings(value))
    offset = info.transfer_encoding[0][2]
    if not codings or codings[-1] != b"chunked":
        raise H1Error(status, "Transfer-Encoding does not end with chunked", offset)
    if b"chunked" in codings[:-1]:
        raise H1Error(status, "chunked applied more than once", offset)
    return len(codings) > 1


def _content_length(headers: Headers, info: HeadInfo, status: int) -> int:
    """The one Content-Length value; repeats of it are merged into the first header."""
    length = -1
    for _, value, offset in info.content_length:
        for item in value.split(b","):
            item = item.strip(b" \t")
            if not item.isdigit():
                raise H1Error(status, "invalid Content-Length", offset)
            number = int(item)
            if number > MAX_CONTENT_LENGTH:
                raise H1Error(status, "Content-Length too large", offset)
            if length >= 0 and number != length:
                raise H1Error(status, "different Content-Length values", offset)
            length = number
    first, value, _ = info.content_length[0]
    if len(info.content_length) > 1 or b"," in value:
        headers[first] = (headers[first][0], b"%d" % length)
        drop = {index for index, _, _ in info.content_length[1:]}
        headers[:] = [pair for index, pair in enumerate(headers) if index not in drop]
    return length


def _drop_content_length(headers: Headers, info: HeadInfo) -> None:
    drop = {index for index, _, _ in info.content_length}
    headers[:] = [pair for index, pair in enumerate(headers) if index not in drop]


def _check_host(request: Request, info: HeadInfo) -> None:
    if len(info.host) > 1:
        hosts = {value.lower() for _, value, _ in info.host}
        if len(hosts) > 1:
            raise H1Error(400, "different Host values", info.host[1][2])
    target = request.target
    if b"://" in target[:16]:
        hosts = {value.lower() for _, value, _ in info.host}
        _, _, rest = target.partition(b"://")
        end = len(rest)
        for stop in (b"/", b"?"):
            found = rest.find(stop)
            if 0 <= found < end:
                end = found
        authority = rest[:end].rsplit(b"@", 1)[-1].lower()
        if authority not in hosts:
            raise H1Error(400, "Host differs from the target's authority", info.host[0][2])


def request_framing(request: Request, info: HeadInfo) -> Framing:
    """Check a parsed request's framing headers (may edit its headers); raises H1Error(400)."""
    keep_alive = _keep_alive(request.version, info.connection)
    if info.host:
        _check_host(request, info)
    if info.upgrade and not info.ws_key and _is_websocket_upgrade(info):
        raise H1Error(400, "WebSocket upgrade without Sec-WebSocket-Key", 0)
    if info.expect and request.version == b"1.1":
        request.expects_continue = any(v.lower() == b"100-continue" for v in info.expect)
    if info.transfer_encoding:
        if _chunked_last(info, 400):
            raise H1Error(
                422, "unsupported transfer-coding before chunked", info.transfer_encoding[0][2]
            )
        if info.content_length:
            _drop_content_length(request.headers, info)
            keep_alive = False
        return Framing(CHUNKED, 0, keep_alive)
    if info.content_length:
        length = _content_length(request.headers, info, 400)
        return Framing(LENGTH if length else NO_BODY, length, keep_alive)
    return Framing(NO_BODY, 0, keep_alive)


def _is_websocket_upgrade(info: HeadInfo) -> bool:
    connection = [t for value in info.connection for t in split_tokens(value)]
    upgrade = [t for value in info.upgrade for t in split_tokens(value)]
    return b"upgrade" in connection and b"websocket" in upgrade


def wants_upgrade(headers: Headers, lnames: list[bytes] | None = None) -> bool:
    """The request asks for a protocol switch (Connection: upgrade and an Upgrade header).

    `lnames` is `lower_names(headers)` when the caller has it.
    """
    if lnames is None:
        lnames = lower_names(headers)
    if b"upgrade" not in lnames:
        return False
    connection: list[bytes] = []
    for lname, (_, value) in zip(lnames, headers, strict=True):
        if lname == b"connection":
            connection.extend(split_tokens(value))
    return b"upgrade" in connection


def response_framing(response: Response, info: HeadInfo, method: bytes) -> Framing:
    """Check a parsed response's framing against its request's method; raises H1Error(502)."""
    keep_alive = _keep_alive(response.version, info.connection)
    status = response.status
    if status == 101 or (method == b"CONNECT" and 200 <= status < 300):
        return Framing(TUNNEL, 0, False)
    if status < 200 or status in (204, 304) or method == b"HEAD":
        return Framing(NO_BODY, 0, keep_alive)
    if info.transfer_encoding:
        _chunked_last(info, 502)
        if info.content_length:
            _drop_content_length(response.headers, info)
            keep_alive = False
        return Framing(CHUNKED, 0, keep_alive)
    if info.content_length:
        length = _content_length(response.headers, info, 502)
        return Framing(LENGTH if length else NO_BODY, length, keep_alive)
    return Framing(UNTIL_CLOSE, 0, False)


def outgoing_framing(
    headers: Headers, response: Response | None, method: bytes, lnames: list[bytes] | None = None
) -> Framing:
    """The framing of a message we send, read from its (trusted) headers.

    `response` is None for a request; `method` is the request's method in both cases;
    `lnames` is `lower_names(headers)` when the caller has it.
    """
    if response is not None:
        status = response.status
        if status == 101 or (method == b"CONNECT" and 200 <= status < 300):
            return Framing(TUNNEL, 0, False)
        if status < 200 or status in (204, 304) or method == b"HEAD":
            return Framing(NO_BODY, 0, True)
    if lnames is None:
        lnames = lower_names(headers)
    if b"transfer-encoding" in lnames:
        return _outgoing_te_framing(headers, response)
    if b"content-length" in lnames:
        length = -1
        if lnames.count(b"content-length") == 1:
            length = int(headers[lnames.index(b"content-length")][1].split(b",")[0])
        else:  # the last one counts, but every one must be a number
            for lname, (_, value) in zip(lnames, headers, strict=True):
                if lname == b"content-length":
                    length = int(value.split(b",")[0])
        return Framing(LENGTH if length else NO_BODY, length, True)
    if response is None:
        return Framing(NO_BODY, 0, True)
    return Framing(UNTIL_CLOSE, 0, False)


def _outgoing_te_framing(headers: Headers, response: Response | None) -> Framing:
    length = -1
    for name, value in headers:
        lname = name.lower()
        if lname == b"transfer-encoding" and split_tokens(value)[-1:] == [b"chunked"]:
            return Framing(CHUNKED, 0, True)
        if lname == b"content-length":
            length = int(value.split(b",")[0])
    if length >= 0:
        return Framing(LENGTH if length else NO_BODY, length, True)
    if response is None:
        return Framing(NO_BODY, 0, True)
    return Framing(UNTIL_CLOSE, 0, False)
