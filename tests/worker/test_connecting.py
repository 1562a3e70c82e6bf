"""worker/connecting.py on real loopback sockets, and the accept path's socket options.

A connection whose handshake is done by the time connect() returns is taken at once, with no
wait on the poller (the test counts trio's I/O waits); one still under way is waited for under
its deadline; refusals and timeouts come back as an errno with the socket closed; a
cancellation closes the socket and goes through. Accepted client sockets get TCP_NODELAY
from their listener, which serve() sets once (worker/serve.py).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from tests.helpers import free_port
from tests.worker.test_serve import config_text, running
from worker.connecting import connect_socket

pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)


@contextmanager
def listening(backlog: int = 16) -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(backlog)
        yield sock


class IoWaits(trio.abc.Instrument):
    """Counts trio's I/O waits that found something to do or timed out (each poller trip)."""

    def __init__(self) -> None:
        self.count = 0

    def before_io_wait(self, timeout: float) -> None:
        self.count += 1


async def test_a_loopback_connection_is_taken_without_waiting_on_the_poller() -> None:
    with listening() as server:
        waits = IoWaits()
        trio.lowlevel.add_instrument(waits)
        try:
            deadline = trio.current_time() + 5
            sock, error = await connect_socket(
                socket.AF_INET, server.getsockname(), deadline, nodelay=True
            )
        finally:
            trio.lowlevel.remove_instrument(waits)
        assert error == 0 and sock is not None
        with sock:
            assert waits.count == 0
            assert sock.getblocking() is False
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            accepted, _ = server.accept()
            with accepted:
                sock.send(b"ping")
                assert accepted.recv(4) == b"ping"


async def test_a_refused_connection_is_an_errno_and_no_socket() -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        sock, error = await connect_socket(
            socket.AF_INET, bound.getsockname(), trio.current_time() + 5
        )
    assert sock is None
    assert error == errno.ECONNREFUSED


async def test_a_handshake_that_never_ends_times_out_at_the_deadline() -> None:
    # A listener with a full accept queue drops further SYNs: the connect stays under way.
    with listening(backlog=0) as server:
        fillers = []
        try:
            for _ in range(2):
                filler = socket.socket()
                fillers.append(filler)
                filler.setblocking(False)
                filler.connect_ex(server.getsockname())
            started = trio.current_time()
            sock, error = await connect_socket(socket.AF_INET, server.getsockname(), started + 0.3)
            waited = trio.current_time() - started
        finally:
            for filler in fillers:
                filler.close()
    assert sock is None
    assert error == errno.ETIMEDOUT
    assert 0.25 <= waited < 2


async def test_a_cancelled_connect_closes_its_socket_and_goes_through() -> None:
    with listening(backlog=0) as server:
        fillers = []
        try:
            for _ in range(2):
                filler = socket.socket()
                fillers.append(filler)
                filler.setblocking(False)
                filler.connect_ex(server.getsockname())
            with trio.move_on_after(0.2) as scope:
                await connect_socket(socket.AF_INET, server.getsockname(), trio.current_time() + 5)
        finally:
            for filler in fillers:
                filler.close()
    assert scope.cancelled_caught  # (a socket left open would fail the ResourceWarning filter)


async def test_a_unix_socket_server_is_connected_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "server.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(4)
        sock, error = await connect_socket(socket.AF_UNIX, path, trio.current_time() + 5)
        assert error == 0 and sock is not None
        with sock:
            accepted, _ = server.accept()
            accepted.close()


async def test_accepted_clients_get_nodelay_from_their_listener(tmp_path: Path) -> None:
    with listening() as backend:
        port = backend.getsockname()[1]
        front = free_port()
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{front}\n    server s1 127.0.0.1:{port}\n"
        )
        async with running(tmp_path, text) as state:
            listener = state.listeners[0].sock
            assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            # What Linux gives an accepted socket (serve() no longer sets it on each one). The
            # accept below blocks trio's loop, so the worker cannot take the connection first.
            with (
                socket.create_connection(("127.0.0.1", front)),
                socket.socket(fileno=socket.dup(listener.fileno())) as probe,
            ):
                probe.settimeout(5)
                accepted, _ = probe.accept()
                with accepted:
                    assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
