"""Keywords of proxy sections: defaults, frontend, listen and backend.

Each entry says which of the four section kinds accepts it (letters d, f, l, b, from HAProxy's
keyword matrix). Using a keyword in a proxy that lacks the capability gives HAProxy's
"ignored because ... has no backend capability" warning, or an alert where HAProxy gives
one (`server` in a frontend). The table is assembled here from the other modules: `option`
keywords (options_kw), rule sets (rules_kw), health-check steps (checks_kw), persistence,
captures, error pages and log formats (http_kw), the stats page (stats_kw). A few one-word
entries ("timeout", "option", "stats"...) only exist to name the valid forms when a
statement uses an unknown second word.
"""

from __future__ import annotations

import difflib

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import (
    check_fetches,
    parse_acl,
    parse_condition,
    split_condition,
)
from haproxy_py.config.keywords.bind_kw import parse_bind
from haproxy_py.config.keywords.checks_kw import CHECK_KEYWORDS
from haproxy_py.config.keywords.common import joined, one_int, one_time, parse_log
from haproxy_py.config.keywords.http_kw import HTTP_KEYWORDS
from haproxy_py.config.keywords.options_kw import OPTION_KEYWORDS
from haproxy_py.config.keywords.registry import (
    Keyword,
    Statement,
    caps,
    make_table,
    no_args,
    one_arg,
    store,
    store_in,
)
from haproxy_py.config.keywords.removed import REMOVED_PROXY_KEYWORDS
from haproxy_py.config.keywords.rules_kw import RULE_KEYWORDS, named_defaults_only
from haproxy_py.config.keywords.server_kw import parse_default_server, parse_server
from haproxy_py.config.keywords.stats_kw import STATS_KEYWORDS
from haproxy_py.config.model import BackendSwitch
from haproxy_py.lb.ratelimit import c_atoi

BALANCE_ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "first", "source", "random",
                      "uri", "url_param", "hdr")  # fmt: skip
_BALANCE_REFUSED = {
    "rdp-cookie": "RDP cookies are out of haproxy-py's scope",
    "hash": "'balance hash <expr>' is not implemented yet",
}
_LATER = "not implemented yet"
RETRY_ON = ("none", "conn-failure")
_RETRY_ON_LATER = ("empty-response", "junk-response", "response-timeout", "0rtt-rejected",
                   "401", "403", "404", "408", "425", "500", "501", "502", "503", "504",
                   "all-retryable-errors")  # fmt: skip


def _mode(stmt: Statement) -> str:
    value = stmt.arg(0, "'tcp' or 'http'")
    stmt.no_more_than(1)
    if value not in ("tcp", "http"):
        if value == "health":
            raise ConfigError("'mode health' was removed from HAProxy 2.4; use 'monitor-uri'.")
        raise ConfigError(f"unknown proxy mode '{value}'.")
    return value


def _balance(stmt: Statement) -> dict[str, object]:
    algorithm = stmt.arg(0, "a load-balancing algorithm")
    base, paren, inner = algorithm.partition("(")
    if base in _BALANCE_REFUSED:
        raise ConfigError(
            f"balance '{base}' is not supported by haproxy-py: {_BALANCE_REFUSED[base]}."
        )
    if paren and (base not in ("hdr", "random") or not inner.endswith(")")):
        raise _unknown_algorithm(algorithm)
    if base not in BALANCE_ALGORITHMS or (base == "hdr" and not paren):
        raise _unknown_algorithm(algorithm)
    argument = inner[:-1]
    rest = list(stmt.args[1:])
    if base == "random":
        stmt.no_more_than(1)
        if paren and (not argument.isdigit() or int(argument) < 1):
            raise ConfigError(f"balance 'random' expects a positive number of draws: '{algorithm}'")
        return {"algorithm": "random", "draws": int(argument) if paren else 2}
    if base == "hdr":
        if not argument:
            raise ConfigError("balance 'hdr()' expects a header name.")
        if rest:
            _refuse_option(f"balance {algorithm}", rest[0], ("use_domain_only",))
        return {"algorithm": "hdr", "header": argument}
    if base == "url_param":
        if not rest:
            raise ConfigError("balance 'url_param' expects a parameter name.")
        param = rest.pop(0)
        if rest:
            _refuse_option("balance url_param", rest[0], ("check_post",))
        return {"algorithm": "url_param", "param": param}
    if base == "uri":
        return {"algorithm": "uri", **_uri_options(rest)}
    stmt.no_more_than(1)
    return {"algorithm": base}


def _refuse_option(owner: str, word: str, later: tuple[str, ...]) -> None:
    if word in later:
        raise ConfigError(f"{owner} : '{word}' is not supported by haproxy-py: {_LATER}.")
    raise ConfigError(f"{owner} cannot handle unexpected argument '{word}'.")


