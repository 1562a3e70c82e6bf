"""The head parser's fast path against its strict line-by-line path: same answers, always.

`parse_request_head` / `parse_response_head` take a regex fast path for the common shape and
fall back to `parse_*_head_strict` for anything else. Both must give equal events and framing
info, or the same error (status, reason, offset), on every head: the hostile corpus, the valid
corpus, and heads generated from the bytes that matter to the grammar.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.proto.http1 import H1Error, H1Limits
from haproxy_py.proto.http1.head import (
    HeadInfo,
    find_head_end,
    parse_request_head,
    parse_request_head_strict,
    parse_response_head,
    parse_response_head_strict,
    skip_empty_lines,
)
from tests.unit.http1.test_hostile import REQUESTS as HOSTILE_REQUESTS
from tests.unit.http1.test_hostile import RESPONSES as HOSTILE_RESPONSES
from tests.unit.http1.test_requests import VALID

LIMITS = [
    H1Limits(),
    H1Limits(accept_invalid=True),
    H1Limits(reject_obs_fold=True),
    H1Limits(max_headers=3),
]


def _head(wire: bytes) -> bytes | None:
    start = skip_empty_lines(wire, 0)
    end = find_head_end(wire, start, start)
    return wire[start:end] if end > 0 else None


def _info(info: HeadInfo) -> dict[str, object]:
    return {name: getattr(info, name) for name in HeadInfo.FIELDS}


def _outcome(parse, head: bytes, limits: H1Limits) -> object:  # type: ignore[no-untyped-def]
    try:
        message, info = parse(head, limits)
    except H1Error as error:
        return ("error", error.status, error.reason, error.offset)
    return (message, _info(info))


def _same(head: bytes) -> None:
    for limits in LIMITS:
        for fast, strict in (
            (parse_request_head, parse_request_head_strict),
            (parse_response_head, parse_response_head_strict),
        ):
            assert _outcome(fast, head, limits) == _outcome(strict, head, limits), (head, limits)


CORPUS = [wire for wire, _ in HOSTILE_REQUESTS.values()]
CORPUS += [wire for wire, _ in HOSTILE_RESPONSES.values()]
CORPUS += [wire for wire, _ in VALID.values()]
CORPUS += [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
    b"HTTP/1.0 204\r\nX:\r\n\r\n",
    b"HTTP/1.1 099 Low\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\nhost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: \t a b \t \r\nY:\r\nZ: \x01\x7f\xff \r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\nTransfer-Encoding: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
    b"GET / HTTP/1.1\r\nExpect: 100-continue\r\nX\xe9: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET /\xe9 HTTP/12.3\r\nX: y\r\n\r\n",
    b"GET / HTTP/0.9\r\n\r\n",
]


@pytest.mark.parametrize("wire", CORPUS)
def test_corpus_heads_parse_the_same_both_ways(wire: bytes) -> None:
    head = _head(wire)
    if head is not None:
        _same(head)


PIECES = [
    b"Host",
    b"HOST",
    b"content-length",
    b"Content-Length",
    b"Transfer-Encoding",
    b"Connection",
    b"upgrade",
    b"Expect",
    b"sec-websocket-key",
    b"X",
    b": ",
    b":",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"a",
    b"1",
    b",",
    b"\xe9",
    b"(",
    b"\x01",
    b"\x7f",
]
START_LINES = [
    b"GET / HTTP/1.1\r\n",
    b"GET http://a/ HTTP/1.0\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 101\r\n",
    b"GET / HTTP/1.1\n",
]


@settings(max_examples=800, deadline=None)
@given(
    st.sampled_from(START_LINES),
    st.lists(st.lists(st.sampled_from(PIECES), max_size=8), max_size=6),
)
def test_generated_heads_parse_the_same_both_ways(start: bytes, lines: list[list[bytes]]) -> None:
    wire = start + b"".join(b"".join(line) + b"\r\n" for line in lines) + b"\r\n"
    head = _head(wire)
    if head is not None:
        _same(head)


def test_common_heads_take_the_fast_path() -> None:
    # Guards the speed, not the behaviour: the usual CRLF heads must not fall back.
    from haproxy_py.proto.http1.head import _fast_fields

    for wire in [VALID["get"][0], VALID["post_length"][0], CORPUS[-14]]:
        head = _head(wire)
        assert head is not None
        assert _fast_fields(head, head.index(b"\n"), H1Limits()) is not None, head
