"""The frontend side: requests parsed whole, byte by byte and pipelined; keep-alive; tunnels."""

from __future__ import annotations

import pytest

from haproxy_py.proto.http1 import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    FrontendConnection,
    H1UsageError,
    Request,
    Response,
)
from tests.unit.http1.feeding import byte_pieces, requests_events

VALID = {
    "get": (
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        [
            Request(b"GET", b"/a?b=c", b"1.1", [(b"Host", b"example.com"), (b"Accept", b"*/*")]),
            EndOfMessage(),
        ],
    ),
    "post_length": (
        b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        [
            Request(b"POST", b"/f", b"1.1", [(b"Host", b"a"), (b"Content-Length", b"5")]),
            Data(b"hello"),
            EndOfMessage(),
        ],
    ),
    "post_chunked_trailers": (
        b"POST /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
        [
            Request(b"POST", b"/f", b"1.1", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]),
            Data(b"hello world"),
            EndOfMessage([(b"X-Sum", b"42")]),
        ],
    ),
    "bare_lf_everywhere": (
        b"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n",
        [
            Request(b"POST", b"/", b"1.1", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]),
            Data(b"ab"),
            EndOfMessage(),
        ],
    ),
    "absolute_form_and_case": (
        b"GET http://Example.com/x HTTP/1.1\r\nhOsT: example.com\r\nX-MiXeD: v\r\n\r\n",
        [
            Request(
                b"GET",
                b"http://Example.com/x",
                b"1.1",
                [(b"hOsT", b"example.com"), (b"X-MiXeD", b"v")],
            ),
            EndOfMessage(),
        ],
    ),
    "http10_no_host": (
        b"GET / HTTP/1.0\r\n\r\n",
        [Request(b"GET", b"/", b"1.0", []), EndOfMessage()],
    ),
    "leading_empty_lines_and_ows": (
        b"\r\n\r\nGET / HTTP/1.1\r\nHost:   a \t\r\n\r\n",
        [Request(b"GET", b"/", b"1.1", [(b"Host", b"a")]), EndOfMessage()],
    ),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_whole_and_byte_by_byte(name: str) -> None:
    wire, expected = VALID[name]
    # An HTTP/1.0 exchange without keep-alive ends the connection: no second head is awaited.
    tail = [] if name == "http10_no_host" else [ConnectionClosed()]
    assert requests_events([wire]) == [*expected, *tail]
    assert requests_events(byte_pieces(wire)) == [*expected, *tail]


def test_pipelined_back_to_back_come_one_by_one() -> None:
    wires = [VALID[name][0] for name in sorted(VALID) if name != "http10_no_host"]
    expected = [
        event for name in sorted(VALID) if name != "http10_no_host" for event in VALID[name][1]
    ]
    assert requests_events([b"".join(wires)]) == [*expected, ConnectionClosed()]
    assert requests_events(byte_pieces(b"".join(wires))) == [*expected, ConnectionClosed()]


def test_next_request_waits_for_the_response() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert conn.next_event().target == b"/1"
    assert conn.next_event() == EndOfMessage()
    assert conn.next_event() is PAUSED
    assert conn.trailing_data[0].startswith(b"GET /2")
    with pytest.raises(H1UsageError):
        conn.start_next_cycle()
    head = conn.send(Response(200, b"OK", headers=[(b"Content-Length", b"2")]))
    assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    assert conn.next_event() is PAUSED
    assert conn.send(Data(b"ok")) == b"ok"
    assert conn.send(EndOfMessage()) == b""
    conn.start_next_cycle()
    assert conn.next_event().target == b"/2"


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
        # Both framings: TE wins and the connection closes after the response (HAProxy 2.6).
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            False,
        ),
    ],
)
def test_keep_alive_decision(head: bytes, keep_alive: bool) -> None:
    conn = FrontendConnection()
    conn.receive_data(head)
    while conn.next_event() is not PAUSED:
        pass
    wire = conn.send(Response(200, b"OK", headers=[(b"Content-Length", b"0")]))
    conn.send(EndOfMessage())
    assert conn.keep_alive is keep_alive
    version = head.split(b"\r\n")[0][-3:]
    if keep_alive and version == b"1.0":
        assert b"Connection: keep-alive\r\n" in wire
    if not keep_alive and version == b"1.1":
        assert b"Connection: close\r\n" in wire
    assert (b"Connection: keep-alive" in wire) is (keep_alive and version == b"1.0")


