"""worker/rules.py: a proxy's rules compiled from a real configuration text and run on
plain SampleContexts (no sockets)."""

from __future__ import annotations

import socket
from ipaddress import ip_address
from pathlib import Path

import pytest

from haproxy_py.config import load_configuration
from haproxy_py.sample import HttpRequest, HttpResponse, SampleContext
from worker.http_errors import DEFAULT_ERROR_PAGES
from worker.rules import LiveContext, Reply, RulesError, compile_proxy_rules
from worker.startup import compile_rules

HEAD = (
    "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
    "    timeout connect 1s\n"
)


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "t.cfg"
    path.write_text(HEAD + text)
    result = load_configuration([str(path)])
    config = result.config if hasattr(result, "config") else result[0]
    assert config is not None, result
    return config


def rules_of(tmp_path: Path, text: str, name: str = "fe", files: dict | None = None):  # type: ignore[no-untyped-def]
    config = load(tmp_path, text)
    proxy = next(p for p in config.proxies if p.name == name)
    table = files or {}
    return compile_proxy_rules(config, proxy, lambda path: table[path], DEFAULT_ERROR_PAGES)


def ctx_for(
    target: bytes = b"/", headers: list | None = None, src: str = "10.0.0.1"
) -> SampleContext:
    request = HttpRequest(b"GET", target, b"1.1", headers if headers is not None else [])
    return SampleContext(src=ip_address(src), src_port=1234, frontend="fe", request=request)


FE = "frontend fe\n    bind :8080\n"
BACKENDS = "backend api\n    server a 127.0.0.1:1\nbackend web\n    server w 127.0.0.1:2\n"


def test_use_backend_first_match_then_default(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    acl api path_beg /api/\n    use_backend api if api\n"
        "    use_backend web if { hdr(host) -i www.example.com }\n"
        "    default_backend web\n" + BACKENDS,
    )
    choose = rules.choose_backend
    assert choose(ctx_for(b"/api/x", [(b"Host", b"www.example.com")])) == "api"
    assert choose(ctx_for(b"/", [(b"Host", b"WWW.example.com")])) == "web"
    assert choose(ctx_for(b"/")) is None  # the caller's default route


def test_dynamic_use_backend_skips_unknown_names(tmp_path: Path) -> None:
    rules = rules_of(tmp_path, FE + "    use_backend %[req.hdr(x-be),lower]\n" + BACKENDS)
    assert rules.choose_backend(ctx_for(headers=[(b"X-Be", b"API")])) == "api"
    assert rules.choose_backend(ctx_for(headers=[(b"X-Be", b"nope")])) is None


def test_header_actions_and_uri_rewrites(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-request set-header X-Path %[path]\n"
        "    http-request add-header X-Two 2\n"
        "    http-request del-header X-Drop\n"
        "    http-request replace-header X-Host (.*)\\.old\\.com \\1.new.com\n"
        "    http-request replace-value X-List ^a$ b\n"
        "    http-request set-path /new%[path]\n"
        "    http-request set-query q=1\n"
        "    http-request set-method POST if { path_beg /new/post }\n"
        "    http-request set-var(txn.seen) str(yes)\n" + "    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for(
        b"/post?x",
        [(b"X-Drop", b"1"), (b"X-Path", b"old"), (b"X-Host", b"www.old.com"), (b"X-List", b"a, c")],
    )
    assert rules.http_request(ctx) is None
    request = ctx.request
    assert request.target == b"/new/post?q=1"
    assert request.method == b"POST"
    # names added by set-header/add-header go in lower case, as HAProxy 2.6 sends them
    assert (b"x-path", b"/post") in request.headers and (b"X-Path", b"old") not in request.headers
    assert (b"x-two", b"2") in request.headers
    assert all(name != b"X-Drop" for name, _ in request.headers)
    assert (b"X-Host", b"www.new.com") in request.headers
    assert (b"X-List", b"b, c") in request.headers
    assert ctx.get_var("txn.seen") == b"yes"


def test_deny_return_redirect_answers(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-request allow if { path /open }\n"
        "    http-request deny if { path_beg /admin }\n"
        '    http-request return status 201 content-type text/plain string "made" hdr X-A %[path]'
        " if { path /make }\n"
        "    http-request redirect scheme https code 308 if { path_beg /s }\n"
        "    http-request deny\n    default_backend web\n" + BACKENDS,
    )
    assert rules.http_request(ctx_for(b"/open")) is None  # allow stops the rule set
    denied = rules.http_request(ctx_for(b"/admin"))
    assert isinstance(denied, Reply) and denied.status == 403
    assert denied.render(ctx_for(), False).startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nconnection: close\r\n" in denied.render(ctx_for(), True)
    ctx = ctx_for(b"/make")
    made = rules.http_request(ctx)
    assert made.render(ctx, False) == (
        b"HTTP/1.1 201 Created\r\nx-a: /make\r\ncontent-length: 4\r\n"
        b"content-type: text/plain\r\n\r\nmade"
    )
    ctx = ctx_for(b"/s/x?y", [(b"Host", b"h.example")])
    moved = rules.http_request(ctx)
    assert moved.render(ctx, False) == (
        b"HTTP/1.1 308 Permanent Redirect\r\ncontent-length: 0\r\n"
        b"location: https://h.example/s/x?y\r\n\r\n"
    )


