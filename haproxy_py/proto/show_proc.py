"""The master CLI's `show proc` table and the process rows it is made from.

master/ keeps one ProcessRow per process (itself, its workers, old workers still leaving,
programs) and renders them here; `resolve_target` turns `@N`/`@!PID` into a pid for the
master-CLI connection (haproxy_py/proto/mcli.py). Pure: the clock is the caller's `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from haproxy_py.proto.mcli import PidTarget, RelativeTarget
from haproxy_py.runtime_api.info import split_duration

# -- show proc ------------------------------------------------------------------------------
#
# HAProxy 2.6 prints five columns, each left-justified in 15 characters and joined by one
# space: pid, type, reloads, uptime, version (the header starts with `#`, the master's
# reloads read `N [failed: K]`). The optional extra columns (CPU %, RSS in KiB, connections)
# come after the version, in the same 15-wide fields, and only when asked: the five standard
# columns keep their byte offsets and their whitespace-separated order, so scripts that cut
# by position or take the first fields still work; only a script that reads "the last field"
# as the version needs the plain form, which stays the default.


@dataclass(frozen=True)
class ProcessRow:
    pid: int
    kind: str  # "master", "worker" or "program"
    started_at: float  # seconds, on the clock `now` is read from
    version: str
    reloads: int = 0
    relative: int | None = None  # workers of the current generation: 1, 2, ...
    old: bool = False  # a worker (or program) of a previous generation, still leaving
    failed_reloads: int = 0  # the master's count since its last good reload
    name: str | None = None  # programs
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    connections: int | None = None


SHOW_PROC_COLUMNS = ("<PID>", "<type>", "<reloads>", "<uptime>", "<version>")
SHOW_PROC_EXTRA_COLUMNS = ("<cpu%>", "<rss-KiB>", "<conns>")


def format_uptime(seconds: float) -> str:
    """`0d00h05m33s`, the form of `show proc` (show info's Uptime is spaced differently)."""
    days, hours, minutes, secs = split_duration(seconds)
    return f"{days}d{hours:02d}h{minutes:02d}m{secs:02d}s"


def _row(fields: Sequence[object]) -> str:
    return " ".join(f"{field!s:<15}" for field in fields) + "\n"


def _extras(row: ProcessRow) -> tuple[str, ...]:
    cpu = "-" if row.cpu_percent is None else f"{row.cpu_percent:.1f}"
    rss = "-" if row.rss_bytes is None else str(row.rss_bytes // 1024)
    conns = "-" if row.connections is None else str(row.connections)
    return (cpu, rss, conns)


def format_show_proc(rows: Iterable[ProcessRow], *, now: float, extra: bool = False) -> str:
    """The `show proc` text, without the empty line that ends every master-CLI output."""
    rows = list(rows)

    def line(row: ProcessRow, reloads: object, kind: str, version: str) -> str:
        fields = [row.pid, kind, reloads, format_uptime(now - row.started_at), version]
        return _row([*fields, *_extras(row)] if extra else fields)

    header = ("#" + f"{SHOW_PROC_COLUMNS[0]:<14}", *SHOW_PROC_COLUMNS[1:])
    out = [_row([*header, *SHOW_PROC_EXTRA_COLUMNS] if extra else header)]
    for row in rows:
        if row.kind == "master":
            out.append(
                line(row, f"{row.reloads} [failed: {row.failed_reloads}]", "master", row.version)
            )
    workers = [row for row in rows if row.kind == "worker"]
    current = sorted(
        (r for r in workers if not r.old),
        key=lambda r: (r.relative is None, r.relative or 0, r.pid),
    )
    old = [row for row in workers if row.old]
    out.append("# workers\n")
    out += [line(row, row.reloads, "worker", row.version) for row in current]
    if old:
        out.append("# old workers\n")
        out += [line(row, row.reloads, "worker", row.version) for row in old]
    programs = [row for row in rows if row.kind == "program"]
    out.append("# programs\n")
    out += [line(row, row.reloads, row.name or "-", "-") for row in programs if not row.old]
    if any(row.old for row in programs):
        out.append("# old programs\n")
        out += [line(row, row.reloads, row.name or "-", "-") for row in programs if row.old]
    return "".join(out)


def resolve_target(target: RelativeTarget | PidTarget, rows: Iterable[ProcessRow]) -> int | None:
    """The pid a worker target names in a process table: `@N` counts current workers only,
    `@!PID` finds leaving ones too. A ready-made body for the connection's `resolve`."""
    for row in rows:
        if row.kind != "worker":
            continue
        if isinstance(target, PidTarget) and row.pid == target.pid:
            return row.pid
        if isinstance(target, RelativeTarget) and not row.old and row.relative == target.number:
            return row.pid
    return None
