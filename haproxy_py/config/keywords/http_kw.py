"""Proxy keywords of persistence, captures, error pages, monitoring and log formats.

Values land in `Proxy.settings` under the keyword's name: `cookie` as a dict of its options
(times in milliseconds), captures as (header, length) pairs, error pages by status code,
log formats as the one string HAProxy expects (spaces inside must be escaped or quoted).
"""

from __future__ import annotations

import re
from typing import Any

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import parse_condition
from haproxy_py.config.keywords.log_formats import parse_log_format
from haproxy_py.config.keywords.registry import (
    Keyword,
    Statement,
    caps,
    choice,
    one_arg,
    setting,
)
from haproxy_py.config.keywords.replies import check_http_errors_later, handled_status, parse_reply
from haproxy_py.config.units import parse_int, parse_time

_COOKIE_FLAGS = ("rewrite", "insert", "prefix", "indirect", "nocache", "postonly", "preserve",
                 "httponly", "secure", "dynamic")  # fmt: skip
_COOKIE_MODES = ("rewrite", "insert", "prefix")
_MAX_COOKIE_CAPTURE = 63  # HAProxy's longest cookie capture
# Characters a Set-Cookie attribute may not carry (RFC 6265: CTLs and ';').
_BAD_ATTR = re.compile(r"[\x00-\x1f\x7f;]")


def _appendsetting(ctx: ParseContext, name: str, value: Any) -> None:
    ctx.section.values.setdefault("settings", {}).setdefault(name, []).append(value)


def _cookie(stmt: Statement) -> dict[str, Any]:
    name = stmt.arg(0, "<cookie name>")
    result: dict[str, Any] = {"name": name}
    args = list(stmt.args[1:])
    while args:
        word = args.pop(0)
        if word in _COOKIE_FLAGS:
            result[word] = True
            continue
        if word not in ("domain", "maxidle", "maxlife", "attr"):
            raise ConfigError(
                "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache',"
                " 'postonly', 'preserve', 'httponly', 'secure', 'domain', 'maxidle', 'maxlife',"
                f" 'dynamic' and 'attr' options (got '{word}')."
            )
        if not args:
            raise ConfigError(f"'cookie' : '{word}' expects a value as argument.")
        value = args.pop(0)
        if word in ("maxidle", "maxlife"):
            result[word] = parse_time(value, f"cookie {word}", "s")
        elif word == "attr":
            if _BAD_ATTR.search(value):
                raise ConfigError(
                    f"'cookie' : character ';' or a control character in attr '{value}'."
                )
            result.setdefault("attr", []).append(value)
        else:
            result.setdefault("domain", []).append(value)
    modes = [mode for mode in _COOKIE_MODES if result.get(mode)]
    if len(modes) > 1:
        raise ConfigError("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.")
    if result.get("rewrite") and result.get("indirect"):
        raise ConfigError("cookie 'rewrite' and 'indirect' modes are incompatible.")
    if result.get("preserve") and not (result.get("insert") or result.get("indirect")):
        raise ConfigError("cookie 'preserve' requires at least 'insert' or 'indirect'.")
    return result


def _capture_header(stmt: Statement, ctx: ParseContext) -> None:
    args = stmt.args
    if len(args) < 3 or args[1] != "len":
        raise ConfigError(f"'{stmt.keyword}' expects <header name> len <length>.")
    stmt.no_more_than(3)
    length = parse_int(args[2], f"{stmt.keyword} len", 0, 65535)
    field = "request_captures" if "request" in stmt.keyword else "response_captures"
    _appendsetting(ctx, field, (args[0], length))


def _capture_cookie(stmt: Statement, ctx: ParseContext) -> None:
    """`capture cookie NAME len N`: the first request Cookie / response Set-Cookie whose name
    starts with NAME is logged as `NAME=value` cut to N bytes (%CC, %CS). One per proxy."""
    args = stmt.args
    if len(args) < 3 or args[1] != "len":
        raise ConfigError("'capture' expects 'cookie' <cookie_name> 'len' <len>.")
    stmt.no_more_than(3)
    length = parse_int(args[2], "capture cookie len", 0, 2**31 - 1)
    if length > _MAX_COOKIE_CAPTURE:
        section = ctx.section
        ctx.warn(
            f"truncating capture length to {_MAX_COOKIE_CAPTURE} bytes for"
            f" {section.kind} '{section.name}'."
        )
        length = _MAX_COOKIE_CAPTURE
    ctx.section.values.setdefault("settings", {})["capture_cookie"] = (args[0], length)


def _errorfile(stmt: Statement, ctx: ParseContext) -> None:
    code, path = stmt.exactly(2, "<status code> and <file> as arguments")
    status = handled_status(code, "errorfile")
    try:  # HAProxy reads the page while parsing: -c must refuse a missing one too
        with open(path, "rb"):
            pass
    except OSError:
        raise ConfigError(f"errorfile : error opening file '{path}'.") from None
    ctx.section.values.setdefault("settings", {}).setdefault("errorfile", {})[status] = path


def _errorloc(stmt: Statement, ctx: ParseContext) -> None:
    code, url = stmt.exactly(2, "<status code> and <url> as arguments")
    status = handled_status(code, stmt.keyword)
    redirect = 303 if stmt.keyword == "errorloc303" else 302
    ctx.section.values.setdefault("settings", {}).setdefault("errorloc", {})[status] = (
        url,
        redirect,
    )


