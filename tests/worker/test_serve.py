"""worker.serve in-process: a real configuration, real listeners, real loopback sockets.

Each test writes a configuration, binds it with haproxy_py.process.listeners, starts serve() in
a nursery (nursery.start hands back the worker state, whose counters the tests read), and talks
to it with trio clients; the backends are small trio echo servers started by the test. Timing
assertions use short real timeouts (the autojump clock cannot drive real sockets).
"""

from __future__ import annotations

import io
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from haproxy_py.config import load_configuration
from haproxy_py.config.model import Config
from haproxy_py.process.handoff import WorkerStart
from haproxy_py.process.listeners import bind_all, listener_specs
from haproxy_py.report import Reporter
from tests.helpers import free_port, has_ipv6_loopback
from worker.runtime import WorkerState
from worker.serve import serve

# An unclosed socket is an fd leak that the garbage collector happens to hide: make it fail.
pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)

HEADER = """\
global
    maxconn 200
{global_extra}
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 1s
{defaults_extra}
"""
SILENT = 0.3  # how long "gets nothing" is watched for


@contextmanager
def refusing_ports(count: int = 1) -> Iterator[list[int]]:
    """Ports of bound sockets that never listen: connecting is refused, and no one else can
    take the ports while the block runs."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        yield ports


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "test.cfg"
    path.write_text(text)
    result = load_configuration([str(path)], env={})
    assert result.config is not None, result.diagnostics
    return result.config


def config_text(body: str, *, global_extra: str = "", defaults_extra: str = "") -> str:
    return HEADER.format(global_extra=global_extra, defaults_extra=defaults_extra) + body


@asynccontextmanager
async def running(
    tmp_path: Path,
    text: str,
    settings: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> AsyncIterator[WorkerState]:
    """serve() on `text` for the duration of the block; cancelled (hard stop) at the end."""
    config = load(tmp_path, text)
    listeners = bind_all(listener_specs(config))
    start = WorkerStart(
        config,
        tuple(listener.spec for listener in listeners),
        tuple(listener.sock.fileno() for listener in listeners),
        settings or {},
    )
    sockets = [listener.sock for listener in listeners]
    reporter = reporter or Reporter(stream=io.StringIO())
    async with trio.open_nursery() as nursery:
        state = await nursery.start(
            partial(serve, start, sockets, reporter=reporter, isolation=False)
        )
        yield state
        nursery.cancel_scope.cancel()


class EchoServer:
    """Echoes every chunk; with `greet`, first sends its name and a newline. On EOF it
    half-closes back (so half-close travels through the proxy both ways)."""

    def __init__(self, name: str = "", greet: bool = False) -> None:
        self.name = name
        self.greet = greet
        self.accepted = 0
        self.active = 0

    async def handler(self, stream: trio.SocketStream) -> None:
        self.accepted += 1
        self.active += 1
        try:
            if self.greet:
                await stream.send_all(self.name.encode() + b"\n")
            async for data in stream:
                await stream.send_all(data)
            await stream.send_eof()
        except trio.BrokenResourceError:
            pass
        finally:
            self.active -= 1
            await stream.aclose()

    async def start_tcp(self, nursery: trio.Nursery, host: str = "127.0.0.1", port: int = 0) -> int:
        listeners = await nursery.start(partial(trio.serve_tcp, self.handler, port, host=host))
        return listeners[0].socket.getsockname()[1]

    async def start_unix(self, nursery: trio.Nursery, path: str) -> None:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(path)
        sock.listen(16)
        nursery.start_soon(trio.serve_listeners, self.handler, [trio.SocketListener(sock)])


async def connect(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


async def exchange(port: int, data: bytes = b"ping") -> bytes:
    """One short session: greeting (if any) and echo of `data`, then close."""
    stream = await connect(port)
    async with stream:
        try:
            await stream.send_all(data)
            await stream.send_eof()
        except trio.BrokenResourceError:
            pass  # closed by the proxy already (no server): what is left to read tells
        return await read_to_eof(stream)


async def read_to_eof(stream: trio.SocketStream) -> bytes:
    chunks = []
    try:
        async for chunk in stream:
            chunks.append(chunk)
    except trio.BrokenResourceError:  # a reset counts as the end too
        pass
    return b"".join(chunks)


async def receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


async def gets_nothing(stream: trio.SocketStream, seconds: float = SILENT) -> bool:
    with trio.move_on_after(seconds):
        await stream.receive_some(1)
        return False
    return True


def single_backend(port: int, fe_port: int, *, server_opts: str = "", extra: str = "") -> str:
    return config_text(
        f"frontend fe\n    bind 127.0.0.1:{fe_port}\n    default_backend be\n"
        f"backend be\n{extra}    server s1 127.0.0.1:{port} {server_opts}\n"
    )


# -- forwarding ----------------------------------------------------------------------------------


async def test_forwards_both_ways_and_counts(tmp_path: Path) -> None:
    fe = free_port()
    payload = os.urandom(3 << 20)
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        async with running(tmp_path, single_backend(port, fe)) as state:
            with trio.fail_after(10):
                stream = await connect(fe)
                async with stream, trio.open_nursery() as inner:
                    inner.start_soon(_send_then_eof, stream, payload)
                    echoed = await read_to_eof(stream)
                assert echoed == payload
                await _until(lambda: state.frontends["fe"].counters.cur_sessions == 0)
            front = state.counters.frontends["fe"]
            back = state.counters.backends["be"]
            server = state.counters.servers[("be", "s1")]
            for counters in (front, back, server):
                assert counters.total_sessions == 1
                assert counters.bytes_in == counters.bytes_out == len(payload)
            assert back.conn_errors == 0
        nursery.cancel_scope.cancel()


async def _send_then_eof(stream: trio.SocketStream, data: bytes) -> None:
    await stream.send_all(data)
    await stream.send_eof()


async def _until(predicate: Any, timeout: float = 5) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


async def test_half_close_travels_both_ways(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        async with running(tmp_path, single_backend(port, fe)):
            with trio.fail_after(5):
                stream = await connect(fe)
                await stream.send_all(b"first")
                assert await receive_exactly(stream, 5) == b"first"
                # Our FIN reaches the server, which answers and half-closes back.
                await stream.send_all(b"last")
                await stream.send_eof()
                assert await read_to_eof(stream) == b"last"
                await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_client_timeout_closes_an_idle_session(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        text = single_backend(port, fe).replace("timeout client 5s", "timeout client 300ms")
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                stream = await connect(fe)
                await stream.send_all(b"x")
                assert await receive_exactly(stream, 1) == b"x"
                began = trio.current_time()
                assert await read_to_eof(stream) == b""
                assert 0.2 < trio.current_time() - began < 2
                await stream.aclose()
                await _until(lambda: state.counters.backends["be"].cur_sessions == 0)
            assert state.counters.backends["be"].client_aborts == 1
        nursery.cancel_scope.cancel()


# -- load balancing --------------------------------------------------------------------------------


async def _greeters(nursery: trio.Nursery, *names: str) -> list[int]:
    return [await EchoServer(name, greet=True).start_tcp(nursery) for name in names]


async def test_roundrobin_spreads_over_two_servers(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        a, b = await _greeters(nursery, "a", "b")
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    balance roundrobin\n"
            f"    server a 127.0.0.1:{a}\n    server b 127.0.0.1:{b}\n"
        )
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                names = [(await exchange(fe)).split(b"\n")[0] for _ in range(6)]
            assert sorted(names) == [b"a"] * 3 + [b"b"] * 3
            assert names[0] != names[1]
            assert state.counters.frontends["app"].total_sessions == 6
            assert state.counters.backends["app"].total_sessions == 6
        nursery.cancel_scope.cancel()


async def test_weights_share_the_load(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        a, b = await _greeters(nursery, "a", "b")
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n"
            f"    server a 127.0.0.1:{a} weight 3\n    server b 127.0.0.1:{b} weight 1\n"
        )
        async with running(tmp_path, text):
            with trio.fail_after(5):
                names = [(await exchange(fe)).split(b"\n")[0] for _ in range(8)]
            assert names.count(b"a") == 6
            assert names.count(b"b") == 2
        nursery.cancel_scope.cancel()


async def test_refused_server_is_retried_then_redispatched(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        (good,) = await _greeters(nursery, "good")
        with refusing_ports() as [refused]:
            # `balance first` always picks the refusing server (lowest id) first.
            text = config_text(
                f"listen app\n    bind 127.0.0.1:{fe}\n    balance first\n    retries 2\n"
                f"    option redispatch\n    timeout connect 100ms\n"
                f"    server bad 127.0.0.1:{refused}\n    server good 127.0.0.1:{good}\n"
            )
            async with running(tmp_path, text) as state:
                with trio.fail_after(5):
                    began = trio.current_time()
                    assert await exchange(fe, b"hi") == b"good\nhi"
                    # a turn-around pause (min(1 s, timeout connect)) before the same-server retry
                    assert trio.current_time() - began >= 0.09
        bad = state.counters.servers[("app", "bad")]
        back = state.counters.backends["app"]
        assert (bad.retries, bad.redispatches, bad.conn_errors) == (2, 1, 0)
        assert (back.retries, back.redispatches, back.conn_errors) == (2, 1, 0)
        assert state.counters.servers[("app", "good")].total_sessions == 1
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("extra", "retries"), [("    retries 2\n", 2), ("    retry-on none\n", 0)])
async def test_without_redispatch_retries_stay_on_the_server(
    tmp_path: Path, extra: str, retries: int
) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        (good,) = await _greeters(nursery, "good")
        with refusing_ports() as [refused]:
            text = config_text(
                f"listen app\n    bind 127.0.0.1:{fe}\n    balance first\n{extra}"
                f"    timeout connect 20ms\n"
                f"    server bad 127.0.0.1:{refused}\n    server good 127.0.0.1:{good}\n"
            )
            async with running(tmp_path, text) as state:
                with trio.fail_after(5):
                    assert await exchange(fe) == b""
        bad = state.counters.servers[("app", "bad")]
        assert (bad.retries, bad.redispatches, bad.conn_errors) == (retries, 0, 1)
        assert state.counters.servers[("app", "good")].total_sessions == 0
        nursery.cancel_scope.cancel()


async def test_all_servers_down_closes_the_client(tmp_path: Path) -> None:
    fe = free_port()
    with refusing_ports(2) as [port1, port2]:
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    retries 1\n    option redispatch\n"
            f"    timeout connect 50ms\n"
            f"    server s1 127.0.0.1:{port1}\n    server s2 127.0.0.1:{port2}\n"
        )
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                stream = await connect(fe)
                assert await read_to_eof(stream) == b""
                await stream.aclose()
                await _until(lambda: state.counters.frontends["app"].cur_sessions == 0)
    back = state.counters.backends["app"]
    assert back.conn_errors == 1
    assert back.retries == 1
    assert state.global_limit.current == 0


async def test_a_client_that_sent_bytes_gets_a_clean_close_when_no_server_answers(
    tmp_path: Path,
) -> None:
    """HAProxy closes such a client with a FIN; unread bytes would have made ours an RST."""
    fe = free_port()
    with refusing_ports() as [refused]:
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    retries 0\n"
            f"    server s1 127.0.0.1:{refused}\n"
        )
        async with running(tmp_path, text):
            with trio.fail_after(5):
                stream = await connect(fe)
                await stream.send_all(b"GET / HTTP/1.0\r\n\r\n")
                assert await stream.receive_some(100) == b""  # EOF, not a reset
                await stream.aclose()


# -- queues and limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("balance", ["roundrobin", "source"])
async def test_server_maxconn_queues_fifo(tmp_path: Path, balance: str) -> None:
    """roundrobin waits in the backend queue, source (a designated server) in the server's."""
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        text = single_backend(port, fe, server_opts="maxconn 1", extra=f"    balance {balance}\n")
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                first = await connect(fe)
                await first.send_all(b"1")
                assert await receive_exactly(first, 1) == b"1"
                second = await connect(fe)
                await second.send_all(b"2")
                await trio.sleep(0.1)  # queued before the third
                third = await connect(fe)
                await third.send_all(b"3")
                assert await gets_nothing(second)
                counters = state.counters.backends["be"]
                if balance == "source":
                    counters = state.counters.servers[("be", "s1")]
                assert counters.queue_cur == 2
                await first.aclose()
                assert await receive_exactly(second, 1) == b"2"
                assert await gets_nothing(third, 0.2)
                await second.aclose()
                assert await receive_exactly(third, 1) == b"3"
                await third.aclose()
            assert counters.queue_max == 2
            assert counters.queue_cur == 0
        nursery.cancel_scope.cancel()


