"""worker.relay on real sockets: bytes, half-close, resets, timeouts, pipes given back, no fd leak.

Timeouts are real (the autojump clock cannot drive real sockets), so they are kept short.
"""

from __future__ import annotations

import array
import errno
import fcntl
import hashlib
import os
import termios

import pytest
import trio

from tests.worker.links import Link, open_fds, open_link, read_all, reset, send_then_eof
from worker.pipes import PipePool
from worker.relay import RelayResult, RelayTimeouts, Termination, relay

MB = 1 << 20
GENEROUS = RelayTimeouts(client=5, server=5)
# With equal timeouts both sides expire together; trio's scheduling order decides which is first.
TIMED_OUT = {Termination.CLIENT_TIMEOUT, Termination.SERVER_TIMEOUT}


def sha256(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


class Relayed:
    """relay() running in the background on a link; `result` once it has returned."""

    def __init__(self) -> None:
        self.result: RelayResult | None = None
        self.done = trio.Event()

    async def run(self, link: Link, pipes: PipePool | None, timeouts: RelayTimeouts) -> None:
        self.result = await relay(link.front, link.back, pipes=pipes, timeouts=timeouts)
        self.done.set()

    async def wait(self) -> RelayResult:
        await self.done.wait()
        assert self.result is not None
        return self.result


async def exchange(link: Link, pipes: PipePool | None, up: bytes, down: bytes) -> RelayResult:
    """Both applications send everything, then EOF, while reading everything the other sent."""
    got: dict[str, tuple[int, str]] = {}
    relayed = Relayed()

    async def application(name: str, stream: trio.SocketStream, data: bytes) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_then_eof, stream, data)
            got[name] = await read_all(stream)

    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relayed.run, link, pipes, GENEROUS)
            nursery.start_soon(application, "client", link.client, up)
            nursery.start_soon(application, "server", link.server, down)
    assert got["server"] == sha256(up)
    assert got["client"] == sha256(down)
    result = await relayed.wait()
    assert result.termination is Termination.NORMAL
    assert (result.bytes_in, result.bytes_out) == (len(up), len(down))
    return result


def assert_mostly_spliced(result: RelayResult) -> None:
    """Bulk goes through pipes once a read fills the buffer; burst starts only are copied."""
    assert result.spliced_in >= 0.9 * result.bytes_in
    assert result.spliced_out >= 0.9 * result.bytes_out


async def receive_exactly(stream: trio.SocketStream, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = await stream.receive_some(count - len(data))
        assert chunk, "EOF before the expected bytes"
        data += chunk
    return data


@pytest.fixture(scope="module")
def payloads() -> tuple[bytes, bytes]:
    return os.urandom(10 * MB), os.urandom(10 * MB + 12345)


@pytest.fixture
def pool():
    pool = PipePool(8)
    yield pool
    assert pool.in_use == 0, "a relay kept a pipe"
    pool.close()


# -- moving bytes ---------------------------------------------------------------------------------


async def test_bulk_both_ways_spliced_over_tcp(payloads, pool) -> None:
    link = open_link("tcp")
    result = await exchange(link, pool, *payloads)
    link.close()
    assert_mostly_spliced(result)
    assert pool.created <= 2


async def test_bulk_both_ways_copied_over_tcp_without_pipes(payloads) -> None:
    link = open_link("tcp")
    result = await exchange(link, None, *payloads)
    link.close()
    assert (result.spliced_in, result.spliced_out) == (0, 0)


async def test_bulk_both_ways_copied_over_unix_sockets(payloads) -> None:
    link = open_link("unix")
    result = await exchange(link, None, *payloads)
    link.close()
    assert (result.spliced_in, result.spliced_out) == (0, 0)


async def test_splicing_works_between_unix_sockets_too(payloads, pool) -> None:
    link = open_link("unix")
    result = await exchange(link, pool, *payloads)
    link.close()
    assert_mostly_spliced(result)


async def test_small_exchanges_are_copied_without_taking_a_pipe(pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relayed.run, link, pool, GENEROUS)
            for number in range(50):
                request = b"GET /%d HTTP/1.1\r\n\r\n" % number
                await link.client.send_all(request)
                assert await receive_exactly(link.server, len(request)) == request
                await link.server.send_all(b"reply %d" % number)
                assert await receive_exactly(link.client, len(b"reply %d" % number)) == (
                    b"reply %d" % number
                )
            await link.client.send_eof()
            await link.server.send_eof()
    result = await relayed.wait()
    link.close()
    assert result.bytes_in > 0 and (result.spliced_in, result.spliced_out) == (0, 0)
    assert pool.created == 0


async def test_a_socket_that_cannot_splice_is_copied(payloads, pool, monkeypatch) -> None:
    def no_splice(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "splice", no_splice)
    link = open_link("tcp")
    result = await exchange(link, pool, *payloads)
    link.close()
    assert (result.spliced_in, result.spliced_out) == (0, 0)


async def test_an_exhausted_pool_falls_back_to_copying(payloads, pool) -> None:
    held = [pool.acquire() for _ in range(pool.maxpipes)]
    link = open_link("tcp")
    result = await exchange(link, pool, *payloads)
    link.close()
    assert (result.spliced_in, result.spliced_out) == (0, 0)
    for pipe in held:
        pool.release(pipe)  # type: ignore[arg-type]


async def test_one_pipe_for_two_directions_still_moves_everything(payloads) -> None:
    pool = PipePool(1)
    link = open_link("tcp")
    result = await exchange(link, pool, *payloads)
    link.close()
    # Whichever direction found the pipe taken copied meanwhile; every byte still arrived.
    assert 0 < result.spliced_in + result.spliced_out <= result.bytes_in + result.bytes_out
    assert pool.in_use == 0 and pool.created == 1
    pool.close()


async def test_an_idle_connection_holds_no_pipe(pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool, GENEROUS)
        await trio.sleep(0.05)
        assert pool.in_use == 0
        burst = os.urandom(MB)  # big enough to be spliced, so that a pipe is borrowed
        nursery.start_soon(link.client.send_all, burst)
        assert await receive_exactly(link.server, MB) == burst
        await link.server.send_all(b"pong")
        assert await link.client.receive_some(100) == b"pong"
        await trio.sleep(0.05)
        assert pool.in_use == 0 and pool.free >= 1
        await link.client.send_eof()
        await link.server.send_eof()
    assert (await relayed.wait()).termination is Termination.NORMAL
    link.close()


# -- half-close and resets ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest.mark.parametrize("spliced", [True, False])
async def test_half_close_reaches_the_server_which_still_replies(kind, spliced, pool) -> None:
    link = open_link(kind)
    relayed = Relayed()
    reply = b"reply " * 50_000
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool if spliced else None, GENEROUS)
        await send_then_eof(link.client, b"request")
        assert await read_all(link.server) == sha256(b"request")  # the EOF came through
        await link.server.send_all(reply)
        await link.server.aclose()
        assert await read_all(link.client) == sha256(reply)
    result = await relayed.wait()
    assert result.termination is Termination.NORMAL
    assert (result.bytes_in, result.bytes_out) == (len(b"request"), len(reply))
    link.close()


