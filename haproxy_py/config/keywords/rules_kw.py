"""Rule sets of proxies: http-request/-response/-after-response, tcp-request/-response,
`redirect`, and the server switching rules (use-server, force-persist, ignore-persist).

A rule (`http-request ACTION [ARGS] [if|unless COND]`) becomes a `Rule` in
`Proxy.rules[<ruleset>]`, in file order, with the action's arguments checked and typed by
keywords/actions.py. The `redirect` keyword has a rule set of its own ("redirect"), since
HAProxy evaluates those after the http-request rules. As in HAProxy 2.6, TCP/HTTP rules in a
defaults section need a named one, and such a section may not serve both frontends and
backends; that last check runs once the whole configuration is read.
"""

from __future__ import annotations

import difflib

from haproxy_py.config.builder import ParseContext, SectionBuilder
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import check_fetches, parse_condition, split_condition
from haproxy_py.config.keywords.actions import ACTIONS, TrailingWord, check_action, split_action
from haproxy_py.config.keywords.common import one_time
from haproxy_py.config.keywords.registry import Keyword, Statement, caps, store_in
from haproxy_py.config.keywords.replies import check_http_errors_later, parse_redirect
from haproxy_py.config.model import Rule, ServerSwitch

_PROXY_KINDS_WITH_RULES = ("frontend", "listen", "backend")


def named_defaults_only(parse):  # type: ignore[no-untyped-def]
    """Wrap a parser of a keyword HAProxy accepts only in named defaults sections."""

    def wrapped(stmt: Statement, ctx: ParseContext) -> None:
        section = ctx.section
        if section.kind == "defaults" and not section.name:
            raise ConfigError(f"'{stmt.keyword}' not allowed in anonymous 'defaults' section.")
        parse(stmt, ctx)

    return wrapped


def _watch_defaults_users(ctx: ParseContext) -> None:
    """A defaults section with TCP/HTTP rules may serve frontends or backends, not both."""
    section = ctx.section
    if section.kind != "defaults" or section.scratch.get("rules owner") == id(section):
        return
    section.scratch["rules owner"] = id(section)
    sections, diagnostics = ctx.sections, ctx.diagnostics

    def check() -> None:
        users = [
            builder
            for kind in _PROXY_KINDS_WITH_RULES
            for builder in sections.get(kind, {}).values()
            if builder.parent == section.name
        ]
        users.sort(key=lambda b: (b.where.file, b.where.line))
        seen: set[str] = set()
        for user in users:
            side = "frontend" if user.kind == "frontend" else "backend"
            if user.kind == "listen" or (seen and side not in seen):
                diagnostics.alert(
                    f"{user.label} cannot use defaults section '{section.name}' (at"
                    f" {section.where.relative_to(user.where)}): a defaults section with TCP/HTTP"
                    " rules may be used by frontends or by backends, not by both nor by a listen.",
                    user.where,
                )
            seen.add(side)

    ctx.deferred.append(check)


def _add_rule(section: SectionBuilder, rule: Rule) -> None:
    section.values.setdefault("rules", {}).setdefault(rule.ruleset, []).append(rule)


