"""Keyword arguments land in the model typed (times in ms, ints, enums, dicts of options), and
a bad argument gives exactly one ALERT that names the keyword."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.config import LoadResult
from haproxy_py.config.address import Family
from haproxy_py.config.model import Config, Proxy
from tests.helpers import alerts, load_text, warnings

TIMEOUTS = "    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\n"
HTTP_LISTEN = "listen app\n    mode http\n    bind 127.0.0.1:18080\n" + TIMEOUTS


def ok(result: LoadResult) -> Config:
    assert alerts(result) == [], [d.render(0) for d in result.diagnostics]
    assert result.config is not None
    return result.config


def app(tmp_path: Path, *lines: str, server: str = "server s1 127.0.0.1:8001") -> Proxy:
    text = HTTP_LISTEN + "".join(f"    {line}\n" for line in (*lines, server))
    config = ok(load_text(tmp_path, text))
    return next(p for p in config.proxies if p.name == "app")


def one_alert(tmp_path: Path, text: str) -> str:
    found = alerts(load_text(tmp_path, text))
    assert len(found) == 1, [d.render(0) for d in found]
    return found[0].message


def in_app(*lines: str) -> str:
    return HTTP_LISTEN + "".join(f"    {line}\n" for line in lines) + "    server s1 127.0.0.1:1\n"


# -- typed values ------------------------------------------------------------------------------


def test_timeouts_in_milliseconds(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "timeout connect 5s",
        "timeout queue 1m",
        "timeout tunnel 1h",
        "timeout http-request 500",
        "timeout client-fin 250ms",
        "timeout check 2s",
        "tcp-request inspect-delay 3s",
    )
    assert proxy.timeouts["connect"] == 5000
    assert proxy.timeouts["queue"] == 60_000
    assert proxy.timeouts["tunnel"] == 3_600_000
    assert proxy.timeouts["http-request"] == 500
    assert proxy.timeouts["client-fin"] == 250
    assert proxy.timeouts["check"] == 2000
    assert proxy.timeouts["tcp-request inspect-delay"] == 3000


def test_server_options(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "default-server inter 3s fall 5",
        server="server s1 127.0.0.1:8001 weight 10 maxconn 20 maxqueue 5 check inter 2s "
        "rise 4 slowstart 1m backup pool-max-conn -1 pool-purge-delay 10s pool-low-conn 3 "
        "init-addr libc,none "
        "cookie c1 observe layer4 error-limit 3 on-error mark-down agent-check agent-port 9999",
    )
    options = proxy.servers[0].options
    assert options["weight"] == 10
    assert options["maxconn"] == 20
    assert options["maxqueue"] == 5
    assert options["check"] is True
    assert options["inter"] == 2000  # the server's own value wins over default-server
    assert options["fall"] == 5  # inherited from default-server
    assert options["rise"] == 4
    assert options["slowstart"] == 60_000
    assert options["backup"] is True
    assert options["pool-max-conn"] == -1
    assert options["pool-purge-delay"] == 10_000
    assert options["pool-low-conn"] == 3
    assert options["init-addr"] == ("libc", "none")
    assert options["cookie"] == "c1"
    assert options["observe"] == "layer4"
    assert options["error-limit"] == 3
    assert options["on-error"] == "mark-down"
    assert options["agent-port"] == 9999


def test_server_port_offset_and_track(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "server s0 127.0.0.1:+1000 check",
        server="server s1 127.0.0.1:8001 track s0",
    )
    assert proxy.servers[0].address.port_offset is True
    assert proxy.servers[1].options["track"] == ("", "s0")


def test_bind_options(tmp_path: Path) -> None:
    text = (
        "frontend fe\n    bind :::18080 v6only name web maxconn 100 backlog 50\n"
        "    bind unix@/tmp/fe.sock mode 660 user root group root\n"
        + TIMEOUTS
        + "    default_backend be\nbackend be\n"
        + TIMEOUTS
        + "    server s 127.0.0.1:1\n"
    )
    config = ok(load_text(tmp_path, text))
    first, second = config.proxies[0].binds
    assert first.options == {"v6only": True, "name": "web", "maxconn": 100, "backlog": 50}
    assert second.addresses[0].family == Family.UNIX
    assert second.options["mode"] == 0o660
    assert second.options["user"] == "root"


def test_balance_forms(tmp_path: Path) -> None:
    assert app(tmp_path, "balance random(3)").balance == {"algorithm": "random", "draws": 3}
    assert app(tmp_path, "balance random").balance["draws"] == 2
    uri = app(tmp_path, "balance uri whole len 12 depth 3").balance
    assert dict(uri) == {"algorithm": "uri", "whole": True, "len": 12, "depth": 3}
    assert app(tmp_path, "balance url_param uid").balance["param"] == "uid"
    assert app(tmp_path, "balance hdr(Host)").balance["header"] == "Host"
    assert app(tmp_path, "hash-type consistent").hash_type == ("consistent",)


def test_option_arguments(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "option httpchk GET /health HTTP/1.1",
        "option forwardfor except 10.0.0.0/8 header X-Client if-none",
        "option redispatch 2",
        "option httplog clf",
        "no option http-keep-alive",
        "option http-server-close",
    )
    assert proxy.options["httpchk"] == {"method": "GET", "uri": "/health", "version": "HTTP/1.1"}
    assert proxy.options["forwardfor"] == {
        "except": "10.0.0.0/8",
        "header": "X-Client",
        "if-none": True,
    }
    assert proxy.options["redispatch"] == {"interval": 2}
    assert proxy.options["httplog"] == {"clf": True}
    assert proxy.options["http-server-close"] is True
    assert "http-keep-alive" not in proxy.options  # the HTTP modes exclude each other


def test_lone_httpchk_argument_is_the_uri(tmp_path: Path) -> None:
    proxy = app(tmp_path, "option httpchk /ping")
    assert proxy.options["httpchk"] == {"method": "OPTIONS", "uri": "/ping", "version": "HTTP/1.0"}


def test_check_protocol_options(tmp_path: Path) -> None:
    proxy = app(tmp_path, "option mysql-check user haproxy", "option smtpchk EHLO example.com")
    assert proxy.options["mysql-check"] == {"user": "haproxy", "protocol": "post-41"}
    assert proxy.options["smtpchk"] == {"hello": "EHLO", "domain": "example.com"}


def test_cookie_options(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "cookie SRV insert indirect nocache httponly secure domain .a.com domain .b.com "
        "maxidle 30m maxlife 2h attr SameSite=Lax",
    )
    cookie = proxy.settings["cookie"]
    assert cookie["name"] == "SRV"
    assert cookie["insert"] and cookie["indirect"] and cookie["nocache"]
    assert cookie["maxidle"] == 30 * 60_000
    assert cookie["maxlife"] == 2 * 3_600_000
    assert cookie["domain"] == (".a.com", ".b.com")
    assert cookie["attr"] == ("SameSite=Lax",)
    # maxidle/maxlife count in seconds when no unit is given
    assert app(tmp_path, "cookie S insert maxidle 60").settings["cookie"]["maxidle"] == 60_000


def test_stats_page_settings(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "stats uri /stats",
        "stats auth admin:secret",
        "stats auth ops:pa:ss",
        "stats refresh 30",
        "stats realm HAProxy\\ Stats",
        "stats scope app",
        "stats admin if TRUE",
    )
    settings = proxy.settings
    assert settings["stats enable"] is True
    assert settings["stats uri"] == "/stats"
    assert settings["stats auth"] == (("admin", "secret"), ("ops", "pa:ss"))
    assert settings["stats refresh"] == 30_000  # seconds by default
    assert settings["stats realm"] == "HAProxy Stats"
    assert settings["stats scope"] == ("app",)
    assert settings["stats admin"].unless is False


def test_captures_and_formats(tmp_path: Path) -> None:
    text = (
        "frontend fe\n    bind 127.0.0.1:18080\n    mode http\n"
        + TIMEOUTS
        + "    capture request header Host len 32\n    capture response header Server len 20\n"
        + '    log-format "%ci:%cp %ST"\n    unique-id-header X-ID\n'
        + "    default_backend be\nbackend be\n    mode http\n"
        + TIMEOUTS
        + "    server s 127.0.0.1:1\n"
    )
    frontend = ok(load_text(tmp_path, text)).proxies[0]
    assert frontend.settings["request_captures"] == (("Host", 32),)
    assert frontend.settings["response_captures"] == (("Server", 20),)
    assert frontend.settings["log-format"] == "%ci:%cp %ST"
    assert frontend.settings["unique-id-header"] == "X-ID"


def test_error_pages(tmp_path: Path) -> None:
    page = tmp_path / "404.http"  # an errorfile is opened while parsing, as in HAProxy
    page.write_bytes(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
    text = "http-errors site\n    errorfile 503 /srv/503.http\n" + in_app(
        f"errorfile 404 {page}",
        "errorfiles site 503",
        "errorloc303 502 https://example.com/down",
        "http-error status 500 content-type text/plain string oops hdr X-A b",
    )
    config = ok(load_text(tmp_path, text))
    proxy = config.proxies[0]
    assert proxy.settings["errorfile"] == {404: str(page)}
    assert proxy.settings["errorfiles"] == ({"section": "site", "codes": (503,)},)
    assert proxy.settings["errorloc"] == {502: ("https://example.com/down", 303)}
    reply = proxy.settings["http-error"][0]
    assert reply["status"] == 500 and reply["source"] == "oops"
    assert reply["headers"] == (("X-A", "b"),)
    assert config.sections["http-errors"]["site"].entries[0].status == 503


def test_http_request_actions_are_typed(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "http-request deny deny_status 429 if { src 10.0.0.1 }",
        "http-request redirect code 301 location https://x/ drop-query",
        "http-request return status 404 content-type text/plain lf-string %[path]",
        "http-request set-var(txn.host,ifnotempty) req.hdr(host),lower",
        "http-request del-header X-Forwarded- -m beg",
        "http-request set-log-level silent",
        "http-request capture req.hdr(User-Agent) len 64",
        "http-request wait-for-body time 1s at-least 1k",
        "http-request use-service prometheus-exporter if { path /metrics }",
        "http-response set-status 503 reason Maintenance",
    )
    deny, redirect, ret, set_var, del_header, log_level, capture, wait, service = proxy.rules[
        "http-request"
    ]
    assert deny.action == "deny" and deny.options["status"] == 429
    assert deny.condition is not None
    assert redirect.options["code"] == 301 and redirect.options["type"] == "location"
    assert redirect.options["drop-query"] is True
    assert ret.options["status"] == 404 and ret.options["payload"] == "lf-string"
    assert set_var.options["scope"] == "txn" and set_var.options["name"] == "host"
    assert set_var.options["conditions"] == ("ifnotempty",)
    assert set_var.options["expr"] == "req.hdr(host),lower"
    assert del_header.options == {"name": "X-Forwarded-", "match": "beg"}
    assert log_level.options == {"level": "silent"}
    assert capture.options == {"sample": "req.hdr(User-Agent)", "len": 64, "slot": 0}
    assert wait.options == {"time": 1000, "at-least": 1024}
    assert service.options == {"service": "prometheus-exporter"}
    status = proxy.rules["http-response"][0]
    assert status.options == {"status": 503, "reason": "Maintenance"}


def test_redirect_keyword_has_its_own_ruleset(tmp_path: Path) -> None:
    proxy = app(tmp_path, "redirect code 301 prefix / drop-query append-slash if { path /a }")
    (rule,) = proxy.rules["redirect"]
    assert rule.options["code"] == 301 and rule.options["append-slash"] is True


def test_check_steps_are_typed(tmp_path: Path) -> None:
    proxy = app(
        tmp_path,
        "option httpchk",
        "http-check send meth GET uri /health ver HTTP/1.1 hdr Host example.com",
        "http-check expect ! status 500-504,599",
        "http-check disable-on-404",
    )
    send, expect = proxy.rules["http-check"]
    assert send.options["meth"] == "GET" and send.options["uri"] == "/health"
    assert send.options["headers"] == (("Host", "example.com"),)
    assert expect.options["negated"] is True
    assert expect.options["statuses"] == ((500, 504), (599, 599))
    assert proxy.settings["http-check disable-on-404"] is True
    tcp = app(
        tmp_path,
        "option tcp-check",
        "tcp-check connect port 6379",
        "tcp-check send-binary 50494e470d0a",
        "tcp-check expect binary 2b504f4e47",
    )
    connect, send_binary, expect_binary = tcp.rules["tcp-check"]
    assert connect.options == {"port": 6379}
    assert send_binary.options["data"] == b"PING\r\n"
    assert expect_binary.options["bytes"] == b"+PONG"


def test_check_steps_without_their_option_warn(tmp_path: Path) -> None:
    result = load_text(tmp_path, in_app("http-check expect status 200"))
    assert alerts(result) == []
    assert any("option httpchk" in w.message for w in warnings(result))


def test_global_settings(tmp_path: Path) -> None:
    text = (
        "global\n    master-worker no-exit-on-failure\n    nbthread 4\n    maxconn 1000\n"
        "    ulimit-n 4096\n    hard-stop-after 30s\n    close-spread-time infinite\n"
        "    mworker-max-reloads 3\n    spread-checks 5\n    tune.bufsize 32k\n"
        "    tune.http.maxhdr 200\n    maxpipes 64\n    stats timeout 2m\n    stats maxconn 5\n"
        "    stats socket /tmp/x.sock mode 600 level admin expose-fd listeners\n"
        "    log 127.0.0.1:514 len 2048 format rfc5424 local0 info notice\n"
        "    log stdout format raw daemon\n    log-send-hostname lb1\n" + in_app()
    )
    glob = ok(load_text(tmp_path, text)).global_
    assert glob.master_worker is True and glob.settings["no-exit-on-failure"] is True
    assert glob.nbthread == 4 and glob.maxconn == 1000 and glob.ulimit_n == 4096
    assert glob.settings["hard-stop-after"] == 30_000
    assert glob.settings["close-spread-time"] == -1
    assert glob.settings["tune.bufsize"] == 32 * 1024
    assert glob.settings["tune.http.maxhdr"] == 200
    assert glob.settings["stats timeout"] == 120_000
    socket = glob.stats_sockets[0]
    assert socket.options == {"mode": 0o600, "level": "admin", "expose-fd": "listeners"}
    udp, stdout = glob.logs
    assert (udp.length, udp.format, udp.facility, udp.level, udp.min_level) == (
        2048,
        "rfc5424",
        "local0",
        "info",
        "notice",
    )
    assert stdout.target == "stdout" and stdout.address is None and stdout.format == "raw"
    assert glob.settings["log-send-hostname"] == "lb1"


def test_proxy_log_targets(tmp_path: Path) -> None:
    proxy = app(tmp_path, "log global", "log 127.0.0.1 sample 1-2:3 local1 err")
    inherit, sampled = proxy.logs
    assert inherit.target == "global" and inherit.address is None
    assert sampled.sample_ranges == "1-2" and sampled.sample_size == 3
    assert app(tmp_path, "log global", "no log").logs == ()


def test_userlist(tmp_path: Path) -> None:
    text = "userlist L1\n    group admins\n    user bob insecure-password pw groups admins\n"
    config = ok(load_text(tmp_path, text + in_app()))
    group, user = config.sections["userlist"]["L1"].entries
    assert group.name == "admins"
    assert user.name == "bob" and user.insecure is True and user.groups == ("admins",)


# -- bad arguments: one ALERT naming the keyword -----------------------------------------------


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("timeout connect 5parsecs", "timeout connect"),
        ("timeout bogus 5s", "timeout"),
        ("retries -1", "retries"),
        ("balance uri len x", "len"),
        ("balance uri path-only", "path-only"),
        ("balance url_param", "url_param"),
        ("balance random(0)", "random"),
        ("balance hash src", "hash"),
        ("hash-type consistent md5", "hash-type"),
        ("retry-on bogus", "retry-on"),
        ("retry-on 503", "retry-on 503"),
        ("option redispatch x", "option redispatch"),
        ("option forwardfor except notanet", "option forwardfor except"),
        ("option forwardfor header", "option forwardfor header"),
        ("option httpchk G@T /", "option httpchk"),
        ("option mysql-check user", "mysql-check"),
        ("option pgsql-check", "option pgsql-check"),
        ("option bogus", "bogus"),
        ("http-reuse sometimes", "http-reuse"),
        ("cookie", "cookie"),
        ("cookie SRV insert rewrite", "cookie"),
        ("cookie SRV rewrite indirect", "cookie"),
        ("cookie SRV maxidle 1x", "cookie maxidle"),
        ("cookie SRV bogus", "cookie"),
        ("errorfile 999 /x", "errorfile"),
        ("errorfiles nosuch", "nosuch"),
        ("http-error status 599", "http-error"),
        ("http-error status 503 string down", "http-error"),
        ("log-format %ci %cp", "log-format"),
        ("capture request header Host", "capture request header"),
        ("monitor fail", "monitor fail"),
        ("stats auth admin", "stats auth"),
        ("stats refresh soon", "stats refresh"),
        ("stats bogus", "stats"),
        ("log 127.0.0.1 len 10 local0", "log len"),
        ("log 127.0.0.1 local9", "log"),
        ("log 127.0.0.1 sample 0:2 local0", "log"),
        ("log 127.0.0.1 sample 1-5:2 local0", "log"),
        ("use-server nosuch if TRUE", "nosuch"),
        ("use-server s1", "use-server"),
        ("acl a path -m bogus /x", "bogus"),
        ("http-request set-header X-A", "http-request set-header"),
        ("http-request add-header X-A a b", "http-request add-header"),
        ("http-request deny deny_status 999", "http-request deny"),
        ("http-request deny deny_status 302", "http-request deny"),
        ("http-request redirect code 305 location /x", "http-request redirect"),
        ("http-request redirect to /x", "http-request redirect"),
        ("http-request return status 99", "http-request return"),
        ("http-request return status 200 string hi", "http-request return"),
        ("http-request return string a file /b content-type t", "http-request return"),
        ("http-request set-var(foo.bar) src", "set-var(foo.bar)"),
        ("http-request set-var(txn.x)", "set-var(txn.x)"),
        ("http-request set-var(txn.x,ifbogus) src", "set-var(txn.x,ifbogus)"),
        ("http-request unset-var(txn.x,ifexists)", "unset-var"),
        ("http-request set-log-level loud", "http-request set-log-level"),
        ("http-request del-header X -m glob", "http-request del-header"),
        ("http-request capture src", "http-request capture"),
        ("http-request capture src len 0", "capture len"),
        ("http-request normalize-uri squash", "http-request normalize-uri"),
        ("http-request use-service lua.hello", "lua.hello"),
        ("http-request use-service other", "http-request use-service"),
        ("http-request wait-for-body 1s", "http-request wait-for-body"),
        ("http-request frobnicate", "frobnicate"),
        ("http-response set-status 99", "http-response set-status"),
        ("http-response capture res.hdr(x) len 5", "http-response capture"),
        ("http-after-response deny", "http-response"),
        ("tcp-request connection capture src len 5", "tcp-request content capture"),
        ("tcp-request content switch-mode tcp", "tcp-request content switch-mode"),
        ("tcp-request bogus accept", "tcp-request"),
        ("redirect code 301", "redirect"),
        ("redirect location", "location"),
        ("http-check send meth", "http-check send"),
        ("http-check send uri-lf /%[src]", "uri-lf"),
        ("http-check expect", "http-check expect"),
        ("http-check expect bogus 200", "http-check expect"),
        ("http-check expect status abc", "http-check expect"),
        ("http-check expect string OK extra", "http-check expect"),
        ("http-check expect hdr name Server", "hdr"),
        ("http-check bogus", "http-check"),
        ("http-check set-var(check.x) int(1)", "set-var"),
        ("tcp-check connect port 99999", "tcp-check connect port"),
        ("tcp-check connect bogus", "tcp-check connect"),
        ("tcp-check send", "tcp-check send"),
        ("tcp-check send-binary 50494", "tcp-check send-binary"),
        ("tcp-check send-binary zz", "tcp-check send-binary"),
        ("tcp-check expect binary xyz0", "tcp-check expect"),
        ("tcp-check expect rbinary 00", "rbinary"),
        ("clitimeout 5s", "clitimeout"),
        ("timeout contimeout 5s", "contimeout"),
        ("option forceclose", "forceclose"),
        ("reqrep ^(.*) \\1", "reqrep"),
        ("hash-balance-factor 150", "hash-balance-factor"),
    ],
)
def test_bad_proxy_argument(tmp_path: Path, line: str, names: str) -> None:
    message = one_alert(tmp_path, in_app(line))
    assert names in message, message


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ("weight 257", "weight"),
        ("maxconn x", "maxconn"),
        ("rise 0", "rise"),
        ("inter soon", "inter"),
        ("observe layer5", "observe"),
        ("on-error explode", "on-error"),
        ("init-addr dns", "init-addr"),
        ("addr not-an-ip", "addr"),
        ("pool-max-conn -2", "pool-max-conn"),
        ("pool-purge-delay x", "pool-purge-delay"),
        ("max-reuse 5", "max-reuse"),
        ("track nosuch", "nosuch"),
        ("check track s0", "track"),
        ("agent-port 0", "agent-port"),
        ("proxy-v2-options foo", "'foo' : proxy v2 option not implemented."),
        ("proxy-v2-options unique-id,cert-cn", "'cert-cn' : proxy v2 option not yet supported"),
        ("frobnicate", "frobnicate"),
    ],
)
def test_bad_server_option(tmp_path: Path, options: str, names: str) -> None:
    text = in_app("server s0 127.0.0.1:2 check", f"server s9 127.0.0.1:3 {options}")
    message = one_alert(tmp_path, text)
    assert names in message, message


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ("maxconn -1", "maxconn"),
        ("backlog 0", "backlog"),
        ("mode 999", "mode"),
        ("v4v6 v6only", "v6only"),
        ("level root", "level"),
        ("ssl crt /x.pem", "ssl"),
        ("quic-force-retry", "quic-force-retry"),
    ],
)
def test_bad_bind_option(tmp_path: Path, options: str, names: str) -> None:
    text = HTTP_LISTEN.replace("bind 127.0.0.1:18080", f"bind 127.0.0.1:18080 {options}")
    message = one_alert(tmp_path, text + "    server s1 127.0.0.1:1\n")
    assert names in message, message


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("nbthread 0", "nbthread"),
        ("nbthread 65", "nbthread"),
        ("maxconn many", "maxconn"),
        ("ulimit-n 0", "ulimit-n"),
        ("hard-stop-after", "hard-stop-after"),
        ("close-spread-time infinite now", "close-spread-time"),
        ("mworker-max-reloads 0", "mworker-max-reloads"),
        ("spread-checks 60", "spread-checks"),
        ("tune.http.maxhdr 40000", "tune.http.maxhdr"),
        ("tune.bufsize lots", "tune.bufsize"),
        ("master-worker always", "master-worker"),
        ("stats timeout 0", "stats timeout"),
        ("stats maxconn 0", "stats maxconn"),
        ("stats bogus", "stats"),
        ("stats socket /tmp/x.sock level root", "level"),
        ("log-send-hostname a b", "log-send-hostname"),
        ("log 127.0.0.1 format json local0", "json"),
        ("log global", "log global"),
        ("user no-such-user-here", "no-such-user-here"),
        ("tune.quic.retry-threshold 3", "tune.quic.retry-threshold"),
        ("ssl-default-bind-ciphers HIGH", "ssl-default-bind-ciphers"),
        ("lua-load /x.lua", "lua-load"),
    ],
)
def test_bad_global_argument(tmp_path: Path, line: str, names: str) -> None:
    message = one_alert(tmp_path, f"global\n    {line}\n" + in_app())
    assert names in message, message


@pytest.mark.parametrize(
    ("section", "names"),
    [
        ("userlist L\n    user bob\n", "user bob"),
        ("userlist L\n    user bob password x groups\n", "groups"),
        ("http-errors e\n    errorfile 599 /x\n", "errorfile"),
        ("http-errors e\n    errorfile 503\n", "errorfile"),
        ("program p\n    command\n", "command"),
        ("resolvers dns\n    nameserver ns1 1.1.1.1:53\n", "nameserver"),
    ],
)
def test_bad_other_section_line(tmp_path: Path, section: str, names: str) -> None:
    message = one_alert(tmp_path, section + in_app())
    assert names in message, message


def test_rules_in_anonymous_defaults_are_refused(tmp_path: Path) -> None:
    text = "defaults\n    mode http\n" + TIMEOUTS + "    http-request deny\n" + in_app()
    assert "anonymous 'defaults'" in one_alert(tmp_path, text)


def test_defaults_with_rules_cannot_serve_both_sides(tmp_path: Path) -> None:
    text = (
        "defaults web\n    mode http\n" + TIMEOUTS + "    http-request set-header X-A b\n"
        "frontend fe\n    bind 127.0.0.1:18080\n    default_backend be\n"
        "backend be\n    server s 127.0.0.1:1\n"
    )
    message = one_alert(tmp_path, text)
    assert "backend 'be'" in message and "'web'" in message
    frontend_only = text.replace("\nbackend be\n", "\ndefaults plain\n" + TIMEOUTS + "backend be\n")
    assert alerts(load_text(tmp_path, frontend_only)) == []
