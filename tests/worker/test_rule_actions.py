"""worker/rule_actions.py: the actions added to the rules engine (auth, tarpit, redirect forms
and cookies, del-header -m, URI rewrites and normalizers, addresses, captures, silent-drop,
response-side redirects and http-after-response), compiled from real configuration text and
run on plain SampleContexts. Expected bytes are HAProxy 2.6's (seen on the installed one)."""

from __future__ import annotations

import base64
from ipaddress import ip_address
from pathlib import Path

from haproxy_py.sample import HttpResponse, Userlist, basic_auth_user
from tests.worker.test_rules import BACKENDS, FE, ctx_for, rules_of
from worker.rule_replies import DENY, DROP, INTERCEPT, REJECT, TARPIT, reason_of

USERLIST = (
    "userlist ul\n    group admins users bob\n    user bob insecure-password secret\n"
    # crypt(3) SHA-256 of "pw" with salt "salt"
    "    user alice password $5$salt$Oo0nc86Ktkc05wTAggFOZIQJhfxhAZY1mlIogZJN.i.\n"
)
PAGE_401 = (
    b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
    b'content-type: text/html\r\nwww-authenticate: Basic realm="%s"\r\n\r\n'
    b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access"
    b" this content.\n</body></html>\n"
)


def basic(user: str, password: str) -> tuple[bytes, bytes]:
    return (b"Authorization", b"Basic " + base64.b64encode(f"{user}:{password}".encode()))


