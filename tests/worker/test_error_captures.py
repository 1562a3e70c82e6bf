"""worker/error_captures.py on the real HTTP/1 core: what a refusal keeps for `show errors`
(the message's bytes from its start, the position of the offending byte, the parser state)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haproxy_py.proto.http1 import (
    NEED_DATA,
    BackendConnection,
    EndOfMessage,
    FrontendConnection,
    H1Error,
    Request,
    Response,
)
from haproxy_py.proto.http1.head import H1Limits
from haproxy_py.runtime_api.errors import ErrorCaptures
from worker import error_captures
from worker.error_captures import capture_error


@pytest.fixture(autouse=True)
def fresh_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ErrorCaptures]:
    store = ErrorCaptures()
    monkeypatch.setattr(error_captures, "CAPTURES", store)
    yield store


def refuse(conn: object, data: bytes) -> H1Error:
    conn.receive_data(data)  # type: ignore[attr-defined]
    while True:
        try:
            event = conn.next_event()  # type: ignore[attr-defined]
        except H1Error as exc:
            return exc
        assert event is not NEED_DATA, "the message was accepted"


def test_bad_request_head(fresh_store: ErrorCaptures) -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n"
    conn = FrontendConnection()
    exc = refuse(conn, data)
    capture_error(conn, exc, response=False, proxy="fe", peer=("127.0.0.1", 4242))
    [kept] = fresh_store.captures()
    assert (kept.data, kept.position, kept.state) == (data, 28, "HDR_NAME")
    assert (kept.proxy, kept.other, kept.source, kept.event) == ("fe", "", "127.0.0.1:4242", 0)
    assert fresh_store.events == 1


def test_pipelined_request_starts_at_its_own_head(fresh_store: ErrorCaptures) -> None:
    good = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    bad = b"GET /b HTTP/1.1\r\nHost: x\r\nX\x01: 1\r\n\r\n"
    conn = FrontendConnection()
    conn.receive_data(good + bad)
    assert isinstance(conn.next_event(), Request)
    assert isinstance(conn.next_event(), EndOfMessage)
    conn.send(Response(200, headers=[(b"Content-Length", b"0")]))
    conn.send(EndOfMessage())
    conn.start_next_cycle()
    exc = refuse(conn, b"")
    capture_error(conn, exc, response=False, proxy="fe", peer="/tmp/sock")
    [kept] = fresh_store.captures()
    assert kept.data == bad
    assert kept.data[kept.position] == 0x01
    assert kept.source == "unix"


def test_bad_chunk_size_in_a_response(fresh_store: ErrorCaptures) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n"
    conn = BackendConnection()
    conn.send(Request(b"GET", b"/", headers=[(b"Host", b"x")]))
    conn.send(EndOfMessage())
    exc = refuse(conn, data)
    capture_error(conn, exc, response=True, proxy="be", other="fe", server="s1", in_body=True)
    [kept] = fresh_store.captures()
    assert (kept.data, kept.position, kept.state) == (data, 47, "CHUNK_SIZE")
    assert (kept.proxy, kept.other, kept.server, kept.response) == ("be", "fe", "s1", True)


def test_what_is_not_kept(fresh_store: ErrorCaptures) -> None:
    conn = FrontendConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHo")
    conn.receive_data(b"")
    exc = refuse(conn, b"")
    capture_error(conn, exc, response=False, proxy="fe")
    assert fresh_store.events == 0 and fresh_store.captures() == []  # a client that left
    # a head over the limit: kept from its start, bounded by one buffer
    small = FrontendConnection(H1Limits(max_head_size=64))
    exc = refuse(small, b"GET /" + b"a" * 2000)
    capture_error(small, exc, response=False, proxy="fe")
    [kept] = fresh_store.captures()
    assert kept.data.startswith(b"GET /aaa") and len(kept.data) == 64 + 1024
    assert fresh_store.events == 1
