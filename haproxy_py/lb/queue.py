"""Waiting for a server slot: the per-server and per-backend FIFO queues, and dynamic limits.

When a server has reached its `maxconn`, a request waits in that server's queue (if it was
designated: persistence, hashing) or in the backend's queue (any server will do). Every
operation is O(1): queues are OrderedDicts keyed by the `Waiter` handle, so a client that gives
up is removed from the middle without a scan. Fairness: every waiter of a backend gets a
sequence number when it is queued; when a slot frees on a server, the older of the heads of
that server's queue and of the backend queue is served. `timeout queue` expiry walks one
backend-wide FIFO from its head, so it costs O(expired). Times are the caller's `now` (seconds).

The pure rules on limits live here too: `effective_maxconn` (minconn/fullconn) and
`default_fullconn`. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haproxy_py.lb.server import LbServer


def effective_maxconn(server_maxconn: int, minconn: int, fullconn: int, backend_conns: int) -> int:
    """A server's connection limit at the backend's current load (0: unlimited).

    Without `minconn` (or without `fullconn`) the limit is `maxconn`. With both, the limit
    follows the backend's load: `backend_conns * maxconn / fullconn`, never below `minconn`
    and reaching `maxconn` once the backend carries `fullconn` connections, which is how
    HAProxy computes it.
    """
    if server_maxconn <= 0:
        return 0
    if minconn <= 0 or minconn >= server_maxconn or fullconn <= 0:
        return server_maxconn
    if backend_conns >= fullconn:
        return server_maxconn
    return max(minconn, backend_conns * server_maxconn // fullconn)


def default_fullconn(frontend_maxconns: Iterable[int]) -> int:
    """`fullconn` when unset: 10% (rounded up, at least 1) of the maxconns of the frontends
    that may reach the backend through `default_backend` or a static `use_backend`."""
    total = sum(max(0, n) for n in frontend_maxconns)
    return max(1, (total + 9) // 10)


def queue_timeout_ms(timeouts: Mapping[str, int]) -> int | None:
    """`timeout queue`, falling back to `timeout connect` as HAProxy does; None: no limit."""
    value = timeouts.get("queue")
    return timeouts.get("connect") if value is None else value


@dataclass(eq=False, slots=True)
class Waiter:
    """A handle on one queued request; hashed by identity."""

    payload: Any  # whatever the caller needs to resume the request
    seq: int  # position in the backend-wide arrival order
    since: float  # when it was queued (the caller's clock)
    server: LbServer | None  # the server whose queue holds it; None: the backend queue
    queued: bool = True  # False once served, cancelled or expired


class PendingQueue:
    """One FIFO of waiters with its counters (current length, longest seen, total queued)."""

    def __init__(self, maxqueue: int = 0) -> None:
        self.maxqueue = maxqueue  # 0: unlimited
        self._items: OrderedDict[Waiter, None] = OrderedDict()
        self.max_length = 0
        self.total = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Waiter]:
        return iter(self._items)

    @property
    def full(self) -> bool:
        return self.maxqueue > 0 and len(self._items) >= self.maxqueue

    def head(self) -> Waiter | None:
        """The oldest waiter, left in place."""
        return next(iter(self._items), None)

    def append(self, waiter: Waiter) -> None:
        self._items[waiter] = None
        self.total += 1
        self.max_length = max(self.max_length, len(self._items))

    def popleft(self) -> Waiter | None:
        if not self._items:
            return None
        waiter, _ = self._items.popitem(last=False)
        return waiter

    def discard(self, waiter: Waiter) -> bool:
        return self._items.pop(waiter, False) is None


class BackendQueues:
    """The backend queue, one queue per server, and the backend-wide order used for expiry.

    A server queue's length is mirrored into `server.pending`, which the algorithms read.
    """

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout  # `timeout queue` in seconds; None: wait forever
        self.backend = PendingQueue()
        self._servers: dict[LbServer, PendingQueue] = {}
        self._arrivals: OrderedDict[Waiter, None] = OrderedDict()
        self._seq = 0
        self.expired_total = 0  # waiters dropped by `timeout queue`
        self.cancelled_total = 0  # waiters whose client gave up

    def __len__(self) -> int:
        return len(self._arrivals)

    def server_queue(self, server: LbServer) -> PendingQueue:
        queue = self._servers.get(server)
        if queue is None:
            queue = self._servers[server] = PendingQueue(server.maxqueue)
        return queue

    def can_queue(self, server: LbServer) -> bool:
        """Whether the server's own queue has room (`maxqueue`, 0 meaning unlimited)."""
        return server.maxqueue <= 0 or server.pending < server.maxqueue

    # -- arrivals and departures -------------------------------------------------------------

    def enqueue(self, payload: Any, now: float, server: LbServer | None = None) -> Waiter:
        """Queue a request on `server`'s queue, or on the backend queue when server is None."""
        if server is not None and not self.can_queue(server):
            raise ValueError(f"the queue of server '{server.name}' is full (maxqueue)")
        self._seq += 1
        waiter = Waiter(payload, self._seq, now, server)
        if server is None:
            self.backend.append(waiter)
        else:
            queue = self.server_queue(server)
            queue.maxqueue = server.maxqueue
            queue.append(waiter)
            server.pending = len(queue)
        self._arrivals[waiter] = None
        return waiter

    def next_for(self, server: LbServer, *, from_backend: bool = True) -> Waiter | None:
        """The waiter to serve now that `server` has a free slot, removed from its queue.

        The older of the two heads wins: the server's own queue and, when `from_backend` (the
        server takes load-balanced traffic: usable, non-zero weight), the backend queue.
        """
        own = self._servers.get(server)
        mine = own.head() if own else None
        theirs = self.backend.head() if from_backend else None
        chosen = mine if mine is not None and (theirs is None or mine.seq < theirs.seq) else theirs
        if chosen is not None:
            self._remove(chosen)
        return chosen

    def cancel(self, waiter: Waiter) -> bool:
        """The client gave up: take it out wherever it waits. False if it was not queued."""
        if not waiter.queued:
            return False
        self._remove(waiter)
        self.cancelled_total += 1
        return True

    def drain_server(self, server: LbServer) -> list[Waiter]:
        """Remove every waiter of a server's queue (it went down), oldest first."""
        queue = self._servers.get(server)
        drained = list(queue) if queue else []
        for waiter in drained:
            self._remove(waiter)
        return drained

    def drain_server_to_backend(self, server: LbServer) -> int:
        """Move every waiter of a server's queue to the backend queue; how many moved."""
        queue = self._servers.get(server)
        waiters = list(queue) if queue else []
        for waiter in waiters:
            self.move_to_backend(waiter)
        return len(waiters)

    def move_to_backend(self, waiter: Waiter) -> None:
        """A server's waiter goes to the backend queue (its server went down), keeping its
        place in the arrival order, so any server's next free slot may serve it."""
        server = waiter.server
        if server is None or not waiter.queued:
            return
        queue = self._servers[server]
        queue.discard(waiter)
        server.pending = len(queue)
        waiter.server = None
        # Keep the backend queue in arrival order: insert by sequence number.
        items = self.backend._items
        items[waiter] = None
        self.backend.total += 1
        for other in [w for w in items if w.seq > waiter.seq]:
            items.move_to_end(other)
        self.backend.max_length = max(self.backend.max_length, len(items))

    def _remove(self, waiter: Waiter) -> None:
        server = waiter.server
        if server is None:
            self.backend.discard(waiter)
        else:
            queue = self._servers[server]
            queue.discard(waiter)
            server.pending = len(queue)
        del self._arrivals[waiter]
        waiter.queued = False

    # -- timeout queue -----------------------------------------------------------------------

    def next_expiry(self) -> float | None:
        """When the oldest waiter's `timeout queue` runs out (None: nothing will expire)."""
        if self.timeout is None:
            return None
        oldest = next(iter(self._arrivals), None)
        return None if oldest is None else oldest.since + self.timeout

    def expire(self, now: float) -> list[Waiter]:
        """Remove and return the waiters that waited `timeout` or longer, oldest first.

        O(expired): arrivals are in queueing order, so the walk stops at the first waiter
        still within its time (the caller's clock must not go backwards).
        """
        if self.timeout is None:
            return []
        cutoff = now - self.timeout
        expired = []
        for waiter in self._arrivals:
            if waiter.since > cutoff:
                break
            expired.append(waiter)
        for waiter in expired:
            self._remove(waiter)
        self.expired_total += len(expired)
        return expired
