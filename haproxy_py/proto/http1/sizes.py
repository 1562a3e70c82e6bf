"""The size `show stat` counts for an HTTP message (bin, bout), as HAProxy 2.6 counts it.

HAProxy counts in its channels the size of its internal representation of a message, not
the bytes on the wire (checked against the installed haproxy 2.6): a start line is 20 bytes
plus its three parts (method, target, version; or version, status, reason), a header is its
name plus its value (no separator, no CRLF), the end of the headers 1 byte, body data its own
length (chunk sizes and CRLFs not counted) and the end of a chunked body 1 byte (plus its
trailers as headers). The `Connection` header is not counted: HAProxy's HTTP/1 layer takes
it out when it reads the message. The same numbers go to the frontend, the backend and the
server rows of the request. Pure functions; `canonical_head_size` remembers its last answer
for a whole message and for a head (the same bytes object, held: its identity cannot be
reused) since the plain path (plain.py) hands on the same object for a repeated message.
"""

from __future__ import annotations

from collections.abc import Iterable

_START_LINE = 20  # what a start line weighs beyond its three parts
_END_OF_HEADERS = 1
END_OF_CHUNKED = 1  # the end of a chunked body (trailers, if any, are counted as headers)


# The last (wire, size) measured whole and (wire, end, size) measured up to `end`.
_last_whole: tuple[bytes, int] = (b"", 0)
_last_part: tuple[bytes, int, int] = (b"", 0, 0)


def canonical_head_size(wire: bytes, end: int | None = None) -> int:
    """The counted size of a canonical head (`START LINE\\r\\n`, `Name: value\\r\\n` lines,
    `\\r\\n`) with no Connection line: `wire[:end]` (the whole of `wire` without `end`).

    Each CRLF-ended line loses its separator (4 bytes: ': ' and CRLF, or the two spaces and
    CRLF of the start line, which gains 20), the blank line weighs 1 instead of 2."""
    global _last_whole, _last_part
    if end is None:
        whole = _last_whole
        if whole[0] is wire:
            return whole[1]
        size = len(wire) + 23 - 4 * wire.count(b"\r\n")
        if wire.__class__ is bytes:  # (a bytearray could change under the same identity)
            _last_whole = (wire, size)
        return size
    part = _last_part
    if part[0] is wire and part[1] == end:
        return part[2]
    size = end + 23 - 4 * wire.count(b"\r\n", 0, end)
    if wire.__class__ is bytes:
        _last_part = (wire, end, size)
    return size


def fields_size(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The counted size of header (or trailer) fields, the Connection header left out."""
    total = 0
    for name, value in headers:
        if len(name) != 10 or name.lower() != b"connection":
            total += len(name) + len(value)
    return total


def request_head_size(
    method: bytes, target: bytes, version: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> int:
    """A parsed request head's counted size (`version` as the parser gives it: b"1.1")."""
    return (
        _START_LINE
        + len(method)
        + len(target)
        + 5
        + len(version)
        + fields_size(headers)
        + _END_OF_HEADERS
    )


def response_head_size(
    version: bytes, reason: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> int:
    """A parsed response head's counted size (the status is always 3 digits)."""
    return _START_LINE + 5 + len(version) + 3 + len(reason) + fields_size(headers) + _END_OF_HEADERS