def _rule(ruleset: str):  # type: ignore[no-untyped-def]
    """Parser for `<ruleset> ACTION [ARGS...] [if|unless COND]`."""
    known = ACTIONS[ruleset]

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        before, cond_words = split_condition(stmt.args)
        if not before:
            raise ConfigError(f"'{ruleset}' expects an action.")
        action_word = before[0]
        action, param = split_action(action_word)
        entry = known.get(action)
        if entry is None:
            close = difflib.get_close_matches(action, sorted(known), n=1, cutoff=0.7)
            hint = f"; did you mean '{close[0]}' maybe ?" if close else ""
            raise ConfigError(f"'{ruleset}' : unknown action '{action}'{hint}")
        if isinstance(entry, str):
            raise ConfigError(f"'{ruleset} {action}' is not supported by haproxy-py: {entry}.")
        label = f"'{ruleset} {action_word}'"
        try:
            options = check_action(ruleset, action, param, before[1:])
            _check_samples(before[1:], options)
        except TrailingWord as exc:
            raise ConfigError(
                f"{label} expects either 'if' or 'unless' followed by a condition but found"
                f" '{exc.message}'."
            ) from None
        except ConfigError as exc:
            raise ConfigError(
                f"error detected in proxy '{ctx.section.name}' while parsing {label} rule :"
                f" {exc.message}"
            ) from None
        condition = (
            parse_condition(cond_words, ctx, f"{label} rule") if cond_words is not None else None
        )
        if action == "normalize-uri" and not _experimental_allowed(ctx):
            raise ConfigError(
                "'normalize-uri' action is experimental, must be allowed via a global"
                " 'expose-experimental-directives'"
            )
        if action == "capture":
            _capture_slot(ruleset, options, ctx)
        if options.get("payload") == "errorfiles":
            check_http_errors_later(options["source"], f"{label} rule", stmt.where, ctx)
        args = (action_word, *before[1:]) if param is not None else tuple(before[1:])
        _add_rule(ctx.section, Rule(stmt.where, ruleset, action, args, options, condition))
        _watch_defaults_users(ctx)

    return named_defaults_only(parse)


def _experimental_allowed(ctx: ParseContext) -> bool:
    found = ctx.sections.get("global", {}).get("")
    return found is not None and "expose-experimental-directives" in found.values.get(
        "settings", {}
    )


def _capture_fields(ruleset: str) -> tuple[str, str]:
    if ruleset in ("http-request", "tcp-request content"):
        return "request_captures", "request"
    return "response_captures", "response"


def _capture_slot(ruleset: str, options: dict, ctx: ParseContext) -> None:
    """`capture <sample> len N` takes a new capture slot of the frontend (after those already
    declared, as HAProxy numbers them); `id N` names one, checked once everything is read."""
    section = ctx.section
    field, _ = _capture_fields(ruleset)
    if "len" in options:
        if section.kind == "backend":
            raise ConfigError(
                f"error detected in backend '{section.name}' while parsing '{ruleset} capture'"
                f" rule : proxy '{section.name}' has no frontend capability."
            )
        slots = section.values.setdefault("settings", {}).setdefault(field, [])
        options["slot"] = len(slots)
        slots.append((None, options["len"]))
        return
    if section.kind not in ("frontend", "listen"):
        return  # a backend's `id` names a slot of whichever frontend the request came by
    wanted, diagnostics = options["id"], ctx.diagnostics

    def check() -> None:
        if wanted >= len(section.values.get("settings", {}).get(field, ())):
            diagnostics.alert(
                f"Proxy '{section.name}': unable to find capture id '{wanted}' referenced by"
                f" {ruleset} capture rule.",
                None,
            )

    ctx.deferred.append(check)


def _declare_capture(stmt: Statement, ctx: ParseContext) -> None:
    """`declare capture request|response len N`: a capture slot for `capture ... id N`."""
    args = ("capture", *stmt.args)
    if len(args) < 2 or args[1] not in ("request", "response"):
        raise ConfigError("'declare capture' requires a direction ('request' or 'response')")
    if len(args) < 3 or args[2] != "len":
        raise ConfigError("'declare capture' requires a capture length ('len')")
    if len(args) < 4:
        raise ConfigError(
            "'declare capture': 'len' requires a numeric value that represents the capture length"
        )
    if not args[3].isdigit() or int(args[3]) < 1:
        raise ConfigError(f"'declare capture': cannot parse the length '{args[3]}'.")
    stmt.no_more_than(3)
    field = "request_captures" if args[1] == "request" else "response_captures"
    ctx.section.values.setdefault("settings", {}).setdefault(field, []).append((None, int(args[3])))


def _check_samples(words: list[str], options: dict[str, object]) -> None:
    """Refuse placeholder sample fetches in an action's expression or formats."""
    for key in ("expr", "sample"):
        value = options.get(key)
        if isinstance(value, str):
            check_fetches(value)
    for word in words:
        check_fetches(word, is_format=True)


