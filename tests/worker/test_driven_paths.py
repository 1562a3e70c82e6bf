"""The HTTP fast path run by the edge poller (worker/driven.py) meets no trio operation.

In-process worker (tests/worker/test_serve.py's `running`) in HTTP mode, a small trio HTTP
server whose answers depend on the path, and clients on keep-alive connections that take the
fast path and every way out of it: partial heads, bodies, chunked and split responses, big
responses (partial sends), servers that close, reset or time out, idle timeouts, queues,
several servers, no server. Each test checks the answers, then that the poller never met a
trio trap (`DRIVE.strays`: each would have been an internal error closing the connection).
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio

from haproxy_py.process.handoff import WorkerStart
from haproxy_py.process.listeners import bind_all, listener_specs
from haproxy_py.report import Reporter
from tests.helpers import free_port
from tests.worker.test_serve import load, refusing_ports
from worker.driven import DRIVE
from worker.serve import serve

pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)

BIG = 3 * 1024 * 1024
MEDIUM = 60000

CONFIG = """\
global
    maxconn 100
defaults
    mode http
    timeout client 5s
    timeout server 400ms
    timeout connect 1s
    timeout http-request 400ms
    timeout http-keep-alive 400ms
    timeout queue 2s
{defaults_extra}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
{backend_extra}
{servers}
"""


class HttpServer:
    """Answers by path: /plain, /chunked, /split (a head in two parts), /big, /closing
    (then closes), /lingering (answers, then closes the idle connection), /slow (past
    timeout server), /drop (closes unanswered), /wait (answers after 0.1 s)."""

    def __init__(self, name: str = "s1") -> None:
        self.name = name
        self.requests = 0
        self.connections = 0
        self.closed = 0  # connections the proxy closed (EOF seen)

    async def handler(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await stream.receive_some(65536)
                buffer = buffer[length:]
                self.requests += 1
                path = head.split(b" ")[1].decode()
                if not await self.answer(stream, path):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed += 1
            await stream.aclose()

    async def answer(self, stream: trio.SocketStream, path: str) -> bool:
        body = f"{self.name}:{path}".encode()
        plain = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        if path == "/chunked":
            await stream.send_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            )
        elif path == "/split":
            await stream.send_all(plain[:20])
            await trio.sleep(0.05)
            await stream.send_all(plain[20:])
        elif path == "/big":
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
            await stream.send_all(b"b" * BIG)
        elif path == "/closing":
            await stream.send_all(plain.replace(b"OK\r\n", b"OK\r\nConnection: close\r\n"))
            return False
        elif path == "/lingering":
            await stream.send_all(plain)
            await trio.sleep(0.05)
            return False
        elif path == "/resetting":  # then resets the idle connection
            await stream.send_all(plain)
            await trio.sleep(0.05)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        elif path == "/medium":  # in one read, more than a small client buffer takes
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % MEDIUM
            await stream.send_all(head + b"m" * MEDIUM)  # (one send: one read at the proxy)
        elif path == "/slow":
            await trio.sleep(1)
            return False
        elif path == "/drop":
            return False
        elif path == "/wait":
            await trio.sleep(0.1)
            await stream.send_all(plain)
        else:
            await stream.send_all(plain)
        return True

    async def start(self, nursery: trio.Nursery) -> int:
        listeners = await nursery.start(partial(trio.serve_tcp, self.handler, 0, host="127.0.0.1"))
        return int(listeners[0].socket.getsockname()[1])


class Client:
    """A keep-alive client reading whole responses (Content-Length or chunked)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def _more(self) -> bool:
        data = await self.stream.receive_some(1 << 20)
        self.buffer += data
        return bool(data)

    async def get(self, path: str, *, pause: float = 0.0, body: bytes = b"") -> tuple[int, bytes]:
        method = b"POST" if body else b"GET"
        request = b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path.encode())
        if body:
            request += b"Content-Length: %d\r\n" % len(body)
        request += b"\r\n" + body
        if pause:  # the head in two parts
            await self.stream.send_all(request[:10])
            await trio.sleep(pause)
            request = request[10:]
        await self.stream.send_all(request)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not await self._more():
                return 0, b""
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            while b"\r\n0\r\n\r\n" not in self.buffer:
                assert await self._more()
            raw, _, self.buffer = self.buffer.partition(b"\r\n0\r\n\r\n")
            return status, raw.split(b"\r\n", 1)[1]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            assert await self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    async def closed(self) -> bool:
        with trio.move_on_after(2):
            while await self._more():
                pass
            return True
        return False


