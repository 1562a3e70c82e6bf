"""`stats ...` keywords of proxies: the stats page.

Any stats page keyword also enables the page, as in HAProxy. Values land in
`Proxy.settings["stats <word>"]`: credentials as (user, password) pairs, the refresh delay
in milliseconds, `stats admin` as its condition.
"""

from __future__ import annotations

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import parse_condition
from haproxy_py.config.keywords.common import one_time
from haproxy_py.config.keywords.registry import Keyword, Statement, caps, no_args, one_arg


def _enable(ctx: ParseContext, stmt: Statement) -> None:
    ctx.section.set_item("settings", "stats enable", True, stmt.where)


def _value(name: str, convert):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        ctx.section.set_item("settings", name, convert(stmt), stmt.where)
        _enable(ctx, stmt)

    return parse


def _listed(name: str, convert):  # type: ignore[no-untyped-def]
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        settings = ctx.section.values.setdefault("settings", {})
        settings.setdefault(name, []).append(convert(stmt))
        _enable(ctx, stmt)

    return parse


def _credentials(stmt: Statement) -> tuple[str, str]:
    text = one_arg("<user>:<password>")(stmt)
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise ConfigError("'stats auth' expects <user>:<password>.")
    return user, password


def _admin(stmt: Statement, ctx: ParseContext) -> None:
    if not stmt.args or stmt.args[0] not in ("if", "unless"):
        raise ConfigError("'stats admin' requires either 'if' or 'unless' followed by a condition.")
    condition = parse_condition(stmt.args, ctx, "'stats admin'")
    ctx.section.set_item("settings", "stats admin", condition, stmt.where)
    _enable(ctx, stmt)


def _show_node(stmt: Statement) -> str:
    stmt.no_more_than(1)
    return stmt.args[0] if stmt.args else ""


def _stats(name: str, usage: str, summary: str, parse, letters: str = "dflb") -> Keyword:  # type: ignore[no-untyped-def]
    return Keyword(name, usage, summary, parse, "stats", caps(letters))


STATS_KEYWORDS = [
    _stats("stats enable", "stats enable", "serves the stats page", _value("stats enable", no_args)),
    _stats("stats uri", "stats uri <prefix>", "URI of the stats page (default /haproxy?stats)",
           _value("stats uri", one_arg("<uri prefix>"))),
    _stats("stats realm", "stats realm <realm>", "authentication realm of the stats page",
           _value("stats realm", one_arg("<realm>"))),
    _stats("stats auth", "stats auth <user>:<password>", "credentials accepted by the stats page",
           _listed("stats auth", _credentials)),
    _stats("stats refresh", "stats refresh <delay>", "auto-refresh of the stats page",
           _value("stats refresh", one_time("s"))),
    _stats("stats admin", "stats admin if|unless <condition>",
           "allows changing server states from the page", _admin, "flb"),
    _stats("stats hide-version", "stats hide-version", "hides the version on the stats page",
           _value("stats hide-version", no_args)),
    _stats("stats show-legends", "stats show-legends", "shows legends on the stats page",
           _value("stats show-legends", no_args)),
    _stats("stats show-node", "stats show-node [<name>]", "shows the node name on the stats page",
           _value("stats show-node", _show_node)),
    _stats("stats scope", "stats scope <proxy>|.", "limits the stats page to some proxies",
           _listed("stats scope", one_arg("<proxy name>"))),
]  # fmt: skip
