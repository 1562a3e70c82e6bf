"""`show errors` (haproxy_py/runtime_api/errors.py) without sockets.

The expected layouts were read from HAProxy 2.6's answers to the same invalid messages.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from haproxy_py.runtime_api.errors import (
    ErrorCapture,
    ErrorCaptures,
    decode_captures,
    dump,
    encode_captures,
    head_start,
    locate,
    log_date,
    merge_captures,
    parser_state,
    show_errors_answer,
)
from tests.helpers import load_text

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
listen li
    id 2
    bind 127.0.0.1:18080
    server s1 127.0.0.1:8001
frontend fe
    id 3
    bind 127.0.0.1:18081
    default_backend be
backend be
    id 4
    server a 127.0.0.1:8002
    server s9 127.0.0.1:8003 id 9
"""
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad(Name: x\r\n\r\nok"
MOMENT = time.mktime((2026, 11, 21, 18, 23, 12, 0, 0, -1)) + 0.731


@pytest.fixture
def config(tmp_path: Path):
    result = load_text(tmp_path, CFG)
    assert result.config is not None, result.diagnostics
    return result.config


def capture(proxy: str, response: bool, event: int, when: float = MOMENT, **more) -> ErrorCapture:
    fields = {
        "when": when,
        "response": response,
        "proxy": proxy,
        "other": "",
        "server": "",
        "event": event,
        "source": "127.0.0.1:4242",
        "data": b"GET / HTTP/1.1\r\nBad Header: v\r\n\r\n",
        "position": 19,
        "state": "HDR_NAME",
    }
    fields.update(more)
    return ErrorCapture(**fields)  # type: ignore[arg-type]


def test_dump_escapes_and_continues_long_lines() -> None:
    data = b"GET /" + b"a" * 150 + b"\x01\x7f\xff\\\t\x1b HTTP/1.1\r\nHost: x\r\nX-\x02: 1\r\n\r\n"
    assert dump(data) == (
        "  00000  GET /" + "a" * 65 + "\n"
        "  00070+ " + "a" * 70 + "\n"
        "  00140+ " + "a" * 15 + "\\x01\\x7F\\xFF\\\\\\t\\e HTTP/1.1\\r\\n\n"
        "  00172  Host: x\\r\\n\n"
        "  00181  X-\\x02: 1\\r\\n\n"
        "  00189  \\r\\n\n"
    )
    # An escape is never cut: 69 characters, then \x01 (4) starts the next line.
    wrapped = dump(b"GET /" + b"a" * 64 + b"\x01 HTTP/1.1\r\n")
    assert wrapped == "  00000  GET /" + "a" * 64 + "\n  00069+ \\x01 HTTP/1.1\\r\\n\n"
    assert dump(b"") == ""
    assert dump(b"ok") == "  00000  ok\n"  # no line end: the last line has none either


def test_message_start_in_the_buffer() -> None:
    first = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /b HTTP/1.1\r\nBad Header: v\r\n\r\n"
    buf = first + second
    assert head_start(buf, len(buf)) == len(first)  # the pipelined second request
    assert head_start(second, len(second)) == 0
    assert head_start(b"\r\n\r\n" + second, 4 + len(second)) == 4  # empty lines are skipped
    assert head_start(b"A\nB\n\n", 5) == 0
    assert locate(buf, len(buf), 20, True) == (len(first), len(first) + 20)
    # a body read with its head: the head's end is where the core stood
    assert locate(RESPONSE, len(RESPONSE) - 2, 39, True) == (0, 39)
    # not at a head's end (head too large, or the head came earlier): from where it stood
    assert locate(b"xxxxGET / HT", 4, 15360, False) == (4, 4)
    assert locate(b"0\r\nZZ\r\n", 3, 47, True) == (3, 3)


def test_parser_state_where_the_error_is() -> None:
    request = b"GET /a\x01 HTTP/1.1\r\nHost: x\r\nBad Header: v\r\nX: a\x00\r\n\r\n"
    assert parser_state(request, 0, False, "bad method") == "RQMETH"
    assert parser_state(request, 6, False, "invalid character in the URI") == "RQURI"
    assert parser_state(request, 14, False, "bad version") == "RQVER"
    assert parser_state(request, 29, False, "invalid character in header name") == "HDR_NAME"
    assert parser_state(request, 46, False, "NUL") == "HDR_VAL"
    assert parser_state(RESPONSE, 4, True, "bad version") == "RPVER"
    assert parser_state(RESPONSE, 10, True, "bad status") == "RPCODE"
    assert parser_state(RESPONSE, 39, True, "invalid character in header name") == "HDR_NAME"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"
    assert parser_state(chunked, 47, True, "invalid chunk size") == "CHUNK_SIZE"
    assert parser_state(chunked, 49, True, "missing line end after chunk data") == "CHUNK_CRLF"
    assert parser_state(chunked, 49, True, "NUL character in trailers") == "TRAILERS"


def test_answer_layout(config) -> None:
    store = ErrorCaptures()
    assert store.next_event() == 0 and store.next_event() == 1
    store.keep(
        capture("be", True, 1, other="fe", server="s9", data=RESPONSE, position=39)
    )  # fmt: skip
    answer = show_errors_answer(config, store.captures(), store.events, now=MOMENT)
    assert answer == (
        f"Total events captured on [{log_date(MOMENT)}] : 2\n"
        " \n"
        f"[{log_date(MOMENT)}] backend be (#4): invalid response\n"
        "  frontend fe (#3), server s9 (#9), event #1, src 127.0.0.1:4242\n"
        "  buffer starts at 0 (including 0 out), 16331 free,\n"
        "  len 53, wraps at 16336, error at position 39\n"
        "  H1 connection flags 0x00000000, H1 stream flags 0x00000000\n"
        "  H1 msg state MSG_HDR_NAME(17), H1 msg flags 0x00000000\n"
        "  H1 chunk len 0 bytes, H1 body len 0 bytes :\n"
        "  \n"
        "  00000  HTTP/1.1 200 OK\\r\\n\n"
        "  00017  Content-Length: 2\\r\\n\n"
        "  00036  Bad(Name: x\\r\\n\n"
        "  00049  \\r\\n\n"
        "  00051  ok\n"
        "\n"
    )
    assert log_date(MOMENT) == "21/Nov/2026:18:23:12.731"
    empty = show_errors_answer(config, [], 0, now=MOMENT)
    assert empty == f"Total events captured on [{log_date(MOMENT)}] : 0\n\n"
    body = capture("fe", False, 3, other="be", server="s9", state="CHUNK_SIZE")
    assert "frontend fe (#3): invalid request\n  backend be (#4), server s9 (#9), event #3," in (
        show_errors_answer(config, [body], 4)
    )  # a request body refused once its backend and server were chosen
    request = capture("li", False, 0)
    assert "frontend li (#2): invalid request\n  backend <NONE> (#-1), server <NONE> (#-1)," in (
        show_errors_answer(config, [request], 1)
    )


def test_filters_and_order(config) -> None:
    kept = [
        capture("be", True, 5, other="fe", server="a"),
        capture("fe", False, 4),
        capture("li", True, 3, other="li", server="s1"),
        capture("li", False, 2),
    ]

    def heads(*words: str) -> list[str]:
        answer = show_errors_answer(config, kept, 6, words)
        return [line.split("] ", 1)[1] for line in answer.splitlines() if line.startswith("[")]

    everything = [
        "frontend li (#2): invalid request",
        "backend li (#2): invalid response",
        "frontend fe (#3): invalid request",
        "backend be (#4): invalid response",
    ]
    assert heads() == everything  # file order, request before response
    assert heads("-1") == heads("-7") == everything  # a negative id: every proxy
    assert heads("li", "foo") == everything[:2]
    assert heads("fe") == everything[2:]  # the backend's capture names fe at its other end
    assert heads("3", "request") == everything[2:3]
    assert heads("#4") == everything[3:]
    assert heads("4x", "response") == everything[3:]  # a number is read from its start
    assert heads("99") == []
    assert heads("-1", "response") == [everything[1], everything[3]]
    for word in ("nope", "request", "response", "0", "#-1", "#99"):
        assert show_errors_answer(config, kept, 6, [word]) == "No such proxy.\n\n", word


def test_workers_captures_merge() -> None:
    store = ErrorCaptures()
    store.next_event()
    store.keep(capture("fe", False, 0, when=MOMENT, data=b"\x00\xff"))
    events, captures = decode_captures(encode_captures(store))
    assert (events, captures) == (1, store.captures())
    newer = capture("fe", False, 7, when=MOMENT + 1)
    other = capture("be", True, 3)
    total, merged = merge_captures([(events, captures), (9, [newer, other])])
    assert total == 10
    assert sorted(merged, key=lambda c: c.proxy) == [other, newer]
    assert decode_captures("not json") == (0, [])
    assert decode_captures('{"events": 2}') == (0, [])
