"""The plain exchange (plain.py, the connections' one-step calls) against the event path.

Whenever `take_plain_request` or `pass_plain_response` accepts a message, the bytes forwarded
and the states of both connections afterwards must be exactly what the event path gives
(next_event / send, one event at a time); when they refuse, nothing may have changed. Checked
on the request and response corpora (valid and hostile) and on generated messages; plus the
common shapes that must take the plain path (the speed depends on it).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.proto.http1 import (
    NEED_DATA,
    BackendConnection,
    EndOfMessage,
    FrontendConnection,
    H1Error,
    H1Limits,
    Request,
    Response,
)
from haproxy_py.proto.http1.connection import pass_plain_response
from tests.unit.http1.test_fast_path import CORPUS, PIECES
from tests.unit.http1.test_hostile import REQUESTS as HOSTILE_REQUESTS
from tests.unit.http1.test_hostile import RESPONSES as HOSTILE_RESPONSES

LIMITS = [H1Limits(), H1Limits(accept_invalid=True), H1Limits(max_headers=3)]
NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 18:40:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 5\r\n"
    b"Last-Modified: Sat, 21 Nov 2026 18:00:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6920a3c0-64"\r\nAccept-Ranges: bytes\r\n\r\nhello'
)
WRK = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
CLOSING = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
CURL = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
AB = (
    b"GET /small HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\n"
    b"Accept: */*\r\n\r\n"
)
AB_KEEP = AB.replace(b"Accept:", b"Connection: Keep-Alive\r\nAccept:")


def _state(conn: object) -> dict[str, object]:
    names = ("their_state", "our_state", "keep_alive", "_method", "_request_version")
    state = {name: getattr(conn, name) for name in names}
    state["_upgrade_asked"] = conn._upgrade_asked  # type: ignore[attr-defined]
    state["rest"] = conn.trailing_data  # type: ignore[attr-defined]
    return state


def _events_request(wire: bytes, limits: H1Limits) -> tuple[FrontendConnection, bytes] | None:
    """The event path: the request read from `wire` and forwarded; None unless it is one
    whole request without body, with nothing after it, and valid."""
    front = FrontendConnection(limits)
    front.receive_data(wire)
    try:
        request = front.next_event()
        end = front.next_event()
    except H1Error:
        return None
    if not isinstance(request, Request) or not isinstance(end, EndOfMessage):
        return None
    back = BackendConnection()
    forwarded = back.send(request) + back.send(EndOfMessage())
    return front, forwarded


def _check_request(wire: bytes, limits: H1Limits) -> bytes | None:
    front = FrontendConnection(limits)
    front.receive_data(wire)
    before = _state(front)
    plain = front.take_plain_request()
    if plain is None:
        assert _state(front) == before
        return None
    method, sent = plain
    general = _events_request(wire, limits)
    assert general is not None, wire
    expected, forwarded = general
    assert sent == forwarded, wire
    assert method == expected._method
    assert _state(front) == _state(expected), wire
    # And the server side, told the request went as it came, is where send() would leave it.
    plain_back, event_back = BackendConnection(), BackendConnection()
    plain_back.sent_plain_request(method)
    event_back.send(Request(method, b"/", b"1.1", []))
    event_back.send(EndOfMessage())
    assert _state(plain_back) == _state(event_back)
    return method


def _pair(
    method: bytes, limits: H1Limits, close: bool = False, version: bytes = b"1.1"
) -> tuple[FrontendConnection, BackendConnection]:
    """A client's request read (without body) and forwarded, its response not begun
    (`close`: the client closes after it; an HTTP/1.0 client otherwise asks keep-alive)."""
    front = FrontendConnection()
    if version == b"1.1":
        extra = b"Connection: close\r\n" if close else b""
    else:
        extra = b"" if close else b"Connection: keep-alive\r\n"
    front.receive_data(method + b" / HTTP/" + version + b"\r\nHost: a\r\n" + extra + b"\r\n")
    request = front.next_event()
    assert isinstance(request, Request)
    assert isinstance(front.next_event(), EndOfMessage)
    back = BackendConnection(limits)
    back.send(request)
    back.send(EndOfMessage())
    return front, back


def _events_response(
    wire: bytes, method: bytes, limits: H1Limits, close: bool, version: bytes = b"1.1"
) -> tuple | None:
    """The event path: the response read from `wire` and sent on; None unless it is one
    whole final response and valid."""
    front, back = _pair(method, limits, close, version)
    back.receive_data(wire)
    out = []
    try:
        while True:
            event = back.next_event()
            if event is NEED_DATA:
                return None
            if isinstance(event, Response) and (event.status < 200 or event.status == 101):
                return None
            out.append(front.send(event))  # type: ignore[arg-type]
            if isinstance(event, EndOfMessage):
                break
    except H1Error:
        return None
    return front, back, b"".join(out)


def _check_response(
    wire: bytes, method: bytes, limits: H1Limits, close: bool = False, version: bytes = b"1.1"
) -> bool:
    front, back = _pair(method, limits, close, version)
    back.receive_data(wire)
    before = (_state(front), _state(back))
    passed = pass_plain_response(back, front)
    if passed is None:
        assert (_state(front), _state(back)) == before
        return False
    general = _events_response(wire, method, limits, close, version)
    assert general is not None, wire
    expected_front, expected_back, sent = general
    data, status = passed
    assert data == sent, wire
    assert status == int(wire[9:12])
    assert _state(front) == _state(expected_front), wire
    assert _state(back) == _state(expected_back), wire
    return True


REQUEST_CORPUS = (
    [wire for wire, _ in HOSTILE_REQUESTS.values()]
    + [WRK, CURL, AB, AB_KEEP]
    + [w for w in CORPUS if not w.startswith(b"HTTP/")]
)
RESPONSE_CORPUS = (
    [wire for wire, _ in HOSTILE_RESPONSES.values()]
    + [NGINX]
    + [w for w in CORPUS if w.startswith(b"HTTP/")]
)


@pytest.mark.parametrize("wire", REQUEST_CORPUS)
def test_corpus_requests_agree_with_the_event_path(wire: bytes) -> None:
    for limits in LIMITS:
        _check_request(wire, limits)


@pytest.mark.parametrize("wire", RESPONSE_CORPUS)
def test_corpus_responses_agree_with_the_event_path(wire: bytes) -> None:
    for limits in LIMITS:
        for method in (b"GET", b"HEAD", b"CONNECT"):
            for close in (False, True):
                for version in (b"1.1", b"1.0"):
                    _check_response(wire, method, limits, close, version)


VALUES = [
    b"",
    b" ",
    b"a",
    b"a ",
    b"a\t",
    b"\ta",
    b"a b",
    b"keep-alive",
    b"close",
    b"Close",
    b"5",
    b"0",
    b"\t",
    b"\x01",
    b"\xe9",
    b",",
]


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(
        [
            b"GET / HTTP/1.1\r\n",
            b"HEAD /x?y HTTP/1.1\r\n",
            b"CONNECT / HTTP/1.1\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"GET / HTTP/1.0\r\n",
            b"HEAD /x HTTP/1.0\r\n",
        ]
    ),
    st.lists(
        st.tuples(
            st.sampled_from(PIECES), st.sampled_from([b": ", b":", b":  "]), st.sampled_from(VALUES)
        ),
        max_size=5,
    ),
    st.sampled_from([b"", b"x", b"GET / HTTP/1.1\r\n\r\n"]),
)
def test_generated_requests_agree(start: bytes, lines: list, after: bytes) -> None:
    wire = start + b"".join(n + s + v + b"\r\n" for n, s, v in lines) + b"\r\n" + after
    for limits in LIMITS:
        _check_request(wire, limits)


@settings(max_examples=800, deadline=None)
@given(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 204 \r\n",
            b"HTTP/1.1 304 x\r\n",
            b"HTTP/1.0 200 OK\r\n",
            b"HTTP/1.1 101 S\r\n",
            b"HTTP/1.1 404  Not\r\n",
        ]
    ),
    st.lists(
        st.tuples(
            st.sampled_from([*PIECES, b"Content-Length", b"CONNECTION", b"Keep-Alive"]),
            st.sampled_from([b": ", b":", b": \t"]),
            st.sampled_from(VALUES),
        ),
        max_size=5,
    ),
    st.sampled_from([b"", b"hello", b"hell", b"hello!"]),
    st.sampled_from([b"GET", b"HEAD", b"CONNECT"]),
)
def test_generated_responses_agree(start: bytes, lines: list, body: bytes, method: bytes) -> None:
    wire = start + b"".join(n + s + v + b"\r\n" for n, s, v in lines) + b"\r\n" + body
    for limits in LIMITS:
        for close in (False, True):
            for version in (b"1.1", b"1.0"):
                _check_response(wire, method, limits, close, version)


def test_common_messages_take_the_plain_path() -> None:
    # Guards the speed: what wrk, curl and nginx send must not fall back.
    for wire in (WRK, CURL, CLOSING, AB, AB_KEEP):
        assert _check_request(wire, H1Limits()) == b"GET"
    for close in (False, True):  # ab's HTTP/1.0, with and without -k
        assert _check_response(NGINX, b"GET", H1Limits(), close, b"1.0")
    assert _check_response(NGINX, b"GET", H1Limits())
    assert _check_response(NGINX.replace(b"keep-alive", b"close"), b"GET", H1Limits())
    assert (
        _check_response(NGINX.replace(b"Connection: keep-alive\r\n", b""), b"HEAD", H1Limits())
        is False
    )
    assert _check_response(NGINX[:-5], b"HEAD", H1Limits())
    assert _check_response(NGINX, b"GET", H1Limits(), close=True)


def test_what_the_plain_path_leaves_to_the_event_path() -> None:
    refused = [
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",  # several Host: compared by the other
        b"GET / HTTP/1.1\r\nConnection: close, x\r\n\r\n",  # rewritten on the way
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",  # authority checked against Host
        b"GET / HTTP/1.1\r\nX:  a\r\n\r\n",  # rewritten as "X: a"
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\na",  # a body
        b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",  # pipelined
        b"GET / HTTP/1.1\r\nHost: a\r\n",  # partial
    ]
    for wire in refused:
        assert _check_request(wire, H1Limits()) is None, wire
    partial = NGINX[:-1]
    assert not _check_response(partial, b"GET", H1Limits())
    assert not _check_response(
        NGINX.replace(b"Content-Length: 5", b"Transfer-Encoding: chunked"), b"GET", H1Limits()
    )
    assert not _check_response(NGINX.replace(b"Content-Length: 5\r\n", b""), b"GET", H1Limits())