def test_return_file_is_read_at_compile_time(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-request return content-type text/html file /srv/page.html\n"
        "    default_backend web\n" + BACKENDS,
        files={"/srv/page.html": ["<p>\n", "hi</p>\n"]},
    )
    reply = rules.http_request(ctx_for())
    assert reply.render(ctx_for(), False).endswith(b"\r\n\r\n<p>\nhi</p>\n")


def test_response_rules(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-response set-status 418 if { status 200 }\n"
        "    http-response set-header X-S %[status]\n"
        "    http-response deny if { res.hdr(x-leak) -m found }\n"
        "    http-after-response del-header Server\n"
        "    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for()
    ctx.response = HttpResponse(200, b"1.1", [(b"Server", b"x")], reason=b"OK")
    assert rules.http_response(ctx) is None
    rules.http_after_response(ctx)
    assert (ctx.response.status == 418 and ctx.response.reason == b"I'm a teapot") or (
        ctx.response.status == 418
    )
    assert (b"x-s", b"418") in ctx.response.headers  # added names: lower case, as HAProxy
    assert all(name != b"Server" for name, _ in ctx.response.headers)
    ctx.response = HttpResponse(500, b"1.1", [(b"X-Leak", b"1")])
    assert rules.http_response(ctx).status == 502


def test_tcp_rules_and_use_server(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        "listen app\n    mode tcp\n    bind :9000\n"
        "    tcp-request connection reject if { src 192.168.0.0/16 }\n"
        "    tcp-request connection accept if { src 10.0.0.0/8 }\n"
        "    tcp-request inspect-delay 1s\n"
        "    tcp-request content reject if { req.payload(0,3) -m str BAD }\n"
        "    use-server s2 if { src 10.0.0.2 }\n"
        "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n",
        name="app",
    )
    assert rules.tcp_connection(ctx_for(src="192.168.1.1")) is False
    assert rules.tcp_connection(ctx_for(src="10.0.0.9")) is True
    assert rules.tcp_connection(ctx_for(src="172.16.0.1")) is None  # no match: accepted
    assert rules.inspect_delay == 1.0
    ctx = ctx_for()
    ctx.request_buffer = b"BAD stuff"
    assert rules.tcp_content(ctx) is False
    assert rules.choose_server(ctx_for(src="10.0.0.2")) == "s2"
    assert rules.choose_server(ctx_for(src="10.0.0.3")) is None


def test_unsupported_rules_are_refused_with_where(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        rules_of(
            tmp_path,
            "backend be\n    mode http\n    tcp-response inspect-delay 1s\n"
            "    tcp-response content reject if { res.len gt 0 }\n"
            "    server s 127.0.0.1:1\n",
            name="be",
        )
    (message,) = caught.value.messages
    assert (
        "t.cfg:9] : proxy 'be': 'tcp-response content' rules in 'mode http' are not yet supported"
        in message
    )


def test_compile_rules_reports_pattern_files_gone_since_the_parse(tmp_path: Path) -> None:
    listed = tmp_path / "gone.lst"
    listed.write_text("10.0.0.1\n")
    config = load(
        tmp_path,
        FE
        + f"    http-request deny if {{ src -f {listed} }}\n    default_backend web\n"
        + BACKENDS,
    )
    listed.unlink()  # the configuration's parse opened it; the worker cannot read it
    compiled, messages = compile_rules(config, {})
    assert compiled == {} and len(messages) == 1 and "gone.lst" in messages[0]


def test_proxy_without_rules_compiles_to_none(tmp_path: Path) -> None:
    assert rules_of(tmp_path, FE + "    default_backend web\n" + BACKENDS) is None


def test_live_context_reads_addresses_only_when_asked() -> None:
    left = socket.create_server(("127.0.0.1", 0))
    with left:
        ctx = LiveContext.open(left, ("127.0.0.1", 5555), "fe")
        assert ctx.frontend == "fe" and ctx.request is None
        assert ctx.src == ip_address("127.0.0.1") and ctx.src_port == 5555
        assert ctx.get_var("txn.x") is None
        ctx.set_var("txn.x", 1)
        ctx.next_transaction()
        assert ctx.get_var("txn.x") is None