async def test_timeout_queue_closes_the_waiting_client(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        text = single_backend(port, fe, server_opts="maxconn 1", extra="    timeout queue 300ms\n")
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                first = await connect(fe)
                await first.send_all(b"1")
                assert await receive_exactly(first, 1) == b"1"
                waiting = await connect(fe)
                await waiting.send_all(b"2")
                began = trio.current_time()
                assert await read_to_eof(waiting) == b""
                assert 0.2 < trio.current_time() - began < 2
                back = state.counters.backends["be"]
                assert (back.queue_timeouts, back.queue_cur, back.queue_max) == (1, 0, 1)
                # The first session is unaffected.
                await first.send_all(b"again")
                assert await receive_exactly(first, 5) == b"again"
                await first.aclose()
                await waiting.aclose()
        nursery.cancel_scope.cancel()


LIMITS = {
    "frontend": ("default_backend be", "default_backend be\n    maxconn 1"),
    "bind": ("bind 127.0.0.1:{fe}", "bind 127.0.0.1:{fe} maxconn 1"),
    "global": ("maxconn 200", "maxconn 1"),
}


@pytest.mark.parametrize("where", list(LIMITS))
async def test_maxconn_pauses_accepting(tmp_path: Path, where: str) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        echo = EchoServer()
        port = await echo.start_tcp(nursery)
        old, new = (part.format(fe=fe) for part in LIMITS[where])
        text = single_backend(port, fe).replace(old, new, 1)
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                first = await connect(fe)
                await first.send_all(b"1")
                assert await receive_exactly(first, 1) == b"1"
                # The kernel completes the handshake (backlog), but nobody accepts it yet.
                second = await connect(fe)
                await second.send_all(b"2")
                assert await gets_nothing(second)
                assert echo.accepted == 1
                assert state.counters.frontends["fe"].total_sessions == 1
                await first.aclose()
                assert await receive_exactly(second, 1) == b"2"
                await second.aclose()
            assert state.counters.frontends["fe"].max_sessions == 1
        nursery.cancel_scope.cancel()


# -- server addresses ------------------------------------------------------------------------------


async def test_unix_socket_server(tmp_path: Path) -> None:
    fe = free_port()
    path = str(tmp_path / "echo.sock")
    async with trio.open_nursery() as nursery:
        await EchoServer().start_unix(nursery, path)
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    server u1 unix@{path}\n"
            f"    server u2 {path}\n"
        )
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                assert await exchange(fe, b"over unix") == b"over unix"
                assert await exchange(fe, b"again") == b"again"
            assert state.counters.servers[("app", "u1")].total_sessions == 1
            assert state.counters.servers[("app", "u2")].total_sessions == 1
        nursery.cancel_scope.cancel()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_server(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery, host="::1")
        text = config_text(f"listen app\n    bind 127.0.0.1:{fe}\n    server v6 [::1]:{port}\n")
        async with running(tmp_path, text):
            with trio.fail_after(5):
                assert await exchange(fe, b"six") == b"six"
        nursery.cancel_scope.cancel()


