"""HTTP/1.1 at the byte level for the end-to-end tests that compare exact bytes and counters:
a client reading one response at a time off a keep-alive connection, and the request loop of
a scripted backend (one request head and its Content-Length body at a time).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


def read_one(sock: socket.socket, buffer: bytes, head_request: bool) -> tuple[bytes, bytes]:
    """One response from `sock` (after `buffer`): (the response, what followed it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return buffer, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lower = head.lower()
    if head_request or b" 204 " in head.split(b"\r\n")[0]:
        length = 0
    elif b"transfer-encoding: chunked" in lower:
        while b"0\r\n\r\n" not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        length = rest.index(b"0\r\n\r\n") + 5
    elif b"content-length: " in lower:
        length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
    else:
        while chunk := sock.recv(65536):
            rest += chunk
        length = len(rest)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def read_request(
    conn: socket.socket, pending: bytes, seen: Callable[[bytes], object] | None = None
) -> tuple[bytes, bytes] | None:
    """A backend's next request off `conn`, after the bytes `pending`: (its head without the
    blank line, the bytes after its Content-Length body); None when the peer closes first.
    `seen` is given every chunk read (a backend recording what reached it)."""

    def more() -> bytes:
        data = conn.recv(65536)
        if data and seen is not None:
            seen(data)
        return data

    while b"\r\n\r\n" not in pending:
        if not (data := more()):
            return None
        pending += data
    head, _, pending = pending.partition(b"\r\n\r\n")
    found = _LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    while len(pending) < length:
        if not (data := more()):
            return None
        pending += data
    return head, pending[length:]


def answer_requests(
    conn: socket.socket,
    answer: Callable[[bytes], bool | None],
    seen: Callable[[bytes], object] | None = None,
) -> None:
    """A scripted backend's connection: `answer(head)` sends what it wants for each request
    read off `conn` (False: close after it), until the peer closes or the connection fails;
    `conn` is closed on return."""
    pending = b""
    with conn:
        conn.settimeout(10)
        try:
            while (request := read_request(conn, pending, seen)) is not None:
                head, pending = request
                if answer(head) is False:
                    return
        except OSError:
            return
