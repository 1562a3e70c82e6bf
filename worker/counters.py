"""The worker's traffic counters: one `Counters` row per frontend, backend and server, kept in
this worker's slots of the shared stats table (haproxy_py/process/shm.py).

A `Counters` is a view on one row of the worker's own counter block (`counter_row(slot, row)`,
unsigned 64-bit words): the data path keeps its attribute API (`counters.bytes_in += n`,
`session_opened()`), and every increment is one indexed store into shared memory, which the
runtime API of any worker sums over the workers (`show stat`). Rules of this file: plain
integer increments only, no locks, no trio, no formatting; only this worker writes its slots
(the master zeroes a dead worker's gauges before a respawned one takes its slot); readers only
read. A field that does not apply to a row (queues on a frontend) simply stays 0. A gauge never
goes below 0 (the slots are unsigned).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from haproxy_py.process.shm import StatsTable, create_table
from haproxy_py.stats.layout import (
    BIN,
    BOUT,
    CLI_ABRT,
    CONN_TOT,
    DREQ,
    ECON,
    EREQ,
    ERESP,
    HRSP_1XX,
    HRSP_2XX,
    HRSP_3XX,
    HRSP_4XX,
    HRSP_5XX,
    HRSP_OTHER,
    INTERCEPTED,
    LASTSESS,
    LBTOT,
    QCUR,
    QMAX,
    QTIMEOUT,
    REQ_TOT,
    REUSE,
    SCUR,
    SMAX,
    SRV_ABRT,
    STOT,
    WREDIS,
    WRETR,
    Layout,
    Row,
)

# Attribute -> slot of the row (the stats column named in the comment).
FIELDS: dict[str, int] = {
    "cur_sessions": SCUR,  # scur: sessions open now
    "max_sessions": SMAX,  # smax: highest scur seen
    "total_sessions": STOT,  # stot: sessions since start
    "bytes_in": BIN,  # bin: client -> server bytes
    "bytes_out": BOUT,  # bout: server -> client bytes
    "denied": DREQ,  # dreq: refused by a rule (the rules engine fills it)
    "conn_errors": ECON,  # econ: sessions that never got a server connection
    "retries": WRETR,  # wretr: connection attempts repeated after a failure
    "redispatches": WREDIS,  # wredis: retries moved to another server
    "queue_cur": QCUR,  # qcur: waiting for a server slot now
    "queue_max": QMAX,  # qmax: highest qcur seen
    "queue_timeouts": QTIMEOUT,  # waiters dropped by `timeout queue`
    "client_aborts": CLI_ABRT,  # cli_abrt: the client reset or timed out during data
    "server_aborts": SRV_ABRT,  # srv_abrt: the server reset or timed out during data
    "http_requests": REQ_TOT,  # req_tot: requests received (frontend) or forwarded
    "failed_requests": EREQ,  # ereq: invalid requests, client timeouts before a full head
    "failed_responses": ERESP,  # eresp: invalid or incomplete responses, server timeouts
    "intercepted": INTERCEPTED,  # intercepted: answered by haproxy-py itself (monitor-uri)
    "reuses": REUSE,  # reuse: requests sent on an already used server connection
    "hrsp_1xx": HRSP_1XX,
    "hrsp_2xx": HRSP_2XX,
    "hrsp_3xx": HRSP_3XX,
    "hrsp_4xx": HRSP_4XX,
    "hrsp_5xx": HRSP_5XX,
    "hrsp_other": HRSP_OTHER,
}


def _slot(index: int) -> property:
    def get(self: Counters) -> int:
        return self.row[index]

    def put(self: Counters, value: int) -> None:
        self.row[index] = value

    return property(get, put)


class Counters:
    """The live numbers of one stats row, stored in a row of the shared table.

    Without a row (tests, tools) it gets a private one: a list of zeros."""

    __slots__ = ("row", "server")

    def __init__(self, row: memoryview | list[int] | None = None, *, server: bool = False) -> None:
        self.row = row if row is not None else [0] * (max(FIELDS.values()) + 32)
        self.server = server  # a server row also counts lbtot (times it was picked)

    def session_opened(self) -> None:
        row = self.row
        cur = row[SCUR] + 1
        row[SCUR] = cur
        row[STOT] += 1
        if cur > row[SMAX]:
            row[SMAX] = cur
        if self.server:
            row[LBTOT] += 1
        else:
            row[CONN_TOT] += 1

    def session_closed(self) -> None:
        row = self.row
        if row[SCUR]:
            row[SCUR] -= 1

    def queued(self) -> None:
        row = self.row
        cur = row[QCUR] + 1
        row[QCUR] = cur
        if cur > row[QMAX]:
            row[QMAX] = cur

    def dequeued(self) -> None:
        row = self.row
        if row[QCUR]:
            row[QCUR] -= 1

    def touched(self, now: int) -> None:
        """lastsess: the epoch second of the last session."""
        self.row[LASTSESS] = now

    def response(self, status: int) -> None:
        """Count one response by its status class."""
        row = self.row
        if 100 <= status < 600:
            row[HRSP_1XX + status // 100 - 1] += 1
        else:
            row[HRSP_OTHER] += 1

    def as_dict(self) -> dict[str, int]:
        """Field name -> value (for tests, debugging)."""
        return {name: self.row[index] for name, index in FIELDS.items()}


for _name, _index in FIELDS.items():
    setattr(Counters, _name, _slot(_index))
del _name, _index


@dataclass
class CounterTable:
    """Every row of one worker, created at start-up (never on the data path), as views on its
    slot of the shared table. Without a table (a worker started by a test) it makes a private
    one-slot table on first use.

    `frontends` and `backends` are keyed by proxy name (a `listen` section has both rows),
    `servers` by (backend name, server name).
    """

    table: StatsTable | None = None
    slot: int = 0
    frontends: dict[str, Counters] = field(default_factory=dict)
    backends: dict[str, Counters] = field(default_factory=dict)
    servers: dict[tuple[str, str], Counters] = field(default_factory=dict)

    @property
    def layout(self) -> Layout | None:
        return self.table.layout if self.table is not None else None

    def _row(self, find: object, *key: str, server: bool = False) -> Counters:
        if self.table is None:
            return Counters(server=server)
        try:
            row: Row = find(*key)  # type: ignore[operator]
        except KeyError:
            return Counters(server=server)  # not in the table (a proxy added by a test)
        return Counters(self.table.counter_row(self.slot, row), server=server)

    def frontend(self, name: str) -> Counters:
        found = self.frontends.get(name)
        if found is None:
            layout = self.layout
            found = self._row(layout.frontend if layout else None, name)
            self.frontends[name] = found
        return found

    def backend(self, name: str) -> Counters:
        found = self.backends.get(name)
        if found is None:
            layout = self.layout
            found = self._row(layout.backend if layout else None, name)
            self.backends[name] = found
        return found

    def server(self, backend: str, name: str) -> Counters:
        found = self.servers.get((backend, name))
        if found is None:
            layout = self.layout
            found = self._row(layout.server_row if layout else None, backend, name, server=True)
            self.servers[(backend, name)] = found
        return found

    def detach(self) -> None:
        """Before the table is unmapped: every row keeps its last values in a private list
        (so the mapping, and the descriptor mmap holds, go at once, not at garbage collection)."""
        for rows in (self.frontends, self.backends, self.servers):
            for counters in rows.values():
                if isinstance(counters.row, memoryview):
                    view = counters.row
                    counters.row = view.tolist()
                    view.release()

    def cumulated(self, proxy: str) -> tuple[int, int]:
        """(frontend, backend) total sessions of a proxy, for "Proxy X stopped" lines."""
        front = self.frontends.get(proxy)
        back = self.backends.get(proxy)
        return (front.total_sessions if front else 0, back.total_sessions if back else 0)


def private_table(config: object) -> StatsTable:
    """A one-slot table for a worker given none (started in-process by a test)."""
    from haproxy_py.stats.layout import layout_for

    return create_table(layout_for(config, 1))  # type: ignore[arg-type]
