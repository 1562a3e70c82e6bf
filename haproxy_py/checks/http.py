"""HTTP health checks, sans-IO: the request bytes and a small response reader.

`build_request()` writes the request HAProxy 2.6 sends for `option httpchk` and `http-check
send` (header names lowercased, `content-length` with a body, `connection: close` in
HTTP/1.1). `ResponseReader` takes the server's bytes and says when a response is complete
(Content-Length, or the connection's end); it keeps the status, the reason and the body. The
strictness is a check's, not a proxy's: anything not shaped like a response is `invalid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_RESPONSE = 64 * 1024  # bytes kept from a response (a check reads a status and some body)
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})(?: ([^\r\n]*))?")


def build_request(
    method: str,
    uri: str,
    version: str,
    headers: tuple[tuple[str, str], ...] = (),
    body: str = "",
) -> bytes:
    lines = [f"{method} {uri} {version}"]
    lines += [f"{name.lower()}: {value}" for name, value in headers]
    if body:
        lines.append(f"content-length: {len(body.encode())}")
    if version.upper() == "HTTP/1.1":
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@dataclass(slots=True)
class ResponseReader:
    """Feed it with `receive_data(bytes)`; `b""` means the server closed."""

    buffer: bytearray = field(default_factory=bytearray)
    complete: bool = False
    invalid: bool = False
    status: int = 0
    reason: str = ""
    body: bytes = b""
    _head_end: int = -1
    _length: int | None = None

    def receive_data(self, data: bytes) -> None:
        if self.complete:
            return
        if not data:
            self._finish_at_close()
            return
        self.buffer += data[: MAX_RESPONSE - len(self.buffer)]
        if self._head_end < 0:
            self._read_head()
        if self._head_end >= 0 and not self.invalid:
            self._check_body()
        if len(self.buffer) >= MAX_RESPONSE and not self.complete:
            self._finish_at_close()  # enough to judge: the rest is not read

    def _read_head(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if not self.buffer.startswith(b"HTTP/"[: len(self.buffer)]):
                self._invalid()
            return
        self._head_end = end + 4
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            self._invalid()
            return
        self.status = int(match.group(1))
        self.reason = (match.group(2) or b"").decode("latin-1")
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                self._invalid()
                return
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                self._length = int(value.strip())

    def _check_body(self) -> None:
        if self._length is not None and len(self.buffer) - self._head_end >= self._length:
            self.body = bytes(self.buffer[self._head_end : self._head_end + self._length])
            self.complete = True

    def _finish_at_close(self) -> None:
        if self._head_end < 0:
            self._invalid()
            return
        self.body = bytes(self.buffer[self._head_end :])
        self.complete = True

    def _invalid(self) -> None:
        self.invalid = True
        self.complete = True