@asynccontextmanager
async def proxy(
    tmp_path: Path,
    servers: list[int],
    *,
    backend_extra: str = "",
    defaults_extra: str = "",
    stderr: io.StringIO | None = None,
    strays: int = 0,
) -> AsyncIterator[int]:
    fe = free_port()
    lines = "\n".join(f"    server s{n + 1} 127.0.0.1:{port}" for n, port in enumerate(servers))
    text = CONFIG.format(
        fe=fe, servers=lines, backend_extra=backend_extra, defaults_extra=defaults_extra
    )
    before = DRIVE.strays
    config = load(tmp_path, text)
    listeners = bind_all(listener_specs(config))
    for listener in listeners:
        # Small send buffers on the accepted sockets (inherited from the listener), so that
        # a response read in one recv can still be sent in part to a client that reads late.
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    start = WorkerStart(
        config,
        tuple(listener.spec for listener in listeners),
        tuple(listener.sock.fileno() for listener in listeners),
        {},
    )
    sockets = [listener.sock for listener in listeners]
    async with trio.open_nursery() as nursery:
        reporter = Reporter(stream=stderr or io.StringIO())
        await nursery.start(partial(serve, start, sockets, reporter=reporter, isolation=False))
        yield fe
        nursery.cancel_scope.cancel()
    assert DRIVE.strays == before + strays, "a trio operation met by the edge poller"


async def _client(port: int) -> Client:
    return Client(await trio.open_tcp_stream("127.0.0.1", port))


async def test_plain_and_every_way_out_of_the_fast_path(tmp_path: Path) -> None:
    server = HttpServer()
    async with trio.open_nursery() as nursery:
        port = await server.start(nursery)
        async with proxy(tmp_path, [port]) as fe:
            client = await _client(fe)
            async with client.stream:
                for _ in range(5):
                    assert await client.get("/plain") == (200, b"s1:/plain")
                assert await client.get("/chunked") == (200, b"s1:/chunked")
                assert await client.get("/plain") == (200, b"s1:/plain")
                assert await client.get("/split") == (200, b"s1:/split")
                assert await client.get("/plain", pause=0.05) == (200, b"s1:/plain")
                assert await client.get("/post", body=b"x" * 100) == (200, b"s1:/post")
                assert await client.get("/plain") == (200, b"s1:/plain")
                # A big answer to a client that reads late: sends left for trio's waits.
                await client.stream.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                await trio.sleep(0.1)
                status, body = await client.response()
                assert (status, len(body)) == (200, BIG)
                assert await client.get("/plain") == (200, b"s1:/plain")
                # The server resets its idle connection: the request is sent again.
                assert await client.get("/resetting") == (200, b"s1:/resetting")
                await trio.sleep(0.1)
                assert await client.get("/plain") == (200, b"s1:/plain")
                # The server closes its idle connection: the next request is sent again.
                assert await client.get("/lingering") == (200, b"s1:/lingering")
                await trio.sleep(0.1)
                assert await client.get("/plain") == (200, b"s1:/plain")
                assert await client.get("/closing") == (200, b"s1:/closing")
                assert await client.get("/plain") == (200, b"s1:/plain")
                assert (await client.get("/drop"))[0] == 502
            client = await _client(fe)
            async with client.stream:
                assert await client.get("/plain") == (200, b"s1:/plain")
                assert (await client.get("/slow"))[0] == 504
            # A client that reads late, through small buffers: the send to it is partial.
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", fe))
            client = Client(trio.SocketStream(sock))
            async with client.stream:
                assert await client.get("/plain") == (200, b"s1:/plain")
                await client.stream.send_all(b"GET /medium HTTP/1.1\r\nHost: x\r\n\r\n")
                await trio.sleep(0.1)
                status, body = await client.response()
                assert (status, len(body)) == (200, MEDIUM)
                assert await client.get("/plain") == (200, b"s1:/plain")
            client = await _client(fe)
            async with client.stream:
                assert await client.get("/plain") == (200, b"s1:/plain")
                assert await client.closed()  # timeout http-keep-alive, on the poller
            client = await _client(fe)
            async with client.stream:
                status, _ = await client.response()  # timeout http-request: 408
                assert status == 408
        nursery.cancel_scope.cancel()


