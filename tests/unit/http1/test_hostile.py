"""The hostile corpus: each case with the answer HAProxy 2.6.12 gave (Debian 2.6.12-1+deb12u4,
recorded by sending the bytes to the installed haproxy in front of a raw backend), or None
where HAProxy accepts. Two deliberate differences are marked: NUL in a header value (HAProxy
2.6.12 forwards it; we refuse, as the issue asks) and the HTTP/2 preface (HAProxy switches to
HTTP/2; this core has no HTTP/2 and refuses it).
"""

from __future__ import annotations

import pytest

from haproxy_py.proto.http1 import EndOfMessage, H1Error, Request
from tests.unit.http1.feeding import byte_pieces, requests_events, response_events

R = b"POST / HTTP/1.1\r\nHost: a\r\n"
TE = R + b"Transfer-Encoding: chunked\r\n\r\n"

REQUESTS: dict[str, tuple[bytes, int | None]] = {
    "cl_te": (R + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", None),
    "te_cl": (R + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", None),
    "te_identity": (R + b"Transfer-Encoding: identity\r\n\r\n", 400),
    "te_gzip": (R + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    "te_xchunked": (R + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    "te_chunked_gzip": (R + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    "te_gzip_chunked": (R + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 422),
    "te_chunked_twice": (R + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    "te_two_headers": (
        R + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te_upper_case": (R + b"Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", None),
    "te_empty": (R + b"Transfer-Encoding: \r\n\r\n", 400),
    "te_space_before_colon": (R + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    "te_tab_before_value": (R + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", None),
    "te_on_http10": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        None,
    ),
    "cl_duplicate_same": (R + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab", None),
    "cl_list_same": (R + b"Content-Length: 2, 2\r\n\r\nab", None),
    "cl_duplicate_different": (R + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
    "cl_list_different": (R + b"Content-Length: 2, 3\r\n\r\nabc", 400),
    "cl_plus_sign": (R + b"Content-Length: +2\r\n\r\nab", 400),
    "cl_minus_sign": (R + b"Content-Length: -2\r\n\r\nab", 400),
    "cl_hex": (R + b"Content-Length: 0x2\r\n\r\nab", 400),
    "cl_empty": (R + b"Content-Length: \r\n\r\nab", 400),
    "cl_inner_space": (R + b"Content-Length: 1 2\r\n\r\nab", 400),
    "cl_trailing_space": (R + b"Content-Length: 2 \r\n\r\nab", None),
    "cl_huge": (R + b"Content-Length: 99999999999999999999999\r\n\r\nab", 400),
    "cl_leading_zeros": (R + b"Content-Length: 002\r\n\r\nab", None),
    "cl_empty_list_item": (R + b"Content-Length: 2,,2\r\n\r\nab", 400),
    "chunk_size_overflow": (TE + b"FFFFFFFFFFFFFFFFF1\r\nab\r\n0\r\n\r\n", 400),
    "chunk_size_2_56": (TE + b"FFFFFFFFFFFFFF\r\nab", 400),
    "chunk_size_negative": (TE + b"-2\r\nab\r\n0\r\n\r\n", 400),
    "chunk_size_0x": (TE + b"0x2\r\nab\r\n0\r\n\r\n", 400),
    "chunk_size_empty": (TE + b"\r\nab\r\n0\r\n\r\n", 400),
    "chunk_extension": (TE + b"2;foo=bar\r\nab\r\n0\r\n\r\n", None),
    "chunk_size_trailing_space": (TE + b"2 \r\nab\r\n0\r\n\r\n", None),
    "chunk_bare_lf": (TE + b"2\nab\n0\n\n", None),
    "chunk_data_longer_than_size": (TE + b"2\r\nabX\r\n0\r\n\r\n", 400),
    "chunk_trailers": (TE + b"2\r\nab\r\n0\r\nX-T: 1\r\n\r\n", None),
    "chunk_bad_trailer": (TE + b"2\r\nab\r\n0\r\nX T: 1\r\n\r\n", 400),
    "bare_lf_head": (b"GET / HTTP/1.1\nHost: a\n\n", None),
    "cr_in_value": (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    "nul_in_value (HAProxy 2.6.12: forwarded)": (
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        400,
    ),
    "space_before_colon": (b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", 400),
    "obs_fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", None),
    "fold_on_first_header": (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    "empty_header_name": (b"GET / HTTP/1.1\r\nHost: a\r\n: y\r\n\r\n", 400),
    "no_colon": (b"GET / HTTP/1.1\r\nHost: a\r\nXy\r\n\r\n", 400),
    "name_bad_char": (b"GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400),
    "name_high_byte": (b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: z\r\n\r\n", 400),
    "name_underscore": (b"GET / HTTP/1.1\r\nHost: a\r\nX_y: z\r\n\r\n", None),
    "method_bad_char": (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "method_unknown": (b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", None),
    "uri_space": (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "uri_high_byte": (b"GET /a\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "uri_fragment": (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "uri_del": (b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "uri_quote": (b'GET /a"b HTTP/1.1\r\nHost: a\r\n\r\n', None),
    "absolute_uri_other_host": (b"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "two_different_hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "two_same_hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", None),
    "no_host_on_11": (b"GET / HTTP/1.1\r\n\r\n", None),
    "http09": (b"GET /\r\n\r\n", 400),
    "version_letter": (b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
    "version_lower_case": (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    "version_two_digits": (b"GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
    "request_line_trailing_space": (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    "request_line_tab": (b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", None),
    "h2_preface (HAProxy: switches to h2)": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "websocket_without_key": (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        400,
    ),
    "head_15000": (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 15000 + b"\r\n\r\n", None),
    "head_15400": (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 15400 + b"\r\n\r\n", 400),
    "headers_100": (
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X%d: y\r\n" % i for i in range(99)) + b"\r\n",
        None,
    ),
    "headers_101": (
        b"GET / HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X%d: y\r\n" % i for i in range(100))
        + b"\r\n",
        400,
    ),
}


def _status(pieces: list[bytes]) -> int | None:
    try:
        events = requests_events(pieces)
    except H1Error as error:
        return error.status
    assert isinstance(events[0], Request)
    assert any(isinstance(event, EndOfMessage) for event in events)
    return None


@pytest.mark.parametrize("name", list(REQUESTS))
def test_request_gets_haproxys_answer(name: str) -> None:
    wire, status = REQUESTS[name]
    assert _status([wire]) == status
    if len(wire) < 2000:
        assert _status(byte_pieces(wire)) == status


def test_smuggled_request_never_surfaces() -> None:
    # CL.TE: a CL-framing server would read "G" as the start of the next request; here the
    # chunked body ends at 0 and the smuggled bytes are the next (invalid) request.
    smuggle = R + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin"
    events = requests_events([smuggle], eof=False)
    assert events[0].headers == [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]
    # The connection closes after the first exchange (TE+CL): /admin is never parsed.
    assert [type(e).__name__ for e in events] == ["Request", "EndOfMessage"]


def test_error_carries_the_offset() -> None:
    with pytest.raises(H1Error) as caught:
        requests_events([b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n"])
    assert caught.value.offset == len(b"GET / HTTP/1.1\r\nHost: a\r\nX")
    with pytest.raises(H1Error) as caught:
        requests_events([TE + b"2\r\nabX\r\n"])
    assert caught.value.offset == len(TE + b"2\r\nab")
    with pytest.raises(H1Error) as caught:
        requests_events([b"GET /a\x7f HTTP/1.1\r\n\r\n"])
    assert caught.value.offset == 6


GET = Request(b"GET", b"/", b"1.1", [(b"Host", b"a")])
OK = b"HTTP/1.1 200 OK\r\n"

RESPONSES: dict[str, tuple[bytes, int | None]] = {
    "cl_te": (
        OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        None,
    ),
    "cl_duplicate_different": (OK + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok", 502),
    "cl_plus": (OK + b"Content-Length: +2\r\n\r\nok", 502),
    "te_gzip": (OK + b"Transfer-Encoding: gzip\r\n\r\nokok", 502),
    "te_chunked_gzip": (OK + b"Transfer-Encoding: chunked, gzip\r\n\r\nokok", 502),
    "bare_lf": (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", None),
    "obs_fold": (OK + b"X: a\r\n b\r\nContent-Length: 2\r\n\r\nok", None),
    "space_before_colon": (OK + b"X : a\r\nContent-Length: 2\r\n\r\nok", 502),
    "bad_name": (OK + b"X(y): a\r\nContent-Length: 2\r\n\r\nok", 502),
    "no_reason": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", None),
    "status_four_digits": (b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", 502),
    "status_below_100": (b"HTTP/1.1 099 OK\r\nContent-Length: 2\r\n\r\nok", 502),
    "chunk_size_letters": (OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", 502),
    "head_too_large": (OK + b"X: " + b"a" * 15800 + b"\r\nContent-Length: 2\r\n\r\nok", 502),
    "close_delimited": (OK + b"\r\nokokok", None),
}


@pytest.mark.parametrize("name", list(RESPONSES))
def test_response_gets_haproxys_answer(name: str) -> None:
    wire, status = RESPONSES[name]
    for pieces in ([wire], byte_pieces(wire) if len(wire) < 2000 else [wire]):
        try:
            events, _ = response_events(GET, pieces)
        except H1Error as error:
            assert error.status == status
        else:
            assert status is None
            assert isinstance(events[-1], EndOfMessage)
