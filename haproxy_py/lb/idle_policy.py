"""How many idle connections a server's pool may keep: HAProxy 2.6's need estimate.

Pure bookkeeping (no sockets, no clock of its own: times are passed in). Per server (per
worker here, per process in HAProxy with one thread), it counts the connections in use
(attached to a client session), their peak since the last purge and an estimate of the recent
need, and from those decides:
- when a connection is released, whether it may be parked: always when the pool is empty
  (one warm connection is kept), else only while in-use + idle stays within the larger of
  in-use and the need estimate, plus `pool-low-conn`; the others are closed at once;
- every `pool-purge-delay` while the server has connections (in use or idle; HAProxy's own
  keep-alive connections pass through its pool between requests, so its periods run under
  load whatever the client mode), how many idle ones to close:
  half the excess over the recent need (rounded up) plus one, as measured on haproxy 2.6.12
  (50 idle, then 36, 23, 13, 7, 3, 0 at 2 s periods after the load stopped); the need
  estimate then moves halfway toward the last period's peak (never below it), and the peak
  restarts from the connections in use. Between purges the estimate rises at once to the
  connections in use whenever they exceed it (so a first burst's connections are kept).
"""

from __future__ import annotations


class IdleNeed:
    """One server's use of connections and the purge schedule of its idle pool."""

    __slots__ = ("low", "need", "next_purge", "peak", "used")

    def __init__(self, low: int = 0) -> None:
        self.used = 0  # connections in use now
        self.peak = 0  # most in use at once since the last purge
        self.need = 0  # the estimate of connections needed (HAProxy's est_need_conns)
        self.low = low  # `pool-low-conn`: idle connections kept beyond the need
        self.next_purge: float | None = None  # when the next purge is due (None: no pool)

    def acquire(self) -> None:
        """A connection goes into use (new, or taken from the pool)."""
        used = self.used + 1
        self.used = used
        if used > self.peak:
            self.peak = used
            if used > self.need:  # the estimate never lags the connections in use
                self.need = used

    def release(self) -> None:
        """A connection in use is parked or closed."""
        self.used -= 1

    def may_park(self, idle: int, max_idle: int) -> bool:
        """Whether a connection being released (still counted in use) joins a pool holding
        `idle` connections, under `pool-max-conn` `max_idle` (-1: no limit, 0: no pool)."""
        if max_idle == 0 or (max_idle > 0 and idle >= max_idle):
            return False
        if idle == 0:
            return True
        used = self.used
        return used + idle <= max(used, self.need) + self.low

    def start(self, now: float, delay: float) -> bool:
        """A connection went into use or was parked at `now`: True when this starts the
        purge periods (the caller arms its timer)."""
        if self.next_purge is None:
            self.next_purge = now + delay
            return True
        return False

    def purge(self, idle: int, now: float, delay: float) -> int:
        """The period is over: how many of the `idle` connections to close (the coldest).
        Updates the estimate and schedules the next purge while connections remain."""
        if idle <= 0 and self.used <= 0:
            self.next_purge = None
            return 0
        excess = self.used + idle - max(self.peak, self.need)
        need = (self.need + self.peak) // 2
        self.need = max(need, self.peak)
        self.peak = self.used
        close = min(idle, (excess + 1) // 2 + 1) if excess > 0 else 0
        self.next_purge = now + delay if close < idle or self.used > 0 else None
        return close