def _errorfiles(stmt: Statement, ctx: ParseContext) -> None:
    name = stmt.arg(0, "<http-errors section name>")
    codes = tuple(handled_status(code, "errorfiles") for code in stmt.args[1:])
    _appendsetting(ctx, "errorfiles", {"section": name, "codes": codes})
    check_http_errors_later(name, "errorfiles", stmt.where, ctx)


def _http_error(stmt: Statement, ctx: ParseContext) -> None:
    if not stmt.args:
        raise ConfigError("'http-error' expects at least 'status <code>' as arguments.")
    try:
        reply = parse_reply(stmt.args, "http-error", 0)
    except ConfigError as exc:
        raise ConfigError(f"'http-error' : {exc.message}") from None
    if reply.get("payload") == "errorfiles":
        check_http_errors_later(reply["source"], "'http-error'", stmt.where, ctx)
    _appendsetting(ctx, "http-error", reply)


def _monitor_fail(stmt: Statement, ctx: ParseContext) -> None:
    if not stmt.args or stmt.args[0] not in ("if", "unless"):
        raise ConfigError(
            "'monitor fail' requires either 'if' or 'unless' followed by a condition."
        )
    condition = parse_condition(stmt.args, ctx, "'monitor fail'")
    ctx.section.set_item("settings", "monitor fail", condition, stmt.where)


def _dynamic_cookie_key(stmt: Statement) -> str:
    # HAProxy refuses a missing or empty key and ignores words after the first.
    if not stmt.args or not stmt.args[0]:
        raise ConfigError("'dynamic-cookie-key' expects <secret_key> as argument.")
    return stmt.args[0]


def _keyword(name: str, usage: str, summary: str, parse, runtime: str, letters: str) -> Keyword:  # type: ignore[no-untyped-def]
    return Keyword(name, usage, summary, parse, runtime, caps(letters))


HTTP_KEYWORDS = [
    _keyword(
        "cookie",
        "cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve]"
        " [httponly] [secure] [domain <d>]* [maxidle <t>] [maxlife <t>] [dynamic] [attr <a>]*",
        "cookie-based persistence",
        setting("cookie", _cookie),
        "rules",
        "dlb",
    ),
    _keyword(
        "dynamic-cookie-key",
        "dynamic-cookie-key <key>",
        "secret mixed into 'cookie ... dynamic' server cookies",
        setting("dynamic-cookie-key", _dynamic_cookie_key),
        "rules",
        "dlb",
    ),
    _keyword(
        "capture cookie",
        "capture cookie <name> len <n>",
        "logs a request and a response cookie (%CC, %CS)",
        _capture_cookie,
        "logs",
        "fl",
    ),
    _keyword(
        "capture request header",
        "capture request header <name> len <n>",
        "logs a request header",
        _capture_header,
        "logs",
        "fl",
    ),
    _keyword(
        "capture response header",
        "capture response header <name> len <n>",
        "logs a response header",
        _capture_header,
        "logs",
        "fl",
    ),
    _keyword("log-format", "log-format <format>", "custom log line format",
             parse_log_format, "logs", "dfl"),
    _keyword("log-format-sd", "log-format-sd <format>", "RFC5424 structured data",
             parse_log_format, "logs", "dfl"),
    _keyword("error-log-format", "error-log-format <format>", "log format of connection errors",
             parse_log_format, "logs", "dfl"),
    _keyword("log-tag", "log-tag <tag>", "syslog tag of this proxy's logs",
             setting("log-tag", one_arg("<tag>")), "logs", "dflb"),
    _keyword("unique-id-format", "unique-id-format <format>", "format of the request's unique id",
             parse_log_format, "logs", "dfl"),
    _keyword("unique-id-header", "unique-id-header <name>", "header carrying the unique id",
             setting("unique-id-header", one_arg("<header name>")), "logs", "dfl"),
    _keyword("monitor-uri", "monitor-uri <uri>", "URI answered 200 for load balancer probes",
             setting("monitor-uri", one_arg("<uri>")), "http", "dfl"),
    _keyword(
        "monitor fail",
        "monitor fail if|unless <condition>",
        "answers 503 on the monitor URI when the condition holds",
        _monitor_fail,
        "http",
        "fl",
    ),
    _keyword("errorfile", "errorfile <code> <file>", "replaces an error page",
             _errorfile, "http", "dflb"),
    _keyword(
        "errorfiles",
        "errorfiles <http-errors section> [<code>...]",
        "takes error pages from an http-errors section",
        _errorfiles,
        "http",
        "dflb",
    ),
    _keyword("errorloc", "errorloc <code> <url>", "answers an error with a 302 redirect",
             _errorloc, "http", "dflb"),
    _keyword("errorloc302", "errorloc302 <code> <url>", "answers an error with a 302 redirect",
             _errorloc, "http", "dflb"),
    _keyword("errorloc303", "errorloc303 <code> <url>", "answers an error with a 303 redirect",
             _errorloc, "http", "dflb"),
    _keyword(
        "http-error",
        "http-error status <code> [content-type <type>] [errorfile <file> | errorfiles <name> |"
        " file <file> | lf-file <file> | string <text> | lf-string <fmt>] [hdr <name> <fmt>]*",
        "defines an error answer",
        _http_error,
        "http",
        "dflb",
    ),
    _keyword(
        "http-reuse",
        "http-reuse never|safe|aggressive|always",
        "sharing of idle server connections (default safe)",
        setting("http-reuse", choice("never", "safe", "aggressive", "always")),
        "http",
        "dlb",
    ),
]  # fmt: skip
