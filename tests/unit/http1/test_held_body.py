"""A response body error found with its head (nothing sent yet: 502) or after it (cut).

`BackendConnection.read_held_body()` reads the body bytes that came with a response head, so a
bad chunk in the same buffer is raised before the head is acted on; one in a later read comes
from next_event() once the head has gone on. `failure.invalid_response()` says what the client
then gets. HAProxy 2.6 answers 502 `PH` in the first case and cuts (`SD`) in the second
(tests/e2e/test_bad_chunked.py compares with it).
"""

from __future__ import annotations

import pytest

from haproxy_py.proto.http1 import (
    NEED_DATA,
    BackendConnection,
    Data,
    EndOfMessage,
    H1Error,
    Request,
    Response,
)
from haproxy_py.proto.http1.connection import ERROR
from haproxy_py.proto.http1.failure import CUT, closed_inside, invalid_response

GET = Request(b"GET", b"/", b"1.1", [(b"Host", b"a")])
HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BAD_CHUNKS = [
    b"ZZ\r\nhello\r\n0\r\n\r\n",  # not hex
    b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",  # over 2**55 - 1
    b"5\r\nhelloXX0\r\n\r\n",  # no line end after the data
    b"5\r\nhello\r\n-1\r\n\r\n",  # a sign
]


def backend() -> BackendConnection:
    conn = BackendConnection()
    conn.send(GET)
    conn.send(EndOfMessage())
    return conn


def head_of(conn: BackendConnection) -> Response:
    event = conn.next_event()
    assert isinstance(event, Response)
    return event


@pytest.mark.parametrize("body", BAD_CHUNKS)
def test_a_bad_chunk_read_with_the_head_is_raised_before_the_head_is_used(body: bytes) -> None:
    conn = backend()
    conn.receive_data(HEAD + body)
    head_of(conn)
    with pytest.raises(H1Error) as caught:
        conn.read_held_body()
    assert caught.value.status == 502
    assert conn.their_state == ERROR
    assert invalid_response(head_sent=False) == (502, "PH")


@pytest.mark.parametrize("body", BAD_CHUNKS)
def test_a_bad_chunk_after_good_data_in_the_same_read_is_still_raised(body: bytes) -> None:
    conn = backend()
    conn.receive_data(HEAD + b"3\r\nabc\r\n" + body)
    head_of(conn)
    with pytest.raises(H1Error):
        conn.read_held_body()


@pytest.mark.parametrize("body", BAD_CHUNKS)
def test_a_bad_chunk_in_a_later_read_comes_after_the_head(body: bytes) -> None:
    conn = backend()
    conn.receive_data(HEAD)
    head_of(conn)
    assert conn.read_held_body() == []  # nothing held: the head goes on
    assert conn.next_event() is NEED_DATA
    conn.receive_data(body)
    with pytest.raises(H1Error):
        while conn.next_event() is not NEED_DATA:
            pass
    assert invalid_response(head_sent=True) == (CUT, "SD")


def test_a_valid_body_held_with_the_head_is_given_whole_and_ends() -> None:
    conn = backend()
    conn.receive_data(HEAD + b"5\r\nhello\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n")
    head_of(conn)
    assert conn.read_held_body() == [Data(b"hello"), Data(b"abc"), EndOfMessage([(b"T", b"v")])]
    assert conn.their_state == "DONE"


def test_a_partial_body_stops_at_need_data_and_continues() -> None:
    conn = backend()
    conn.receive_data(HEAD + b"5\r\nhel")
    head_of(conn)
    assert conn.read_held_body() == [Data(b"hel")]
    conn.receive_data(b"lo\r\n0\r\n\r\n")
    assert conn.next_event() == Data(b"lo")
    assert conn.next_event() == EndOfMessage()


def test_the_window_is_one_buffer_from_the_start_of_the_message() -> None:
    # HAProxy reads tune.bufsize bytes at a time: a bad chunk beyond the first buffer comes
    # after the head and the data before it were forwarded.
    big = b"x" * 30000
    conn = backend()
    conn.receive_data(HEAD + b"%x\r\n" % len(big) + big + b"\r\nZZ\r\n0\r\n\r\n")
    head_of(conn)
    assert conn.read_held_body() == [Data(big)]  # one chunk read past the window: no error
    with pytest.raises(H1Error):
        conn.next_event()
    # 8000 bytes fit in the buffer with the head: the error is found with it.
    mid = b"x" * 8000
    conn = backend()
    conn.receive_data(HEAD + b"%x\r\n" % len(mid) + mid + b"\r\nZZ\r\n0\r\n\r\n")
    head_of(conn)
    with pytest.raises(H1Error):
        conn.read_held_body()


def test_no_body_is_read_for_a_bodiless_response_or_before_a_head() -> None:
    conn = backend()
    assert conn.read_held_body() == []  # no head yet
    conn.receive_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    head_of(conn)
    assert conn.read_held_body() == [EndOfMessage()]


def test_an_interim_response_reads_no_body() -> None:
    conn = backend()
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"ZZ\r\n")
    assert head_of(conn).status == 100
    assert conn.read_held_body() == []  # not in BODY: the final head comes next
    assert head_of(conn).status == 200
    with pytest.raises(H1Error):
        conn.read_held_body()


def test_a_server_closing_inside_its_message_is_not_an_invalid_response() -> None:
    conn = backend()
    conn.receive_data(HEAD + b"5\r\nhel")
    head_of(conn)
    conn.read_held_body()
    conn.receive_data(b"")
    with pytest.raises(H1Error) as caught:
        conn.next_event()
    assert closed_inside(caught.value.reason)
    assert invalid_response(head_sent=True, closed=True) == (CUT, "SD")
    assert invalid_response(head_sent=False, closed=True) == (502, "SH")
    assert not closed_inside("invalid chunk size")
