"""Header helpers and head serialisation."""

from __future__ import annotations

from haproxy_py.proto.http1 import Request, Response
from haproxy_py.proto.http1 import headers as h


def sample() -> list[tuple[bytes, bytes]]:
    return [
        (b"Host", b"a"),
        (b"X-Many", b"1"),
        (b"x-many", b"2"),
        (b"Connection", b"Keep-Alive, X-Hop"),
    ]


def test_lookups_ignore_case_and_keep_order() -> None:
    headers = sample()
    assert h.get(headers, b"HOST") == b"a"
    assert h.get(headers, b"missing") is None
    assert h.get_all(headers, b"x-MANY") == [b"1", b"2"]
    assert h.has(headers, b"connection")
    assert h.tokens(headers, b"Connection") == [b"keep-alive", b"x-hop"]
    assert h.has_token(headers, b"connection", b"x-hop")


def test_edits_keep_names_and_positions() -> None:
    headers = sample()
    h.replace(headers, b"X-MANY", b"3")
    assert headers[1] == (b"X-Many", b"3") and len(headers) == 3
    assert h.remove(headers, b"host") == 1 and h.remove(headers, b"host") == 0
    h.add(headers, b"Via", b"1.1 p")
    h.replace(headers, b"New", b"v")
    assert headers[-2:] == [(b"Via", b"1.1 p"), (b"New", b"v")]
    h.drop_connection_listed(headers)
    assert not any(name == b"X-Hop" for name, _ in headers)


def test_serialise_rewrites_only_our_connection_tokens() -> None:
    request = Request(b"GET", b"/", b"1.1", sample())
    assert h.serialize_request_head(request) == (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Many: 1\r\nx-many: 2\r\n"
        b"Connection: Keep-Alive, X-Hop\r\n\r\n"
    )
    assert h.serialize_request_head(request, keep_alive=True).endswith(b"Connection: X-Hop\r\n\r\n")
    assert h.serialize_request_head(request, keep_alive=False).endswith(
        b"Connection: X-Hop\r\nConnection: close\r\n\r\n"
    )
    response = Response(200, b"OK", b"1.0", [(b"Connection", b"close")])
    assert h.serialize_response_head(response, keep_alive=True) == (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"
    )
    assert h.serialize_response_head(Response(204), keep_alive=False) == (
        b"HTTP/1.1 204 \r\nConnection: close\r\n\r\n"
    )
