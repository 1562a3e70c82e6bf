"""`haproxy-py -c`'s look at the rules: compile every condition, sample expression and
formatted string of every enabled proxy, as a worker will, without serving anything.

HAProxy's `-c` resolves fetches, converters, ACL names and their pattern and map files; the
configuration's parse alone does not (the engine lives here, above it), so the master runs
`check_rules(config, loader)` on a configuration that parsed cleanly and prints what it
returns as ALERTs. The worker compiles the same texts again (worker/rules.py) when it starts:
this check adds no behaviour, only an earlier, clearer refusal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from haproxy_py.sample.acls import RulesCompiler
from haproxy_py.sample.env import CompileEnv, Loader
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.fmt import compile_format
from haproxy_py.sample.maps import MapCache
from haproxy_py.sample.types import SampleError

_HTTP_RULESETS = ("http-request", "http-response", "http-after-response", "redirect")
_RULESETS = (*_HTTP_RULESETS, "tcp-request connection", "tcp-request content",
             "tcp-response content")  # fmt: skip
_NOT_YET = "not yet supported by this version of haproxy-py"  # as worker/rule_actions.py
_VARS = ("set-var", "set-var-fmt", "unset-var")
_HEADERS = ("add-header", "set-header", "del-header", "replace-header", "replace-value")
_TCP = ("accept", "reject", "silent-drop", *_VARS)
# The actions a worker serves, by rule set (worker/rules.py's tables; a unit test keeps the
# two equal): the configuration's parse accepts a few more, which the worker refuses.
SERVED_ACTIONS: dict[str, frozenset[str]] = {
    "http-request": frozenset((
        *_HEADERS, *_VARS, "allow", "deny", "tarpit", "reject", "return", "redirect", "auth",
        "set-path", "set-pathq", "set-query", "set-uri", "set-method", "replace-path",
        "replace-pathq", "replace-uri", "normalize-uri", "silent-drop", "set-src",
        "set-src-port", "set-dst", "set-dst-port", "capture", "use-service", "set-log-level",
    )),
    "http-response": frozenset((
        *_HEADERS, *_VARS, "allow", "deny", "return", "redirect", "set-status", "capture",
        "silent-drop", "set-log-level",
    )),
    "http-after-response": frozenset(
        (*_HEADERS, *_VARS, "allow", "set-status", "capture", "set-log-level")
    ),
    "redirect": frozenset(("redirect",)),
    "tcp-request connection": frozenset((*_TCP, "expect-proxy")),
    "tcp-request content": frozenset((*_TCP, "capture", "set-log-level")),
    "tcp-response content": frozenset((*_TCP, "close", "set-log-level")),
}  # fmt: skip
_RESPONSE_SIDE = ("http-response", "http-after-response", "tcp-response content")


def _texts(rule: Any) -> Iterator[tuple[str, str]]:
    """("expr" | "format", text) of a rule's samples and formatted strings."""
    options = rule.options
    for key in ("expr", "sample"):
        if isinstance(options.get(key), str):
            yield "expr", options[key]
    if isinstance(options.get("format"), str):
        yield "format", options["format"]
    if rule.ruleset != "redirect" and isinstance(options.get("target"), str):
        yield "format", options["target"]
    if options.get("payload") == "lf-string":
        yield "format", options["source"]
    for _name, value in options.get("headers", ()):
        yield "format", value


def read_lines(path: str) -> list[str]:
    """A loader reading pattern and map files as the worker's does (worker/startup.py)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as file:
            return file.read().splitlines(keepends=True)
    except OSError as exc:
        raise SampleError(f"failed to open file <{path}> : {exc.strerror}") from None


def check_rules(config: Any, loader: Loader = read_lines) -> list[str]:
    """Every refusal a worker would give for the rules' samples, as ALERT texts."""
    messages: list[str] = []
    for proxy in config.proxies:
        if not proxy.disabled:
            messages += _check_proxy(config, proxy, loader)
    return messages


def _check_proxy(config: Any, proxy: Any, loader: Loader) -> list[str]:
    env = CompileEnv.for_proxy(config, proxy, loader=loader)
    maps = MapCache(loader)
    sides = {
        False: RulesCompiler(proxy.acls, env, maps),
        True: RulesCompiler(proxy.acls, dataclasses.replace(env, response_side=True), maps),
    }
    messages: list[str] = []

    def attempt(where: Any, label: str, work: Callable[[], object]) -> None:
        try:
            work()
        except (SampleError, OSError) as error:
            messages.append(f"config : [{where}] : proxy '{proxy.name}': {label}: {error}")

    for ruleset, rules in (proxy.rules or {}).items():
        if ruleset in _HTTP_RULESETS and proxy.mode != "http":
            continue  # not compiled in TCP mode (HAProxy ignores them with a warning)
        if ruleset not in _RULESETS:
            continue  # health-check rule sets are not sample rules
        if ruleset == "tcp-response content" and proxy.mode == "http" and rules:
            # The worker peeks the server's first bytes before the TCP relay only.
            messages.append(
                f"config : [{rules[0].where}] : proxy '{proxy.name}': 'tcp-response content'"
                f" rules in 'mode http' are {_NOT_YET}."
            )
            continue
        compiler = sides[ruleset in _RESPONSE_SIDE]
        for rule in rules:
            if rule.action not in SERVED_ACTIONS[ruleset]:
                messages.append(
                    f"config : [{rule.where}] : proxy '{proxy.name}': '{ruleset} {rule.action}'"
                    f" is {_NOT_YET}."
                )
                continue
            label = f"'{ruleset} {rule.action}' rule"
            if rule.condition is not None:
                attempt(rule.where, label, lambda c=compiler, r=rule: c.condition(r.condition))
            for kind, text in _texts(rule):
                if kind == "expr":
                    work = lambda c=compiler, t=text: compile_expression(t, c.env, maps)  # noqa: E731
                else:
                    work = lambda c=compiler, t=text: compile_format(t, c.env, maps)  # noqa: E731
                attempt(rule.where, label, work)
    for switch in proxy.backend_switches if proxy.is_frontend else ():
        if switch.condition is not None:
            attempt(
                switch.where,
                "'use_backend' rule",
                lambda s=switch: sides[False].condition(s.condition),
            )
        if switch.dynamic:
            attempt(
                switch.where,
                "'use_backend' rule",
                lambda s=switch: compile_format(s.backend, env, maps),
            )
    admin = proxy.setting("stats admin")
    if admin is not None:  # HAProxy parses it while reading the file; a worker compiles it
        attempt(proxy.where, "'stats admin' rule", lambda: sides[False].condition(admin))
    for switch in proxy.server_switches:
        if switch.condition is not None:
            attempt(
                switch.where,
                f"'{switch.server}' rule",
                lambda s=switch: sides[False].condition(s.condition),
            )
    return messages