def _redirect(stmt: Statement, ctx: ParseContext) -> None:
    before, cond_words = split_condition(stmt.args)
    try:
        options = parse_redirect(before, in_rule=False)
    except ConfigError as exc:
        raise ConfigError(
            f"error detected in proxy '{ctx.section.name}' while parsing redirect rule :"
            f" {exc.message}"
        ) from None
    condition = parse_condition(cond_words, ctx, "'redirect' rule") if cond_words else None
    _add_rule(
        ctx.section, Rule(stmt.where, "redirect", "redirect", tuple(before), options, condition)
    )


def _server_switch(field: str):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        before, cond_words = split_condition(stmt.args)
        if field == "use-server" and len(before) != 1:
            raise ConfigError("'use-server' expects a server name and a condition.")
        if field != "use-server" and before:
            raise ConfigError(f"'{field}' expects only a condition.")
        if cond_words is None:
            raise ConfigError(
                f"'{field}' requires either 'if' or 'unless' followed by a condition."
            )
        condition = parse_condition(cond_words, ctx, f"'{field}' rule")
        name = before[0] if before else field
        ctx.section.append("server_switches", ServerSwitch(stmt.where, name, condition))
        if field == "use-server":
            _check_server_later(name, stmt, ctx)

    return parse


def _check_server_later(name: str, stmt: Statement, ctx: ParseContext) -> None:
    section, diagnostics = ctx.section, ctx.diagnostics

    def check() -> None:
        if name not in section.scratch.get("server_lines", {}):
            diagnostics.alert(
                f"{section.label} : unable to find server '{name}' referenced in a"
                " 'use-server' rule.",
                stmt.where,
            )

    ctx.deferred.append(check)


def _rules_keyword(ruleset: str, usage: str, summary: str, letters: str) -> Keyword:
    return Keyword(ruleset, usage, summary, _rule(ruleset), "rules", caps(letters))


RULE_KEYWORDS = [
    _rules_keyword(
        "http-request",
        "http-request <action> [<args>] [if|unless <condition>]",
        "acts on HTTP requests",
        "dflb",
    ),
    _rules_keyword(
        "http-response",
        "http-response <action> [<args>] [if|unless <condition>]",
        "acts on HTTP responses",
        "dflb",
    ),
    _rules_keyword(
        "http-after-response",
        "http-after-response <action> [<args>] [if|unless <condition>]",
        "acts on every response, HAProxy's own included",
        "dflb",
    ),
    _rules_keyword(
        "tcp-request connection",
        "tcp-request connection <action> [if|unless <condition>]",
        "acts on new connections",
        "dfl",
    ),
    _rules_keyword(
        "tcp-request content",
        "tcp-request content <action> [if|unless <condition>]",
        "acts on the first bytes of a connection",
        "dflb",
    ),
    Keyword(
        "tcp-request inspect-delay",
        "tcp-request inspect-delay <time>",
        "how long content rules may wait for data",
        named_defaults_only(store_in("timeouts", "tcp-request inspect-delay", one_time())),
        "rules",
        caps("dflb"),
    ),
    _rules_keyword(
        "tcp-response content",
        "tcp-response content <action> [if|unless <condition>]",
        "acts on the first bytes of a response",
        "dlb",
    ),
    Keyword(
        "tcp-response inspect-delay",
        "tcp-response inspect-delay <time>",
        "how long response rules may wait for data",
        named_defaults_only(store_in("timeouts", "tcp-response inspect-delay", one_time())),
        "rules",
        caps("dlb"),
    ),
    Keyword(
        "redirect",
        "redirect location|prefix|scheme <target> [code <code>] [<options>] [if|unless <condition>]",
        "answers with a redirection",
        _redirect,
        "rules",
        caps("flb"),
    ),
    Keyword(
        "declare capture",
        "declare capture request|response len <length>",
        "a capture slot for 'capture <sample> id <n>' rules",
        _declare_capture,
        "rules",
        caps("fl"),
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
]
