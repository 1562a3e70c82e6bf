"""Actions of the rule sets (http-request, http-response, http-after-response, tcp-request
connection|content, tcp-response content) and the checks on their arguments.

ACTIONS lists, per rule set, every action HAProxy 2.6 has there: a checker for the ones
haproxy-py supports, or the reason it refuses the others, so that no action is ever accepted
and then ignored. A checker receives the text in parentheses (`set-var(txn.x)` -> "txn.x")
and the words between the action and `if|unless`; it returns the typed options stored in
`Rule.options` and raises ConfigError with the detail only (the caller names the rule).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.common import SYSLOG_LEVELS
from haproxy_py.config.keywords.replies import parse_redirect, parse_reply, status_code
from haproxy_py.config.units import parse_int, parse_size, parse_time

# (parenthesised text or None, argument words) -> typed options
Checker = Callable[[str | None, Sequence[str]], dict[str, Any]]

VAR_SCOPES = ("proc", "sess", "txn", "req", "res")
VAR_CONDITIONS = ("ifexists", "ifnotexists", "ifempty", "ifnotempty", "ifset", "ifnotset",
                  "ifgt", "iflt")  # fmt: skip
_VAR_NAME = re.compile(r"[A-Za-z0-9_.]+")
HEADER_MATCHES = ("str", "beg", "end", "sub", "reg")
NORMALIZERS = {
    "fragment-encode": (), "fragment-strip": (), "path-merge-slashes": (),
    "path-strip-dot": (), "path-strip-dotdot": ("full",),
    "percent-decode-unreserved": ("strict",), "percent-to-uppercase": ("strict",),
    "query-sort-by-name": (),
}  # fmt: skip
SERVICES = ("prometheus-exporter",)


class TrailingWord(ConfigError):
    """A word left over after the action's arguments: HAProxy expects a condition there."""


def _count(args: Sequence[str], count: int, what: str, most: int | None = None) -> None:
    most = count if most is None else most
    if len(args) < count:
        raise ConfigError(f"expects {what}.")
    if len(args) > most:
        raise TrailingWord(args[most])


def _no_param(param: str | None, action: str) -> None:
    if param is not None:
        raise ConfigError(f"'{action}' takes no argument in parentheses.")


def _none(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 0, "no argument")
    return {}


def _fixed(count: int, *names: str) -> Checker:
    """Actions taking exactly `count` words, stored under `names` (set-header <name> <fmt>)."""
    described = " ".join(f"<{name}>" for name in names)
    plural = "s" if count > 1 else ""

    def check(param: str | None, args: Sequence[str]) -> dict[str, Any]:
        _count(args, count, f"exactly {count} argument{plural}: {described}")
        return dict(zip(names, args, strict=True))

    return check


def _variable(text: str | None, with_conditions: bool) -> dict[str, Any]:
    if not text:
        raise ConfigError("expects a variable name in parentheses, e.g. set-var(txn.name).")
    name, *conditions = text.split(",")
    scope, dot, rest = name.partition(".")
    if not dot or scope not in VAR_SCOPES or not rest:
        listed = ", ".join(f"'{s}'" for s in VAR_SCOPES)
        raise ConfigError(
            f"invalid variable name '{name}': it must start with its scope ({listed}) and a dot."
        )
    bad = _VAR_NAME.sub("", rest)
    if bad:
        raise ConfigError(f"character '{bad[0]}' is not permitted in variable name '{name}'.")
    if conditions and not with_conditions:
        raise ConfigError("'unset-var' takes only the variable name, without conditions.")
    for condition in conditions:
        if condition not in VAR_CONDITIONS:
            listed = ", ".join(VAR_CONDITIONS)
            raise ConfigError(f"unknown condition '{condition}' (expects one of {listed}).")
    return {"scope": scope, "name": rest, "conditions": tuple(conditions)}


