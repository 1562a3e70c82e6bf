"""Log-format `%` tags in formatted strings (haproxy_py/sample/fmt.py): the values HAProxy 2.6
printed for the same request in an `http-request set-header` (recorded by hand with the
installed haproxy; tests/e2e/test_format_tags.py compares the two live)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from haproxy_py.sample import CompileEnv, HttpRequest, HttpResponse, MapCache, SampleContext
from haproxy_py.sample.fmt import compile_format
from haproxy_py.sample.types import SampleError


def _format(text: str):
    return compile_format(text, CompileEnv(), MapCache(lambda path: []))


def _context() -> SampleContext:
    ctx = SampleContext(
        src=IPv4Address("127.0.0.1"),
        src_port=49904,
        dst=IPv4Address("127.0.0.1"),
        dst_port=19961,
        frontend="fe",
        clock=lambda: 1_795_292_656.5,
    )
    ctx.request = HttpRequest(b"GET", b"/p/a?x=1", b"HTTP/1.1", [])
    return ctx


def test_request_tags_print_as_haproxy_prints_them() -> None:
    text = "%ci|%cp|%fi|%fp|%f|%ft|%b|%s|%HM|%HU|%HP|%HQ|%HV|%Ts|%{+Q}ci|%ST|%r|%{+X}ci|%{+Q}HM"
    assert _format(text)(_context()) == (
        b"127.0.0.1|49904|127.0.0.1|19961|fe|fe|fe|<NOSRV>|GET|/p/a?x=1|/p/a|?x=1|HTTP/1.1"
        b'|1795292656|"127.0.0.1"|-1|GET /p/a?x=1 HTTP/1.1|7F000001|"GET"'
    )


def test_backend_server_and_status_follow_the_transaction() -> None:
    ctx = _context()
    ctx.backend, ctx.server = "be", "s1"
    ctx.response = HttpResponse(204)
    assert _format("%b/%s %ST %{+X}cp %{+X}fp")(ctx) == b"be/s1 204 C2F0 4DF9"


def test_mixed_with_samples_and_literals() -> None:
    assert _format("x-%[src]-%%-%fp")(_context()) == b"x-127.0.0.1-%-19961"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%Tt", "'%Tt'"),  # timers have no value when a rule runs
        ("%ID", "'%ID'"),
        ("%{+Z}ci", "unknown option '+Z'"),
        ("a%", "variable name is expected"),
        ("%{+Q", "missing closing '}'"),
    ],
)
def test_tags_without_a_value_and_bad_flags_are_refused(text: str, message: str) -> None:
    with pytest.raises(SampleError, match=message.replace("+", r"\+").replace("{", r"\{")):
        _format(text)
