"""`show pools` in HAProxy's shape, with a Python worker's pools; stick-table answers.

HAProxy lists its memory pools, smallest objects first: a header line, one line per pool
(`  - Pool NAME (SIZE bytes) : A allocated (B bytes), U used, ..., N users`), then the
totals. A worker's memory is mostly CPython's small-object allocator: each pymalloc size
class (objects of up to 512 bytes, rounded up to a multiple of 16) is a pool here, with
its blocks carved (allocated), its blocks holding an object (used) and the 4 KiB pymalloc
pools it spans (users); the worker's own pools follow (the splice pipes, `maxpipes`). The
line keeps HAProxy's words up to the users; HAProxy's thread caches, needed_avg, failures
and address have no equivalent and are left out rather than made up.
`show table`, `clear table`, `set table`: stick tables are refused by the configuration,
so there is never one: HAProxy 2.6's answers for a process without stick tables.
Pure: `parse_mallocstats` reads the text CPython's `sys._debugmallocstats()` prints; the
worker captures it (worker/cli_pools.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADER = "Dumping pools usage. Use SIGQUIT to flush them.\n"
NO_SUCH_TABLE = "No such table\n\n"
CLEAR_TABLE_USAGE = (
    'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key'
    " <key>\n\n"
)
SET_TABLE_USAGE = "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    size: int  # bytes per object
    allocated: int  # objects carved out, used or free
    used: int  # objects in use
    users: int


def parse_mallocstats(text: str) -> list[Pool]:
    """The size-class table of `sys._debugmallocstats()`: `class size pools in-use avail`
    rows (a class never used is left out, as CPython leaves it out)."""
    pools = []
    in_table = False
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["class", "size"]:
            in_table = True
            continue
        if not in_table or not words or set(words[0]) == {"-"}:
            continue
        if len(words) != 5 or not all(word.isdigit() for word in words):
            break  # the end of the table
        _, size, spans, used, free = map(int, words)
        pools.append(Pool(f"pymalloc_{size}", size, used + free, used, spans))
    return pools


def show_pools(pools: Iterable[Pool]) -> str:
    ordered = sorted(pools, key=lambda pool: (pool.size, pool.name))
    lines = [HEADER]
    for pool in ordered:
        lines.append(
            f"  - Pool {pool.name} ({pool.size} bytes) : {pool.allocated} allocated"
            f" ({pool.allocated * pool.size} bytes), {pool.used} used, {pool.users} users\n"
        )
    allocated = sum(pool.allocated * pool.size for pool in ordered)
    used = sum(pool.used * pool.size for pool in ordered)
    lines.append(f"Total: {len(ordered)} pools, {allocated} bytes allocated, {used} used.\n")
    return "".join(lines) + "\n"


def table_answer(words: Sequence[str]) -> str:
    """`show|clear|set table ...` with no stick table in the process (HAProxy 2.6's words:
    `show table` alone lists none, a name is never found)."""
    verb, args = words[0], list(words[2:])
    if not args:
        if verb == "show":
            return "\n"
        return CLEAR_TABLE_USAGE if verb == "clear" else SET_TABLE_USAGE
    return NO_SUCH_TABLE
