"""The `global` section's keywords: process, security, limits, logging and tuning settings.

Typed fields of the Global model (daemon, maxconn, chroot, uid...) are set directly; every
other keyword lands in `Global.settings` under its own name. `setenv` and friends change the
environment seen by the lines that follow, as HAProxy does.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable
from typing import Any

from haproxy_py.config.address import SOCKET_RULES, parse_address
from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.bind_kw import BIND_OPTIONS
from haproxy_py.config.keywords.common import joined, one_int, one_size, one_time, parse_log
from haproxy_py.config.keywords.global_unsupported import UNSUPPORTED_GLOBAL_KEYWORDS
from haproxy_py.config.keywords.registry import (
    Keyword,
    Parser,
    Statement,
    choice,
    make_table,
    no_args,
    one_arg,
    setting,
    store,
)
from haproxy_py.config.keywords.suboptions import parse_suboptions
from haproxy_py.config.model import Bind


def _already_set(ctx: ParseContext, field: str, label: str) -> bool:
    """HAProxy keeps the first value of these process settings and says so; so do we."""
    first = ctx.section.set_at.get(field)
    if first is None:
        return False
    ctx.warn(
        f"{label} already specified at {first.relative_to(ctx.where)}; the first value is kept."
    )
    return True


def _first_wins(field: str, convert: Callable[[Statement], Any]) -> Parser:
    def parse(stmt: Statement, ctx: ParseContext) -> None:
        value = convert(stmt)
        if not _already_set(ctx, field, f"'{stmt.keyword}'"):
            ctx.section.set(field, value, stmt.where)

    return parse


def _uid(stmt: Statement, ctx: ParseContext) -> None:
    uid = one_int(0)(stmt)
    if not _already_set(ctx, "uid", "user/uid"):
        ctx.section.set("uid", uid, stmt.where)


def _gid(stmt: Statement, ctx: ParseContext) -> None:
    gid = one_int(0)(stmt)
    if not _already_set(ctx, "gid", "group/gid"):
        ctx.section.set("gid", gid, stmt.where)


def _user(stmt: Statement, ctx: ParseContext) -> None:
    name = one_arg("<user name>")(stmt)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"'user' : unknown user '{name}'.") from None
    if not _already_set(ctx, "uid", "user/uid"):
        ctx.section.set("user", name, stmt.where)
        ctx.section.set("uid", entry.pw_uid, stmt.where)


def _group(stmt: Statement, ctx: ParseContext) -> None:
    name = one_arg("<group name>")(stmt)
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        raise ConfigError(f"'group' : unknown group '{name}'.") from None
    if not _already_set(ctx, "gid", "group/gid"):
        ctx.section.set("group", name, stmt.where)
        ctx.section.set("gid", entry.gr_gid, stmt.where)


def _master_worker(stmt: Statement, ctx: ParseContext) -> None:
    stmt.no_more_than(1)
    if stmt.args and stmt.args[0] != "no-exit-on-failure":
        raise ConfigError("'master-worker' only accepts 'no-exit-on-failure' as an argument.")
    ctx.section.set("master_worker", True, stmt.where)
    ctx.section.set_item("settings", "no-exit-on-failure", bool(stmt.args), stmt.where)


def _stats_socket(stmt: Statement, ctx: ParseContext) -> None:
    spec = stmt.arg(0, "<address>")
    address = parse_address(spec, "stats socket", SOCKET_RULES)
    options = parse_suboptions(stmt.args[1:], BIND_OPTIONS, f"'stats socket {spec}'")
    ctx.section.append("stats_sockets", Bind(stmt.where, (address,), options))


def _setenv(stmt: Statement, ctx: ParseContext) -> None:
    name, value = stmt.exactly(2, "<name> and <value>")
    if stmt.keyword == "setenv" or name not in ctx.env:
        ctx.env[name] = value


def _unsetenv(stmt: Statement, ctx: ParseContext) -> None:
    if not stmt.args:
        raise ConfigError("'unsetenv' expects at least one variable name.")
    for name in stmt.args:
        ctx.env.pop(name, None)


def _resetenv(stmt: Statement, ctx: ParseContext) -> None:
    keep = set(stmt.args)
    for name in [n for n in ctx.env if n not in keep and not n.startswith(".")]:
        del ctx.env[name]


# HAProxy's limit on threads (and formerly processes); here, on worker processes.
MAX_WORKERS = 64


def _workers(field: str) -> object:
    return store(field, one_int(1, MAX_WORKERS))


def _positive_time(stmt: Statement) -> int:
    value = one_time()(stmt)
    if value <= 0:
        raise ConfigError(f"'{stmt.keyword}' expects a positive time.")
    return value


def _optional_name(stmt: Statement) -> str:
    stmt.no_more_than(1)
    return stmt.args[0] if stmt.args else ""


def _close_spread_time(stmt: Statement) -> int:
    if stmt.args[:1] == ("infinite",):
        stmt.no_more_than(1)
        return -1
    return one_time()(stmt)


GLOBAL_TABLE = make_table(
    "global",
    [
        Keyword(
            "daemon",
            "daemon",
            "detaches from the terminal (like -D)",
            store("daemon", no_args),
            "process",
        ),
        Keyword(
            "master-worker",
            "master-worker [no-exit-on-failure]",
            "runs a master process supervising the workers (like -W)",
            _master_worker,
            "process",
        ),
        Keyword(
            "nbproc",
            "nbproc <n>",
            "number of worker processes (haproxy-py keeps this pre-2.5 keyword)",
            _workers("nbproc"),
            "process",
        ),
        Keyword(
            "nbthread",
            "nbthread <n>",
            "number of worker processes (workers are processes here)",
            _workers("nbthread"),
            "process",
        ),
        Keyword(
            "maxconn",
            "maxconn <n>",
            "process-wide limit of concurrent connections",
            _first_wins("maxconn", one_int(1)),
            "tcp",
        ),
        Keyword(
            "ulimit-n",
            "ulimit-n <n>",
            "file descriptor limit to set",
            _first_wins("ulimit_n", one_int(1)),
            "process",
        ),
        Keyword(
            "chroot",
            "chroot <dir>",
            "directory the workers lock themselves into",
            _first_wins("chroot", one_arg("<directory>")),
            "process",
        ),
        Keyword("uid", "uid <number>", "user id the workers run as", _uid, "process"),
        Keyword(
            "gid",
            "gid <number>",
            "group id the workers run as",
            _gid,
            "process",
        ),
        Keyword("user", "user <name>", "user the workers run as", _user, "process"),
        Keyword("group", "group <name>", "group the workers run as", _group, "process"),
        Keyword(
            "pidfile",
            "pidfile <file>",
            "where the master's pid is written (like -p)",
            _first_wins("pidfile", one_arg("<file>")),
            "process",
        ),
        Keyword(
            "log",
            "log <target> [len <n>] [format <fmt>] [sample <r>:<s>] <facility> [<level> [<minlevel>]]",
            "a syslog target for proxies that say 'log global'",
            parse_log,
            "logs",
        ),
        Keyword(
            "log-tag",
            "log-tag <tag>",
            "program name in syslog headers",
            setting("log-tag", one_arg("<tag>")),
            "logs",
        ),
        Keyword(
            "log-send-hostname",
            "log-send-hostname [<name>]",
            "puts a host name in syslog headers",
            setting("log-send-hostname", _optional_name),
            "logs",
        ),
        Keyword(
            "stats socket",
            "stats socket <address> [<bind options>]",
            "a runtime API socket",
            _stats_socket,
            "stats",
        ),
        Keyword(
            "stats timeout",
            "stats timeout <time>",
            "idle timeout of runtime API sessions (default 10s)",
            setting("stats timeout", _positive_time),
            "stats",
        ),
        Keyword(
            "stats maxconn",
            "stats maxconn <n>",
            "concurrent runtime API sessions (default 10)",
            setting("stats maxconn", one_int(1)),
            "stats",
        ),
        Keyword(
            "node",
            "node <name>",
            "node name shown in stats",
            setting("node", one_arg("<name>")),
            "stats",
        ),
        Keyword(
            "description",
            "description <text>",
            "text shown in stats",
            setting("description", joined),
            "stats",
        ),
        Keyword(
            "hard-stop-after",
            "hard-stop-after <time>",
            "longest time a stopping worker may linger",
            setting("hard-stop-after", one_time()),
            "process",
        ),
        Keyword(
            "close-spread-time",
            "close-spread-time <time>|infinite",
            "spreads idle-connection closing over a soft stop",
            setting("close-spread-time", _close_spread_time),
            "process",
        ),
        Keyword(
            "grace",
            "grace <time>",
            "delay between a soft-stop signal and the stop",
            setting("grace", one_time()),
            "process",
        ),
        Keyword(
            "mworker-max-reloads",
            "mworker-max-reloads <n>",
            "old workers alive after more reloads get SIGTERM",
            setting("mworker-max-reloads", one_int(1)),
            "process",
        ),
        Keyword(
            "insecure-setuid-wanted",
            "insecure-setuid-wanted",
            "does not set PR_SET_NO_NEW_PRIVS in the workers",
            setting("insecure-setuid-wanted", no_args),
            "process",
        ),
        Keyword(
            "insecure-fork-wanted",
            "insecure-fork-wanted",
            "allows workers to start programs",
            setting("insecure-fork-wanted", no_args),
            "process",
        ),
        Keyword(
            "maxpipes",
            "maxpipes <n>",
            "size of the splice pipe pool",
            setting("maxpipes", one_int(0)),
            "tcp",
        ),
        Keyword(
            "tune.pipesize",
            "tune.pipesize <size>",
            "capacity of each splice pipe (default: the kernel's, 64 KiB)",
            setting("tune.pipesize", one_size),
            "tcp",
        ),
        Keyword(
            "nosplice",
            "nosplice",
            "never uses splice (like -dS)",
            setting("nosplice", no_args),
            "tcp",
        ),
        Keyword(
            "maxconnrate",
            "maxconnrate <n>",
            "accepted connections per second",
            setting("maxconnrate", one_int(0)),
            "tcp",
        ),
        Keyword(
            "maxsessrate",
            "maxsessrate <n>",
            "new sessions per second",
            setting("maxsessrate", one_int(0)),
            "tcp",
        ),
        Keyword(
            "noreuseport",
            "noreuseport",
            "does not set SO_REUSEPORT (like -dR)",
            setting("noreuseport", no_args),
            "tcp",
        ),
        Keyword(
            "strict-limits",
            "strict-limits",
            "refuses to start when limits cannot be raised",
            setting("strict-limits", no_args),
            "process",
        ),
        Keyword(
            "fd-hard-limit",
            "fd-hard-limit <n>",
            "upper bound for the computed fd limit",
            setting("fd-hard-limit", one_int(1)),
            "process",
        ),
        Keyword(
            "spread-checks",
            "spread-checks <0-50>",
            "random spread of check intervals, in percent",
            setting("spread-checks", one_int(0, 50)),
            "checks",
        ),
        Keyword(
            "max-spread-checks",
            "max-spread-checks <time>",
            "longest delay before the first checks",
            setting("max-spread-checks", one_time()),
            "checks",
        ),
        Keyword(
            "tune.bufsize",
            "tune.bufsize <size>",
            "buffer size; bounds HTTP header sections (default 16384)",
            setting("tune.bufsize", one_size),
            "http",
        ),
        Keyword(
            "tune.http.maxhdr",
            "tune.http.maxhdr <n>",
            "most header lines in a message (default 101)",
            setting("tune.http.maxhdr", one_int(1, 32767)),
            "http",
        ),
        Keyword(
            "setenv",
            "setenv <name> <value>",
            "sets an environment variable for the lines that follow",
            _setenv,
        ),
        Keyword(
            "presetenv",
            "presetenv <name> <value>",
            "sets an environment variable unless already set",
            _setenv,
        ),
        Keyword("unsetenv", "unsetenv <name>...", "removes environment variables", _unsetenv),
        Keyword(
            "resetenv",
            "resetenv [<name>...]",
            "removes every environment variable but those named",
            _resetenv,
        ),
        Keyword(
            "localpeer",
            "localpeer <name>",
            "this node's name in peers sections (like -L)",
            setting("localpeer", one_arg("<name>")),
        ),
        Keyword(
            "quiet", "quiet", "prints nothing at start-up (like -q)", setting("quiet", no_args)
        ),
        Keyword(
            "zero-warning",
            "zero-warning",
            "warnings are fatal (like -dW)",
            setting("zero-warning", no_args),
        ),
        Keyword(
            "expose-experimental-directives",
            "expose-experimental-directives",
            "accepted for compatibility; haproxy-py has no experimental directives",
            setting("expose-experimental-directives", no_args),
        ),
        Keyword(
            "h1-case-adjust",
            "h1-case-adjust <from> <to>",
            "header name spelling on HTTP/1 output",
            setting("h1-case-adjust", lambda s: s.exactly(2, "<from> <to>")),
            "http",
        ),
        Keyword(
            "profiling.tasks",
            "profiling.tasks on|off|auto",
            "accepted; task profiling is 'show activity' here",
            setting("profiling.tasks", choice("on", "off", "auto")),
            "stats",
        ),
    ],
    unsupported=UNSUPPORTED_GLOBAL_KEYWORDS,
)
