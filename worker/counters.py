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

Rates and times (show stat's rate, req_rate, lastsess, qtime..ttime): a row keeps counts for
the current and the previous second (rolled by the first event of a new second) and sliding
sums over the last 1024 samples. The time comes from the table's `CoarseClock`: once the HTTP
fast path runs (worker/fastio.py `tick_clock`), the monotonic clock is read once per turn of
trio's event loop (after each I/O wait, as HAProxy reads its `now_ms` once per poll), not once
per counter event; before that, and after the trio run ended, each read asks the clock.
The data path's common case is one call per request for its end (`count_exchange`: the
response's status class, bytes and response time on the frontend, backend and server rows).
The total time of a backend or server session is paired first-in first-out with an open
session's start (a deque per row, local to this worker): the sum of the times is exact,
single samples of overlapping sessions are not, which an average does not see.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from time import monotonic as _monotonic

from haproxy_py.process.shm import StatsTable, create_table
from haproxy_py.stats.layout import (
    BIN,
    BOUT,
    CLI_ABRT,
    CONN_TOT,
    CONNECT,
    COUNTER_FIELDS,
    CTIME_MAX,
    CTIME_N,
    CTIME_SUM,
    DREQ,
    DRESP,
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
    QTIME_MAX,
    QTIME_N,
    QTIME_SUM,
    QTIMEOUT,
    RATE_SEC,
    REQ_CUR,
    REQ_MAX,
    REQ_PREV,
    REQ_TOT,
    REUSE,
    RTIME_MAX,
    RTIME_N,
    RTIME_SUM,
    SCUR,
    SESS_CUR,
    SESS_MAX,
    SESS_PREV,
    SMAX,
    SRV_ABRT,
    STOT,
    TIME_SAMPLES,
    TTIME_MAX,
    TTIME_N,
    TTIME_SUM,
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
    "denied_responses": DRESP,  # dresp: a response refused by a rule (tcp-response reject)
    "conn_errors": ECON,  # econ: sessions that never got a server connection
    "retries": WRETR,  # wretr: connection attempts repeated after a failure
    "redispatches": WREDIS,  # wredis: retries moved to another server
    "queue_cur": QCUR,  # qcur: waiting for a server slot now
    "queue_max": QMAX,  # qmax: highest qcur seen
    "queue_timeouts": QTIMEOUT,  # waiters dropped by `timeout queue`
    "client_aborts": CLI_ABRT,  # cli_abrt: the client reset or timed out during data
    "server_aborts": SRV_ABRT,  # srv_abrt: the server reset or timed out during data
    "failed_requests": EREQ,  # ereq: invalid requests, client timeouts before a full head
    "failed_responses": ERESP,  # eresp: invalid or incomplete responses, server timeouts
    "intercepted": INTERCEPTED,  # intercepted: answered by haproxy-py itself (monitor-uri)
    "reuses": REUSE,  # reuse: requests sent on an already used server connection
    "http_requests": REQ_TOT,  # req_tot: requests received (frontend) or forwarded
    "connects": CONNECT,  # connect: connection attempts to servers
    "hrsp_1xx": HRSP_1XX,
    "hrsp_2xx": HRSP_2XX,
    "hrsp_3xx": HRSP_3XX,
    "hrsp_4xx": HRSP_4XX,
    "hrsp_5xx": HRSP_5XX,
    "hrsp_other": HRSP_OTHER,
}


__all__ = [
    "CoarseClock",
    "CounterTable",
    "Counters",
    "FrontendCounters",
    "count_bytes",
    "count_exchange",
    "count_forwarded",
]
_MAX_OF = {QTIME_SUM: QTIME_MAX, CTIME_SUM: CTIME_MAX, RTIME_SUM: RTIME_MAX, TTIME_SUM: TTIME_MAX}


def roll(row: memoryview | list[int], second: int) -> None:
    """A row's rate counts move on to `second`: the current counts become the previous
    second's (or nothing, after a silent second) and the finished second may be a new peak."""
    sessions, requests = row[SESS_CUR], row[REQ_CUR]
    if sessions > row[SESS_MAX]:
        row[SESS_MAX] = sessions
    if requests > row[REQ_MAX]:
        row[REQ_MAX] = requests
    if second != row[RATE_SEC] + 1:
        sessions = requests = 0
    row[SESS_PREV] = sessions
    row[REQ_PREV] = requests
    row[SESS_CUR] = row[REQ_CUR] = 0
    row[RATE_SEC] = second


class CoarseClock:
    """The monotonic time the counters read: `now`, refreshed by `tick()` once per turn of the
    event loop while `live` (worker/fastio.py installs the ticking); otherwise each read asks
    the clock itself. `run_offset`: what to add to `now` for the event loop's own clock
    (fastio.run_time), None when that clock is not the monotonic one shifted."""

    __slots__ = ("live", "now", "run_offset")

    def __init__(self) -> None:
        self.now = 0.0
        self.live = False
        self.run_offset: float | None = None

    def read(self) -> float:
        return self.now if self.live else _monotonic()

    def tick(self) -> None:
        self.now = _monotonic()


_UNSHARED_CLOCK = CoarseClock()  # never live: rows made without a table read the clock


def _slot(index: int) -> property:
    def get(self: Counters) -> int:
        return self.row[index]

    def put(self: Counters, value: int) -> None:
        self.row[index] = value

    return property(get, put)


class Counters:
    """The live numbers of one stats row, stored in a row of the shared table.

    Without a row (tests, tools) it gets a private one: a list of zeros."""

    __slots__ = ("clock", "row", "server", "starts", "total")

    def __init__(
        self,
        row: memoryview | list[int] | None = None,
        *,
        server: bool = False,
        timed: bool = False,
        clock: CoarseClock | None = None,
    ) -> None:
        self.row = row if row is not None else [0] * len(COUNTER_FIELDS)
        self.clock = clock if clock is not None else _UNSHARED_CLOCK
        self.server = server  # a server row also counts lbtot (times it was picked)
        self.total = LBTOT if server else CONN_TOT  # what session_opened() counts
        # Start times of open sessions, for ttime and lastsess: server rows (`timed`: any
        # row; a backend's come from its servers, read by haproxy_py/stats/csv.py).
        self.starts: deque[float] | None = deque() if server or timed else None

    def session_opened(self) -> int:
        """One more session: counted, and its start kept (timed rows); returns scur."""
        row = self.row
        cur = row[SCUR] + 1
        row[SCUR] = cur
        row[STOT] += 1
        if cur > row[SMAX]:
            row[SMAX] = cur
        row[self.total] += 1  # lbtot (server) or conn_tot
        clock = self.clock
        now = clock.now if clock.live else _monotonic()  # (CoarseClock.read, inlined)
        second = int(now)
        if row[RATE_SEC] != second:
            roll(row, second)
        row[SESS_CUR] += 1
        starts = self.starts
        if starts is not None:  # servers: lastsess and ttime (a backend's: its servers')
            row[LASTSESS] = second + 1
            starts.append(now)
        return cur

    def session_closed(self) -> int:
        """A session ended (a ttime sample on timed rows); returns scur."""
        row = self.row
        cur = row[SCUR]
        if cur:
            cur -= 1
            row[SCUR] = cur
        starts = self.starts
        if starts:  # a ttime sample, inlined (see timing())
            clock = self.clock
            now = clock.now if clock.live else _monotonic()
            ms = int((now - starts.popleft()) * 1000)
            total = row[TTIME_SUM]
            changed = total - (total >> 10) + ms
            if changed != total:  # (as in connected())
                row[TTIME_SUM] = changed
            if row[TTIME_N] < TIME_SAMPLES:
                row[TTIME_N] += 1
            if ms > row[TTIME_MAX]:
                row[TTIME_MAX] = ms
        return cur

    def timing(self, index: int, ms: int) -> None:
        """One sample of a time (QTIME_SUM, CTIME_SUM, TTIME_SUM...): the sliding sum loses
        1/1024 of itself and gains the sample (exact average until 1024 samples); the
        sample count stops at 1024."""
        row = self.row
        total = row[index]
        row[index] = total - (total >> 10) + ms
        if row[index + 1] < TIME_SAMPLES:
            row[index + 1] += 1
        highest = _MAX_OF[index]
        if ms > row[highest]:
            row[highest] = ms

    def connected(self, queue_ms: int, connect_ms: int) -> None:
        """A server connection was had: one qtime and one ctime sample (timing(), inlined;
        a sum that does not change is not written: a sample of 0 ms on a sum under 1024,
        the common case of a kept connection, costs reads only)."""
        row = self.row
        total = row[QTIME_SUM]
        changed = total - (total >> 10) + queue_ms
        if changed != total:
            row[QTIME_SUM] = changed
        total = row[CTIME_SUM]
        changed = total - (total >> 10) + connect_ms
        if changed != total:
            row[CTIME_SUM] = changed
        if row[QTIME_N] < TIME_SAMPLES:
            row[QTIME_N] += 1
        if row[CTIME_N] < TIME_SAMPLES:
            row[CTIME_N] += 1
        if queue_ms > row[QTIME_MAX]:
            row[QTIME_MAX] = queue_ms
        if connect_ms > row[CTIME_MAX]:
            row[CTIME_MAX] = connect_ms

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

    def response(self, status: int) -> None:
        """Count one response by its status class."""
        row = self.row
        if 100 <= status < 600:
            row[HRSP_1XX + status // 100 - 1] += 1
        else:
            row[HRSP_OTHER] += 1

    def as_dict(self) -> dict[str, int]:
        """Field name -> value (for tests, debugging)."""
        return {
            name: self.row[index] for name, index in (*FIELDS.items(), ("http_requests", REQ_TOT))
        }


for _name, _index in FIELDS.items():
    setattr(Counters, _name, _slot(_index))
del _name, _index


class FrontendCounters(Counters):
    """A frontend's row: its requests also count per second (show stat's req_rate, which
    HAProxy shows for frontends only)."""

    __slots__ = ()

    @property
    def http_requests(self) -> int:
        return self.row[REQ_TOT]

    @http_requests.setter
    def http_requests(self, value: int) -> None:
        row = self.row
        added = value - row[REQ_TOT]
        row[REQ_TOT] = value
        if added > 0:
            clock = self.clock
            second = int(clock.now if clock.live else _monotonic())
            if row[RATE_SEC] != second:
                roll(row, second)
            row[REQ_CUR] += added


def count_forwarded(backend: Counters, server: Counters) -> None:
    """A request goes to `server` of `backend`: their req_tot."""
    backend.row[REQ_TOT] += 1
    server.row[REQ_TOT] += 1


def count_exchange(
    front: Counters,
    backend: Counters,
    server: Counters,
    status: int,
    bytes_in: int,
    bytes_out: int,
    response_ms: int,
) -> None:
    """A response came from `server` and went to the client, in one call for the three rows:
    its status class and the exchange's bytes (haproxy_py/proto/http1/sizes.py) on each, and
    a response-time sample (rtime: request sent to response head, ms) on the server's row
    (a backend's times are its servers', combined by the reader)."""
    index = HRSP_1XX + status // 100 - 1 if 100 <= status < 600 else HRSP_OTHER
    row = front.row
    row[index] += 1
    row[BIN] += bytes_in
    row[BOUT] += bytes_out
    row = backend.row
    row[index] += 1
    row[BIN] += bytes_in
    row[BOUT] += bytes_out
    row = server.row
    row[index] += 1
    row[BIN] += bytes_in
    row[BOUT] += bytes_out
    if response_ms >= 0:
        total = row[RTIME_SUM]
        changed = total - (total >> 10) + response_ms
        if changed != total:  # (as in connected())
            row[RTIME_SUM] = changed
        if row[RTIME_N] < TIME_SAMPLES:
            row[RTIME_N] += 1
        if response_ms > row[RTIME_MAX]:
            row[RTIME_MAX] = response_ms


def count_bytes(
    front: Counters,
    backend: Counters | None,
    server: Counters | None,
    bytes_in: int,
    bytes_out: int,
) -> None:
    """An exchange's bytes on the rows it reached (the general path's end of an exchange)."""
    for counters in (front, backend, server):
        if counters is not None:
            row = counters.row
            row[BIN] += bytes_in
            row[BOUT] += bytes_out


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
    clock: CoarseClock = field(default_factory=CoarseClock)  # every row's (see the module)

    @property
    def layout(self) -> Layout | None:
        return self.table.layout if self.table is not None else None

    def _row(self, find: object, *key: str, server: bool = False, front: bool = False) -> Counters:
        kind = FrontendCounters if front else Counters
        if self.table is None:
            return kind(server=server, clock=self.clock)
        try:
            row: Row = find(*key)  # type: ignore[operator]
        except KeyError:  # not in the table (a proxy added by a test)
            return kind(server=server, clock=self.clock)
        return kind(self.table.counter_row(self.slot, row), server=server, clock=self.clock)

    def frontend(self, name: str) -> Counters:
        found = self.frontends.get(name)
        if found is None:
            layout = self.layout
            found = self._row(layout.frontend if layout else None, name, front=True)
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
