"""The rows of `show stat` as values by column, for the renderers other than the CLI's CSV.

The values are computed by haproxy_py/stats/csv.py (its row order, filter arguments and
per-kind columns: one place decides what a column holds); this file selects rows the way the
typed/JSON forms and the stats page ask for them (`up`, `no-maint`, `stats scope`) and writes a
row back as a CSV line, so that the page's `;csv` is byte for byte the CLI's `show stat`.
Pure: the caller hands the shared table and the configuration.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from haproxy_py.stats import csv as _csv

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable
    from haproxy_py.stats.limits import ProxyLimits

Record = dict[str, object]
# Columns a stats page shows only with `stats show-legends` (the CLI always shows them).
LEGEND_COLUMNS = ("addr", "algo", "cookie")


def stat_records(
    table: StatsTable,
    config: Config,
    words: Sequence[str] = (),
    *,
    now: float | None = None,
    limits: ProxyLimits | None = None,
) -> list[Record] | None:
    """`show stat`'s rows for these arguments (`{proxy|iid} {type} {sid}`, `up`,
    `no-maint`), each as {column: value}; None when the named proxy does not exist."""
    wanted = _csv._filter(config, words)
    if wanted is None:
        return None
    clock = time.time() if now is None else now
    # The very rows and values show_stat() prints (csv.py's own selection and columns).
    records = [values for _, values in _csv._stat_values(table, config, wanted, clock, limits)]
    return select(records, up="up" in words, no_maint="no-maint" in words)


def is_server(record: Mapping[str, object]) -> bool:
    return str(record.get("type")) == "2"


def select(
    records: Iterable[Record],
    *,
    up: bool = False,
    no_maint: bool = False,
    scope: Collection[str] | None = None,
) -> list[Record]:
    """`up`: servers in maintenance or fully DOWN are left out (a server coming back up,
    `DOWN 1/2`, stays); `no-maint`: servers in maintenance are; `scope`: only these proxies."""
    kept = []
    for record in records:
        if scope is not None and record["pxname"] not in scope:
            continue
        if is_server(record):
            status = str(record.get("status", ""))
            if (up or no_maint) and status == "MAINT":
                continue
            if up and status == "DOWN":
                continue
        kept.append(record)
    return kept


def hide_legends(records: Iterable[Record]) -> list[Record]:
    """Without `stats show-legends` a page leaves addresses, algorithms and cookies out."""
    return [{k: v for k, v in record.items() if k not in LEGEND_COLUMNS} for record in records]


def csv_text(records: Iterable[Mapping[str, object]]) -> str:
    """The CSV form of these rows: `show stat`'s header, one line per row, an empty line."""
    lines = [_csv.HEADER]
    for record in records:
        lines.append(_csv.csv_line(record))
    return "".join(lines) + "\n"
