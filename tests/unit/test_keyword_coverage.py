"""Every keyword, option and action the open issues (3 to 10) name is in the keyword tables.

Each entry below is loaded in a small configuration: supported ones must load without an
ALERT; the placeholders the issues ask to refuse "clearly until X lands" must give one ALERT
saying "not supported" and naming them. The second half checks each proxy keyword's section
kinds against HAProxy 2.6's keyword matrix, copied here as data (configuration manual 4.1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.config.keywords.proxy_kw import PROXY_TABLE
from haproxy_py.config.keywords.registry import caps
from tests.helpers import alerts, load_text

TIMEOUTS = "    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\n"
SERVER = "    server s1 127.0.0.1:8001 check\n    server s2 127.0.0.1:8002 check\n"
EXTRA_SECTIONS = (
    "userlist L1\n    group G1\n    user admin insecure-password secret groups G1\n"
    "http-errors site\n    errorfile 503 /etc/haproxy/errors/503.http\n"
    "backend other\n    mode http\n" + TIMEOUTS + SERVER
)


def build(place: str, line: str) -> str:
    """A configuration with `line` in `place`: a section kind, or a server/bind line."""
    bind, server = "    bind 127.0.0.1:18080\n", SERVER
    body = ""
    if place == "bind":
        bind = f"    bind 127.0.0.1:18080 {line}\n"
    elif place == "server":
        server = f"    server s1 127.0.0.1:8001 {line}\n    server s2 127.0.0.1:8002 check\n"
    elif place in ("listen", "backend-only"):
        body = f"    {line}\n"
    head = f"global\n    {line}\n" if place == "global" else ""
    if "normalize-uri" in line:  # an experimental directive in HAProxy 2.6
        head = "global\n    expose-experimental-directives\n"
    if place == "defaults":  # used by one backend only, then the others get a plain defaults
        head += f"defaults named\n    mode http\n    {line}\n" + TIMEOUTS
        head += "backend from_named from named\n" + SERVER
        head += "defaults plain\n    mode http\n" + TIMEOUTS
    if place == "section":
        head += line + "\n"
    listen = "listen app\n    mode http\n" + TIMEOUTS + bind + body + server
    if place == "backend-only":  # keywords a listen would also take, shown on a backend
        listen = "listen app\n    mode http\n" + TIMEOUTS + bind + server
        listen += "backend be\n    mode http\n" + TIMEOUTS + body + server
    if place == "frontend":
        listen = "frontend fe\n    mode http\n" + TIMEOUTS + bind + f"    {line}\n"
        listen += "    default_backend other\n"
    return head + listen + EXTRA_SECTIONS


# (issue, place, line) for everything the issues name that haproxy-py must accept.
SUPPORTED = [
    # issue 3: TCP data plane
    (3, "bind", "name web maxconn 100 backlog 50"),
    (3, "bind", "v4v6"),
    (3, "bind", "v6only"),
    (3, "bind", "transparent"),
    (3, "bind", "mode 600 user root group root"),
    (3, "bind", "uid 0 gid 0"),
    (3, "bind", "nosplice"),
    # the PROXY protocol (haproxy_py/proto/proxy_protocol.py)
    (3, "bind", "accept-proxy"),
    (3, "server", "send-proxy"),
    (3, "server", "send-proxy-v2 proxy-v2-options unique-id,crc32c,authority"),
    (3, "server", "no-send-proxy no-send-proxy-v2"),
    (3, "server", "check check-send-proxy"),
    (3, "listen", "tcp-check connect port 25 send-proxy"),
    (3, "server", "weight 10 maxconn 20 maxqueue 30 minconn 5"),
    (3, "server", "backup"),
    (3, "server", "disabled"),
    (3, "server", "init-addr last,libc,none"),
    (3, "server", "init-addr 127.0.0.1"),
    (3, "listen", "default-server weight 5 maxconn 10"),
    (3, "listen", "server s3 127.0.0.1:+1000"),
    (3, "global", "maxpipes 1024"),
    (3, "global", "nosplice"),
    (3, "global", "maxconn 1000"),
    (3, "global", "ulimit-n 4096"),
    *((3, "listen", f"balance {algo}") for algo in
      ("roundrobin", "static-rr", "leastconn", "first", "source", "random", "random(2)")),
    (3, "listen", "hash-type map-based"),
    (3, "listen", "hash-type consistent"),
    (3, "listen", "fullconn 1000"),
    (3, "listen", "maxconn 1000"),
    *((3, "listen", f"timeout {name} 5s") for name in
      ("connect", "client", "server", "tunnel", "client-fin", "server-fin", "queue")),
    (3, "listen", "retries 3"),
    (3, "listen", "option redispatch"),
    (3, "listen", "option redispatch 1"),
    (3, "listen", "retry-on conn-failure"),
    (3, "listen", "retry-on none"),
    # issue 4: HTTP
    (4, "listen", "option http-keep-alive"),
    (4, "listen", "option http-server-close"),
    (4, "listen", "option httpclose"),
    (4, "listen", "timeout http-request 5s"),
    (4, "listen", "timeout http-keep-alive 5s"),
    *((4, "listen", f"http-reuse {mode}") for mode in ("never", "safe", "aggressive", "always")),
    (4, "server", "pool-max-conn 10 pool-purge-delay 5s"),
    (4, "global", "tune.bufsize 16384"),
    (4, "global", "tune.http.maxhdr 101"),
    (4, "listen", "errorfile 503 /etc/haproxy/errors/503.http"),
    (4, "listen", "errorfiles site"),
    (4, "listen", "errorfiles site 503"),
    (4, "listen", "http-error status 503 content-type text/plain string down"),
    (4, "listen", "http-error status 503 errorfiles site"),
    (4, "listen", "option forwardfor"),
    (4, "listen", "option forwardfor except 127.0.0.0/8 header X-Client if-none"),
    (4, "listen", "option originalto except 10.0.0.0/8 header X-Dst"),
    (4, "listen", "option http-ignore-probes"),
    (4, "listen", "option dontlog-normal"),
    (4, "listen", "monitor-uri /health"),
    (4, "listen", "monitor fail if { nbsrv(app) lt 1 }"),
    (4, "listen", "balance uri"),
    (4, "listen", "balance uri whole len 10 depth 2"),
    (4, "listen", "balance url_param userid"),
    (4, "listen", "balance hdr(Host)"),
    (4, "listen", "option prefer-last-server"),
    # issue 5: rules
    (5, "listen", "acl a path_beg -i -m beg -n /x"),
    (5, "listen", "acl a src -f /dev/null"),  # pattern files must exist, as in HAProxy
    (5, "listen", "acl a hdr(host) -M -f /dev/null"),
    (5, "listen", "acl a path -- -x"),
    (5, "frontend", "use_backend other if { path_beg /x }"),
    (5, "frontend", "use_backend %[req.hdr(host),lower,map(/dev/null,other)]"),
    (5, "frontend", "default_backend other"),
    (5, "listen", "use-server s1 if { path_beg /s1 }"),
    (5, "listen", "force-persist if { src 10.0.0.0/8 }"),
    (5, "listen", "ignore-persist if { path_end .css }"),
    (5, "listen", "http-request allow if { src 127.0.0.1 }"),
    (5, "listen", "http-request deny"),
    (5, "listen", "http-request deny deny_status 429"),
    (5, "listen", "http-request deny status 403 content-type text/plain string no"),
    (5, "listen", "http-request deny errorfile /etc/haproxy/errors/403.http"),
    (5, "listen", "http-request deny status 503 errorfiles site"),
    (5, "listen", "http-request reject"),
    (5, "listen", "http-request tarpit deny_status 500"),
    (5, "listen", "timeout tarpit 5s"),
    (5, "listen", "http-request auth realm Secure"),
    (5, "listen", "http-request auth unless { http_auth(L1) }"),
    (5, "listen", "http-request redirect location /login code 303 set-cookie SEEN=1"),
    (5, "listen", "http-request redirect prefix /new drop-query append-slash"),
    (5, "listen", "http-request redirect scheme https code 308 clear-cookie USER="),
    (5, "listen", "http-request return status 200 content-type text/plain string ok"),
    (5, "listen", "http-request return status 404 content-type text/html file /srv/404.html"),
    (5, "listen", "http-request return content-type text/plain lf-string %[src]"),
    (5, "listen", "http-request add-header X-A %[src]"),
    (5, "listen", "http-request set-header X-A b"),
    (5, "listen", "http-request del-header X-A"),
    (5, "listen", "http-request del-header X- -m beg"),
    (5, "listen", "http-request replace-header Host (.*) \\1"),
    (5, "listen", "http-request replace-value X-A a b"),
    (5, "listen", "http-request set-path /x"),
    (5, "listen", "http-request set-pathq /x?y"),
    (5, "listen", "http-request set-query a=b"),
    (5, "listen", "http-request set-uri /x"),
    (5, "listen", "http-request replace-path /old(.*) /new\\1"),
    (5, "listen", "http-request replace-uri ^/a /b"),
    (5, "listen", "http-request set-method GET"),
    (5, "listen", "http-request set-var(txn.host) req.hdr(host),lower"),
    (5, "listen", "http-request set-var(sess.x,ifnotexists) src"),
    (5, "listen", "http-request unset-var(txn.host)"),
    (5, "listen", "http-request set-log-level silent"),
    (5, "listen", "http-request capture req.hdr(User-Agent) len 64"),
    (5, "listen", "http-request set-dst hdr(x-dst)"),
    (5, "listen", "http-request set-dst-port int(8080)"),
    (5, "listen", "http-request normalize-uri path-merge-slashes"),
    (5, "listen", "http-request normalize-uri path-strip-dotdot full"),
    *((5, "listen", f"{ruleset} {action}") for ruleset in ("http-response", "http-after-response")
      for action in ("set-header X-A b", "add-header X-A b", "del-header X-A",
                     "replace-header Set-Cookie (.*) \\1", "replace-value X-A a b",
                     "set-status 503 reason Down", "set-var(txn.s) status",
                     "allow")),
    *((5, "listen", f"declare capture response len 8\n    {ruleset} capture res.hdr(Server) id 0")
      for ruleset in ("http-response", "http-after-response")),
    (5, "listen", "http-response deny"),
    (5, "listen", "http-response redirect location /x"),
    (5, "listen", "http-response return status 500 content-type text/plain string oops"),
    (5, "listen", "http-response set-log-level err"),
    (5, "listen", "tcp-request connection accept if { src 127.0.0.1 }"),
    (5, "listen", "tcp-request connection reject"),
    (5, "listen", "tcp-request connection set-var(sess.src) src"),
    (5, "listen", "tcp-request content accept if { req.len gt 0 }"),
    (5, "listen", "tcp-request content reject"),
    (5, "listen", "tcp-request content set-var(txn.x) req.len"),
    (5, "listen", "tcp-request inspect-delay 5s"),
    (5, "backend-only", "tcp-response content accept"),
    (5, "backend-only", "tcp-response content reject"),
    (5, "backend-only", "tcp-response inspect-delay 5s"),
    (5, "section", "userlist L2\n    user bob password $6$salt$hash\n    group G2 users bob"),
    (5, "listen", "stats auth admin:secret"),
    (5, "listen", "redirect location / code 301 if { path /old }"),
    (5, "listen", "redirect code 301 prefix / drop-query append-slash if { path_reg ^/a/[^/]*$ }"),
    (5, "listen", "cookie SRV insert indirect nocache"),
    (5, "listen", "cookie SRV insert indirect nocache postonly preserve httponly secure "
                  "domain .example.com maxidle 30m maxlife 1d dynamic"),
    (5, "listen", "cookie SRV rewrite"),
    (5, "listen", "cookie SRV prefix"),
    (5, "listen", "dynamic-cookie-key secret"),
    (5, "server", "cookie s1"),
    (5, "listen", "option persist"),
    # issue 6: master-worker
    (6, "global", "master-worker"),
    (6, "global", "master-worker no-exit-on-failure"),
    (6, "global", "nbthread 4"),
    (6, "global", "nbproc 4"),
    (6, "global", "chroot /var/empty"),
    (6, "global", "user root"),
    (6, "global", "group root"),
    (6, "global", "uid 99"),
    (6, "global", "gid 99"),
    (6, "global", "insecure-setuid-wanted"),
    (6, "global", "hard-stop-after 30s"),
    (6, "global", "mworker-max-reloads 3"),
    (6, "global", "close-spread-time 5s"),
    (6, "global", "close-spread-time infinite"),
    (6, "global", "pidfile /run/haproxy-py.pid"),
    (6, "global", "daemon"),
    (6, "listen", "option idle-close-on-response"),
    (6, "section", "program api\n    command /usr/bin/true --flag\n    user root\n"
                   "    group root\n    no option start-on-reload"),
    # issue 7: runtime API and stats page
    (7, "global", "stats socket /run/haproxy-py.sock mode 600 level admin expose-fd listeners"),
    (7, "global", "stats socket ipv4@127.0.0.1:9999 level operator"),
    (7, "global", "stats socket /run/x.sock uid 0 gid 0 user root group root level user"),
    (7, "global", "stats timeout 2m"),
    (7, "global", "stats maxconn 10"),
    (7, "listen", "stats enable"),
    (7, "listen", "stats uri /stats"),
    (7, "listen", "stats realm HAProxy\\ Stats"),
    (7, "listen", "stats refresh 30s"),
    (7, "listen", "stats admin if { src 127.0.0.1 }"),
    (7, "listen", "stats hide-version"),
    (7, "listen", "stats show-legends"),
    (7, "listen", "stats scope app"),
    (7, "listen", "stats show-node"),
    (7, "listen", "stats show-node node1"),
    (7, "listen", "http-request use-service prometheus-exporter if { path /metrics }"),
    # issue 8: health checks
    (8, "server", "check inter 2s fastinter 1s downinter 5s rise 2 fall 3 port 8080"),
    (8, "server", "check addr 127.0.0.2"),
    (8, "listen", "timeout check 2s"),
    (8, "global", "spread-checks 5"),
    (8, "listen", "default-server check inter 3s"),
    (8, "listen", "option tcp-check"),
    (8, "listen", "tcp-check connect"),
    (8, "listen", "tcp-check connect port 8080 addr 127.0.0.1 linger comment probe"),
    (8, "listen", "tcp-check send PING\\r\\n"),
    (8, "listen", "tcp-check send-binary 50494e470d0a"),
    (8, "listen", "tcp-check expect string +PONG"),
    (8, "listen", "tcp-check expect ! string -ERR"),
    (8, "listen", "tcp-check expect rstring ^\\+OK"),
    (8, "listen", "tcp-check expect binary 2b504f4e47"),
    (8, "listen", "option httpchk"),
    (8, "listen", "option httpchk /health"),
    (8, "listen", "option httpchk GET /health"),
    (8, "listen", "option httpchk GET /health HTTP/1.1"),
    (8, "listen", "http-check send meth GET uri /health ver HTTP/1.1 hdr Host example.com body x"),
    (8, "listen", "http-check expect status 200"),
    (8, "listen", "http-check expect ! status 500-599"),
    (8, "listen", "http-check expect rstatus ^2"),
    (8, "listen", "http-check expect string OK"),
    (8, "listen", "http-check expect !rstring ERROR"),
    (8, "listen", "http-check disable-on-404"),
    (8, "listen", "http-check connect port 8080"),
    (8, "listen", "option mysql-check user haproxy"),
    (8, "listen", "option mysql-check user haproxy pre-41"),
    (8, "listen", "option redis-check"),
    (8, "listen", "option smtpchk"),
    (8, "listen", "option smtpchk EHLO example.com"),
    (8, "listen", "option ldap-check"),
    (8, "listen", "option pgsql-check user haproxy"),
    (8, "server", "agent-check agent-port 9999 agent-inter 5s agent-send hello"),
    (8, "server", "agent-check agent-port 9999 agent-addr 127.0.0.1"),
    (8, "server", "observe layer4 error-limit 10 on-error mark-down"),
    (8, "server", "observe layer7 error-limit 5 on-error fastinter"),
    (8, "server", "on-error fail-check"),
    (8, "server", "on-error sudden-death"),
    (8, "listen", "option allbackups"),
    (8, "server", "slowstart 30s"),
    (8, "server", "track s2"),
    (8, "server", "track other/s1"),
    # issue 9: logging
    (9, "global", "log 127.0.0.1:514 local0"),
    (9, "global", "log 127.0.0.1 len 2048 format rfc5424 sample 1-2:3 local0 info notice"),
    (9, "global", "log stdout format raw local0"),
    (9, "global", "log stderr format short daemon err"),
    (9, "global", "log /dev/log local1"),
    (9, "global", "log unix@/dev/log local1"),
    (9, "global", "log udp6@[::1]:514 local2"),
    *((9, "global", f"log 127.0.0.1 format {fmt} local0") for fmt in
      ("rfc3164", "rfc5424", "short", "raw", "iso", "timed", "priority")),
    (9, "global", "log-tag haproxy-py"),
    (9, "global", "log-send-hostname"),
    (9, "global", "log-send-hostname lb1"),
    (9, "listen", "log global"),
    (9, "listen", "no log"),
    (9, "listen", "log 127.0.0.1 local0 info"),
    (9, "listen", "log-tag app"),
    (9, "listen", "option tcplog"),
    (9, "listen", "option httplog"),
    (9, "listen", "option httplog clf"),
    (9, "listen", 'log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r"'),
    (9, "listen", "log-format-sd [exampleSDID@1234\\ bytes=\\\"%B\\\"]"),
    (9, "listen", "error-log-format %ci:%cp\\ %ST"),
    (9, "frontend", "capture request header Host len 32"),
    (9, "frontend", "capture response header Server len 20"),
    (9, "listen", "option dontlognull"),
    (9, "listen", "option log-separate-errors"),
    (9, "listen", "option log-health-checks"),
    (9, "listen", "unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid"),
    (9, "listen", "unique-id-header X-Unique-ID"),
    (9, "listen", "http-request set-log-level debug"),
    # issue 5/6: rules may live in named defaults sections
    (5, "defaults", "http-request set-header X-From-Defaults 1"),
    (5, "defaults", "acl local src 127.0.0.1"),
]  # fmt: skip

# (issue, place, line, name): placeholders the issues want refused clearly for now.
REFUSED = [
    (5, "listen", "http-request track-sc0 src", "track-sc0"),
    (5, "listen", "http-request track-sc1 src table t", "track-sc1"),
    (5, "listen", "tcp-request connection track-sc0 src", "track-sc0"),
    (5, "listen", "tcp-request content track-sc2 src", "track-sc2"),
    (5, "listen", "http-request sc-inc-gpc0(0)", "sc-inc-gpc0"),
    (5, "listen", "acl sni req.ssl_sni -i example.com", "req.ssl_sni"),
    (5, "listen", "use_backend %[req.ssl_sni,lower]", "req.ssl_sni"),
    (5, "listen", "http-request set-var(txn.r) sc0_http_req_rate", "sc0_http_req_rate"),
    (5, "listen", "stick-table type ip size 1m", "stick-table"),
    (5, "listen", "stick on src", "stick on"),
    (5, "listen", "appsession JSESSIONID len 52 timeout 3h", "appsession"),
    (5, "listen", "reqrep ^Host:\\ x Host:\\ y", "reqrep"),
    (5, "listen", "reqadd X-A:\\ b", "reqadd"),
    (5, "listen", "rspdel ^Server:.*", "rspdel"),
    (8, "listen", "option ssl-hello-chk", "ssl-hello-chk"),
    (8, "listen", "tcp-check connect ssl", "ssl"),
    (9, "listen", "option httpslog", "httpslog"),
    (4, "bind", "ssl crt /etc/ssl/x.pem", "ssl"),
    (4, "server", "ssl verify none", "ssl"),
    (3, "listen", "retry-on 503", "retry-on 503"),
    (4, "listen", "balance rdp-cookie", "rdp-cookie"),
]  # fmt: skip


def _only_alerts(tmp_path: Path, text: str) -> list[str]:
    return [item.render(0) for item in alerts(load_text(tmp_path, text))]


@pytest.mark.parametrize(("issue", "place", "line"), SUPPORTED)
def test_named_keyword_is_supported(tmp_path: Path, issue: int, place: str, line: str) -> None:
    assert _only_alerts(tmp_path, build(place, line)) == [], f"issue {issue}: {line}"


@pytest.mark.parametrize(("issue", "place", "line", "name"), REFUSED)
def test_placeholder_is_refused_clearly(
    tmp_path: Path, issue: int, place: str, line: str, name: str
) -> None:
    found = _only_alerts(tmp_path, build(place, line))
    assert len(found) == 1, found
    assert "not supported" in found[0], found[0]
    assert name in found[0], found[0]


def test_base_configuration_is_clean(tmp_path: Path) -> None:
    """The scaffolding the entries are dropped into loads without any ALERT by itself."""
    result = load_text(tmp_path, build("section", "# nothing"))
    assert alerts(result) == []


# -- section kinds per proxy keyword, from HAProxy 2.6's keyword matrix -------------------------
# Letters: d(efaults) f(rontend) l(isten) b(ackend); "!" = only in named defaults sections.

MATRIX = {
    "acl": "dflb!", "backlog": "dfl", "balance": "dlb", "bind": "fl", "bind-process": "dflb",
    "capture cookie": "fl", "capture request header": "fl", "capture response header": "fl",
    "clitcpka-cnt": "dfl", "clitcpka-idle": "dfl", "clitcpka-intvl": "dfl", "compression": "dflb",
    "cookie": "dlb", "declare capture": "fl", "default-server": "dlb", "default_backend": "dfl",
    "description": "flb", "disabled": "dflb", "dispatch": "lb", "email-alert from": "dflb",
    "email-alert level": "dflb", "email-alert mailers": "dflb", "email-alert myhostname": "dflb",
    "email-alert to": "dflb", "enabled": "dflb", "errorfile": "dflb", "errorfiles": "dflb",
    "errorloc": "dflb", "errorloc302": "dflb", "errorloc303": "dflb", "error-log-format": "dfl",
    "force-persist": "lb", "filter": "flb", "fullconn": "dlb", "hash-type": "dlb",
    "http-after-response": "dflb!", "http-check comment": "dlb", "http-check connect": "dlb",
    "http-check disable-on-404": "dlb", "http-check expect": "dlb", "http-check send": "dlb",
    "http-check send-state": "dlb", "http-check set-var": "dlb", "http-check unset-var": "dlb",
    "http-error": "dflb", "http-request": "dflb!", "http-response": "dflb!", "http-reuse": "dlb",
    "http-send-name-header": "dlb", "id": "flb", "ignore-persist": "lb",
    "load-server-state-from-file": "dlb", "log": "dflb", "log-format": "dfl",
    "log-format-sd": "dfl", "log-tag": "dflb", "max-keep-alive-queue": "dlb", "maxconn": "dfl",
    "mode": "dflb", "monitor fail": "fl", "monitor-uri": "dfl", "option abortonclose": "dlb",
    "option accept-invalid-http-request": "dfl", "option accept-invalid-http-response": "dlb",
    "option allbackups": "dlb", "option checkcache": "dlb", "option clitcpka": "dfl",
    "option contstats": "dfl", "option disable-h2-upgrade": "dfl", "option dontlog-normal": "dfl",
    "option dontlognull": "dfl", "option forwardfor": "dflb",
    "option h1-case-adjust-bogus-client": "dfl", "option h1-case-adjust-bogus-server": "dlb",
    "option http-buffer-request": "dflb", "option http-ignore-probes": "dfl",
    "option http-keep-alive": "dflb", "option http-no-delay": "dflb",
    "option http-pretend-keepalive": "dlb", "option http-restrict-req-hdr-names": "dflb",
    "option http-server-close": "dflb", "option http-use-proxy-header": "dfl",
    "option httpchk": "dlb", "option httpclose": "dflb", "option httplog": "dfl",
    "option httpslog": "dfl", "option independent-streams": "dflb", "option ldap-check": "dlb",
    "option external-check": "dlb", "option log-health-checks": "dlb",
    "option log-separate-errors": "dfl", "option logasap": "dfl", "option mysql-check": "dlb",
    "option nolinger": "dflb", "option originalto": "dflb", "option persist": "dlb",
    "option pgsql-check": "dlb", "option prefer-last-server": "dlb", "option redispatch": "dlb",
    "option redis-check": "dlb", "option smtpchk": "dlb", "option socket-stats": "dfl",
    "option splice-auto": "dflb", "option splice-request": "dflb",
    "option splice-response": "dflb", "option spop-check": "dlb", "option srvtcpka": "dlb",
    "option ssl-hello-chk": "dlb", "option tcp-check": "dlb", "option tcp-smart-accept": "dfl",
    "option tcp-smart-connect": "dlb", "option tcpka": "dflb", "option tcplog": "dflb",
    "option transparent": "dlb", "option idle-close-on-response": "dfl",
    "external-check command": "dlb", "external-check path": "dlb", "persist rdp-cookie": "dlb",
    "rate-limit sessions": "dfl", "redirect": "flb", "retries": "dlb", "retry-on": "dlb",
    "server": "lb", "server-state-file-name": "dlb", "server-template": "lb", "source": "dlb",
    "srvtcpka-cnt": "dlb", "srvtcpka-idle": "dlb", "srvtcpka-intvl": "dlb", "stats admin": "flb",
    "stats auth": "dflb", "stats enable": "dflb", "stats hide-version": "dflb",
    "stats http-request": "flb", "stats realm": "dflb", "stats refresh": "dflb",
    "stats scope": "dflb", "stats show-desc": "dflb", "stats show-legends": "dflb",
    "stats show-node": "dflb", "stats uri": "dflb", "stick match": "lb", "stick on": "lb",
    "stick store-request": "lb", "stick store-response": "lb", "stick-table": "flb",
    "tcp-check comment": "dlb", "tcp-check connect": "dlb", "tcp-check expect": "dlb",
    "tcp-check send": "dlb", "tcp-check send-lf": "dlb", "tcp-check send-binary": "dlb",
    "tcp-check send-binary-lf": "dlb", "tcp-check set-var": "dlb", "tcp-check unset-var": "dlb",
    "tcp-request connection": "dfl!", "tcp-request content": "dflb!",
    "tcp-request inspect-delay": "dflb!", "tcp-request session": "dfl!",
    "tcp-response content": "dlb!", "tcp-response inspect-delay": "dlb!", "timeout check": "dlb",
    "timeout client": "dfl", "timeout client-fin": "dfl", "timeout connect": "dlb",
    "timeout http-keep-alive": "dflb", "timeout http-request": "dflb", "timeout queue": "dlb",
    "timeout server": "dlb", "timeout server-fin": "dlb", "timeout tarpit": "dflb",
    "timeout tunnel": "dlb", "transparent": "dlb", "unique-id-format": "dfl",
    "unique-id-header": "dfl", "use_backend": "fl", "use-fcgi-app": "lb", "use-server": "lb",
}  # fmt: skip

# Prefix keywords that only report an unknown form ("timeout bogus") and keywords HAProxy 2.6
# no longer lists but haproxy-py still reads: not in the matrix, on purpose.
NOT_IN_MATRIX = {"timeout", "option", "stats", "capture", "monitor", "tcp-request",
                 "tcp-response", "http-check", "tcp-check", "dynamic-cookie-key",
                 "option http-use-htx"}  # fmt: skip
# dynamic-cookie-key is in the manual's 4.2 (defaults, listen, backend) but not in its matrix.
MANUAL_ONLY = {"dynamic-cookie-key": "dlb"}


@pytest.mark.parametrize("keyword", sorted(kw.name for kw in PROXY_TABLE))
def test_proxy_keyword_caps_match_haproxy(keyword: str) -> None:
    entry = PROXY_TABLE.keywords[keyword]
    letters = MATRIX.get(keyword) or MANUAL_ONLY.get(keyword)
    if letters is None:
        assert keyword in NOT_IN_MATRIX, f"{keyword!r} is neither in the matrix nor listed"
        return
    assert entry.sections == caps(letters.rstrip("!")), keyword


@pytest.mark.parametrize("keyword", sorted(MATRIX))
def test_every_matrix_keyword_is_known(keyword: str) -> None:
    """Each HAProxy proxy keyword is supported or refused by name, never 'unknown'."""
    _, entry, reason = PROXY_TABLE.lookup(tuple(keyword.split()))
    assert entry is not None or reason is not None, keyword


@pytest.mark.parametrize(
    "keyword", sorted(k for k, v in MATRIX.items() if v.endswith("!") and k in PROXY_TABLE.keywords)
)
def test_named_defaults_only_keywords(tmp_path: Path, keyword: str) -> None:
    samples = {
        "acl": "acl a path /x",
        "tcp-request inspect-delay": "tcp-request inspect-delay 5s",
        "tcp-response inspect-delay": "tcp-response inspect-delay 5s",
        "tcp-request connection": "tcp-request connection accept",
        "tcp-request content": "tcp-request content accept",
        "tcp-response content": "tcp-response content accept",
    }
    line = samples.get(keyword, f"{keyword} set-header X-A b")
    text = "defaults\n    mode http\n" + TIMEOUTS + f"    {line}\n"
    found = _only_alerts(tmp_path, text + "backend be\n" + SERVER)
    assert len(found) == 1 and "anonymous 'defaults'" in found[0], found
    assert _only_alerts(tmp_path, text.replace("defaults\n", "defaults named\n")) == []
