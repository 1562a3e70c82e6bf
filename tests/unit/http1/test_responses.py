"""The backend side: requests serialised, responses of every framing parsed."""

from __future__ import annotations

import pytest

from haproxy_py.proto.http1 import (
    NEED_DATA,
    BackendConnection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    H1Error,
    Request,
    Response,
)
from tests.unit.http1.feeding import byte_pieces, response_events

GET = Request(b"GET", b"/", b"1.1", [(b"Host", b"a")])
HEAD = Request(b"HEAD", b"/", b"1.1", [(b"Host", b"a")])
CL = [(b"Content-Length", b"5")]


@pytest.mark.parametrize(
    ("request_", "wire", "expected", "keep_alive"),
    [
        (GET, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
         [Response(200, b"OK", b"1.1", CL), Data(b"hello"), EndOfMessage()], True),
        (GET, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\nT: v\r\n\r\n",
         [Response(200, b"OK", b"1.1", [(b"Transfer-Encoding", b"chunked")]), Data(b"hello"),
          EndOfMessage([(b"T", b"v")])], True),
        (GET, b"HTTP/1.1 200 OK\r\n\r\nuntil close",
         [Response(200, b"OK", b"1.1", []), Data(b"until close"), EndOfMessage()], False),
        (HEAD, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
         [Response(200, b"OK", b"1.1", CL), EndOfMessage()], True),
        (GET, b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
         [Response(204, b"No Content", b"1.1", CL), EndOfMessage()], True),
        (GET, b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
         [Response(304, b"Not Modified", b"1.1", [(b"Transfer-Encoding", b"chunked")]),
          EndOfMessage()], True),
        (GET, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
         [Response(100, b"Continue", b"1.1", []),
          Response(103, b"Early Hints", b"1.1", [(b"Link", b"</a>")]),
          Response(200, b"OK", b"1.1", CL), Data(b"hello"), EndOfMessage()], True),
        (GET, b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
         [Response(200, b"OK", b"1.0", CL), Data(b"hello"), EndOfMessage()], False),
        (GET, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
         [Response(200, b"OK", b"1.1", [*CL, (b"Connection", b"close")]), Data(b"hello"),
          EndOfMessage()], False),
    ],
)  # fmt: skip
def test_response_framings(request_, wire, expected, keep_alive) -> None:
    for pieces in ([wire], byte_pieces(wire)):
        events, conn = response_events(request_, pieces)
        assert events == expected
        assert conn.keep_alive is keep_alive


def test_request_serialisation_and_keep_alive_for_http10() -> None:
    conn = BackendConnection()
    request = Request(b"GET", b"/x", b"1.0", [(b"Host", b"a"), (b"Connection", b"close, X-A")])
    assert conn.send(request) == (
        b"GET /x HTTP/1.0\r\nHost: a\r\nConnection: X-A\r\nConnection: keep-alive\r\n\r\n"
    )


def test_request_with_close_wanted() -> None:
    conn = BackendConnection()
    conn.disable_keep_alive()
    wire = conn.send(Request(b"POST", b"/", b"1.1", [(b"Transfer-Encoding", b"chunked")]))
    wire += conn.send(Data(b"abc")) + conn.send(EndOfMessage())
    assert wire == (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )


def test_keep_alive_cycle_and_idle_close() -> None:
    conn = BackendConnection()
    for _ in range(3):
        conn.send(GET)
        conn.send(EndOfMessage())
        conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        assert conn.next_event().status == 200
        assert conn.next_event() == EndOfMessage()
        conn.start_next_cycle()
    assert conn.exchanges == 3
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()


def test_data_before_any_request_is_an_error() -> None:
    conn = BackendConnection()
    conn.receive_data(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(H1Error) as caught:
        conn.next_event()
    assert caught.value.status == 502


def test_101_switches_to_tunnel() -> None:
    upgrade = Request(
        b"GET", b"/", b"1.1", [(b"Host", b"a"), (b"Connection", b"upgrade"), (b"Upgrade", b"x")]
    )
    events, conn = response_events(
        upgrade, [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw bytes"], eof=False
    )
    assert events == [Response(101, b"Switching Protocols", b"1.1", [(b"Upgrade", b"x")])]
    assert conn.their_state == conn.our_state == "TUNNEL"
    assert conn.trailing_data == (b"raw bytes", False)


def test_101_without_upgrade_request_is_refused() -> None:
    with pytest.raises(H1Error) as caught:
        response_events(GET, [b"HTTP/1.1 101 Switching Protocols\r\n\r\n"])
    assert caught.value.status == 502


def test_connect_2xx_tunnels_and_error_does_not() -> None:
    connect = Request(b"CONNECT", b"a:443", b"1.1", [(b"Host", b"a:443")])
    events, conn = response_events(connect, [b"HTTP/1.1 200 OK\r\n\r\n\x16\x03"], eof=False)
    assert conn.their_state == "TUNNEL"
    assert conn.take_trailing_data() == b"\x16\x03"
    events, conn = response_events(connect, [b"HTTP/1.1 407 No\r\nContent-Length: 1\r\n\r\nx"])
    assert events[1:] == [Data(b"x"), EndOfMessage()]


def test_truncated_bodies_are_errors() -> None:
    for wire in (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nContent-Len",
    ):
        with pytest.raises(H1Error):
            response_events(GET, [wire])
