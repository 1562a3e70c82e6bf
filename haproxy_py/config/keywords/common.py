"""Converters and parsers shared by several sections: times, integers, log targets.

Keeping them in one place means `maxconn` in global and in a proxy, or `log` in both, are
read by the same code and report the same messages.
"""

from __future__ import annotations

from collections.abc import Callable

from haproxy_py.config.address import LOG_RULES, parse_address
from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import Statement
from haproxy_py.config.model import LogTarget
from haproxy_py.config.units import parse_int, parse_size, parse_time

SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "auth2", "ftp", "ntp", "audit", "alert", "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SYSLOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
LOG_FORMATS = ("local", "rfc3164", "rfc5424", "short", "raw", "iso", "timed", "priority")


def one_time(default_unit: str = "ms") -> Callable[[Statement], int]:
    def convert(stmt: Statement) -> int:
        value = stmt.arg(0, "<time>")
        stmt.no_more_than(1)
        return parse_time(value, stmt.keyword, default_unit)

    return convert


def one_int(minimum: int | None = 0, maximum: int | None = None) -> Callable[[Statement], int]:
    def convert(stmt: Statement) -> int:
        value = stmt.arg(0, "<number>")
        stmt.no_more_than(1)
        return parse_int(value, stmt.keyword, minimum, maximum)

    return convert


def one_size(stmt: Statement) -> int:
    value = stmt.arg(0, "<size>")
    stmt.no_more_than(1)
    return parse_size(value, stmt.keyword)


def joined(stmt: Statement) -> str:
    """All arguments as one string (description, log-format...): HAProxy joins with spaces."""
    if not stmt.args:
        raise ConfigError(f"'{stmt.keyword}' expects a string argument.")
    return " ".join(stmt.args)


def parse_log_target(stmt: Statement, ctx: ParseContext) -> LogTarget | None:
    """`log global`, `no log`, or `log ADDR [len N] [format F] [sample R:S] FAC [LVL [MIN]]`."""
    if stmt.negated:
        stmt.no_more_than(0)
        return None
    target = stmt.arg(0, "<address> and <facility>")
    if target == "global":
        stmt.no_more_than(1)
        if ctx.section.kind == "global":
            raise ConfigError("'log global' is only valid in proxies.")
        return LogTarget(stmt.where, None, "global")
    stdio = target in ("stdout", "stderr")
    address = None if stdio else parse_address(target, "log", LOG_RULES)
    rest = list(stmt.args[1:])
    length, fmt, sample, sample_size = 1024, "rfc3164", "", 0
    while rest and rest[0] in ("len", "format", "sample"):
        option = rest.pop(0)
        if not rest:
            raise ConfigError(f"'log' : '{option}' expects an argument.")
        value = rest.pop(0)
        if option == "len":
            length = parse_int(value, "log len", 80, 65535)
        elif option == "format":
            if value not in LOG_FORMATS:
                raise ConfigError(f"'log' : unknown log format '{value}'.")
            fmt = value
        else:
            ranges, colon, size = value.rpartition(":")
            if not colon or not ranges:
                raise ConfigError(f"'log' : 'sample' expects <ranges>:<size>, got '{value}'.")
            sample, sample_size = ranges, parse_int(size, "log sample", 1)
            _check_sample_ranges(ranges, sample_size)
    if not rest:
        raise ConfigError(f"'log {target}' expects a syslog facility.")
    facility = rest.pop(0)
    if facility not in SYSLOG_FACILITIES:
        raise ConfigError(f"'log' : unknown facility '{facility}'.")
    levels = rest[:2]
    for level in levels:
        if level not in SYSLOG_LEVELS:
            raise ConfigError(f"'log' : unknown optional log level '{level}'.")
    if len(rest) > 2:
        raise ConfigError(f"'log' cannot handle unexpected argument '{rest[2]}'.")
    return LogTarget(
        stmt.where,
        address,
        target,
        facility=facility,
        level=levels[0] if levels else "",
        min_level=levels[1] if len(levels) > 1 else "",
        length=length,
        format=fmt,
        sample_ranges=sample,
        sample_size=sample_size,
    )


def _check_sample_ranges(ranges: str, size: int) -> None:
    """`1,3-5` within a sample of `size` lines: ranges start at 1 and end within the size."""
    highest = 0
    for item in ranges.split(","):
        low, dash, high = item.partition("-")
        if (
            not low.isdigit()
            or int(low) < 1
            or (dash and (not high.isdigit() or int(high) < int(low)))
        ):
            raise ConfigError(f"'log' : wrong sample range '{item}'.")
        highest = max(highest, int(high) if dash else int(low))
    if size < highest:
        raise ConfigError(
            f"'log' : sample size {size} must be at least {highest}, the highest line of the ranges."
        )


def parse_log(stmt: Statement, ctx: ParseContext) -> None:
    target = parse_log_target(stmt, ctx)
    if target is None:
        ctx.section.set("logs", [], stmt.where)
    else:
        ctx.section.append("logs", target)
