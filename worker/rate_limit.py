"""Accept-rate limits: global `maxconnrate`/`maxsessrate`, frontend `rate-limit sessions`, and
the values `set rate-limit` changes (worker/cli_write.py).

As in HAProxy, a limit reached stops the accept loops (connections wait in the kernel's
backlog) until the rate allows more; nothing is refused. The limits are over all workers
together: a `Gate` adds this worker's own count (a `RateCounter`, exact at once) to the other
workers' per-second session counts in the shared stats table (their frontend rows' rate words,
haproxy_py/stats/layout.py), and takes its `share` of what is left as a budget; only when
that budget is spent does it look at the table again (haproxy_py/lb/ratelimit.py does the
arithmetic). Every accepted connection is a session here, so the global connection and
session limits watch the same count and the lower one is in force.
Rules: with no limit set, a listener's `FrontendRate.active` is False and the accept loop
pays one attribute read; counting starts when a limit does (seeded from this worker's own
slots); a change of limit wakes the waiting loops at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from time import monotonic
from typing import TYPE_CHECKING

import trio
from trio.lowlevel import checkpoint

from haproxy_py.config.model import Config
from haproxy_py.lb.ratelimit import U32, RateCounter, allowance, delay, normalize, share
from haproxy_py.process.shm import StatsTable
from haproxy_py.stats.layout import FRONTEND, RATE_SEC, SESS_CUR, SESS_PREV
from haproxy_py.stats.limits import ProxyLimits, proxy_limits

if TYPE_CHECKING:  # worker/runtime.py's state holds our objects: no import cycle at run time
    from worker.runtime import WorkerState

__all__ = ["UNLIMITED", "FrontendRate", "Gate", "RateLimits", "attach_rate_limits", "stat_limits"]


class Gate:
    """One limit over every worker: a frontend's `rate-limit sessions`, or the global one."""

    __slots__ = ("budget", "counter", "limit", "offsets", "slot", "table", "wait")

    def __init__(self, table: StatsTable, slot: int, offsets: Sequence[int]) -> None:
        self.limit = 0  # 0: no limit
        self.budget = 0  # events this worker may still take before looking again
        self.wait = 0.0  # seconds until the next refill may allow something
        self.counter = RateCounter()
        self.table = table
        self.slot = slot
        self.offsets = tuple(offsets)  # the frontend rows whose sessions this gate counts

    def _counts(self, slots: Iterable[int], second: int) -> tuple[int, int]:
        current = previous = 0
        for worker in slots:
            block = self.table.counter_block(worker)
            for base in self.offsets:
                cur, prev = normalize(
                    block[base + RATE_SEC], block[base + SESS_CUR], block[base + SESS_PREV], second
                )
                current += cur
                previous += prev
        return current, previous

    def refill(self, now: float) -> int:
        """A new budget from the counts now (0: `wait` says for how long)."""
        second = int(now)
        elapsed = now - second
        current, previous = self.counter.counts(second)
        workers = self.table.layout.workers
        others = [w for w in range(workers) if w != self.slot]
        if others:
            cur, prev = self._counts(others, second)
            current += cur
            previous += prev
        allowed = allowance(self.limit, current, previous, elapsed)
        self.budget = share(allowed, workers)
        self.wait = 0.0 if self.budget else delay(self.limit, current, previous, elapsed)
        return self.budget

    def set_limit(self, limit: int, now: float) -> None:
        if limit and not self.limit:  # counting starts now: from what our slots saw
            second = int(now)
            self.counter.seed(second, *self._counts((self.slot,), second))
        self.limit = limit
        self.budget = 0


