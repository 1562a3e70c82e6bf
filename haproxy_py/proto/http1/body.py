"""Reading bodies out of a receive buffer, and writing them with the framing of the message.

Owns the three body readers (known length, chunked, until close) and the body writer. Readers
take the connection's buffer (the peer's own bytes object while it is read whole, else a
bytearray) and a read position and return (event or NEED_DATA, new position); they never copy
more than the Data they return, and a Data that is all of a bytes buffer is not copied.
Chunked rules, as HAProxy 2.6.12: a size is hex digits only (no sign, no 0x), at most
2**55 - 1, followed by optional blanks and an extension (`;...`, ignored); lines may end in
CRLF or bare LF; the data must be followed by a line end; trailer fields are parsed like
headers and kept. Errors carry `status` and an offset counted from the start of the message
(`base` is the head's length).
"""

from __future__ import annotations

import re

from haproxy_py.proto.http1.events import (
    NEED_DATA,
    Data,
    EndOfMessage,
    H1Error,
    H1UsageError,
    Sentinel,
)
from haproxy_py.proto.http1.framing import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE
from haproxy_py.proto.http1.head import H1Limits, find_head_end, parse_fields

MAX_CHUNK_SIZE = 2**55 - 1
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")
Step = tuple[Data | EndOfMessage | Sentinel, int]


class LengthReader:
    """A body of a known length (zero gives EndOfMessage at once)."""

    __slots__ = ("offset", "remaining", "status")

    def __init__(self, length: int, status: int, base: int) -> None:
        self.remaining = length
        self.status = status
        self.offset = base

    def read(self, buf: bytes | bytearray, pos: int, eof: bool) -> Step:
        if not self.remaining:
            return EndOfMessage(), pos
        available = len(buf) - pos
        if not available:
            if eof:
                raise H1Error(self.status, "connection closed inside the body", self.offset)
            return NEED_DATA, pos
        size = min(available, self.remaining)
        self.remaining -= size
        self.offset += size
        return Data(bytes(buf[pos : pos + size])), pos + size


class CloseReader:
    """A response body that ends when the server closes the connection."""

    __slots__ = ()

    def read(self, buf: bytes | bytearray, pos: int, eof: bool) -> Step:
        if len(buf) > pos:
            return Data(bytes(buf[pos:])), len(buf)
        if eof:
            return EndOfMessage(), pos
        return NEED_DATA, pos


_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)


class ChunkedReader:
    """A chunked body: sizes, data, the line end after data, then trailers."""

    __slots__ = ("limits", "offset", "remaining", "state", "status")

    def __init__(self, status: int, base: int, limits: H1Limits) -> None:
        self.status = status
        self.offset = base
        self.limits = limits
        self.state = _SIZE
        self.remaining = 0

    def _fail(self, reason: str, extra: int = 0) -> H1Error:
        return H1Error(self.status, reason, self.offset + extra)

    def read(self, buf: bytes | bytearray, pos: int, eof: bool) -> Step:
        while True:
            if self.state == _DATA:
                available = len(buf) - pos
                if not available:
                    break
                size = min(available, self.remaining)
                self.remaining -= size
                self.offset += size
                if not self.remaining:
                    self.state = _DATA_END
                return Data(bytes(buf[pos : pos + size])), pos + size
            if self.state == _SIZE:
                step = self._read_size(buf, pos)
                if step < 0:
                    break
                pos = step
            elif self.state == _DATA_END:
                if len(buf) - pos < 2 and not (len(buf) > pos and buf[pos] == 10):
                    break
                if buf[pos] == 10:
                    width = 1
                elif buf[pos] == 13 and buf[pos + 1] == 10:
                    width = 2
                else:
                    raise self._fail("missing line end after chunk data")
                pos += width
                self.offset += width
                self.state = _SIZE
            else:
                return self._read_trailers(buf, pos, eof)
        if eof:
            raise self._fail("connection closed inside a chunked body")
        return NEED_DATA, pos

    def _read_size(self, buf: bytes | bytearray, pos: int) -> int:
        """Consume one chunk-size line; the new position, or -1 when it is incomplete."""
        end = buf.find(b"\n", pos)
        if end < 0:
            if len(buf) - pos > self.limits.max_head_size:
                raise self._fail("chunk size line too long")
            return -1
        line = bytes(buf[pos:end])
        if line[-1:] == b"\r":
            line = line[:-1]
        match = _CHUNK_SIZE.match(line)
        if match is None:
            raise self._fail("invalid chunk size")
        rest = line[match.end() :].lstrip(b" \t")
        if (rest and rest[:1] != b";") or b"\r" in rest:
            raise self._fail("invalid chunk size", match.end())
        size = int(match.group(), 16)
        if size > MAX_CHUNK_SIZE:
            raise self._fail("chunk size too large")
        self.offset += end + 1 - pos
        if size:
            self.state, self.remaining = _DATA, size
        else:
            self.state = _TRAILERS
        return end + 1

    def _read_trailers(self, buf: bytes | bytearray, pos: int, eof: bool) -> Step:
        if buf.startswith(b"\n", pos) or buf.startswith(b"\r\n", pos):
            return EndOfMessage(), pos + (1 if buf[pos] == 10 else 2)
        end = find_head_end(buf, pos, pos)
        if end < 0:
            if len(buf) - pos > self.limits.max_head_size:
                raise self._fail("trailers too large")
            if eof:
                raise self._fail("connection closed inside the trailers")
            return NEED_DATA, pos
        block = bytes(buf[pos:end])
        if b"\0" in block:
            raise self._fail("NUL character in trailers", block.index(b"\0"))
        lines = block.split(b"\n")[:-2]
        try:
            trailers = parse_fields(lines, 0, self.status, self.limits, None)
        except H1Error as error:
            error.offset += self.offset
            raise
        return EndOfMessage(trailers), end


class BodyWriter:
    """Encodes the Data and EndOfMessage we send with the framing of our message."""

    __slots__ = ("kind", "remaining")

    def __init__(self, kind: int, length: int) -> None:
        self.kind = kind
        self.remaining = length

    def data(self, data: bytes) -> bytes:
        if self.kind == CHUNKED:
            return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
        if self.kind == LENGTH:
            if len(data) > self.remaining:
                raise H1UsageError("more body than Content-Length announced")
            self.remaining -= len(data)
            return data
        if self.kind == UNTIL_CLOSE:
            return data
        if data:
            raise H1UsageError("this message has no body")
        return b""

    def end(self, trailers: list[tuple[bytes, bytes]]) -> bytes:
        if self.kind == CHUNKED:
            fields = b"".join(name + b": " + value + b"\r\n" for name, value in trailers)
            return b"0\r\n" + fields + b"\r\n"
        if self.kind == LENGTH and self.remaining:
            raise H1UsageError("body shorter than Content-Length announced")
        return b""


def make_reader(
    kind: int, length: int, status: int, base: int, limits: H1Limits
) -> LengthReader | ChunkedReader | CloseReader:
    if kind == CHUNKED:
        return ChunkedReader(status, base, limits)
    if kind == UNTIL_CLOSE:
        return CloseReader()
    return LengthReader(length if kind == LENGTH else 0, status, base)


__all__ = ["NO_BODY", "BodyWriter", "ChunkedReader", "CloseReader", "LengthReader", "make_reader"]