def _set_var(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    result = _variable(param, with_conditions=True)
    _count(args, 1, "a sample expression")
    result["expr"] = args[0]
    return result


def _set_var_fmt(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    result = _variable(param, with_conditions=True)
    _count(args, 1, "a log-format string")
    result["format"] = args[0]
    return result


def _unset_var(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    result = _variable(param, with_conditions=False)
    _count(args, 0, "no argument after the variable")
    return result


def _del_header(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "a header name and optionally -m <method>", most=3)
    result: dict[str, Any] = {"name": args[0], "match": "str"}
    if len(args) > 1:
        if args[1] != "-m":
            raise TrailingWord(args[1])
        if len(args) < 3 or args[2] not in HEADER_MATCHES:
            got = args[2] if len(args) > 2 else ""
            raise ConfigError(f"-m expects one of {', '.join(HEADER_MATCHES)} (got '{got}').")
        result["match"] = args[2]
    return result


def _log_level(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "a log level name or 'silent'")
    if args[0] not in (*SYSLOG_LEVELS, "silent"):
        raise ConfigError(
            f"unknown log level '{args[0]}' (expects one of {', '.join(SYSLOG_LEVELS)} or 'silent')."
        )
    return {"level": args[0]}


def _capture(allowed: tuple[str, ...]) -> Checker:
    """`capture <sample> len <n>` and/or `capture <sample> id <n>`, as each rule set allows."""
    described = " | ".join(f"{word} <n>" for word in allowed)

    def check(param: str | None, args: Sequence[str]) -> dict[str, Any]:
        _count(args, 3, f"<sample> [ {described} ]")
        if args[1] not in allowed:
            raise ConfigError(f"expects <sample> [ {described} ], found '{args[1]}'.")
        minimum = 1 if args[1] == "len" else 0
        value = parse_int(args[2], f"capture {args[1]}", minimum)
        return {"sample": args[0], args[1]: value}

    return check


def _auth(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    if not args:
        return {}
    if args[0] != "realm":
        raise TrailingWord(args[0])
    _count(args, 2, "'realm <realm>'")
    return {"realm": args[1]}


def _reply(action: str, status: int) -> Checker:
    return lambda param, args: parse_reply(args, action, status)


def _redirect(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    return parse_redirect(args, in_rule=True)


def _set_status(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "a status code and optionally reason <text>", most=3)
    result: dict[str, Any] = {"status": status_code(args[0], 100, 999)}
    if len(args) > 1:
        if args[1] != "reason":
            raise TrailingWord(args[1])
        _count(args, 3, "a text after 'reason'")
        result["reason"] = args[2]
    return result


def _normalize(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, f"a normalizer ({', '.join(NORMALIZERS)})", most=2)
    name = args[0]
    if name not in NORMALIZERS:
        raise ConfigError(f"unknown normalizer '{name}' (expects one of {', '.join(NORMALIZERS)}).")
    result: dict[str, Any] = {"normalizer": name}
    if len(args) > 1:
        if args[1] not in NORMALIZERS[name]:
            raise TrailingWord(args[1])
        result[args[1]] = True
    return result


def _wait_for_body(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    if not args or args[0] != "time":
        raise ConfigError("expects 'time <time>' [ 'at-least <bytes>' ].")
    _count(args, 2, "a time after 'time'", most=4)
    result: dict[str, Any] = {"time": parse_time(args[1], "wait-for-body time")}
    if len(args) > 2:
        if args[2] != "at-least":
            raise TrailingWord(args[2])
        _count(args, 4, "a size after 'at-least'")
        result["at-least"] = parse_size(args[3], "wait-for-body at-least")
    return result


def _use_service(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "a service name")
    name = args[0]
    if name.startswith("lua."):
        raise ConfigError(f"service '{name}' is not supported by haproxy-py: Lua is not supported.")
    if name not in SERVICES:
        raise ConfigError(f"unknown service '{name}' (haproxy-py has: {', '.join(SERVICES)}).")
    return {"service": name}


def _expect_proxy(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "'layer4'")
    if args[0] != "layer4":
        raise ConfigError(f"only supports 'layer4' (got '{args[0]}').")
    return {"layer": "layer4"}


def _switch_mode(param: str | None, args: Sequence[str]) -> dict[str, Any]:
    _count(args, 1, "'http' [ 'proto <name>' ]", most=3)
    if args[0] != "http":
        raise ConfigError(f"expects the mode 'http' (got '{args[0]}').")
    if len(args) > 1:
        if args[1] != "proto":
            raise TrailingWord(args[1])
        _count(args, 3, "a protocol name after 'proto'")
        if args[2] != "h1":
            raise ConfigError(f"protocol '{args[2]}' is not supported by haproxy-py (only 'h1').")
    return {"mode": "http"}


_STICK = "stick tables are not supported yet"
_OUT = "out of haproxy-py's scope"
_LUA = "Lua is not supported"
_TLS = "TLS is not supported yet"


def _table(
    supported: Mapping[str, Checker], refused: Mapping[str, str]
) -> Mapping[str, Checker | str]:
    return MappingProxyType({**refused, **supported})


_HEADERS: dict[str, Checker] = {
    "add-header": _fixed(2, "name", "format"),
    "set-header": _fixed(2, "name", "format"),
    "del-header": _del_header,
    "replace-header": _fixed(3, "name", "regex", "format"),
    "replace-value": _fixed(3, "name", "regex", "format"),
}
_VARS: dict[str, Checker] = {
    "set-var": _set_var,
    "set-var-fmt": _set_var_fmt,
    "unset-var": _unset_var,
}
_ADDRESSES: dict[str, Checker] = {
    name: _fixed(1, "expr") for name in ("set-src", "set-src-port", "set-dst", "set-dst-port")
}
_STICK_ACTIONS = dict.fromkeys(
    ("track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc", "sc-inc-gpc0", "sc-inc-gpc1",
     "sc-set-gpt", "sc-set-gpt0"),
    _STICK,
)  # fmt: skip
_SOCKET_KNOBS = {
    "set-mark": f"socket marks are {_OUT}",
    "set-tos": f"TOS marking is {_OUT}",
    "set-nice": f"task priorities are {_OUT}",
    "send-spoe-group": f"SPOE is {_OUT}",
    "lua": _LUA,
}
_MAP_UPDATES = dict.fromkeys(
    ("add-acl", "del-acl", "set-map", "del-map"),
    "updating ACLs and maps from rules is not implemented yet (use the runtime API)",
)

ACTIONS: Mapping[str, Mapping[str, Checker | str]] = MappingProxyType(
    {
        "http-request": _table(
            {
                "allow": _none, "deny": _reply("deny", 403), "reject": _none,
                "tarpit": _reply("tarpit", 500), "auth": _auth, "redirect": _redirect,
                "return": _reply("return", 200), **_HEADERS, **_VARS, **_ADDRESSES,
                "set-path": _fixed(1, "format"), "set-pathq": _fixed(1, "format"),
                "set-query": _fixed(1, "format"), "set-uri": _fixed(1, "format"),
                "set-method": _fixed(1, "format"),
                "replace-path": _fixed(2, "regex", "format"),
                "replace-pathq": _fixed(2, "regex", "format"),
                "replace-uri": _fixed(2, "regex", "format"),
                "set-log-level": _log_level, "capture": _capture(("len", "id")),
                "normalize-uri": _normalize, "wait-for-body": _wait_for_body,
                "use-service": _use_service, "silent-drop": _none,
            },
            {
                **_STICK_ACTIONS, **_SOCKET_KNOBS, **_MAP_UPDATES,
                "cache-use": f"HTTP caching is {_OUT}",
                "do-resolve": f"run-time DNS resolution is {_OUT}",
                "disable-l7-retry": "layer 7 retries are not supported (retry-on conn-failure only)",
                "early-hint": "103 Early Hints are not supported",
                "set-priority-class": "queue priorities are not supported",
                "set-priority-offset": "queue priorities are not supported",
                "set-timeout": "per-request timeouts are not implemented yet",
                "strict-mode": f"strict-mode concerns Lua only; {_LUA}",
                "wait-for-handshake": _TLS,
            },
        ),
        "http-response": _table(
            {
                "allow": _none, "deny": _reply("deny", 502), "redirect": _redirect,
                "return": _reply("return", 200), **_HEADERS, **_VARS,
                "set-status": _set_status, "set-log-level": _log_level,
                "capture": _capture(("id",)), "wait-for-body": _wait_for_body,
                "silent-drop": _none,
            },
            {
                **_STICK_ACTIONS, **_SOCKET_KNOBS, **_MAP_UPDATES,
                "cache-store": f"HTTP caching is {_OUT}",
                "strict-mode": f"strict-mode concerns Lua only; {_LUA}",
            },
        ),
        "http-after-response": _table(
            {
                "allow": _none, **_HEADERS, **_VARS, "set-status": _set_status,
                "capture": _capture(("id",)),
            },
            {
                "strict-mode": f"strict-mode concerns Lua only; {_LUA}",
                # Not http-after-response actions in HAProxy 2.6: say where they belong.
                **dict.fromkeys(
                    ("deny", "redirect", "return", "set-log-level"),
                    "HAProxy 2.6 has it in 'http-response' rules, not in 'http-after-response'",
                ),
            },
        ),
        "tcp-request connection": _table(
            {"accept": _none, "reject": _none, "expect-proxy": _expect_proxy, **_VARS,
             "silent-drop": _none,
             **_ADDRESSES},
            {
                **_STICK_ACTIONS, **_SOCKET_KNOBS,
                "expect-netscaler-cip": f"the NetScaler client IP protocol is {_OUT}",
                "capture": "there is no content yet at this stage; use 'tcp-request content capture'",
            },
        ),
        "tcp-request content": _table(
            {
                "accept": _none, "reject": _none, "capture": _capture(("len",)), **_VARS,
                "silent-drop": _none,
                **_ADDRESSES, "set-log-level": _log_level, "switch-mode": _switch_mode,
                "use-service": _use_service,
            },
            {
                **_STICK_ACTIONS, **_SOCKET_KNOBS,
                "do-resolve": f"run-time DNS resolution is {_OUT}",
                "set-priority-class": "queue priorities are not supported",
                "set-priority-offset": "queue priorities are not supported",
            },
        ),
        "tcp-response content": _table(
            {"accept": _none, "reject": _none, "close": _none, "set-log-level": _log_level,
             "silent-drop": _none, **_VARS},
            {**_STICK_ACTIONS, **_SOCKET_KNOBS},
        ),
    }
)  # fmt: skip


def split_action(word: str) -> tuple[str, str | None]:
    """`set-var(txn.x)` -> ("set-var", "txn.x"); `lua.foo` -> ("lua", "foo"); else (word, None)."""
    if word.startswith("lua."):
        return "lua", word[4:]
    name, paren, rest = word.partition("(")
    if not paren:
        return word, None
    if not rest.endswith(")"):
        raise ConfigError(f"missing closing ')' in '{word}'.")
    return name, rest[:-1]


_NEEDS_PARAM = frozenset(
    ("set-var", "set-var-fmt", "unset-var", "add-acl", "del-acl", "set-map", "del-map",
     "sc-inc-gpc", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt", "sc-set-gpt0", "do-resolve",
     "lua")
)  # fmt: skip


def check_action(
    ruleset: str, action: str, param: str | None, args: Sequence[str]
) -> dict[str, Any]:
    """Run the action's checker; the action is known to be supported in `ruleset`."""
    checker = ACTIONS[ruleset][action]
    assert not isinstance(checker, str)
    if action not in _NEEDS_PARAM:
        _no_param(param, action)
    return checker(param, args)