def _uri_options(words: list[str]) -> dict[str, object]:
    result: dict[str, object] = {"whole": False}
    while words:
        word = words.pop(0)
        if word == "whole":
            result["whole"] = True
        elif word in ("len", "depth"):
            text = words.pop(0) if words else ""
            if not text.isdigit() or int(text) < 1:
                raise ConfigError(
                    f"balance uri : '{word}' expects a positive integer (got '{text}')."
                )
            result[word] = int(text)
        else:
            _refuse_option("balance uri", word, ("path-only",))
    return result


def _unknown_algorithm(algorithm: str) -> ConfigError:
    known = [*BALANCE_ALGORITHMS[:-1], "hdr(<name>)", "random(<draws>)"]
    close = difflib.get_close_matches(algorithm, list(BALANCE_ALGORITHMS), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}' maybe ?" if close else ""
    return ConfigError(
        f"unknown balance algorithm '{algorithm}'{hint} (supported: {', '.join(known)})"
    )


def _retry_on(stmt: Statement) -> tuple[str, ...]:
    if not stmt.args:
        raise ConfigError("'retry-on' needs at least one keyword to specify when to retry.")
    for word in stmt.args:
        if word in _RETRY_ON_LATER:
            raise ConfigError(
                f"'retry-on {word}' is not supported by haproxy-py: only connection failures are"
                " retried ('conn-failure' or 'none')."
            )
        if word not in RETRY_ON:
            raise ConfigError(f"'retry-on' : unknown keyword '{word}'.")
    if "none" in stmt.args and len(stmt.args) > 1:
        raise ConfigError("'retry-on' : 'none' cannot be combined with other keywords.")
    return tuple(stmt.args)


def _hash_type(stmt: Statement) -> tuple[str, ...]:
    method = stmt.arg(0, "'map-based' or 'consistent'")
    if method not in ("map-based", "consistent"):
        raise ConfigError(f"'hash-type' expects 'map-based' or 'consistent', got '{method}'.")
    rest = stmt.args[1:]
    if rest and rest[0] not in ("sdbm", "djb2", "wt6", "crc32", "none"):
        raise ConfigError(f"'hash-type' : unknown hash function '{rest[0]}'.")
    if len(rest) > 1 and rest[1] != "avalanche":
        raise ConfigError(f"'hash-type' : unknown modifier '{rest[1]}'.")
    return stmt.args


def _session_rate(stmt: Statement) -> int:
    """`rate-limit sessions N`: read as HAProxy reads it (an unsigned long cut to 32 bits, so
    a negative value is a huge limit), with HAProxy's messages."""
    text = stmt.args[0] if stmt.args else ""
    if not text:
        raise ConfigError(f"'{stmt.keyword}' expects expects an integer value (in sessions/second)")
    body = text.lstrip(" \t")
    sign = 1 if body[:1] in ("+", "-") else 0
    digits = len(body[sign:]) - len(body[sign:].lstrip("0123456789"))
    end = len(text) - len(body) + sign + digits if digits else 0
    if end < len(text):
        raise ConfigError(
            f"'{stmt.keyword}' : unexpected character '{text[end]}' in integer value '{text}'"
        )
    return c_atoi(text) % (1 << 32)


def _default_backend(stmt: Statement, ctx: ParseContext) -> None:
    name = one_arg("<backend name>")(stmt)
    ctx.section.set("default_backend", name, stmt.where)
    ctx.section.set("default_backend_where", stmt.where, stmt.where)


def _use_backend(stmt: Statement, ctx: ParseContext) -> None:
    before, cond_words = split_condition(stmt.args)
    if len(before) != 1:
        raise ConfigError("'use_backend' expects a backend name and an optional condition.")
    name = before[0]
    condition = (
        parse_condition(cond_words, ctx, "switching rule") if cond_words is not None else None
    )
    check_fetches(name, is_format=True)
    switch = BackendSwitch(stmt.where, name, dynamic="%[" in name, condition=condition)
    ctx.section.append("backend_switches", switch)


def _id(stmt: Statement) -> int:
    return one_int(1)(stmt)


def _timeout(name: str, letters: str, summary: str, runtime: str) -> Keyword:
    return Keyword(
        f"timeout {name}",
        f"timeout {name} <time>",
        summary,
        store_in("timeouts", name, one_time()),
        runtime,
        caps(letters),
    )


