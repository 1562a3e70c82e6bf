"""Feeding helpers for the HTTP/1 core tests: whole, byte by byte, in given pieces.

`requests_events` plays a client's bytes into a FrontendConnection and answers every request
with an empty 200, so pipelined requests come out one by one; Data events are merged so that
event lists compare equal however the bytes were split.
"""

from __future__ import annotations

from collections.abc import Iterable

from haproxy_py.proto.http1 import (
    NEED_DATA,
    PAUSED,
    BackendConnection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    FrontendConnection,
    Request,
    Response,
)

OK_EMPTY = Response(200, b"OK", headers=[(b"Content-Length", b"0")])


def merged(events: list[object]) -> list[object]:
    out: list[object] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        elif not (isinstance(event, Data) and not event.data):
            out.append(event)
    return out


def byte_pieces(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def requests_events(pieces: Iterable[bytes], eof: bool = True) -> list[object]:
    """Every event a client's bytes produce, answering each request so the next one comes."""
    conn = FrontendConnection()
    events: list[object] = []

    def drain() -> bool:
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                return True
            if event is PAUSED:
                if conn.their_state != "DONE":
                    return False
                conn.send(OK_EMPTY)
                conn.send(EndOfMessage())
                if not conn.keep_alive:
                    return False
                conn.start_next_cycle()
                continue
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return False

    for piece in pieces:
        conn.receive_data(piece)
        if not drain():
            return merged(events)
    if eof:
        conn.receive_data(b"")
        drain()
    return merged(events)


def response_events(
    request: Request, pieces: Iterable[bytes], eof: bool = True
) -> tuple[list[object], BackendConnection]:
    """Send `request` on a BackendConnection, then feed the server's bytes."""
    conn = BackendConnection()
    conn.send(request)
    conn.send(EndOfMessage())
    events: list[object] = []

    def drain() -> None:
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                return
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return

    for piece in pieces:
        conn.receive_data(piece)
        drain()
    if eof and conn.their_state not in ("DONE", "TUNNEL"):
        conn.receive_data(b"")
        drain()
    return merged(events), conn