@pytest.mark.parametrize("spliced", [True, False])
async def test_a_server_reset_resets_the_client(spliced, pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool if spliced else None, GENEROUS)
        await link.client.send_all(b"hello")
        assert await link.server.receive_some(100) == b"hello"
        reset(link.server)
        with trio.fail_after(5), pytest.raises(ConnectionResetError):
            while await link.client.socket.recv(100):
                pass
    result = await relayed.wait()
    assert result.termination is Termination.SERVER_ABORT
    assert result.termination.value == "SD"
    assert link.front.fileno() == -1  # closed by the relay to send the RST
    link.close()


@pytest.mark.parametrize("spliced", [True, False])
async def test_a_client_reset_resets_the_server(spliced, pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool if spliced else None, GENEROUS)
        reset(link.client)
        with trio.fail_after(5), pytest.raises(ConnectionResetError):
            while await link.server.socket.recv(100):
                pass
    assert (await relayed.wait()).termination is Termination.CLIENT_ABORT
    link.close()


async def test_a_reset_in_the_middle_of_a_bulk_transfer(pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()

    async def keep_sending() -> None:
        with pytest.raises(trio.BrokenResourceError):
            while True:
                await link.client.send_all(bytes(MB))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool, GENEROUS)
        nursery.start_soon(keep_sending)
        await link.server.receive_some(1 << 16)
        reset(link.server)
    result = await relayed.wait()
    assert result.termination is Termination.SERVER_ABORT
    assert result.bytes_in > 0
    link.close()


# -- timeouts -------------------------------------------------------------------------------------


async def timed_out(link: Link, pool: PipePool | None, timeouts: RelayTimeouts) -> tuple:
    start = trio.current_time()
    with trio.fail_after(5):
        result = await relay(link.front, link.back, pipes=pool, timeouts=timeouts)
    return result.termination, trio.current_time() - start


@pytest.mark.parametrize(
    ("timeouts", "expected", "at_least"),
    [
        (RelayTimeouts(client=0.2, server=5), Termination.CLIENT_TIMEOUT, 0.2),
        (RelayTimeouts(client=5, server=0.2), Termination.SERVER_TIMEOUT, 0.2),
        (RelayTimeouts(client=0.05, server=0.05, tunnel=0.3), TIMED_OUT, 0.3),
        (RelayTimeouts(client=5, server=5, tunnel=0.3), TIMED_OUT, 0.3),
        (RelayTimeouts(client=None, server=0.2), Termination.SERVER_TIMEOUT, 0.2),
    ],
)
async def test_an_idle_connection_times_out(timeouts, expected, at_least, pool) -> None:
    link = open_link("tcp")
    termination, elapsed = await timed_out(link, pool, timeouts)
    assert termination in (expected if isinstance(expected, set) else {expected})
    assert at_least - 0.01 <= elapsed < at_least + 0.5
    link.close()


