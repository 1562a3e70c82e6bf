"""Rule sets and the proxy keywords of persistence, stats pages, captures and error pages.

A rule (`http-request ACTION [ARGS] [if|unless COND]`, `tcp-request content ...`, `redirect`,
`http-check expect ...`) becomes a `Rule` in `Proxy.rules[<ruleset>]`, in file order. The
action must be one the ruleset knows (ACTIONS); its arguments are kept as words for the rules
engine, which compiles them. Conditions are parsed and their ACL names checked here.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import parse_condition, split_condition
from haproxy_py.config.keywords.common import joined, one_int, one_time
from haproxy_py.config.keywords.registry import Keyword, Statement, caps, no_args, store_in
from haproxy_py.config.model import Rule, ServerSwitch

_STICK = "stick tables are not supported yet"
_HEADER_ACTIONS = ("add-header", "set-header", "del-header", "replace-header", "replace-value")

# ruleset -> action -> None (supported) or the reason it is refused.
ACTIONS: Mapping[str, Mapping[str, str | None]] = {
    "http-request": {
        **dict.fromkeys(
            ("allow", "deny", "reject", "tarpit", "auth", "redirect", "return",
             *_HEADER_ACTIONS, "set-path", "set-pathq", "set-query", "set-uri", "replace-path",
             "replace-pathq", "replace-uri", "set-method", "set-var", "unset-var",
             "set-log-level", "capture", "set-dst", "set-dst-port", "normalize-uri",
             "set-src", "set-src-port", "wait-for-body", "use-service", "set-header"),
        ),
        "track-sc0": _STICK, "track-sc1": _STICK, "track-sc2": _STICK,
        "sc-inc-gpc0": _STICK, "sc-set-gpt0": _STICK, "lua": "Lua is not supported",
        "cache-use": "caching is not implemented yet", "do-resolve": "DNS resolution is out of scope",
    },
    "http-response": {
        **dict.fromkeys(
            ("allow", "deny", "redirect", "return", *_HEADER_ACTIONS, "set-status", "set-var",
             "unset-var", "capture", "set-log-level"),
        ),
        "cache-store": "caching is not implemented yet",
    },
    "http-after-response": dict.fromkeys(
        ("allow", *_HEADER_ACTIONS, "set-status", "set-var", "unset-var", "capture",
         "set-log-level"),
    ),
    "tcp-request connection": {
        **dict.fromkeys(("accept", "reject", "set-var", "unset-var", "set-src", "set-dst",
                         "expect-proxy", "capture")),
        "track-sc0": _STICK, "track-sc1": _STICK, "track-sc2": _STICK,
    },
    "tcp-request content": {
        **dict.fromkeys(("accept", "reject", "set-var", "unset-var", "capture",
                         "set-log-level", "use-service", "switch-mode", "set-dst",
                         "set-dst-port")),
        "track-sc0": _STICK, "track-sc1": _STICK, "track-sc2": _STICK,
    },
    "tcp-response content": dict.fromkeys(("accept", "reject", "close", "set-var", "unset-var")),
    "http-check": dict.fromkeys(("connect", "send", "expect", "disable-on-404")),
    "tcp-check": dict.fromkeys(("connect", "send", "send-binary", "expect")),
}  # fmt: skip


def _rule(ruleset: str, split_action: bool = True):  # type: ignore[no-untyped-def]
    """Parser for `<ruleset> ACTION [ARGS...] [if|unless COND]`."""
    known = ACTIONS[ruleset]

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        before, cond_words = split_condition(stmt.args)
        if not before:
            raise ConfigError(f"'{ruleset}' expects an action.")
        action_word = before[0]
        action = action_word.split("(", 1)[0] if split_action else action_word
        if action not in known:
            close = difflib.get_close_matches(action, sorted(known), n=1, cutoff=0.7)
            hint = f"; did you mean '{close[0]}' maybe ?" if close else ""
            raise ConfigError(f"'{ruleset}' : unknown action '{action}'{hint}")
        reason = known[action]
        if reason is not None:
            raise ConfigError(f"'{ruleset} {action}' is not supported by haproxy-py: {reason}.")
        condition = (
            parse_condition(cond_words, ctx, f"'{ruleset} {action}' rule")
            if cond_words is not None
            else None
        )
        args = (action_word, *before[1:]) if action_word != action else tuple(before[1:])
        rule = Rule(stmt.where, ruleset, action, args, condition=condition)
        ctx.section.values.setdefault("rules", {}).setdefault(ruleset, []).append(rule)

    return parse


def _redirect(stmt: Statement, ctx: ParseContext) -> None:
    before, cond_words = split_condition(stmt.args)
    if not before or before[0] not in ("location", "prefix", "scheme"):
        raise ConfigError("'redirect' expects 'location', 'prefix' or 'scheme'.")
    if len(before) < 2:
        raise ConfigError(f"'redirect {before[0]}' expects a target.")
    condition = parse_condition(cond_words, ctx, "'redirect' rule") if cond_words else None
    rule = Rule(stmt.where, "redirect", before[0], tuple(before[1:]), condition=condition)
    ctx.section.values.setdefault("rules", {}).setdefault("http-request", []).append(rule)


def _server_switch(field: str):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        before, cond_words = split_condition(stmt.args)
        if field == "use-server" and len(before) != 1:
            raise ConfigError("'use-server' expects a server name and an optional condition.")
        if field != "use-server" and before:
            raise ConfigError(f"'{field}' expects only a condition.")
        if cond_words is None:
            raise ConfigError(f"'{field}' requires a condition.")
        condition = parse_condition(cond_words, ctx, f"'{field}' rule")
        name = before[0] if before else field
        ctx.section.append("server_switches", ServerSwitch(stmt.where, name, condition))

    return parse


def _cookie(stmt: Statement) -> dict[str, object]:
    name = stmt.arg(0, "<cookie name>")
    result: dict[str, object] = {"name": name}
    flags = ("rewrite", "insert", "prefix", "indirect", "nocache", "postonly", "preserve",
             "httponly", "secure", "dynamic")  # fmt: skip
    valued = ("domain", "maxidle", "maxlife", "attr")
    args = list(stmt.args[1:])
    while args:
        word = args.pop(0)
        if word in flags:
            result[word] = True
        elif word in valued:
            if not args:
                raise ConfigError(f"'cookie' : '{word}' expects a value.")
            value = args.pop(0)
            result[word] = value
        else:
            raise ConfigError(
                f"'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache',"
                f" 'postonly', 'domain', 'maxidle', 'maxlife' and 'dynamic' options; got '{word}'."
            )
    modes = [m for m in ("rewrite", "insert", "prefix") if result.get(m)]
    if len(modes) > 1:
        raise ConfigError(f"'cookie' : '{modes[0]}' and '{modes[1]}' are mutually exclusive.")
    return result


def _capture(stmt: Statement, ctx: ParseContext) -> None:
    args = stmt.args
    if len(args) != 3 or args[1] != "len":
        raise ConfigError(f"'{stmt.keyword}' expects <header> len <length>.")
    length = one_int(1)(Statement(stmt.where, stmt.words, stmt.keyword, (args[2],)))
    field = "request_captures" if "request" in stmt.keyword else "response_captures"
    ctx.section.values.setdefault("settings", {}).setdefault(field, []).append((args[0], length))


def _errorfile(stmt: Statement, ctx: ParseContext) -> None:
    code, path = stmt.exactly(2, "<code> <file>")
    if code not in ("200", "400", "401", "403", "404", "405", "407", "408", "410", "413",
                    "425", "429", "500", "501", "502", "503", "504"):  # fmt: skip
        raise ConfigError(f"'errorfile' : status code '{code}' cannot be customized.")
    ctx.section.set_item("errorfiles", code, path, stmt.where)


def _stats_auth(stmt: Statement, ctx: ParseContext) -> None:
    credentials = stmt.arg(0, "<user>:<password>")
    stmt.no_more_than(1)
    user, colon, password = credentials.partition(":")
    if not colon or not user:
        raise ConfigError("'stats auth' expects <user>:<password>.")
    ctx.section.values.setdefault("settings", {}).setdefault("stats auth", []).append(
        (user, password)
    )
    ctx.section.set_item("settings", "stats enable", True, stmt.where)


def _stats_value(name: str, convert):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        ctx.section.set_item("settings", name, convert(stmt), stmt.where)
        ctx.section.set_item("settings", "stats enable", True, stmt.where)

    return parse


def _setting(name: str, convert):  # type: ignore[no-untyped-def]
    return store_in("settings", name, convert)


def _condition_only(name: str):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        condition = parse_condition(stmt.args, ctx, f"'{name}'")
        ctx.section.set_item("settings", name, condition, stmt.where)

    return parse


def _http_error(stmt: Statement, ctx: ParseContext) -> None:
    if len(stmt.args) < 2 or stmt.args[0] != "status":
        raise ConfigError("'http-error' expects 'status <code>' and an answer.")
    ctx.section.values.setdefault("settings", {}).setdefault("http-error", []).append(stmt.args)


def _stats_scope(stmt: Statement, ctx: ParseContext) -> None:
    ctx.section.values.setdefault("settings", {}).setdefault("stats scope", []).append(_one(stmt))


def _one(stmt: Statement) -> str:
    value = stmt.arg(0, "an argument")
    stmt.no_more_than(1)
    return value


RULE_KEYWORDS = [
    Keyword(
        "http-request",
        "http-request <action> [<args>] [if|unless <condition>]",
        "acts on HTTP requests",
        _rule("http-request"),
        "rules",
        caps("dflb"),
    ),
    Keyword(
        "http-response",
        "http-response <action> [<args>] [if|unless <condition>]",
        "acts on HTTP responses",
        _rule("http-response"),
        "rules",
        caps("dflb"),
    ),
    Keyword(
        "http-after-response",
        "http-after-response <action> [<args>] [if|unless <condition>]",
        "acts on every response, HAProxy's own included",
        _rule("http-after-response"),
        "rules",
        caps("dflb"),
    ),
    Keyword(
        "tcp-request connection",
        "tcp-request connection <action> [if|unless <condition>]",
        "acts on new connections",
        _rule("tcp-request connection"),
        "rules",
        caps("dfl"),
    ),
    Keyword(
        "tcp-request content",
        "tcp-request content <action> [if|unless <condition>]",
        "acts on the first bytes of a connection",
        _rule("tcp-request content"),
        "rules",
        caps("dflb"),
    ),
    Keyword(
        "tcp-request inspect-delay",
        "tcp-request inspect-delay <time>",
        "how long content rules may wait for data",
        store_in("timeouts", "tcp-request inspect-delay", one_time()),
        "rules",
        caps("dflb"),
    ),
    Keyword(
        "tcp-response content",
        "tcp-response content <action> [if|unless <condition>]",
        "acts on the first bytes of a response",
        _rule("tcp-response content"),
        "rules",
        caps("dlb"),
    ),
    Keyword(
        "tcp-response inspect-delay",
        "tcp-response inspect-delay <time>",
        "how long response rules may wait for data",
        store_in("timeouts", "tcp-response inspect-delay", one_time()),
        "rules",
        caps("dlb"),
    ),
    Keyword(
        "http-check",
        "http-check connect|send|expect|disable-on-404 ...",
        "steps of HTTP health checks",
        _rule("http-check", split_action=False),
        "checks",
        caps("dlb"),
    ),
    Keyword(
        "tcp-check",
        "tcp-check connect|send|send-binary|expect ...",
        "steps of TCP health checks",
        _rule("tcp-check", split_action=False),
        "checks",
        caps("dlb"),
    ),
    Keyword(
        "redirect",
        "redirect location|prefix|scheme <target> [<options>] [if|unless <condition>]",
        "answers with a redirection",
        _redirect,
        "rules",
        caps("flb"),
    ),
    Keyword(
        "use-server",
        "use-server <server> [if|unless <condition>]",
        "sends matching requests to a server",
        _server_switch("use-server"),
        "rules",
        caps("lb"),
    ),
    Keyword(
        "force-persist",
        "force-persist if|unless <condition>",
        "honours persistence even to a down server",
        _server_switch("force-persist"),
        "rules",
        caps("lb"),
    ),
    Keyword(
        "ignore-persist",
        "ignore-persist if|unless <condition>",
        "ignores persistence for matching requests",
        _server_switch("ignore-persist"),
        "rules",
        caps("lb"),
    ),
    Keyword(
        "cookie",
        "cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly] [secure] [domain <d>] [maxidle <t>] [maxlife <t>] [dynamic]",
        "cookie-based persistence",
        _setting("cookie", _cookie),
        "rules",
        caps("dlb"),
    ),
    Keyword(
        "capture request header",
        "capture request header <name> len <n>",
        "logs a request header",
        _capture,
        "logs",
        caps("fl"),
    ),
    Keyword(
        "capture response header",
        "capture response header <name> len <n>",
        "logs a response header",
        _capture,
        "logs",
        caps("fl"),
    ),
    Keyword(
        "log-format",
        "log-format <format>",
        "custom log line format",
        _setting("log-format", joined),
        "logs",
        caps("dfl"),
    ),
    Keyword(
        "log-format-sd",
        "log-format-sd <format>",
        "RFC5424 structured data",
        _setting("log-format-sd", joined),
        "logs",
        caps("dfl"),
    ),
    Keyword(
        "error-log-format",
        "error-log-format <format>",
        "log format of connection errors",
        _setting("error-log-format", joined),
        "logs",
        caps("dfl"),
    ),
    Keyword(
        "log-tag",
        "log-tag <tag>",
        "syslog tag of this proxy's logs",
        _setting("log-tag", _one),
        "logs",
        caps("dflb"),
    ),
    Keyword(
        "unique-id-format",
        "unique-id-format <format>",
        "format of the request's unique id",
        _setting("unique-id-format", joined),
        "logs",
        caps("dfl"),
    ),
    Keyword(
        "unique-id-header",
        "unique-id-header <name>",
        "header carrying the unique id",
        _setting("unique-id-header", _one),
        "logs",
        caps("dfl"),
    ),
    Keyword(
        "monitor-uri",
        "monitor-uri <uri>",
        "URI answered 200 for load balancer probes",
        _setting("monitor-uri", _one),
        "http",
        caps("dfl"),
    ),
    Keyword(
        "monitor fail",
        "monitor fail if|unless <condition>",
        "answers 503 on the monitor URI when the condition holds",
        _condition_only("monitor fail"),
        "http",
        caps("fl"),
    ),
    Keyword(
        "errorfile",
        "errorfile <code> <file>",
        "replaces an error page",
        _errorfile,
        "http",
        caps("dflb"),
    ),
    Keyword(
        "errorfiles",
        "errorfiles <http-errors section> [<code>...]",
        "takes error pages from an http-errors section",
        _setting("errorfiles-section", lambda s: tuple(s.args) if s.args else (_one(s),)),
        "http",
        caps("dflb"),
    ),
    Keyword(
        "http-error",
        "http-error status <code> [content-type <type>] [errorfile <file> | string <text> | lf-string <fmt> | file <file>] [hdr <name> <fmt>]*",
        "defines an error answer",
        _http_error,
        "http",
        caps("dflb"),
    ),
    Keyword(
        "http-reuse",
        "http-reuse never|safe|aggressive|always",
        "sharing of idle server connections (default safe)",
        _setting("http-reuse", lambda s: _choice(s, ("never", "safe", "aggressive", "always"))),
        "http",
        caps("dlb"),
    ),
    Keyword(
        "stats enable",
        "stats enable",
        "serves the stats page",
        _stats_value("stats enable", no_args),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats uri",
        "stats uri <prefix>",
        "URI of the stats page (default /haproxy?stats)",
        _stats_value("stats uri", _one),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats realm",
        "stats realm <realm>",
        "authentication realm of the stats page",
        _stats_value("stats realm", _one),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats auth",
        "stats auth <user>:<password>",
        "credentials accepted by the stats page",
        _stats_auth,
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats refresh",
        "stats refresh <delay>",
        "auto-refresh of the stats page",
        _stats_value("stats refresh", one_time("s")),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats admin",
        "stats admin if|unless <condition>",
        "allows changing server states from the page",
        _condition_only("stats admin"),
        "stats",
        caps("flb"),
    ),
    Keyword(
        "stats hide-version",
        "stats hide-version",
        "hides the version on the stats page",
        _stats_value("stats hide-version", no_args),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats show-legends",
        "stats show-legends",
        "shows legends on the stats page",
        _stats_value("stats show-legends", no_args),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats show-node",
        "stats show-node [<name>]",
        "shows the node name on the stats page",
        _stats_value("stats show-node", lambda s: s.args[0] if s.args else ""),
        "stats",
        caps("dflb"),
    ),
    Keyword(
        "stats scope",
        "stats scope <proxy>|.",
        "limits the stats page to some proxies",
        _stats_scope,
        "stats",
        caps("dflb"),
    ),
]


def _choice(stmt: Statement, allowed: tuple[str, ...]) -> str:
    value = _one(stmt)
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise ConfigError(f"'{stmt.keyword}' expects one of {listed}, got '{value}'.")
    return value