async def test_queues_and_several_servers(tmp_path: Path) -> None:
    one, two = HttpServer("s1"), HttpServer("s2")
    async with trio.open_nursery() as nursery:
        ports = [await one.start(nursery), await two.start(nursery)]
        async with proxy(tmp_path, ports) as fe:  # roundrobin over two
            client = await _client(fe)
            async with client.stream:
                names = {(await client.get("/plain"))[1] for _ in range(6)}
                assert names == {b"s1:/plain", b"s2:/plain"}
        async with proxy(tmp_path, ports, backend_extra="    option prefer-last-server") as fe:
            client = await _client(fe)
            async with client.stream:
                names = {(await client.get("/plain"))[1] for _ in range(6)}
                assert len(names) == 1
        async with proxy(tmp_path, ports[:1], backend_extra="    option abortonclose") as fe:
            client = await _client(fe)
            async with client.stream:
                for _ in range(3):
                    assert await client.get("/plain") == (200, b"s1:/plain")
        text_extra = "    default-server maxconn 1"
        async with proxy(tmp_path, ports[:1], backend_extra=text_extra) as fe:
            answers = []

            async def user() -> None:
                client = await _client(fe)
                async with client.stream:
                    for _ in range(3):
                        answers.append(await client.get("/wait"))

            async with trio.open_nursery() as users:
                for _ in range(3):
                    users.start_soon(user)
            assert answers == [(200, b"s1:/wait")] * 9
        nursery.cancel_scope.cancel()


async def test_no_server_answers_503(tmp_path: Path) -> None:
    with refusing_ports() as (refused,):
        async with proxy(tmp_path, [refused], backend_extra="    retries 0") as fe:
            client = await _client(fe)
            async with client.stream:
                assert (await client.get("/plain"))[0] == 503


async def test_a_hard_stop_closes_parked_keep_alive_connections(tmp_path: Path) -> None:
    server = HttpServer()
    async with trio.open_nursery() as nursery:
        port = await server.start(nursery)
        async with proxy(tmp_path, [port]) as fe:
            client = await _client(fe)
            for _ in range(3):
                assert await client.get("/plain") == (200, b"s1:/plain")
            await trio.sleep(0.05)  # parked on the poller, waiting for its next request
        # The worker was cancelled (a hard stop) with the session parked: both its
        # connections are closed (the session's finally blocks ran in its task).
        async with client.stream:
            assert await client.closed()
        with trio.fail_after(2):
            while server.closed < server.connections:
                await trio.sleep(0.01)
        assert server.connections == 1
        nursery.cancel_scope.cancel()


async def test_a_trio_operation_met_by_the_poller_is_an_alert_for_that_connection_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def missing() -> None:  # a to_trio() forgotten: the bug this guards against
        pass

    monkeypatch.setattr("worker.http_fast.to_trio", missing)
    server = HttpServer()
    stderr = io.StringIO()
    async with trio.open_nursery() as nursery:
        port = await server.start(nursery)
        async with proxy(tmp_path, [port], stderr=stderr, strays=1) as fe:
            other = await _client(fe)
            client = await _client(fe)
            async with client.stream, other.stream:
                assert await other.get("/plain") == (200, b"s1:/plain")
                assert await client.get("/plain") == (200, b"s1:/plain")
                # Driven by the poller, a head in two parts needs trio's wait: a trap.
                assert await client.get("/split") == (0, b"")  # closed, unanswered
                alert = stderr.getvalue()
                assert "[ALERT]" in alert and "InternalError" in alert, alert
                # The poller and the other connections go on.
                for _ in range(3):
                    assert await other.get("/plain") == (200, b"s1:/plain")
                again = await _client(fe)
                async with again.stream:
                    assert await again.get("/plain") == (200, b"s1:/plain")
                    assert await again.get("/plain") == (200, b"s1:/plain")
        nursery.cancel_scope.cancel()
