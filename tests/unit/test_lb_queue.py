"""Server and backend queues, `timeout queue` expiry, and the maxconn/fullconn limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.lb import (
    BackendQueues,
    LbServer,
    PendingQueue,
    Waiter,
    default_fullconn,
    effective_maxconn,
    queue_timeout_ms,
)


def test_backend_queue_is_fifo() -> None:
    queues = BackendQueues()
    server = LbServer("s", 1)
    for n in range(5):
        queues.enqueue(n, now=float(n))
    served = [queues.next_for(server) for _ in range(6)]
    assert [w.payload for w in served if w] == [0, 1, 2, 3, 4]
    assert served[-1] is None and len(queues) == 0


def test_a_waiter_leaves_from_the_middle() -> None:
    queues = BackendQueues()
    server = LbServer("s", 1)
    waiters = [queues.enqueue(n, now=0.0, server=server) for n in range(5)]
    assert server.pending == 5
    assert queues.cancel(waiters[2])
    assert not queues.cancel(waiters[2])  # only once
    assert server.pending == 4 and queues.cancelled_total == 1
    assert [w.payload for w in queues.server_queue(server)] == [0, 1, 3, 4]
    assert [queues.next_for(server).payload for _ in range(4)] == [0, 1, 3, 4]  # type: ignore[union-attr]
    assert server.pending == 0


def test_pending_queue_counters() -> None:
    queue = PendingQueue(maxqueue=2)
    first, second = Waiter("a", 1, 0.0, None), Waiter("b", 2, 0.0, None)
    queue.append(first)
    queue.append(second)
    assert queue.full and queue.head() is first and len(queue) == 2
    assert queue.discard(first) and not queue.discard(first)
    assert queue.popleft() is second and queue.popleft() is None
    assert (queue.max_length, queue.total, len(queue)) == (2, 2, 0)


def test_a_freed_slot_serves_the_oldest_of_server_and_backend_queues() -> None:
    queues = BackendQueues()
    server, other = LbServer("s", 1), LbServer("o", 2)
    queues.enqueue("own-1", 0.0, server)
    queues.enqueue("any-2", 0.1)
    queues.enqueue("other-3", 0.2, other)
    queues.enqueue("own-4", 0.3, server)
    queues.enqueue("any-5", 0.4)
    order = [queues.next_for(server) for _ in range(4)]
    assert [w.payload for w in order if w] == ["own-1", "any-2", "own-4", "any-5"]
    assert queues.next_for(server) is None
    assert queues.next_for(other).payload == "other-3"  # type: ignore[union-attr]


def test_a_server_not_taking_new_traffic_serves_only_its_own_queue() -> None:
    queues = BackendQueues()
    server = LbServer("s", 1)
    queues.enqueue("any", 0.0)
    queues.enqueue("own", 0.1, server)
    assert queues.next_for(server, from_backend=False).payload == "own"  # type: ignore[union-attr]
    assert queues.next_for(server, from_backend=False) is None
    assert len(queues.backend) == 1


def test_maxqueue_limits_a_server_queue() -> None:
    queues = BackendQueues()
    server = LbServer("s", 1, maxqueue=2)
    queues.enqueue(1, 0.0, server)
    queues.enqueue(2, 0.0, server)
    assert not queues.can_queue(server)
    with pytest.raises(ValueError, match="maxqueue"):
        queues.enqueue(3, 0.0, server)
    queues.enqueue(3, 0.0)  # the backend queue has no such limit
    assert queues.server_queue(server).full


def test_timeout_queue_expires_the_oldest_with_an_injected_clock() -> None:
    queues = BackendQueues(timeout=5.0)
    server = LbServer("s", 1)
    queues.enqueue("a", 0.0, server)
    queues.enqueue("b", 1.0)
    queues.enqueue("c", 2.0, server)
    assert queues.next_expiry() == 5.0
    assert queues.expire(4.9) == []
    assert [w.payload for w in queues.expire(6.0)] == ["a", "b"]
    assert queues.expired_total == 2 and server.pending == 1
    assert queues.next_expiry() == 7.0
    assert [w.payload for w in queues.expire(100.0)] == ["c"]
    assert queues.next_expiry() is None and len(queues) == 0


def test_without_timeout_nothing_expires() -> None:
    queues = BackendQueues(timeout=None)
    queues.enqueue("a", 0.0)
    assert queues.expire(1e9) == [] and queues.next_expiry() is None


def test_drain_server_returns_its_waiters_in_order() -> None:
    queues = BackendQueues()
    server = LbServer("s", 1)
    queues.enqueue("x", 0.0)
    for n in range(3):
        queues.enqueue(n, 0.0, server)
    assert [w.payload for w in queues.drain_server(server)] == [0, 1, 2]
    assert server.pending == 0 and len(queues) == 1


def test_queue_timeout_falls_back_to_timeout_connect() -> None:
    assert queue_timeout_ms({"queue": 100, "connect": 5}) == 100
    assert queue_timeout_ms({"connect": 5}) == 5
    assert queue_timeout_ms({}) is None


# -- dynamic limits -----------------------------------------------------------------------------


def test_effective_maxconn_follows_the_backend_load() -> None:
    # The manual's example: between 100 and 1000, the maximum reached at 10000 connections.
    assert effective_maxconn(1000, 100, 10_000, 0) == 100
    assert effective_maxconn(1000, 100, 10_000, 500) == 100  # the ramp starts above minconn
    assert effective_maxconn(1000, 100, 10_000, 5_000) == 500
    assert effective_maxconn(1000, 100, 10_000, 10_000) == 1000
    assert effective_maxconn(1000, 100, 10_000, 50_000) == 1000


def test_effective_maxconn_is_static_without_minconn_or_fullconn() -> None:
    assert effective_maxconn(50, 0, 100, 0) == 50
    assert effective_maxconn(50, 10, 0, 0) == 50
    assert effective_maxconn(50, 80, 100, 0) == 50  # minconn above maxconn
    assert effective_maxconn(0, 10, 100, 0) == 0  # unlimited stays unlimited


def test_default_fullconn_is_a_tenth_of_the_frontends_maxconn() -> None:
    assert default_fullconn([2000, 3000]) == 500
    assert default_fullconn([15]) == 2  # rounded up
    assert default_fullconn([]) == 1


# -- property: nothing lost, nothing duplicated, always the oldest ------------------------------

operation = st.one_of(
    st.tuples(st.just("enqueue"), st.integers(-1, 2)),  # -1: the backend queue
    st.tuples(st.just("serve"), st.integers(0, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.integers(0, 3)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=60), st.booleans())
def test_queues_never_lose_or_duplicate_a_waiter(
    operations: list[tuple[str, int]], from_backend: bool
) -> None:
    servers = [LbServer(f"s{n}", n + 1) for n in range(3)]
    queues = BackendQueues(timeout=10.0)
    live: dict[int, Waiter] = {}  # seq -> waiter, the model
    left: list[Waiter] = []
    now = 0.0
    for kind, arg in operations:
        now += 1.0
        if kind == "enqueue":
            waiter = queues.enqueue(None, now, servers[arg] if arg >= 0 else None)
            live[waiter.seq] = waiter
        elif kind == "serve":
            server = servers[arg]
            candidates = [
                w
                for w in live.values()
                if w.server is server or (from_backend and w.server is None)
            ]
            served = queues.next_for(server, from_backend=from_backend)
            expected = min(candidates, key=lambda w: w.seq) if candidates else None
            assert served is expected
            if served:
                left.append(live.pop(served.seq))
        elif kind == "cancel" and live:
            waiter = sorted(live.values(), key=lambda w: w.seq)[arg % len(live)]
            assert queues.cancel(waiter)
            left.append(live.pop(waiter.seq))
        elif kind == "expire":
            now += arg * 3
            expired = queues.expire(now)
            assert expired == sorted(
                (w for w in live.values() if now - w.since >= 10.0), key=lambda w: w.seq
            )
            for waiter in expired:
                left.append(live.pop(waiter.seq))
    assert len({id(w) for w in left}) == len(left)  # nobody left twice
    assert all(not w.queued for w in left) and all(w.queued for w in live.values())
    assert len(queues) == len(live)
    queued = list(queues.backend) + [w for s in servers for w in queues.server_queue(s)]
    assert sorted(w.seq for w in queued) == sorted(live)
    for server in servers:
        assert server.pending == sum(1 for w in live.values() if w.server is server)