def test_auth_answers_401_with_the_realm_until_credentials_are_valid(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        USERLIST + FE + "    http-request auth if !{ http_auth(ul) }\n"
        '    http-request auth realm "Admins Only" if { path_beg /admin }'
        " !{ http_auth_group(ul) admins }\n    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for(b"/")
    reply = rules.http_request(ctx)
    assert reply.status == 401 and reply.kind == INTERCEPT
    assert reply.render(ctx, False) == PAGE_401 % b"fe"  # the realm defaults to the proxy
    assert rules.http_request(ctx_for(b"/", [basic("bob", "secret")])) is None
    assert rules.http_request(ctx_for(b"/", [basic("alice", "pw")])) is None  # crypt(3)
    assert rules.http_request(ctx_for(b"/", [basic("alice", "nope")])).status == 401
    admin = ctx_for(b"/admin", [basic("alice", "pw")])  # valid, not in the group
    assert rules.http_request(admin).render(admin, False) == PAGE_401 % b"Admins Only"
    assert rules.http_request(ctx_for(b"/admin", [basic("bob", "secret")])) is None


def test_basic_auth_user_for_the_stats_page() -> None:
    pairs = [("admin", "s3cret"), ("ops", "x")]
    header = basic("admin", "s3cret")[1]
    assert basic_auth_user(header, pairs) == "admin"
    assert basic_auth_user(basic("admin", "wrong")[1], pairs) is None
    assert basic_auth_user(b"Bearer abc", pairs) is None
    assert basic_auth_user(None, pairs) is None
    assert basic_auth_user(b"Basic !!notbase64", pairs) is None
    users = Userlist.from_section("ul", [])
    assert basic_auth_user(header, users) is None


def test_tarpit_holds_then_answers_500_or_deny_status(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    timeout tarpit 2s\n    http-request tarpit if { path /t }\n"
        "    http-request tarpit deny_status 429 if { path /t429 }\n"
        "    http-request deny if { path /d }\n    default_backend web\n" + BACKENDS,
    )
    held = rules.http_request(ctx_for(b"/t"))
    assert (held.status, held.kind, held.hold) == (500, TARPIT, 2.0)
    assert held.render(ctx_for(), False).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert rules.http_request(ctx_for(b"/t429")).status == 429
    assert rules.http_request(ctx_for(b"/d")).kind == DENY
    # Without `timeout tarpit`, HAProxy holds for `timeout connect` (1s in HEAD).
    fallback = rules_of(tmp_path, FE + "    http-request tarpit\n" + BACKENDS)
    assert fallback.http_request(ctx_for()).hold == 1.0


def test_redirect_keyword_runs_after_http_request_rules_with_cookies(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    redirect prefix /new code 301 set-cookie FOO=bar drop-query if { path_beg /a }\n"
        "    redirect location /%[path] clear-cookie FOO= if { path_beg /b }\n"
        "    http-request redirect location /y clear-cookie SID if { path /e }\n"
        "    http-request return status 200 if { path_beg /a/ok }\n"
        "    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for(b"/a/b?q=1")
    assert rules.http_request(ctx).render(ctx, False) == (
        b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /new/a/b\r\n"
        b"set-cookie: FOO=bar; path=/;\r\n\r\n"
    )
    ctx = ctx_for(b"/b")  # the keyword form's target is not a log-format string
    assert rules.http_request(ctx).render(ctx, False) == (
        b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /%[path]\r\n"
        b"cache-control: no-cache\r\nset-cookie: FOO=; path=/; Max-Age=0;\r\n\r\n"
    )
    ctx = ctx_for(b"/e")
    assert b"\r\nset-cookie: SID; path=/; Max-Age=0;\r\n" in rules.http_request(ctx).render(
        ctx, False
    )
    assert rules.http_request(ctx_for(b"/a/ok")).status == 200  # http-request rules first


def test_del_header_match_methods(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-request del-header x-f -m beg\n    http-request del-header -id -m end\n"
        "    http-request del-header secret -m sub\n    http-request del-header ^z[0-9]$ -m reg\n"
        "    http-request del-header Keep -m str\n    default_backend web\n" + BACKENDS,
    )
    names = [b"X-Foo", b"x-f", b"Req-ID", b"My-Secret-Key", b"z1", b"z12", b"keep", b"Keeper"]
    ctx = ctx_for(headers=[(name, b"v") for name in names])
    rules.http_request(ctx)
    assert [name for name, _ in ctx.request.headers] == [b"z12", b"Keeper"]


def test_uri_rewrites_and_normalizers(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        "global\n    expose-experimental-directives\n"
        + FE
        + "    http-request normalize-uri path-merge-slashes\n"
        "    http-request normalize-uri path-strip-dotdot\n"
        "    http-request normalize-uri path-strip-dot\n"
        "    http-request normalize-uri percent-to-uppercase\n"
        "    http-request normalize-uri query-sort-by-name\n"
        "    http-request replace-path ^/old/(.*) /new/\\1 if { path_beg /old/ }\n"
        "    http-request set-pathq /pq?x=1 if { path /setpq }\n"
        "    http-request replace-uri ^http://([^/]*)(.*) \\2 if { url_beg http: }\n"
        "    default_backend web\n" + BACKENDS,
    )
    cases = {
        b"//a/./b/../c/%2f%aa?z=1&a=2&m": b"/a/c/%2F%AA?a=2&m&z=1",
        b"/old/x/y?q": b"/new/x/y?q",
        b"/setpq?y": b"/pq?x=1",
        b"http://h.example/p?b&a": b"/p?a&b",
    }
    for target, expected in cases.items():
        ctx = ctx_for(target)
        assert rules.http_request(ctx) is None
        assert ctx.request.target == expected, target
    strict = rules_of(
        tmp_path,
        "global\n    expose-experimental-directives\n"
        + FE
        + "    http-request normalize-uri percent-to-uppercase strict\n"
        + BACKENDS,
    )
    bad = strict.http_request(ctx_for(b"/%zz"))
    assert bad.status == 400 and bad.kind == DENY


def test_addresses_captures_vars_and_silent_drop(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    declare capture request len 8\n    capture request header Host len 10\n"
        "    http-request capture req.hdr(x-a) len 5\n    http-request capture path id 0\n"
        "    http-request set-dst hdr(x-dst)\n    http-request set-dst-port int(8443)\n"
        "    http-request set-var-fmt(txn.f) %[dst]:%[dst_port]\n"
        "    http-request unset-var(txn.gone)\n"
        "    http-request silent-drop if { path /drop }\n"
        "    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for(b"//a/./b/", [(b"X-A", b"1234567"), (b"X-Dst", b"10.9.8.7")])
    ctx.set_var("txn.gone", b"x")
    assert rules.http_request(ctx) is None
    assert ctx.dst == ip_address("10.9.8.7") and ctx.dst_port == 8443
    assert ctx.get_var("txn.f") == b"10.9.8.7:8443" and ctx.get_var("txn.gone") is None
    assert ctx.request_captured == {0: b"//a/./b/", 2: b"12345"}
    assert rules.http_request(ctx_for(b"/drop")).kind == DROP


def test_http_request_reject_closes_without_an_answer(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    http-request reject if { path /r }\n    default_backend web\n" + BACKENDS,
    )
    assert rules.http_request(ctx_for(b"/r")).kind == REJECT
    assert rules.http_request(ctx_for(b"/ok")) is None


def test_response_redirect_and_after_response_actions(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        FE + "    declare capture response len 3\n"
        "    http-response redirect location /moved code 301 set-cookie A=1 if { status 404 }\n"
        "    http-after-response set-status 299 if { status 200 }\n"
        "    http-after-response replace-header X-V (.*)-old \\1-new\n"
        "    http-after-response replace-value X-L ^a$ b\n"
        "    http-after-response set-var(txn.st) status\n"
        "    http-after-response capture res.hdr(x-v) id 0\n"
        "    default_backend web\n" + BACKENDS,
    )
    ctx = ctx_for()
    ctx.response = HttpResponse(404, b"1.1", [], reason=b"Not Found")
    moved = rules.http_response(ctx)
    assert moved.render(ctx, False) == (
        b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /moved\r\n"
        b"set-cookie: A=1; path=/;\r\n\r\n"
    )
    ctx.response = HttpResponse(200, b"1.1", [(b"X-V", b"v-old"), (b"X-L", b"a, c")])
    rules.http_after_response(ctx)
    assert (ctx.response.status, ctx.response.reason) == (299, b"Success")
    assert ctx.response.headers == [(b"X-V", b"v-new"), (b"X-L", b"b, c")]
    assert ctx.get_var("txn.st") == 299
    assert ctx.response_captured == {0: b"v-new"}


def test_reasons_of_statuses_without_a_phrase_are_their_class() -> None:
    assert reason_of(299) == b"Success" and reason_of(418) == b"Client Error"
    assert reason_of(404) == b"Not Found" and reason_of(600) == b"Other"


def test_replies_from_errorfile_errorfiles_and_lf_file(tmp_path: Path) -> None:
    page = "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno"
    files = {
        "/e/403.http": [page],
        "/e/sec.http": ["HTTP/1.1 403 Forbidden\r\ncontent-length: 3\r\n\r\nsec"],
        "/e/body.lf": ["path=%[path]\n"],
    }
    rules = rules_of(
        tmp_path,
        "http-errors errs\n    errorfile 403 /e/sec.http\n"
        + FE
        + "    http-request deny errorfile /e/403.http if { path /a }\n"
        "    http-request deny errorfiles errs if { path /b }\n"
        "    http-request deny status 404 errorfiles errs if { path /c }\n"
        "    http-request return content-type text/plain lf-file /e/body.lf if { path /d }\n"
        "    default_backend web\n" + BACKENDS,
        files=files,
    )
    render = {
        p: rules.http_request(ctx_for(p)).render(ctx_for(p), False) for p in (b"/a", b"/b", b"/c")
    }
    assert render[b"/a"] == page.encode()
    assert render[b"/b"].endswith(b"\r\n\r\nsec")
    assert render[b"/c"].startswith(b"HTTP/1.1 404 Not Found\r\n")  # none in errs: the proxy's
    ctx = ctx_for(b"/d")
    assert rules.http_request(ctx).render(ctx, False).endswith(b"\r\n\r\npath=/d\n")
