"""Property: splitting a valid message stream at arbitrary points gives the same events."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.proto.http1 import Request
from tests.unit.http1.feeding import requests_events, response_events
from tests.unit.http1.test_requests import VALID

PIPELINE = b"".join(VALID[name][0] for name in sorted(VALID) if name != "http10_no_host")
RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: a\r\n  b\r\n\r\n"
    b"3;e\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\nU: 2\r\n\r\n"
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=30))
def test_request_stream_splits(cuts: list[int]) -> None:
    assert requests_events(split(PIPELINE, cuts)) == requests_events([PIPELINE])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=30))
def test_response_splits(cuts: list[int]) -> None:
    request = Request(b"GET", b"/", b"1.1", [(b"Host", b"a")])
    whole, _ = response_events(request, [RESPONSES])
    assert len(whole) == 4  # 100, 200, the merged Data, EndOfMessage with trailers
    assert response_events(request, split(RESPONSES, cuts))[0] == whole
