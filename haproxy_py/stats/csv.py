"""`show stat` as HAProxy 2.6 prints it: its exact CSV header, its row order, summed numbers.

The numbers come from the shared table (haproxy_py/process/shm.py: every worker's counter
slots summed, the server state rows), the rest from the configuration. Pure: the caller
hands a table-like object and the configuration. A column not computed yet is left empty, as
HAProxy leaves a column empty where it does not apply, so the header, the number of fields
and the row order are always HAProxy's (hatop, haproxy_exporter, haproxyadmin read columns
by name). The work is split by concern, one way of imports (no cycle):

  columns.py       the 128 columns, the header, the CSV line writer
  status_texts.py  the status column, check and agent texts (cached per state)
  assembly.py      row templates per kind (one itemgetter, one %-format per row)
  reading.py       one reading of the table: blocks summed, rates, state rows; info_rates
  rows.py          which rows are listed and the values computed per kind
  csv.py           this file: `show_stat`, and the names the other renderers import
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from haproxy_py.stats.columns import HEADER, NO_SUCH_PROXY, STAT_COLUMNS, csv_line, write_line
from haproxy_py.stats.reading import Reading, info_rates, summed
from haproxy_py.stats.rows import stat_filter, stat_rows, stat_values
from haproxy_py.stats.status_texts import CHECK_DESCRIPTIONS, server_status

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable
    from haproxy_py.stats.limits import ProxyLimits

__all__ = [
    "CHECK_DESCRIPTIONS",
    "HEADER",
    "NO_SUCH_PROXY",
    "STAT_COLUMNS",
    "csv_line",
    "info_rates",
    "server_status",
    "show_stat",
]

# The former private names, kept for the readers and tests written against them.
_Reading = Reading
_summed = summed
_line = write_line
_filter = stat_filter
_stat_values = stat_values


def show_stat(
    table: StatsTable,
    config: Config,
    words: Sequence[str] = (),
    *,
    now: float | None = None,
    limits: ProxyLimits | None = None,
) -> str:
    """The whole `show stat [{proxy|iid} {type} {sid}]` answer, header and final empty line.
    `now` (epoch seconds) dates lastchg and downtime; the caller's clock, else the system's."""
    if now is None:
        now = time.time()
    wanted = stat_filter(config, words)
    if wanted is None:
        return NO_SUCH_PROXY
    lines = [HEADER]
    for _, assembly, source in stat_rows(table, config, wanted, now, limits):
        lines.append(assembly.line(source))
    return "".join(lines) + "\n"