async def test_server_without_port_follows_the_destination_port(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        # Same port as the frontend, on another loopback address.
        try:
            await EchoServer("same-port", greet=True).start_tcp(nursery, host="127.0.0.2", port=fe)
        except OSError:
            pytest.skip("127.0.0.2 is not usable here")
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    server s1 127.0.0.2\n"
            f"    server s2 127.0.0.2:+0\n"
        )
        async with running(tmp_path, text):
            with trio.fail_after(5):
                assert await exchange(fe, b"p") == b"same-port\np"
                assert await exchange(fe, b"q") == b"same-port\nq"
        nursery.cancel_scope.cancel()


async def test_hostname_server_and_init_addr_none(tmp_path: Path) -> None:
    fe = free_port()
    # Where the system resolver sends "localhost" first (127.0.0.1 or ::1).
    first = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][4][0]
    async with trio.open_nursery() as nursery:
        port = await EchoServer("named", greet=True).start_tcp(nursery, host=first)
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n"
            f"    server gone nowhere.invalid:{port} init-addr none\n"
            f"    server named localhost:{port}\n"
        )
        async with running(tmp_path, text) as state:
            with trio.fail_after(5):
                for _ in range(3):
                    assert await exchange(fe, b"n") == b"named\nn"
            assert state.counters.servers[("app", "gone")].total_sessions == 0
        nursery.cancel_scope.cancel()


