"""Keywords of the sections that are not proxies: userlist, peers, resolvers, cache, program,
http-errors.

Entries read by these sections are stored in `Section.entries` (users, groups, peers, error
files) and `Section.settings`. resolvers and cache sections are recognised by name but none
of their keywords is supported: run-time DNS and caching are out of haproxy-py's scope, and
saying so beats accepting settings that would do nothing.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from haproxy_py.config.address import PEER_RULES, Address, parse_address
from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError, Where
from haproxy_py.config.keywords.registry import Keyword, KeywordTable, Statement, make_table
from haproxy_py.config.keywords.replies import handled_status


@dataclass(frozen=True, slots=True)
class User:
    where: Where
    name: str
    password: str
    insecure: bool  # insecure-password: compared as clear text
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    where: Where
    name: str
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Peer:
    where: Where
    name: str
    address: Address


@dataclass(frozen=True, slots=True)
class ErrorFile:
    where: Where
    status: int
    path: str


@dataclass(frozen=True, slots=True)
class ProgramCommand:
    where: Where
    argv: tuple[str, ...]


def _names_after(args: tuple[str, ...], keyword: str, label: str) -> tuple[str, ...]:
    if not args:
        return ()
    if args[0] != keyword or len(args) != 2:
        raise ConfigError(f"'{label}' expects '{keyword} <name>[,<name>...]' after the name.")
    return tuple(name for name in args[1].split(",") if name)


def _user(stmt: Statement, ctx: ParseContext) -> None:
    name = stmt.arg(0, "<name>")
    if len(stmt.args) < 3 or stmt.args[1] not in ("password", "insecure-password"):
        raise ConfigError(f"'user {name}' expects 'password <hash>' or 'insecure-password <pw>'.")
    groups = _names_after(stmt.args[3:], "groups", f"user {name}")
    _unique(ctx, "users", name, stmt.where, "user")
    ctx.section.append(
        "entries", User(stmt.where, name, stmt.args[2], stmt.args[1] != "password", groups)
    )


def _group(stmt: Statement, ctx: ParseContext) -> None:
    name = stmt.arg(0, "<name>")
    users = _names_after(stmt.args[1:], "users", f"group {name}")
    _unique(ctx, "groups", name, stmt.where, "group")
    ctx.section.append("entries", Group(stmt.where, name, users))


def _unique(ctx: ParseContext, kind: str, name: str, where: Where, label: str) -> None:
    seen = ctx.section.scratch.setdefault(kind, {})
    if name in seen:
        raise ConfigError(
            f"{ctx.section.label}: {label} '{name}' already declared at"
            f" {seen[name].relative_to(where)}."
        )
    seen[name] = where


def _peer(stmt: Statement, ctx: ParseContext) -> None:
    name, spec = stmt.arg(0, "<name> and <address>"), stmt.arg(1, "<address>")
    stmt.no_more_than(2)
    _unique(ctx, "peers", name, stmt.where, "peer")
    ctx.section.append("entries", Peer(stmt.where, name, parse_address(spec, "peer", PEER_RULES)))


def _errorfile(stmt: Statement, ctx: ParseContext) -> None:
    code, path = stmt.exactly(2, "<status code> and <file> as arguments")
    status = handled_status(code, "errorfile")
    ctx.section.append("entries", ErrorFile(stmt.where, status, path))


def _command(stmt: Statement, ctx: ParseContext) -> None:
    if not stmt.args:
        raise ConfigError("'command' expects the program to run and its arguments.")
    ctx.section.append("entries", ProgramCommand(stmt.where, stmt.args))


def _program_setting(stmt: Statement, ctx: ParseContext) -> None:
    value = stmt.arg(0, "a name")
    stmt.no_more_than(1)
    # Checked here, as HAProxy does (the master resolves the name again when it starts it).
    try:
        pwd.getpwnam(value) if stmt.keyword == "user" else grp.getgrnam(value)
    except KeyError:
        kind = "user" if stmt.keyword == "user" else "group"
        raise ConfigError(f"cannot find {kind} id for '{value}' (0:Success)") from None
    ctx.section.set_item("settings", stmt.keyword, value, stmt.where)


def _start_on_reload(stmt: Statement, ctx: ParseContext) -> None:
    stmt.no_more_than(0)
    ctx.section.set_item("settings", "start-on-reload", not stmt.negated, stmt.where)


_DNS = "run-time DNS resolution is out of haproxy-py's scope (names resolve once at start)"
_CACHE = "HTTP caching is out of haproxy-py's scope"

OTHER_SECTION_TABLES: Mapping[str, KeywordTable] = MappingProxyType(
    {
        "userlist": make_table(
            "userlist",
            [
                Keyword("user", "user <name> password|insecure-password <pw> [groups <g>,...]", "a user for http_auth and stats auth", _user, "rules"),
                Keyword("group", "group <name> [users <u>,...]", "a group of users", _group, "rules"),
            ],
        ),
        "peers": make_table(
            "peers",
            [Keyword("peer", "peer <name> <address>", "a member of the peers group", _peer)],
            unsupported={"bind": "peers synchronisation is not implemented yet",
                         "server": "peers synchronisation is not implemented yet",
                         "table": "stick tables are not supported yet"},
        ),
        "resolvers": make_table(
            "resolvers",
            [],
            unsupported={k: _DNS for k in ("nameserver", "parse-resolv-conf", "hold",
                                           "resolve_retries", "timeout", "accepted_payload_size")},
        ),
        "cache": make_table(
            "cache",
            [],
            unsupported={k: _CACHE for k in ("total-max-size", "max-object-size", "max-age",
                                             "process-vary", "max-secondary-entries")},
        ),
        "program": make_table(
            "program",
            [
                Keyword("command", "command <program> [<argument>...]", "the program the master starts", _command, "process"),
                Keyword("user", "user <name>", "user the program runs as", _program_setting, "process"),
                Keyword("group", "group <name>", "group the program runs as", _program_setting, "process"),
                Keyword("option start-on-reload", "[no] option start-on-reload", "restarts the program on every reload (default)", _start_on_reload, "process", negatable=True),
            ],
        ),
        "http-errors": make_table(
            "http-errors",
            [Keyword("errorfile", "errorfile <code> <file>", "an error page of this set", _errorfile, "http")],
        ),
    }
)  # fmt: skip
