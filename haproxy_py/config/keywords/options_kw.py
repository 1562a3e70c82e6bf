"""`option <name>` keywords of proxies (`no option <name>` and `default option <name>` too).

Each option is a keyword named "option <name>" with HAProxy's capabilities. The stored value
in `Proxy.options[name]` is True, False (after `no option`), or a dict of the option's
arguments for options that take some (httpchk, forwardfor, httplog clf...). `default option`
removes the setting so that the built-in default applies again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import Keyword, Statement, caps
from haproxy_py.config.units import parse_int

# The three HTTP connection modes exclude each other: setting one clears the others.
_HTTP_MODES = ("http-keep-alive", "http-server-close", "httpclose")


def _plain(stmt: Statement) -> bool:
    stmt.no_more_than(0)
    return not stmt.negated


def _httplog(stmt: Statement) -> Any:
    stmt.no_more_than(1)
    if stmt.args and stmt.args[0] != "clf":
        raise ConfigError(f"'option httplog' only accepts 'clf', got '{stmt.args[0]}'.")
    return {"clf": True} if stmt.args else True


def _httpchk(stmt: Statement) -> Any:
    stmt.no_more_than(3)
    args = list(stmt.args)
    if len(args) == 1:  # a lone argument is the URI
        args = ["OPTIONS", args[0]]
    method = args[0] if args else "OPTIONS"
    if not method.isascii() or not method.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"'option httpchk' : invalid HTTP method '{method}'.")
    uri = args[1] if len(args) > 1 else "/"
    version = args[2] if len(args) > 2 else "HTTP/1.0"
    return {"method": method, "uri": uri, "version": version}


def _network(text: str, keyword: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(
            f"'{keyword}' expects <address>[/mask] as argument, got '{text}'."
        ) from None


def _keyword_args(allowed: dict[str, int]) -> Callable[[Statement], Any]:
    """Options taking `name value` pairs, e.g. forwardfor [except NET] [header NAME] [if-none]."""

    def convert(stmt: Statement) -> Any:
        result: dict[str, Any] = {}
        args = list(stmt.args)
        while args:
            name = args.pop(0)
            if name not in allowed:
                listed = ", ".join(f"'{a}'" for a in allowed)
                raise ConfigError(
                    f"'{stmt.keyword}' only supports optional values: {listed} (got '{name}')."
                )
            if allowed[name]:
                if not args:
                    what = "<address>[/mask]" if name == "except" else "<header name>"
                    raise ConfigError(f"'{stmt.keyword} {name}' expects {what} as argument.")
                value = args.pop(0)
                result[name] = (
                    _network(value, f"{stmt.keyword} {name}") if name == "except" else value
                )
            else:
                result[name] = True
        return result or True

    return convert


def _redispatch(stmt: Statement) -> Any:
    stmt.no_more_than(1)
    if stmt.negated:
        return False
    if not stmt.args:
        return True
    return {"interval": parse_int(stmt.args[0], "option redispatch")}


def _mysql_check(stmt: Statement) -> Any:
    if not stmt.args:
        return True
    if stmt.args[0] != "user":
        raise ConfigError(
            f"'option mysql-check' only supports optional values: 'user' (got '{stmt.args[0]}')."
        )
    user = stmt.arg(1, "'user <username>'")
    stmt.no_more_than(3)
    protocol = stmt.args[2] if len(stmt.args) > 2 else "post-41"
    if protocol not in ("post-41", "pre-41"):
        raise ConfigError(f"'option mysql-check' expects 'post-41' or 'pre-41' (got '{protocol}').")
    return {"user": user, "protocol": protocol}


def _pgsql_check(stmt: Statement) -> Any:
    if len(stmt.args) != 2 or stmt.args[0] != "user":
        stmt.no_more_than(2)
        raise ConfigError("'option pgsql-check' expects 'user <username>' as argument.")
    return {"user": stmt.args[1]}


def _smtpchk(stmt: Statement) -> Any:
    stmt.no_more_than(2)
    if not stmt.args:
        return True
    if len(stmt.args) != 2:
        raise ConfigError("'option smtpchk' expects <hello> and <domain> together.")
    hello, domain = stmt.args
    # As HAProxy does, anything but EHLO is sent as HELO.
    return {"hello": "EHLO" if hello == "EHLO" else "HELO", "domain": domain}


# Options HAProxy lets a "no" or "default" prefix undo (marked "(*)" in its keyword matrix).
# The others select a log format, a check type or carry arguments: negating them is refused.
NEGATABLE_OPTIONS = frozenset(
    {
        "abortonclose", "accept-invalid-http-request", "accept-invalid-http-response",
        "allbackups", "checkcache", "clitcpka", "contstats", "dontlog-normal", "dontlognull",
        "http-buffer-request", "http-ignore-probes", "http-keep-alive", "http-no-delay",
        "http-pretend-keepalive", "http-server-close", "httpclose", "idle-close-on-response",
        "independent-streams", "log-health-checks", "log-separate-errors", "logasap",
        "nolinger", "persist", "prefer-last-server", "redispatch", "socket-stats",
        "splice-auto", "splice-request", "splice-response", "srvtcpka",
    }
)  # fmt: skip


def _option(
    name: str,
    letters: str,
    summary: str,
    runtime: str,
    convert: Callable[[Statement], Any] = _plain,
    usage: str = "",
) -> Keyword:
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        options = ctx.section.values.setdefault("options", {})
        if stmt.defaulted:
            stmt.no_more_than(0)
            options.pop(name, None)
            return
        value = convert(stmt)
        if name in _HTTP_MODES and value:
            for other in _HTTP_MODES:
                options.pop(other, None)
        ctx.section.set_item("options", name, value, stmt.where)

    return Keyword(
        f"option {name}",
        usage or (f"[no] option {name}" if name in NEGATABLE_OPTIONS else f"option {name}"),
        summary,
        parse,
        runtime,
        caps(letters),
        negatable=name in NEGATABLE_OPTIONS,
    )


_TLS_LATER = "TLS is not supported yet"


def _refuse(reason: str) -> Callable[[Statement], Any]:
    def convert(stmt: Statement) -> Any:
        raise ConfigError(f"'{stmt.keyword}' is not supported by haproxy-py: {reason}.")

    return convert


OPTION_KEYWORDS = [
    _option(
        "http-keep-alive",
        "dflb",
        "keeps client and server connections open between requests (default)",
        "http",
    ),
    _option(
        "http-server-close", "dflb", "closes the server connection after each response", "http"
    ),
    _option("httpclose", "dflb", "closes both connections after each response", "http"),
    _option(
        "idle-close-on-response",
        "dfl",
        "during a soft stop, answers idle keep-alive clients with Connection: close (always on here)",
        "process",
    ),
    _option(
        "http-ignore-probes",
        "dfl",
        "does not log or count empty connections that never send a request",
        "http",
    ),
    _option(
        "forwardfor",
        "dflb",
        "adds X-Forwarded-For with the client address",
        "http",
        _keyword_args({"except": 1, "header": 1, "if-none": 0}),
        "option forwardfor [except <network>] [header <name>] [if-none]",
    ),
    _option(
        "originalto",
        "dflb",
        "adds X-Original-To with the destination address",
        "http",
        _keyword_args({"except": 1, "header": 1}),
        "option originalto [except <network>] [header <name>]",
    ),
    _option(
        "prefer-last-server",
        "dlb",
        "reuses the server of the previous request when possible",
        "http",
    ),
    _option(
        "redispatch",
        "dlb",
        "retries on another server after a failed connect",
        "tcp",
        _redispatch,
        "[no] option redispatch [<interval>]",
    ),
    _option("persist", "dlb", "keeps persistent clients on a down server", "rules"),
    _option("allbackups", "dlb", "uses every backup server at once, not only the first", "checks"),
    _option("abortonclose", "dlb", "drops queued requests whose client has gone", "http"),
    _option("tcplog", "dflb", "logs TCP connections in HAProxy's TCP format", "logs"),
    _option(
        "httplog",
        "dfl",
        "logs HTTP requests in HAProxy's HTTP format",
        "logs",
        _httplog,
        "option httplog [clf]",
    ),
    _option("httpslog", "dfl", "HTTPS log format", "logs", _refuse(_TLS_LATER)),
    _option("dontlognull", "dfl", "does not log connections that carried no data", "logs"),
    _option("dontlog-normal", "dfl", "logs only errors and anomalies", "logs"),
    _option("log-separate-errors", "dfl", "raises the level of error logs", "logs"),
    _option("log-health-checks", "dlb", "logs every health check result change", "logs"),
    _option("logasap", "dfl", "logs before the transfer ends", "logs"),
    _option(
        "httpchk",
        "dlb",
        "health checks by HTTP request",
        "checks",
        _httpchk,
        "option httpchk [<method>] [<uri>] [<version>]",
    ),
    _option("tcp-check", "dlb", "health checks by a tcp-check script", "checks"),
    _option("ssl-hello-chk", "dlb", "SSLv3 hello health checks", "checks", _refuse(_TLS_LATER)),
    _option(
        "mysql-check",
        "dlb",
        "MySQL handshake health checks",
        "checks",
        _mysql_check,
        "option mysql-check [user <name> [post-41|pre-41]]",
    ),
    _option("redis-check", "dlb", "Redis PING health checks", "checks"),
    _option(
        "smtpchk",
        "dlb",
        "SMTP HELO health checks",
        "checks",
        _smtpchk,
        "option smtpchk [<hello> <domain>]",
    ),
    _option("ldap-check", "dlb", "LDAP bind health checks", "checks"),
    _option(
        "pgsql-check",
        "dlb",
        "PostgreSQL startup health checks",
        "checks",
        _pgsql_check,
        "option pgsql-check user <name>",
    ),
    _option(
        "splice-auto", "dflb", "splices when it looks worth it (always, here, when possible)", "tcp"
    ),
    _option("splice-request", "dflb", "splices client-to-server data", "tcp"),
    _option("splice-response", "dflb", "splices server-to-client data", "tcp"),
    _option("tcpka", "dflb", "TCP keep-alive on both sides", "tcp"),
    _option("clitcpka", "dfl", "TCP keep-alive on the client side", "tcp"),
    _option("srvtcpka", "dlb", "TCP keep-alive on the server side", "tcp"),
    _option("nolinger", "dflb", "resets connections on close instead of lingering", "tcp"),
    _option("socket-stats", "dfl", "per-listener stats rows", "stats"),
    _option("contstats", "dfl", "updates traffic counters while transfers run", "stats"),
    _option(
        "http-buffer-request",
        "dflb",
        "waits for the whole request body before choosing a server",
        "http",
    ),
    _option("http-no-delay", "dflb", "sends HTTP data without delay (Nagle off)", "http"),
    _option("accept-invalid-http-request", "dfl", "relaxes request checks (dangerous)", "http"),
    _option("accept-invalid-http-response", "dlb", "relaxes response checks (dangerous)", "http"),
    _option("http-pretend-keepalive", "dlb", "asks servers for keep-alive while closing", "http"),
    _option("checkcache", "dlb", "blocks cacheable responses that set cookies", "http"),
    _option("independent-streams", "dflb", "separate read and write timeouts", "tcp"),
]