# -- descriptors -----------------------------------------------------------------------------------


async def test_a_thousand_connections_leave_no_fd_behind(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        async with running(tmp_path, single_backend(port, fe)) as state:
            with trio.fail_after(20):
                # Warm up: the pipe pool keeps the few pipes a burst used for the next one.
                for _ in range(5):
                    assert await exchange(fe, b"w") == b"w"
                await _until(lambda: state.global_limit.current == 0)
                before = open_fds()
                for _ in range(1000):
                    assert await exchange(fe, b"x") == b"x"
                await _until(lambda: state.global_limit.current == 0)
                await _until(lambda: open_fds() == before, timeout=2)
            assert state.counters.frontends["fe"].total_sessions == 1005
            assert state.pipes is not None and state.pipes.in_use == 0
        nursery.cancel_scope.cancel()


# -- signals ---------------------------------------------------------------------------------------


class Served:
    """serve() run as a task whose return value is kept (the `running` helper cancels it)."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        config = load(tmp_path, text)
        self.listeners = bind_all(listener_specs(config))
        self.start = WorkerStart(
            config,
            tuple(item.spec for item in self.listeners),
            tuple(item.sock.fileno() for item in self.listeners),
            {},
        )
        self.out = io.StringIO()
        self.returned: list[int] = []

    async def run(self, task_status: trio.TaskStatus[WorkerState]) -> None:
        sockets = [item.sock for item in self.listeners]
        reporter = Reporter(stream=self.out)
        status = await serve(
            self.start, sockets, reporter=reporter, isolation=False, task_status=task_status
        )
        self.returned.append(status)


async def _open_session(port: int) -> trio.SocketStream:
    stream = await connect(port)
    await stream.send_all(b"a")
    assert await receive_exactly(stream, 1) == b"a"
    return stream


async def test_sigusr1_soft_stop_lets_sessions_finish(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        served = Served(tmp_path, single_backend(port, fe))
        with trio.fail_after(5):
            await nursery.start(served.run)
            stream = await _open_session(fe)
            os.kill(os.getpid(), signal.SIGUSR1)
            await _until(lambda: "Proxy fe stopped" in served.out.getvalue())
            with pytest.raises(OSError):
                await connect(fe)  # the listener is closed
            await stream.send_all(b"b")  # the session goes on
            assert await receive_exactly(stream, 1) == b"b"
            os.kill(os.getpid(), signal.SIGUSR1)  # a repeated signal changes nothing
            assert await gets_nothing(stream, 0.1)
            assert not served.returned
            await stream.aclose()
            await _until(lambda: served.returned == [0])
        lines = served.out.getvalue()
        assert "Proxy fe stopped (cumulated conns: FE: 1, BE: 0)." in lines
        assert "Proxy be stopped (cumulated conns: FE: 0, BE: 1)." in lines
        assert lines.index("Proxy fe") < lines.index("Proxy be")
        nursery.cancel_scope.cancel()


async def test_hard_stop_after_bounds_a_soft_stop(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        text = single_backend(port, fe).replace(
            "maxconn 200", "maxconn 200\n    hard-stop-after 300ms"
        )
        served = Served(tmp_path, text)
        with trio.fail_after(5):
            await nursery.start(served.run)
            stream = await _open_session(fe)
            began = trio.current_time()
            os.kill(os.getpid(), signal.SIGUSR1)
            await _until(lambda: served.returned == [0])
            assert 0.2 < trio.current_time() - began < 2
            assert await read_to_eof(stream) == b""
            await stream.aclose()
        lines = served.out.getvalue()
        assert "soft-stop running for too long, performing a hard-stop." in lines
        assert "Proxy fe hard-stopped (1 remaining conns will be closed)." in lines
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_sigterm_and_sigint_stop_everything_at_once(tmp_path: Path, signum: int) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        served = Served(tmp_path, single_backend(port, fe))
        with trio.fail_after(5):
            await nursery.start(served.run)
            stream = await _open_session(fe)
            os.kill(os.getpid(), signum)
            await _until(lambda: served.returned == [128 + signum])
            assert await read_to_eof(stream) == b""  # the session was closed too
            await stream.aclose()
            assert all(item.sock.fileno() == -1 for item in served.listeners)
        nursery.cancel_scope.cancel()


# -- SIGTTOU / SIGTTIN ----------------------------------------------------------------------------


async def test_sigttou_releases_tcp_ports_and_sigttin_takes_them_back(tmp_path: Path) -> None:
    fe, other = free_port(), free_port()
    path = str(tmp_path / "fe.sock")
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        text = config_text(
            f"listen app\n    bind 127.0.0.1:{fe}\n    server s1 127.0.0.1:{port}\n"
            f"frontend fe\n    bind 127.0.0.1:{other}\n    bind unix@{path}\n"
            f"    default_backend be\nbackend be\n    server s1 127.0.0.1:{port}\n"
        )
        served = Served(tmp_path, text)
        with trio.fail_after(5):
            await nursery.start(served.run)
            stream = await _open_session(fe)  # accepted before the pause: it goes on
            os.kill(os.getpid(), signal.SIGTTOU)
            await _until(lambda: "Paused frontend fe." in served.out.getvalue())
            assert "Paused proxy app." in served.out.getvalue()
            for port_paused in (fe, other):
                with pytest.raises(OSError):
                    await connect(port_paused)
                with socket.socket() as probe:  # another process may take the port over
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind(("127.0.0.1", port_paused))
                    probe.listen(1)
            # A UNIX listener stays bound: a connection waits in its backlog, unanswered.
            waiting = await trio.open_unix_socket(path)
            await waiting.send_all(b"u")
            assert await gets_nothing(waiting, 0.2)
            await stream.send_all(b"b")
            assert await receive_exactly(stream, 1) == b"b"
            os.kill(os.getpid(), signal.SIGTTIN)
            await _until(lambda: "Resumed frontend fe." in served.out.getvalue())
            assert "Resumed proxy app." in served.out.getvalue()
            assert await exchange(fe) == b"ping"
            assert await exchange(other) == b"ping"
            assert await receive_exactly(waiting, 1) == b"u"  # accepted once resumed
            await waiting.aclose()
            await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_port_taken_while_paused_is_reported_and_retried(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        served = Served(tmp_path, single_backend(port, fe))
        with trio.fail_after(5):
            await nursery.start(served.run)
            os.kill(os.getpid(), signal.SIGTTOU)
            await _until(lambda: "Paused frontend fe." in served.out.getvalue())
            squatter = socket.socket()
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", fe))
            squatter.listen(1)
            os.kill(os.getpid(), signal.SIGTTIN)
            busy = f"Port {fe} busy while trying to enable frontend fe."
            await _until(lambda: busy in served.out.getvalue())
            assert "Resumed" not in served.out.getvalue()
            squatter.close()
            os.kill(os.getpid(), signal.SIGTTIN)
            await _until(lambda: "Resumed frontend fe." in served.out.getvalue())
            assert await exchange(fe) == b"ping"
        nursery.cancel_scope.cancel()


async def test_a_paused_worker_still_stops_softly(tmp_path: Path) -> None:
    fe = free_port()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        served = Served(tmp_path, single_backend(port, fe))
        with trio.fail_after(5):
            await nursery.start(served.run)
            os.kill(os.getpid(), signal.SIGTTOU)
            await _until(lambda: "Paused frontend fe." in served.out.getvalue())
            os.kill(os.getpid(), signal.SIGUSR1)
            await _until(lambda: served.returned == [0])
        nursery.cancel_scope.cancel()


async def test_a_bug_in_one_session_closes_it_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in a session (a bug) must not cancel the listener's nursery:
    that connection is closed, the alert names it, and the next connection is served."""
    import worker.session as session_module

    real_forward = session_module._forward
    calls = 0

    async def first_one_fails(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("seeded bug")
        await real_forward(*args, **kwargs)

    monkeypatch.setattr(session_module, "_forward", first_one_fails)
    fe = free_port()
    output = io.StringIO()
    async with trio.open_nursery() as nursery:
        port = await EchoServer().start_tcp(nursery)
        async with running(tmp_path, single_backend(port, fe), reporter=Reporter(stream=output)):
            with trio.fail_after(10):
                broken = await connect(fe)
                async with broken:
                    assert await read_to_eof(broken) == b""  # closed, unanswered
                assert await exchange(fe, b"still here") == b"still here"
        nursery.cancel_scope.cancel()
    text = output.getvalue()
    assert "internal error while serving a connection from 127.0.0.1:" in text
    assert "frontend 'fe': RuntimeError: seeded bug" in text
