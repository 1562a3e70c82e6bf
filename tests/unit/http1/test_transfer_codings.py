"""Transfer-Encoding lists read as HAProxy 2.6.12 reads them (empty items, obs-fold).

Recorded against the installed haproxy with the e2e corpus (tests/e2e/test_serve_http.py,
cases te-comma and te-obs-fold): `,chunked` is answered 422 (an empty item is an unknown
coding before chunked); a folded `Transfer-Encoding:` line is unfolded and framed as chunked.
"""

from __future__ import annotations

import pytest

from haproxy_py.proto.http1 import Data, EndOfMessage, H1Error, Request
from haproxy_py.proto.http1.framing import transfer_codings
from tests.unit.http1.feeding import requests_events, response_events

R = b"POST / HTTP/1.1\r\nHost: a\r\n"
BODY = b"5\r\nhello\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("value", "codings"),
    [
        (b"chunked", [b"chunked"]),
        (b" gzip , CHUNKED ", [b"gzip", b"chunked"]),
        (b",chunked", [b"", b"chunked"]),
        (b" , chunked", [b"", b"chunked"]),
        (b"gzip,,chunked", [b"gzip", b"", b"chunked"]),
        (b"chunked,", [b"chunked"]),
        (b"chunked, ,", [b"chunked", b""]),
        (b"", []),
        (b"  ", []),
    ],
)
def test_transfer_codings_like_haproxy(value: bytes, codings: list[bytes]) -> None:
    assert transfer_codings(value) == codings


@pytest.mark.parametrize(
    ("value", "status"),
    [(b",chunked", 422), (b"gzip,,chunked", 422), (b"chunked, ,", 400), (b",", 400)],
)
def test_empty_items_are_refused_like_haproxy(value: bytes, status: int) -> None:
    with pytest.raises(H1Error) as caught:
        requests_events([R + b"Transfer-Encoding: " + value + b"\r\n\r\n" + BODY])
    assert caught.value.status == status


def test_trailing_comma_is_accepted() -> None:
    events = requests_events([R + b"Transfer-Encoding: chunked,\r\n\r\n" + BODY])
    assert events[1] == Data(b"hello")


def test_folded_transfer_encoding_is_unfolded_and_wins_over_content_length() -> None:
    payload = R + b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n" + BODY
    events = requests_events([payload])
    request = events[0]
    assert isinstance(request, Request)
    # Forwarded on one line, without the Content-Length: one framing only.
    assert request.headers == [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]
    assert events[1:] == [Data(b"hello"), EndOfMessage()]


def test_folded_content_length_is_judged_unfolded() -> None:
    with pytest.raises(H1Error) as caught:
        requests_events([R + b"Content-Length: 3\r\n 4\r\n\r\nabcd"])
    assert caught.value.status == 400


def test_folded_response_transfer_encoding() -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + BODY
    events, _ = response_events(Request(b"GET", b"/"), [wire])
    assert events[1:] == [Data(b"hello"), EndOfMessage()]
