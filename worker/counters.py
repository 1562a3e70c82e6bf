"""The worker's traffic counters: one `Counters` row per frontend, backend and server.

Every row has the same shape (the stats page's columns name the fields in comments), so the
stats issue can move them into shared memory slot by slot without touching the data path. Rules
of this file: plain integer increments only, no locks, no trio, no formatting; the session and
backend code update them on the path, readers (stats, soft-stop lines) only read. A field that
does not apply to a row (queues on a frontend, denials on a server) simply stays 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(eq=False, slots=True)
class Counters:
    """The live numbers of one stats row."""

    cur_sessions: int = 0  # scur: sessions open now
    max_sessions: int = 0  # smax: highest scur seen
    total_sessions: int = 0  # stot: sessions since start
    bytes_in: int = 0  # bin: client -> server bytes
    bytes_out: int = 0  # bout: server -> client bytes
    denied: int = 0  # dreq/dcon: refused by a rule (the rules engine issue fills it)
    conn_errors: int = 0  # econ: sessions that never got a server connection
    retries: int = 0  # wretr: connection attempts repeated after a failure
    redispatches: int = 0  # wredis: retries moved to another server
    queue_cur: int = 0  # qcur: waiting for a server slot now
    queue_max: int = 0  # qmax: highest qcur seen
    queue_timeouts: int = 0  # waiters dropped by `timeout queue`
    client_aborts: int = 0  # cli_abrt: the client reset or timed out during the data phase
    server_aborts: int = 0  # srv_abrt: the server reset or timed out during the data phase
    # HTTP mode (0 in TCP mode): requests and responses are counted one by one.
    http_requests: int = 0  # req_tot: requests received (frontend) or forwarded (backend, server)
    failed_requests: int = 0  # ereq: invalid requests, client timeouts before a complete head
    failed_responses: int = 0  # eresp: invalid or incomplete responses, server timeouts
    intercepted: int = 0  # intercepted: answered by haproxy-py itself (monitor-uri)
    reuses: int = 0  # reuse: requests sent on an already used server connection
    hrsp_1xx: int = 0  # hrsp_1xx..hrsp_5xx, hrsp_other: responses by status class
    hrsp_2xx: int = 0
    hrsp_3xx: int = 0
    hrsp_4xx: int = 0
    hrsp_5xx: int = 0
    hrsp_other: int = 0

    def session_opened(self) -> None:
        self.cur_sessions += 1
        self.total_sessions += 1
        if self.cur_sessions > self.max_sessions:
            self.max_sessions = self.cur_sessions

    def session_closed(self) -> None:
        self.cur_sessions -= 1

    def queued(self) -> None:
        self.queue_cur += 1
        if self.queue_cur > self.queue_max:
            self.queue_max = self.queue_cur

    def dequeued(self) -> None:
        self.queue_cur -= 1

    def response(self, status: int) -> None:
        """Count one response by its status class."""
        if status < 300:
            if status >= 200:
                self.hrsp_2xx += 1
            elif status >= 100:
                self.hrsp_1xx += 1
            else:
                self.hrsp_other += 1
        elif status < 400:
            self.hrsp_3xx += 1
        elif status < 500:
            self.hrsp_4xx += 1
        elif status < 600:
            self.hrsp_5xx += 1
        else:
            self.hrsp_other += 1

    def as_dict(self) -> dict[str, int]:
        """Field name -> value (for tests, debugging and the future stats renderers)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class CounterTable:
    """Every row of one worker, created at start-up (never on the data path).

    `frontends` and `backends` are keyed by proxy name (a `listen` section has both rows),
    `servers` by (backend name, server name).
    """

    frontends: dict[str, Counters] = field(default_factory=dict)
    backends: dict[str, Counters] = field(default_factory=dict)
    servers: dict[tuple[str, str], Counters] = field(default_factory=dict)

    def frontend(self, name: str) -> Counters:
        return self.frontends.setdefault(name, Counters())

    def backend(self, name: str) -> Counters:
        return self.backends.setdefault(name, Counters())

    def server(self, backend: str, name: str) -> Counters:
        return self.servers.setdefault((backend, name), Counters())

    def cumulated(self, proxy: str) -> tuple[int, int]:
        """(frontend, backend) total sessions of a proxy, for "Proxy X stopped" lines."""
        front = self.frontends.get(proxy)
        back = self.backends.get(proxy)
        return (front.total_sessions if front else 0, back.total_sessions if back else 0)
