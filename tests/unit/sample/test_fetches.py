"""Every sample fetch of the table, read from one context."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from haproxy_py.sample import HttpRequest, SampleError, compile_expression
from tests.unit.sample.helpers import make_ctx, sample

CASES = [
    ("src", ip_address("192.168.1.10")),
    ("src_port", 40000),
    ("dst", ip_address("10.0.0.1")),
    ("dst_port", 80),
    ("so_id", 3),
    ("fe_name", b"fe"),
    ("be_name", b"be"),
    ("srv_name", b"s1"),
    ("method", b"GET"),
    ("path", b"/img/logo.png"),
    ("pathq", b"/img/logo.png?x=1&lang=fr;y=2"),
    ("query", b"x=1&lang=fr;y=2"),
    ("url", b"/img/logo.png?x=1&lang=fr;y=2"),
    ("url_param(lang)", b"fr"),
    ("url_param(y)", b"2"),
    ("url_param", b"1"),
    ("urlp(x)", b"1"),
    ("url_param(nope)", None),
    ("base", b"WWW.Example.com/img/logo.png"),
    ("hdr(host)", b"WWW.Example.com"),
    ("hdr(accept)", b"*/*"),
    ("hdr(accept,1)", b"text/html"),
    ("hdr(accept,-2)", b"application/json"),
    ("req.fhdr(accept,1)", b"text/html, application/json"),
    ("hdr_cnt(accept)", 3),
    ("req.hdr_cnt(nope)", 0),
    ("req.hdr(host)", b"WWW.Example.com"),
    ("res.hdr(location)", b"/x"),
    ("req.hdr_val(content-length)", 12),
    ("req.cook(SERVERID)", b"s2"),
    ("req.cook", b"s1"),
    ("req.cook_cnt(SERVERID)", 2),
    ("res.cook(SID)", b"abc"),
    ("status", 302),
    ("req.len", 12),
    ("req.ver", b"1.1"),
    ("env(ZONE)", b"eu"),
    ("env(NOPE)", None),
    ("date", 1_700_000_000),
    ("date(10,ms)", 1_700_000_000_260),
    ("rand(6)", 5),
    ("req.payload(0,5)", b"hello"),
    ("req.payload(6,0)", b"world!"),
    ("req.payload(10,5)", None),
    ("nbsrv(be)", 2),
    ("nbsrv", 2),
    ("connslots(be)", 93),
    ("be_conn", 7),
    ("srv_is_up(be/s1)", True),
    ("srv_is_up(s1)", True),
    ("always_true", True),
    ("str(abc)", b"abc"),
    ("int(-4)", -4),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_fetch(text: str, expected: object) -> None:
    assert sample(text) == expected


def test_variables() -> None:
    ctx = make_ctx()
    ctx.set_var("txn.user", b"bob")
    assert sample("var(txn.user)", ctx) == b"bob"
    assert sample("var(txn.none,fallback)", ctx) == b"fallback"
    assert sample("var(sess.none)", ctx) is None


def test_absolute_uri_path_and_url_port() -> None:
    ctx = make_ctx(request=HttpRequest(b"GET", b"http://h.example:8080/a/b?q=1"))
    assert sample("path", ctx) == b"/a/b"
    assert sample("query", ctx) == b"q=1"
    # HAProxy 2.6 resolves no name: url_port/url_ip give a sample only for an IP host.
    assert sample("url_port", ctx) is None
    ctx = make_ctx(request=HttpRequest(b"GET", b"http://10.1.2.3:8080/a"))
    assert sample("url_port", ctx) == 8080 and str(sample("url_ip", ctx)) == "10.1.2.3"
    ctx = make_ctx(request=HttpRequest(b"GET", b"http://10.1.2.3/a"))
    assert sample("url_port", ctx) == 80
    assert sample("url_port", make_ctx(request=HttpRequest(b"GET", b"/a"))) is None


def test_http_fetches_without_request_give_nothing() -> None:
    ctx = make_ctx(request=None, response=None)
    for text in ("path", "hdr(host)", "method", "status", "req.cook(a)", "url_param(x)"):
        assert sample(text, ctx) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("xxx", "unknown fetch method 'xxx'"),
        ("req.payload(0)", "missing arguments (got 1/2), type 'integer' expected"),
        ("hdr(host,x)", "failed to parse 'x' as type 'integer' at position 2"),
        ("var(foo)", "invalid variable name 'foo'"),
        ("date(1,y)", "expects 's', 'ms' or 'us', got 'y'"),
        ("path(1)", "takes no argument"),
        ("req.ssl_sni", "until TLS lands"),
    ],
)
def test_fetch_errors(text: str, message: str) -> None:
    with pytest.raises(SampleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(text)
