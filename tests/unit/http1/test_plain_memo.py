"""The remembered verdicts of plain.py and sizes.py: the same answer as computing it again.

plain_request / plain_response keep their last answer for equal bytes and the same other
arguments; canonical_head_size for the same bytes object. Any sequence of calls (repeats,
interleaved messages, equal bytes under other limits, methods or added lines, a bytearray
changed in place) must give exactly what the uncached computation gives.
"""

from __future__ import annotations

import itertools

from haproxy_py.proto.http1 import H1Limits, plain, sizes
from haproxy_py.proto.http1.plain import CLOSE_LINE, KEEP_ALIVE_LINE, plain_request, plain_response
from haproxy_py.proto.http1.sizes import canonical_head_size
from tests.unit.http1.test_plain import (
    AB,
    LIMITS,
    NGINX,
    REQUEST_CORPUS,
    RESPONSE_CORPUS,
    WRK,
)


def _copy(data: bytes) -> bytes:
    """Equal bytes in a new object, as each recv() gives them."""
    return bytes(bytearray(data))


def test_requests_repeated_and_interleaved_give_the_computed_verdict() -> None:
    calls = 0
    for first, second in itertools.product([*REQUEST_CORPUS[:40], WRK, AB], [WRK, AB]):
        for limits_a, limits_b in itertools.product(LIMITS, LIMITS):
            for wire, limits in ((first, limits_a), (first, limits_a), (second, limits_b)):
                expected = plain._plain_request(wire, limits)
                assert plain_request(_copy(wire), limits) == expected, (wire, limits)
                calls += 1
    assert calls > 1000


def test_equal_bytes_under_other_limits_are_judged_again() -> None:
    wire = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert plain_request(_copy(wire), LIMITS[0]) is not None
    assert plain_request(_copy(wire), H1Limits(max_headers=3)) is None  # equal, not the same
    assert plain_request(_copy(wire), LIMITS[1]) is None  # accept-invalid: general path
    assert plain_request(_copy(wire), LIMITS[0]) is not None


def test_a_repeated_request_is_answered_from_memory() -> None:
    """(Why it is fast: the forwarded bytes are the very object of the first answer.)"""
    closing = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    found = plain_request(_copy(closing), LIMITS[0])
    again = plain_request(_copy(closing), LIMITS[0])
    assert found is not None and again is not None and again[1] is found[1]
    assert found[1] == b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n" and found[2] is False


def test_responses_depend_on_method_limits_and_added_line() -> None:
    calls = 0
    methods = (b"GET", b"HEAD", b"CONNECT")
    lasts = (b"", CLOSE_LINE, KEEP_ALIVE_LINE)
    for wire in [*RESPONSE_CORPUS[:40], NGINX]:
        for method, limits, last in itertools.product(methods, LIMITS, lasts):
            expected = plain._plain_response(wire, method, limits, last)
            for _ in range(2):
                assert plain_response(_copy(wire), method, limits, last) == expected
                calls += 1
    assert calls > 1000
    # The same bytes, answered for HEAD then GET: the body counts for GET only.
    bodiless = NGINX[: NGINX.index(b"\r\n\r\n") + 4]
    assert plain_response(_copy(bodiless), b"HEAD", LIMITS[0]) is not None
    assert plain_response(_copy(bodiless), b"GET", LIMITS[0]) is None


def test_a_big_response_is_judged_every_time() -> None:
    big = NGINX.replace(b"Content-Length: 5", b"Content-Length: 20000")[:-5] + b"x" * 20000
    found = plain_response(_copy(big), b"GET", LIMITS[0])
    assert found is not None and found[0] == big.replace(b"Connection: keep-alive\r\n", b"")
    again = plain_response(_copy(big), b"GET", LIMITS[0])
    assert again == found and again[0] is not found[0]  # not remembered: computed again
    assert plain._last_response[0] != big


def test_sizes_are_remembered_for_the_same_bytes_object_only() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert canonical_head_size(head) == 20 + 3 + 1 + 8 + 4 + 1 + 1  # 38
    response = NGINX
    end = response.index(b"\r\n\r\n") + 4
    expected = end + 23 - 4 * response.count(b"\r\n", 0, end)
    assert canonical_head_size(response, end) == expected
    assert canonical_head_size(response, end) == expected
    assert canonical_head_size(response, end - 2) == expected - 2 + 4  # one CRLF less
    assert canonical_head_size(head) == 38
    # A bytearray may change under the same identity: measured each time.
    changing = bytearray(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert canonical_head_size(changing) == 38  # type: ignore[arg-type]
    changing[-2:-2] = b"B: 1\r\n"
    assert canonical_head_size(changing) == 38 + 2  # type: ignore[arg-type]
    changing[-2:-2] = b"C: 22\r\n"
    assert canonical_head_size(changing, len(changing)) == 38 + 2 + 3  # type: ignore[arg-type]
    assert sizes._last_whole[0] is not changing and sizes._last_part[0] is not changing
