"""`http-check` and `tcp-check` statements: the steps of HTTP and TCP health checks.

Each form (`http-check send`, `tcp-check expect`...) is a keyword of its own, as in HAProxy's
keyword matrix. A step becomes a `Rule` in `Proxy.rules["http-check"|"tcp-check"]`, in file
order, with its typed arguments in `Rule.options`; `http-check disable-on-404` is a setting.
Arguments for features haproxy-py does not have (TLS, SOCKS4, log-format payloads, custom
check statuses) are refused by name. A proxy that has steps but not the option that runs
them gets HAProxy's warning once the whole configuration is read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import Keyword, Statement, caps
from haproxy_py.config.model import Rule
from haproxy_py.config.units import parse_int

_TLS = "TLS is not supported yet"
_LATER = "not implemented yet"
_CONNECT_REFUSED = {
    "via-socks4": "SOCKS4 is out of haproxy-py's scope",
    "ssl": _TLS, "sni": _TLS, "alpn": _TLS,
    "proto": "protocol selection is out of haproxy-py's scope",
}  # fmt: skip
_EXPECT_REFUSED = dict.fromkeys(
    ("min-recv", "ok-status", "error-status", "tout-status", "on-success", "on-error",
     "status-code"),
    _LATER,
)  # fmt: skip
_SEND_REFUSED = {"uri-lf": _LATER, "body-lf": _LATER}
HTTP_EXPECT_MATCHES = ("status", "rstatus", "string", "rstring")
TCP_EXPECT_MATCHES = ("string", "rstring", "binary")
_LATER_MATCHES = ("hdr", "fhdr", "string-lf", "rbinary", "binary-lf")


def _refuse(option: str, reason: str) -> ConfigError:
    return ConfigError(f"'{option}' is not supported by haproxy-py: {reason}.")


def _value(words: list[str], keyword: str, option: str, what: str) -> str:
    if not words:
        raise ConfigError(f"'{keyword}' : '{option}' expects {what} as an argument.")
    return words.pop(0)


def parse_check_port(text: str, keyword: str) -> int:
    if not text.isdigit():
        raise ConfigError(
            f"'{keyword}' : port '{text}' is not supported: haproxy-py expects a number from 1"
            " to 65535 (sample expressions are not supported)."
        )
    return parse_int(text, f"{keyword} port", 1, 65535)


def _connect(args: Sequence[str], keyword: str) -> dict[str, Any]:
    words, result = list(args), {}
    while words:
        word = words.pop(0)
        if word in ("default", "linger", "send-proxy"):
            result[word] = True
        elif word == "port":
            result["port"] = parse_check_port(_value(words, keyword, word, "a port"), keyword)
        elif word == "addr":
            text = _value(words, keyword, word, "an IP address")
            try:
                result["addr"] = str(ipaddress.ip_address(text))
            except ValueError:
                raise ConfigError(f"'{keyword}' : invalid address '{text}'.") from None
        elif word == "comment":
            result["comment"] = _value(words, keyword, word, "a message")
        elif word in _CONNECT_REFUSED:
            raise _refuse(f"{keyword} {word}", _CONNECT_REFUSED[word])
        else:
            raise ConfigError(
                f"'{keyword}' expects 'default', 'port', 'addr', 'send-proxy', 'linger' or"
                " 'comment'"
                f" (got '{word}')."
            )
    return result


def parse_status_list(text: str, keyword: str) -> tuple[tuple[int, int], ...]:
    """`200,301-399` -> ((200, 200), (301, 399))."""
    ranges = []
    for item in text.split(","):
        low, dash, high = item.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ConfigError(f"'{keyword}' : invalid status code list '{text}'.")
        ranges.append((int(low), int(high) if dash else int(low)))
    return tuple(ranges)


def _hex(text: str, keyword: str) -> bytes:
    if len(text) % 2:
        raise ConfigError(f"'{keyword}' : '{text}' is not a binary string (odd number of digits).")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConfigError(
            f"'{keyword}' : '{text}' is not a binary string (hex digits only)."
        ) from None


def _expect(args: Sequence[str], keyword: str, matches: tuple[str, ...]) -> dict[str, Any]:
    words, result = list(args), {"negated": False}
    while words:
        word = words.pop(0)
        if word == "comment":
            result["comment"] = _value(words, keyword, word, "a message")
            continue
        if word in _EXPECT_REFUSED:
            raise _refuse(f"{keyword} {word}", _EXPECT_REFUSED[word])
        if word == "!":
            result["negated"] = True
            word = _value(words, keyword, "!", "a match keyword")
        elif word.startswith("!"):
            result["negated"], word = True, word[1:]
        if word in _LATER_MATCHES:
            raise _refuse(f"{keyword} {word}", _LATER)
        if word not in matches:
            listed = ", ".join(f"[!]{m}" for m in matches)
            raise ConfigError(f"'{keyword}' expects {listed} or 'comment' (got '{word}').")
        pattern = _value(words, keyword, word, "a pattern")
        result["match"], result["pattern"] = word, pattern
        if word == "status":
            result["statuses"] = parse_status_list(pattern, keyword)
        elif word == "binary":
            result["bytes"] = _hex(pattern, keyword)
        if words:  # the match and its pattern come last
            raise ConfigError(f"'{keyword}' cannot handle unexpected argument '{words[0]}'.")
    if "match" not in result:
        raise ConfigError(f"'{keyword}' expects a match keyword and a pattern.")
    return result


def _http_send(args: Sequence[str], keyword: str) -> dict[str, Any]:
    words, result = list(args), {}
    headers: list[tuple[str, str]] = []
    while words:
        word = words.pop(0)
        if word in ("meth", "uri", "ver", "body", "comment"):
            result[word] = _value(words, keyword, word, "a string")
        elif word == "hdr":
            if len(words) < 2:
                raise ConfigError(f"'{keyword}' : 'hdr' expects <name> and <value> as arguments.")
            headers.append((words.pop(0), words.pop(0)))
        elif word in _SEND_REFUSED:
            raise _refuse(f"{keyword} {word}", _SEND_REFUSED[word])
        else:
            raise ConfigError(
                f"'{keyword}' expects 'meth', 'uri', 'ver', 'hdr', 'body' or 'comment'"
                f" (got '{word}')."
            )
    result["headers"] = tuple(headers)
    return result


def _tcp_send(args: Sequence[str], keyword: str, binary: bool) -> dict[str, Any]:
    if not args:
        raise ConfigError(f"'{keyword}' expects {'a hex string' if binary else 'a string'}.")
    result: dict[str, Any] = {"data": _hex(args[0], keyword) if binary else args[0]}
    rest = args[1:]
    if rest:
        if rest[0] != "comment" or len(rest) != 2:
            raise ConfigError(f"'{keyword}' cannot handle unexpected argument '{rest[0]}'.")
        result["comment"] = rest[1]
    return result


def _needs_option(ruleset: str, option: str, ctx: ParseContext) -> None:
    """Warn, once the configuration is read, about steps that no option will ever run."""
    section = ctx.section
    if section.kind == "defaults" or section.scratch.get(f"{ruleset} warned"):
        return
    section.scratch[f"{ruleset} warned"] = True
    where, diagnostics = ctx.where, ctx.diagnostics

    def check() -> None:
        value = section.values.get("options", {}).get(option)
        if not value:
            diagnostics.warning(
                f"{section.label} uses {ruleset} rules without 'option {option}',"
                " so the rules are ignored.",
                where,
            )

    ctx.deferred.append(check)


def _step(ruleset: str, action: str, convert):  # type: ignore[no-untyped-def]
    option = "httpchk" if ruleset == "http-check" else "tcp-check"

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        options = convert(stmt.args, stmt.keyword)
        rule = Rule(stmt.where, ruleset, action, stmt.args, options=options)
        ctx.section.values.setdefault("rules", {}).setdefault(ruleset, []).append(rule)
        _needs_option(ruleset, option, ctx)

    return parse


def _disable_on_404(stmt: Statement, ctx: ParseContext) -> None:
    stmt.no_more_than(0)
    ctx.section.set_item("settings", "http-check disable-on-404", True, stmt.where)


def _check_keyword(name: str, usage: str, summary: str, parse) -> Keyword:  # type: ignore[no-untyped-def]
    return Keyword(name, usage, summary, parse, "checks", caps("dlb"))


CHECK_KEYWORDS = [
    _check_keyword(
        "http-check connect",
        "http-check connect [default] [port <port>] [addr <ip>] [linger] [comment <msg>]",
        "opens the connection of an HTTP check",
        _step("http-check", "connect", _connect),
    ),
    _check_keyword(
        "http-check send",
        "http-check send [meth <method>] [uri <uri>] [ver <version>] [hdr <name> <value>]*"
        " [body <string>] [comment <msg>]",
        "the request an HTTP check sends",
        _step("http-check", "send", _http_send),
    ),
    _check_keyword(
        "http-check expect",
        "http-check expect [comment <msg>] [!] status|rstatus|string|rstring <pattern>",
        "what makes an HTTP check pass",
        _step("http-check", "expect", lambda a, k: _expect(a, k, HTTP_EXPECT_MATCHES)),
    ),
    _check_keyword(
        "http-check disable-on-404",
        "http-check disable-on-404",
        "a 404 answer puts a server in drain (NOLB) instead of DOWN",
        _disable_on_404,
    ),
    _check_keyword(
        "tcp-check connect",
        "tcp-check connect [default] [port <port>] [addr <ip>] [linger] [comment <msg>]",
        "opens the connection of a TCP check",
        _step("tcp-check", "connect", _connect),
    ),
    _check_keyword(
        "tcp-check send",
        "tcp-check send <string> [comment <msg>]",
        "sends a string during a TCP check",
        _step("tcp-check", "send", lambda a, k: _tcp_send(a, k, binary=False)),
    ),
    _check_keyword(
        "tcp-check send-binary",
        "tcp-check send-binary <hex string> [comment <msg>]",
        "sends bytes written in hex during a TCP check",
        _step("tcp-check", "send-binary", lambda a, k: _tcp_send(a, k, binary=True)),
    ),
    _check_keyword(
        "tcp-check expect",
        "tcp-check expect [comment <msg>] [!] string|rstring|binary <pattern>",
        "what the server must answer during a TCP check",
        _step("tcp-check", "expect", lambda a, k: _expect(a, k, TCP_EXPECT_MATCHES)),
    ),
]