PROXY_TABLE = make_table(
    "proxy",
    [
        Keyword(
            "mode",
            "mode tcp|http",
            "how traffic is handled (default tcp)",
            store("mode", _mode),
            "tcp",
            caps("dflb"),
        ),
        Keyword(
            "bind",
            "bind <addr>[,<addr>...] [<options>]",
            "listening addresses",
            parse_bind,
            "tcp",
            caps("fl"),
        ),
        Keyword(
            "server",
            "server <name> <addr>[:<port>] [<options>]",
            "a server of the backend",
            parse_server,
            "tcp",
            caps("lb"),
            fatal_outside=True,
        ),
        Keyword(
            "default-server",
            "default-server [<options>]",
            "options applied to the following servers",
            parse_default_server,
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "balance",
            "balance <algorithm> [<arguments>]",
            "load-balancing algorithm",
            store("balance", _balance),
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "hash-type",
            "hash-type map-based|consistent [<function>] [avalanche]",
            "how hash-based algorithms map keys to servers",
            store("hash_type", _hash_type),
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "default_backend",
            "default_backend <backend>",
            "backend used when no use_backend matches",
            _default_backend,
            "tcp",
            caps("dfl"),
        ),
        Keyword(
            "use_backend",
            "use_backend <backend> [if|unless <condition>]",
            "switches to a backend on a condition",
            _use_backend,
            "rules",
            caps("fl"),
            fatal_outside=True,
        ),
        Keyword(
            "acl",
            "acl <name> <criterion> [<flags>] [<operator>] [<value>...]",
            "declares a named condition",
            named_defaults_only(parse_acl),
            "rules",
            caps("dflb"),
        ),
        Keyword(
            "maxconn",
            "maxconn <n>",
            "concurrent connections on the frontend",
            store("maxconn", one_int(0)),
            "tcp",
            caps("dfl"),
        ),
        Keyword(
            "rate-limit sessions",
            "rate-limit sessions <rate>",
            "new sessions accepted per second (accepting pauses at the limit)",
            store_in("settings", "rate-limit sessions", _session_rate),
            "tcp",
            caps("dfl"),
        ),
        Keyword(
            "backlog",
            "backlog <n>",
            "accept queue length of the listeners",
            store("backlog", one_int(1)),
            "tcp",
            caps("dfl"),
        ),
        Keyword(
            "fullconn",
            "fullconn <n>",
            "load at which servers reach their maxconn (dynamic limits)",
            store("fullconn", one_int(1)),
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "retries",
            "retries <n>",
            "connection retries after a failure (default 3)",
            store("retries", one_int(0)),
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "retry-on",
            "retry-on <condition>...",
            "what failures are retried",
            store("retry_on", _retry_on),
            "tcp",
            caps("dlb"),
        ),
        Keyword(
            "log",
            "log global | log <target> ... <facility> [<level>]",
            "log targets of the proxy",
            parse_log,
            "logs",
            caps("dflb"),
            negatable=True,
        ),
        Keyword(
            "description",
            "description <text>",
            "text shown in stats",
            store("description", joined),
            "stats",
            caps("flb"),
        ),
        Keyword(
            "id",
            "id <n>",
            "the proxy's numeric id in stats",
            store("uuid", _id),
            "stats",
            caps("flb"),
        ),
        Keyword(
            "disabled",
            "disabled",
            "the proxy does not start",
            store("disabled", no_args),
            "tcp",
            caps("dflb"),
        ),
        Keyword(
            "enabled",
            "enabled",
            "undoes 'disabled' inherited from defaults",
            store("disabled", lambda s: not no_args(s)),
            "tcp",
            caps("dflb"),
        ),
        _timeout("client", "dfl", "client inactivity timeout", "tcp"),
        _timeout("client-fin", "dfl", "client inactivity once half-closed", "tcp"),
        _timeout("server", "dlb", "server inactivity timeout", "tcp"),
        _timeout("server-fin", "dlb", "server inactivity once half-closed", "tcp"),
        _timeout("connect", "dlb", "time allowed to connect to a server", "tcp"),
        _timeout("queue", "dlb", "time a request may wait in a queue", "tcp"),
        _timeout("tunnel", "dlb", "inactivity timeout of tunnels (TCP, WebSocket)", "tcp"),
        _timeout("http-request", "dflb", "time allowed for a complete request header", "http"),
        _timeout("http-keep-alive", "dflb", "idle time allowed between two requests", "http"),
        _timeout("check", "dlb", "extra read timeout of health checks", "checks"),
        _timeout("tarpit", "dflb", "how long a tarpitted request is held", "rules"),
        *OPTION_KEYWORDS,
        *RULE_KEYWORDS,
        *CHECK_KEYWORDS,
        *HTTP_KEYWORDS,
        *STATS_KEYWORDS,
    ],
    unsupported=REMOVED_PROXY_KEYWORDS,
)