class FrontendRate:
    """What a frontend's accept loops (all its listeners in this worker) ask before accept()."""

    __slots__ = ("active", "gates", "lot", "own", "shared")

    def __init__(self, own: Gate | None, shared: Gate | None, lot: trio.lowlevel.ParkingLot):
        self.own = own  # rate-limit sessions
        self.shared = shared  # the global limit
        self.lot = lot
        self.gates: tuple[Gate, ...] = ()
        self.active = False
        self.update()

    def update(self) -> None:
        """After a limit changed: the gates in force."""
        self.gates = tuple(g for g in (self.own, self.shared) if g is not None and g.limit)
        self.active = bool(self.gates)

    def allows(self) -> bool:
        """May one more connection be accepted now without looking at the table?"""
        return all(gate.budget > 0 for gate in self.gates)

    def took(self) -> None:
        """One connection accepted."""
        now = monotonic()
        for gate in self.gates:
            gate.budget -= 1
            gate.counter.add(now)

    async def wait(self) -> None:
        """New budgets for the spent gates; when one gives none, park until the rate may
        allow again or a limit changes."""
        # First let the sessions accepted so far start: each counts itself in this worker's
        # slots as it starts, which is what the other workers read (two turns: trio may run
        # a turn's tasks in either order).
        await checkpoint()
        await checkpoint()
        now = monotonic()
        pause = 0.0
        for gate in self.gates:
            if gate.budget <= 0 and not gate.refill(now):
                pause = max(pause, gate.wait)
        if pause:
            with trio.move_on_after(pause):
                await self.lot.park()


class _Unlimited:
    active = False


UNLIMITED = _Unlimited()  # for a listener built without serve() (tests): never limited


class RateLimits:
    """The worker's limits as `show info` shows them and `set rate-limit` changes them."""

    def __init__(self, config: Config, table: StatsTable, slot: int) -> None:
        settings = config.global_
        self.connections = int(settings.setting("maxconnrate") or 0)
        self.sessions = int(settings.setting("maxsessrate") or 0)
        # Not served here (no TLS, no compression): kept so `show info` shows what was set.
        self.ssl_sessions = 0
        self.compression = 0  # bytes per second (set in kB/s)
        self.lot = trio.lowlevel.ParkingLot()
        layout = table.layout
        fronts = {row.proxy: row.offset for row in layout.rows if row.kind == FRONTEND}
        self.global_gate = Gate(table, slot, list(fronts.values()))
        self.frontends: dict[str, FrontendRate] = {}
        now = monotonic()
        for proxy in config.proxies:
            if not proxy.is_frontend or proxy.disabled or proxy.name not in fronts:
                continue
            own = None
            limit = int(proxy.setting("rate-limit sessions") or 0)
            if limit:
                own = Gate(table, slot, [fronts[proxy.name]])
                own.set_limit(limit, now)
            self.frontends[proxy.name] = FrontendRate(own, self.global_gate, self.lot)
        self._apply(now)

    def set_global(self, kind: str, value: int) -> None:
        """`set rate-limit KIND global VALUE` (already checked: 0 <= value < 2**31)."""
        if kind == "connections":
            self.connections = value
        elif kind == "sessions":
            self.sessions = value
        elif kind == "ssl-sessions":
            self.ssl_sessions = value
        elif kind == "http-compression":
            self.compression = (value * 1024) % U32  # kB/s, shown in bytes (an unsigned int)
        self._apply(monotonic())
        self.lot.unpark_all()  # waiting loops look again (a limit lifted or changed)

    def _apply(self, now: float) -> None:
        limits = [n for n in (self.connections, self.sessions) if n > 0]
        self.global_gate.set_limit(min(limits) if limits else 0, now)
        for rate in self.frontends.values():
            if rate.own is not None:
                rate.own.budget = 0
            rate.update()

    def info(self) -> dict[str, int]:
        """`show info`'s limit fields."""
        return {
            "ConnRateLimit": self.connections,
            "SessRateLimit": self.sessions,
            "SslRateLimit": self.ssl_sessions,
            "CompressBpsRateLim": self.compression,
        }


def attach_rate_limits(state: WorkerState, table: StatsTable, slot: int) -> RateLimits:
    """Build the worker's limits (its counters live in `table`, worker slot `slot`) and hand
    each listener its frontend's `FrontendRate`."""
    limits = RateLimits(state.config, table, slot)
    for listener in state.listeners:
        listener.rate = limits.frontends.get(listener.frontend.name, UNLIMITED)
    return limits


def stat_limits(state: WorkerState) -> ProxyLimits:
    """`show stat`'s slim as this worker has it: the frontends' maxconn in force (`set
    maxconn frontend` included) and the backends' fullconn from the limits at start."""
    settings = state.settings
    live = {
        name: frontend.limit.maximum or 0
        for name, frontend in state.frontends.items()
        if frontend.proxy.is_frontend
    }
    return proxy_limits(
        state.config, state.fd_plan.maxconn, settings.get("maxconn_per_proxy"), live
    )
