"""`observe layer4|layer7` at run time: counting in every worker, acting in the check owner.

`attach_observers(state)` gives every observed, checked server of this worker an `observe`
hook (ServerRuntime.observe, called by BackendRuntime.connect after each connection attempt)
and, with `layer7`, an `observe_http` hook (called with each response's status by
worker/http_session.py and worker/http_fast.py) and an `observe_failure` one (called with
each server failure by HttpSession.server_failed, both paths): consecutive errors reaching
`error-limit` add one to the server's `hanafail` slot in this worker's counters. The owner
of the server's checks runs a `Watch`, which sums those slots over the workers every
WATCH_PERIOD and, for each new trip, applies `on-error` (haproxy_py/checks/observe.py)
through the same path as a check result, then brings the next check forward to `fastinter`;
a trip in the owner itself acts at once.
Rules: the hooks are a few integer operations on the connect path (none without `observe`);
only the owner changes check state.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from haproxy_py.checks.observe import (
    HTTP_ERROR,
    L4_ERROR,
    Consecutive,
    failure_kind,
    hana_result,
    http_ok,
    prepare,
)
from haproxy_py.checks.settings import check_settings
from haproxy_py.process.shm import StatsTable
from haproxy_py.proto.http1.events import H1Error
from haproxy_py.stats.layout import HANAFAIL
from worker.backend import BackendRuntime, ServerRuntime
from worker.http_io import ServerFailed

WATCH_PERIOD = 0.1  # seconds between two looks at the hanafail slots


def attach_observers(state: object, owned: dict | None = None) -> None:
    """Hooks on every observed server; `owned` maps (backend, server) to what to call on a
    trip in the server's own check owner (this worker): it acts at once, not at the watch."""
    config = state.config  # type: ignore[attr-defined]
    backends: dict[str, BackendRuntime] = state.backends  # type: ignore[attr-defined]
    for backend in backends.values():
        runtimes = {runtime.name: runtime for runtime in backend.servers.values()}
        for server in backend.proxy.servers:
            settings = check_settings(backend.proxy, server, config.global_)
            runtime = runtimes.get(server.name)
            if settings is None or runtime is None or settings.observe == "none":
                continue
            observe_server(runtime, settings, (owned or {}).get((backend.name, server.name)))


def observe_server(runtime: ServerRuntime, settings: object, tripped: Tripped = None) -> None:
    """One server's hooks (a configured one, or one `add server ... observe` added):
    `settings` its CheckSettings, `tripped` the owner's immediate action, if this is it."""
    counter = Consecutive(settings.error_limit)  # type: ignore[attr-defined]
    layer7 = settings.observe == "layer7"  # type: ignore[attr-defined]
    runtime.observe = _connect_hook(runtime, counter, tripped, layer7)
    if layer7:
        runtime.observe_http = _http_hook(runtime, counter, tripped)
        runtime.observe_failure = _failure_hook(runtime, counter, tripped)


Tripped = Callable[[str], None] | None


def _connect_hook(
    server: ServerRuntime, counter: Consecutive, tripped: Tripped, layer7: bool
) -> Callable[[bool], None]:
    row = server.counters.row

    def observe(ok: bool) -> None:
        if ok and layer7:
            return  # layer7 judges the response, not the connection
        if counter.outcome(ok):
            row[HANAFAIL] += 1
            if tripped is not None:
                tripped(L4_ERROR)

    return observe


def _http_hook(
    server: ServerRuntime, counter: Consecutive, tripped: Tripped
) -> Callable[[int], None]:
    row = server.counters.row

    def observe_http(status: int) -> None:
        if counter.outcome(http_ok(status)):
            row[HANAFAIL] += 1
            if tripped is not None:
                tripped(HTTP_ERROR)

    return observe_http


def _failure_hook(
    server: ServerRuntime, counter: Consecutive, tripped: Tripped
) -> Callable[[BaseException], None]:
    row = server.counters.row

    def observe_failure(failure: BaseException) -> None:
        kind = failure_kind(failure.status, _cause(failure))  # type: ignore[attr-defined]
        if kind is not None and counter.outcome(False):
            row[HANAFAIL] += 1
            if tripped is not None:
                tripped(kind)

    return observe_failure


def _cause(failure: BaseException) -> str:
    """How the server connection broke, from the exception the failure was raised in the
    handling of (http_session.py raises ServerFailed inside `except OSError/H1Error`; the
    fast path re-raises one ServerFailed as another)."""
    cause = failure.__context__
    while isinstance(cause, ServerFailed):
        cause = cause.__context__
    if isinstance(cause, H1Error):
        return "closed" if cause.reason.startswith("connection closed") else "invalid"
    if isinstance(cause, OSError):
        return "reset"
    return "closed"  # the server's EOF before a response head (ConnectionClosed)


class Watch:
    """The owner's side: trips in any worker become `on-error` actions (its own at once)."""

    def __init__(self, checks: list, table: StatsTable, apply: Callable) -> None:
        self.checks = checks
        self.table = table
        self.apply = apply
        layout = table.layout
        self.rows = [layout.server_row(c.settings.backend, c.settings.server) for c in checks]
        self.seen = [self._trips(row) for row in self.rows]
        self.wanted = trio.Event()  # the watch sleeps until it has something to watch
        if checks:
            self.wanted.set()

    def add(self, check: object) -> Callable[[str], None]:
        """A dynamic server's check (`add server ... check observe ...`): watched from now
        on; returns its immediate trip action."""
        self.checks.append(check)
        settings = check.settings  # type: ignore[attr-defined]
        row = self.table.layout.server_row(settings.backend, settings.server)
        self.rows.append(row)
        self.seen.append(self._trips(row))
        self.wanted.set()
        return lambda last, check=check: self._local_trip(self.checks.index(check), last)

    def remove(self, check: object) -> None:
        """A deleted server's: its row is a spare again, soon another server's."""
        if check in self.checks:
            position = self.checks.index(check)
            for found in (self.checks, self.rows, self.seen):
                del found[position]

    def owned(self) -> dict[tuple[str, str], Callable[[str], None]]:
        """The immediate trip actions of this worker's own observed servers."""
        found = {}
        for position, check in enumerate(self.checks):
            name = (check.settings.backend, check.settings.server)
            found[name] = lambda last, position=position: self._local_trip(position, last)
        return found

    def _local_trip(self, position: int, last: str) -> None:
        self.seen[position] += 1  # counted here, not again by the watch
        on_error(self.checks[position], self.apply, last)

    def _trips(self, row: object) -> int:
        table = self.table
        return sum(table.counter_row(w, row)[HANAFAIL] for w in range(table.layout.workers))

    async def serve(self) -> None:
        await self.wanted.wait()
        while True:
            await trio.sleep(WATCH_PERIOD)
            for position, check in enumerate(self.checks):
                trips = self._trips(self.rows[position])
                new, self.seen[position] = trips - self.seen[position], trips
                # Another worker's trip: the kind of its last error stays there; layer7
                # errors are mostly bad statuses.
                last = HTTP_ERROR if check.settings.observe == "layer7" else L4_ERROR
                for _ in range(max(new, 0)):  # negative: `clear counters` reset them
                    on_error(check, self.apply, last)


def on_error(check: object, apply: Callable, last: str = L4_ERROR) -> None:
    settings = check.settings  # type: ignore[attr-defined]
    if prepare(check.health, settings.on_error):  # type: ignore[attr-defined]
        apply(check, hana_result(settings.error_limit, last))
    check.hurry()  # type: ignore[attr-defined]
