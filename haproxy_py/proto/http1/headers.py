"""Header lists: case-insensitive look-ups, comma-list tokens, and serialising heads.

Rules: names compare case-insensitively but are never re-cased (what a peer sent is forwarded
as sent); order is preserved; nothing here validates (the parser did). Forwarding follows
HAProxy 2.6: it rewrites only the `close`/`keep-alive` tokens of Connection and otherwise
forwards every header, including the ones Connection names (`drop_connection_listed` exists
for callers that want RFC 9110's stricter hop-by-hop removal).
"""

from __future__ import annotations

from haproxy_py.proto.http1.events import Headers, Request, Response


def get(headers: Headers, name: bytes) -> bytes | None:
    """The first value of `name`, or None."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def get_all(headers: Headers, name: bytes) -> list[bytes]:
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]


def has(headers: Headers, name: bytes) -> bool:
    return get(headers, name) is not None


def remove(headers: Headers, name: bytes) -> int:
    """Remove every `name` header in place; return how many went."""
    name = name.lower()
    kept = [(key, value) for key, value in headers if key.lower() != name]
    removed = len(headers) - len(kept)
    if removed:
        headers[:] = kept
    return removed


def add(headers: Headers, name: bytes, value: bytes) -> None:
    headers.append((name, value))


def replace(headers: Headers, name: bytes, value: bytes) -> None:
    """Set `name` to one `value`: the first occurrence keeps its place and case, others go."""
    lname = name.lower()
    for index, (key, _) in enumerate(headers):
        if key.lower() == lname:
            headers[index] = (key, value)
            rest = [(k, v) for k, v in headers[index + 1 :] if k.lower() != lname]
            headers[index + 1 :] = rest
            return
    headers.append((name, value))


def split_tokens(value: bytes) -> list[bytes]:
    """The lower-cased, trimmed, non-empty elements of a comma list."""
    return [item.strip(b" \t").lower() for item in value.split(b",") if item.strip(b" \t")]


def tokens(headers: Headers, name: bytes) -> list[bytes]:
    """The comma-list tokens of every `name` header, lower-cased, in order."""
    found: list[bytes] = []
    for value in get_all(headers, name):
        found.extend(split_tokens(value))
    return found


def has_token(headers: Headers, name: bytes, token: bytes) -> bool:
    return token in tokens(headers, name)


def drop_connection_listed(headers: Headers) -> None:
    """Remove the headers the Connection header names (not done by HAProxy 2.6 by default)."""
    listed = set(tokens(headers, b"connection")) - {b"close", b"keep-alive"}
    if listed:
        headers[:] = [(k, v) for k, v in headers if k.lower() not in listed]


_OURS = (b"close", b"keep-alive")


def _other_tokens(value: bytes) -> bytes:
    """A Connection value without its close/keep-alive tokens (b"" when nothing is left)."""
    if value.lower() in _OURS:
        return b""
    items = [item.strip(b" \t") for item in value.split(b",")]
    return b", ".join([item for item in items if item and item.lower() not in _OURS])


def lower_names(headers: Headers) -> list[bytes]:
    """The names of `headers`, lower-cased, in order (one pass, for several look-ups)."""
    return [key.lower() for key, _ in headers]


def _rewrite_connection(
    headers: Headers, version: bytes, keep_alive: bool | None, lnames: list[bytes] | None = None
) -> Headers:
    """Headers with Connection's close/keep-alive tokens replaced by our decision.

    keep_alive None leaves the list alone. Otherwise the tokens go, other tokens (upgrade,
    names of headers) stay, and an explicit token is added only where the version's default
    differs: `close` on HTTP/1.1, `keep-alive` on HTTP/1.0. `lnames` is `lower_names(headers)`
    when the caller has it.
    """
    if keep_alive is None:
        return headers
    if lnames is None:
        lnames = lower_names(headers)
    if b"connection" not in lnames:
        out = headers  # not edited: only added to below, as a new list
    elif lnames.count(b"connection") == 1:
        index = lnames.index(b"connection")
        key, value = headers[index]
        kept = _other_tokens(value)
        out = headers[:index] + headers[index + 1 :]
        if kept:
            out.insert(index, (key, kept))
    else:
        out = []
        for lname, (key, value) in zip(lnames, headers, strict=True):
            if lname == b"connection":
                kept = _other_tokens(value)
                if kept:
                    out.append((key, kept))
                continue
            out.append((key, value))
    if version == b"1.0" and keep_alive:
        out = [*out, (b"Connection", b"keep-alive")]
    elif version != b"1.0" and not keep_alive:
        out = [*out, (b"Connection", b"close")]
    return out


def _join(start_line: bytes, headers: Headers) -> bytes:
    """The start line (with its CRLF), `name: value` CRLF lines and the empty line."""
    if not headers:
        return start_line + b"\r\n"
    return b"".join((start_line, b"\r\n".join(map(b": ".join, headers)), b"\r\n\r\n"))


def serialize_request_head(
    request: Request, keep_alive: bool | None = None, lnames: list[bytes] | None = None
) -> bytes:
    """The request line and headers as bytes (keep_alive, lnames: see `_rewrite_connection`)."""
    headers = _rewrite_connection(request.headers, request.version, keep_alive, lnames)
    line = b"".join((request.method, b" ", request.target, b" HTTP/", request.version, b"\r\n"))
    return _join(line, headers)


def serialize_response_head(
    response: Response,
    keep_alive: bool | None = None,
    request_version: bytes = b"1.1",
    lnames: list[bytes] | None = None,
) -> bytes:
    """The status line and headers as bytes (keep_alive, lnames: see `_rewrite_connection`).

    An HTTP/1.0 client needs an explicit keep-alive token whatever the response's version.
    """
    version = b"1.0" if request_version == b"1.0" else response.version
    headers = _rewrite_connection(response.headers, version, keep_alive, lnames)
    line = b"HTTP/%s %d %s\r\n" % (response.version, response.status, response.reason)
    return _join(line, headers)
