"""worker/fastio.py: waits with a deadline and no cancel scope per wait, level- and
edge-triggered."""

from __future__ import annotations

import socket

import trio

from worker import fastio
from worker.fastio import wait_readable, wait_readable_edge, wait_writable
from worker.http_io import recv_edge


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_readable_before_the_deadline() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_later, b, 0.05)
                assert await wait_readable(a.fileno(), trio.current_time() + 5)
            assert a.recv(10) == b"x"

    trio.run(main)


async def _send_later(sock: socket.socket, delay: float) -> None:
    await trio.sleep(delay)
    sock.send(b"x")


def test_deadline_passes_and_the_socket_stays_usable() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            start = trio.current_time()
            assert not await wait_readable(a.fileno(), start + 0.1)
            assert 0.09 <= trio.current_time() - start < 1
            # After a timeout the fd waits again normally.
            b.send(b"y")
            assert await wait_readable(a.fileno(), trio.current_time() + 5)
            assert a.recv(10) == b"y"

    trio.run(main)


def test_earlier_deadline_wakes_the_watchdog() -> None:
    async def main() -> None:
        a, b = _pair()
        c, d = _pair()
        with a, b, c, d:
            results: dict[str, float] = {}

            async def waiter(name: str, sock: socket.socket, timeout: float) -> None:
                start = trio.current_time()
                assert not await wait_readable(sock.fileno(), start + timeout)
                results[name] = trio.current_time() - start

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiter, "long", a, 3.0)
                await trio.sleep(0.01)
                nursery.start_soon(waiter, "short", c, 0.05)
                await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
            assert results["short"] < 0.4
            assert "long" not in results

    trio.run(main)


def test_outside_cancellation_passes_through() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            with trio.move_on_after(0.05) as scope:
                await wait_readable(a.fileno(), trio.current_time() + 10)
            assert scope.cancelled_caught
            assert not await wait_readable(a.fileno(), trio.current_time() + 0.02)

    trio.run(main)


def test_writable_and_an_expired_deadline() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            assert await wait_writable(a.fileno(), trio.current_time() + 5)
            assert not await wait_writable(a.fileno(), trio.current_time() - 1)

    trio.run(main)


# -- the edge-triggered waits (wait_readable_edge, http_io.recv_edge) ---------------------------


def test_edge_wait_wakes_on_new_data_and_times_out_when_none_comes() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_later, b, 0.05)
                assert await wait_readable_edge(a, trio.current_time() + 5)
            assert a.recv(10) == b"x"
            start = trio.current_time()
            assert not await wait_readable_edge(a, start + 0.1)  # drained: no edge comes
            assert 0.09 <= trio.current_time() - start < 1
            b.send(b"y")  # after a timeout the socket waits again normally
            assert await recv_edge(a, trio.current_time() + 5) == b"y"

    trio.run(main)


def test_an_edge_nobody_waited_for_ends_the_next_wait_at_once() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            assert not await wait_readable_edge(a, trio.current_time() + 0.02)  # registered
            b.send(b"early")
            await trio.sleep(0.05)  # the poller sees the edge while nobody waits
            start = trio.current_time()
            assert await wait_readable_edge(a, start + 5)
            assert trio.current_time() - start < 0.5
            assert a.recv(10) == b"early"
            # An old edge whose data is gone: recv_edge reads EAGAIN and waits again.
            b.send(b"z")
            await trio.sleep(0.05)
            assert a.recv(10) == b"z"
            assert await recv_edge(a, trio.current_time() + 0.1) is None

    trio.run(main)


def test_a_new_socket_on_a_reused_fd_number_is_registered_again() -> None:
    async def main() -> None:
        a, b = _pair()
        fd = a.fileno()
        b.send(b"old")
        await trio.sleep(0.01)
        assert await wait_readable_edge(a, trio.current_time() + 5)
        a.close()
        b.close()
        c, d = _pair()
        with c, d:
            assert fd in (c.fileno(), d.fileno())
            reused = c if c.fileno() == fd else d
            other = d if reused is c else c
            assert not await wait_readable_edge(reused, trio.current_time() + 0.05)
            other.send(b"new")
            assert await recv_edge(reused, trio.current_time() + 5) == b"new"

    trio.run(main)


def test_edge_wait_cancelled_from_outside_and_peer_close_wakes_it() -> None:
    async def main() -> None:
        a, b = _pair()
        with a:
            with trio.move_on_after(0.05) as scope:
                await wait_readable_edge(a, trio.current_time() + 10)
            assert scope.cancelled_caught
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_close_later, b)
                assert await recv_edge(a, trio.current_time() + 5) == b""

    trio.run(main)


async def _close_later(sock: socket.socket) -> None:
    await trio.sleep(0.05)
    sock.close()


# -- direct waits while events come alone (_EdgePoller.look_at_load) ----------------------------


def test_lone_events_make_edge_waits_direct_and_many_per_wake_bring_the_poller_back() -> None:
    async def main() -> None:
        a, b = _pair()
        with a, b:
            poller = fastio._edge_poller()
            assert not poller.direct
            for _ in range(fastio._EVALUATE_EVERY + 1):  # one event at a time
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_send_later, b, 0)
                    assert await recv_edge(a, trio.current_time() + 5) == b"x"
            assert poller.direct
            # Direct: the socket's edges are masked, trio's wait wakes and times out as usual.
            start = trio.current_time()
            assert await recv_edge(a, start + 0.05) is None
            assert 0.04 <= trio.current_time() - start < 1
            assert a.fileno() in poller.off
            b.send(b"while masked")
            assert await recv_edge(a, trio.current_time() + 5) == b"while masked"
            # Many events per wake: back to the edge poller. Data that came while the socket
            # was masked is reported when it is unmasked (its present state is an edge).
            b.send(b"late")
            await trio.sleep(0.02)
            poller.waits, poller.turns = fastio._EVALUATE_EVERY, 10
            poller.look_at_load()
            assert not poller.direct
            start = trio.current_time()
            assert await wait_readable_edge(a, start + 5)
            assert trio.current_time() - start < 0.5
            assert a.fileno() not in poller.off
            assert a.recv(10) == b"late"

    trio.run(main)