def test_keep_alive_can_be_refused_by_us() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    conn.disable_keep_alive()
    wire = conn.send(Response(200, b"OK", headers=[(b"Content-Length", b"0")]))
    assert wire.endswith(b"Connection: close\r\n\r\n")
    conn.send(EndOfMessage())
    with pytest.raises(H1UsageError):
        conn.start_next_cycle()


def test_both_framings_forward_without_content_length() -> None:
    events = requests_events(
        [
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        ]
    )
    assert events[0].headers == [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_identical_content_lengths_are_merged() -> None:
    events = requests_events(
        [b"POST / HTTP/1.1\r\nContent-Length: 2\r\nHost: a\r\ncontent-length: 2, 2\r\n\r\nab"]
    )
    assert events[0].headers == [(b"Content-Length", b"2"), (b"Host", b"a")]
    assert events[1] == Data(b"ab")


def test_obs_fold_is_unfolded_like_haproxy() -> None:
    events = requests_events([b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n"])
    assert events[0].headers[1] == (b"X", b"y   z")


def test_expect_100_continue_is_visible() -> None:
    conn = FrontendConnection()
    conn.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    )
    request = conn.next_event()
    assert request.expects_continue
    assert conn.next_event() is NEED_DATA
    assert conn.send(Response(100, b"Continue")) == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.receive_data(b"ab")
    assert conn.next_event() == Data(b"ab")
    assert conn.next_event() == EndOfMessage()
    wire = conn.send(Response(200, b"OK", headers=[(b"Content-Length", b"0")]))
    assert wire.startswith(b"HTTP/1.1 200 OK")


def test_upgrade_101_switches_to_tunnel() -> None:
    conn = FrontendConnection()
    conn.receive_data(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x05early"
    )
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() == EndOfMessage()
    wire = conn.send(Response(101, b"Switching Protocols", headers=[(b"Connection", b"Upgrade")]))
    assert wire == b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n"
    assert conn.their_state == conn.our_state == "TUNNEL"
    assert conn.next_event() is PAUSED
    conn.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert conn.next_event() is PAUSED
    assert conn.take_trailing_data() == b"\x81\x05earlyGET / HTTP/1.1\r\n\r\n"
    assert not conn.keep_alive


def test_101_without_an_upgrade_request_is_our_bug() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    with pytest.raises(H1UsageError):
        conn.send(Response(101, b"Switching Protocols"))


def test_connect_2xx_switches_to_tunnel() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01")
    assert conn.next_event().method == b"CONNECT"
    assert conn.next_event() == EndOfMessage()
    conn.send(Response(200, b"Connection established"))
    assert conn.trailing_data == (b"\x16\x03\x01", False)


def test_connect_refused_stays_http() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
    conn.next_event()
    conn.next_event()
    conn.send(Response(403, b"Forbidden", headers=[(b"Content-Length", b"0")]))
    assert conn.our_state == "BODY"


def test_clean_close_between_requests() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()


def test_chunked_response_to_client() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    wire = conn.send(Response(200, b"OK", headers=[(b"Transfer-Encoding", b"chunked")]))
    wire += conn.send(Data(b"hello")) + conn.send(Data(b""))
    wire += conn.send(EndOfMessage([(b"X-T", b"1")]))
    assert wire.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")


def test_content_length_is_enforced_on_what_we_send() -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    conn.send(Response(200, b"OK", headers=[(b"Content-Length", b"2")]))
    with pytest.raises(H1UsageError):
        conn.send(Data(b"abc"))
    conn.send(Data(b"a"))
    with pytest.raises(H1UsageError):
        conn.send(EndOfMessage())