async def test_server_fin_applies_once_the_client_half_closed(pool) -> None:
    link = open_link("tcp")
    await link.client.send_eof()
    termination, elapsed = await timed_out(link, pool, RelayTimeouts(5, 5, server_fin=0.2))
    assert termination is Termination.SERVER_TIMEOUT
    assert 0.19 <= elapsed < 1
    link.close()


async def test_client_fin_applies_once_the_server_half_closed(pool) -> None:
    link = open_link("tcp")
    await link.server.send_eof()
    timeouts = RelayTimeouts(5, 5, tunnel=5, client_fin=0.2)  # -fin overrides the tunnel too
    termination, elapsed = await timed_out(link, pool, timeouts)
    assert termination is Termination.CLIENT_TIMEOUT
    assert 0.19 <= elapsed < 1
    link.close()


async def test_traffic_one_way_keeps_both_sides_alive(pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()

    async def trickle() -> None:
        for _ in range(12):  # 0.6 s of a byte every 50 ms, with 0.25 s timeouts
            await link.server.send_all(b".")
            await trio.sleep(0.05)
        await link.server.send_eof()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool, RelayTimeouts(client=0.25, server=0.25))
        nursery.start_soon(trickle)
        assert await read_all(link.client) == sha256(b"." * 12)
        await link.client.send_eof()
    assert (await relayed.wait()).termination is Termination.NORMAL
    link.close()


async def test_a_timeout_with_bytes_in_a_pipe_never_recycles_that_pipe(pool) -> None:
    link = open_link("tcp")
    relayed = Relayed()

    async def flood() -> None:  # the client never reads: the relay blocks writing to it
        while True:
            await link.server.send_all(bytes(MB))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(relayed.run, link, pool, RelayTimeouts(client=0.2, server=5))
        nursery.start_soon(flood)
        result = await relayed.wait()
        nursery.cancel_scope.cancel()
    assert result.termination is Termination.CLIENT_TIMEOUT
    for _ in range(pool.free):
        pipe = pool.acquire()
        assert pipe is not None
        inside = array.array("i", [0])
        fcntl.ioctl(pipe.read_fd, termios.FIONREAD, inside)
        assert inside[0] == 0
    link.close()


async def test_cancelling_the_relay_propagates_and_gives_pipes_back(pool) -> None:
    link = open_link("tcp")
    with trio.move_on_after(0.1) as scope:
        await relay(link.front, link.back, pipes=pool, timeouts=RelayTimeouts())
    assert scope.cancelled_caught
    link.close()


def test_timeouts_per_side() -> None:
    assert RelayTimeouts(client=1, server=2).for_side(True) == (1, 1)
    assert RelayTimeouts(client=1, server=2).for_side(False) == (2, 2)
    assert RelayTimeouts(client=1, server=2, tunnel=9).for_side(False) == (9, 9)
    assert RelayTimeouts(client=1, tunnel=9, client_fin=3).for_side(True) == (9, 3)
    assert RelayTimeouts(client=0, server_fin=0).for_side(True) == (None, None)


# -- nothing leaks --------------------------------------------------------------------------------


async def one_connection(number: int, pool: PipePool) -> Termination:
    link = open_link("tcp")
    relayed = Relayed()
    timeouts = RelayTimeouts(client=0.05, server=0.05) if number % 11 == 0 else GENEROUS
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relayed.run, link, pool, timeouts)
            if number % 11 == 0:
                return (await relayed.wait()).termination  # idle until a timeout
            await link.client.send_all(b"x" * 3000)
            await link.server.receive_some(1 << 16)
            if number % 7 == 0:
                reset(link.server)
            else:
                await link.server.send_all(b"y" * 5000)
                await link.server.send_eof()
                await read_all(link.client)
                await link.client.send_eof()
        return (await relayed.wait()).termination
    finally:
        link.close()


async def test_two_hundred_connections_leak_neither_pipes_nor_fds() -> None:
    pool = PipePool(16)
    before = open_fds()
    seen: list[Termination] = []

    async def run(number: int) -> None:
        seen.append(await one_connection(number, pool))

    with trio.fail_after(15):
        for batch in range(10):
            async with trio.open_nursery() as nursery:
                for number in range(batch * 20, batch * 20 + 20):
                    nursery.start_soon(run, number)
    assert len(seen) == 200
    assert {Termination.NORMAL, Termination.SERVER_ABORT} < set(seen)
    assert set(seen) - {Termination.NORMAL, Termination.SERVER_ABORT} <= TIMED_OUT
    assert pool.in_use == 0
    assert pool.created <= pool.maxpipes
    pool.close()
    assert open_fds() == before
