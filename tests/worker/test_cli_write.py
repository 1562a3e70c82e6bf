"""worker/cli_write.py and the runtime-API write path of a worker running alone (no master:
it applies its changes itself): maps routing the next request, `set server .. addr` moving
new connections, frontend limits and states, and the wire form of non-UTF-8 commands."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import trio

from haproxy_py.report import Reporter
from haproxy_py.runtime_api.commands import parse_request
from tests.helpers import free_port
from tests.worker.test_serve import running
from worker.cli import run_commands
from worker.cli_write import apply_write, to_wire


def config(tmp_path: Path, port: int, one: int, two: int) -> str:
    (tmp_path / "ports.map").write_text("2 be1\n")
    return f"""\
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[always_true,map_int({tmp_path}/ports.map,be2)] if {{ always_true }}
backend be1
    server one 127.0.0.1:{one}
backend be2
    server two 127.0.0.1:{two}
"""


async def ask(state, line: bytes) -> str:
    return await run_commands(state, parse_request(line), time.time())


async def tag_server(tag: bytes, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """A TCP server that writes its tag to each client and closes."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.send_all(tag)

    await trio.serve_listeners(handle, listeners)


async def fetch(port: int) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        data = b""
        while chunk := await stream.receive_some(100):
            data += chunk
        return data


async def test_writes_alone(tmp_path: Path) -> None:
    port = free_port()
    async with trio.open_nursery() as servers:
        one = await servers.start(tag_server, b"one")
        two = await servers.start(tag_server, b"two")
        three = await servers.start(tag_server, b"three")
        reporter = Reporter(stream=io.StringIO())
        async with running(tmp_path, config(tmp_path, port, one, two), reporter=reporter) as state:
            assert await fetch(port) == b"two"  # always_true is 1, not in the map: default
            assert await ask(state, b"add map #0 1 be1\n") == "\n"
            assert await fetch(port) == b"one"
            assert await ask(state, b"clear map #0\n") == "\n"
            assert await fetch(port) == b"two"
            answer = await ask(state, f"set server be2/two addr 127.0.0.1 port {three}\n".encode())
            assert answer.startswith("no need to change the addr, port changed from")
            assert await fetch(port) == b"three"
            assert await ask(state, b"set maxconn frontend fe 3\n") == "\n"
            assert state.frontends["fe"].limit.maximum == 3
            assert await ask(state, b"set maxconn global 0\n") == "\n"
            assert state.global_limit.maximum == state.fd_plan.maxconn
            assert await ask(state, b"disable frontend fe\n") == "\n"
            assert "Paused frontend fe." in reporter.stream.getvalue()  # type: ignore[attr-defined]
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0  # refused while disabled
            assert await ask(state, b"enable frontend fe\n") == "\n"
            assert await fetch(port) == b"three"
        servers.cancel_scope.cancel()


async def test_non_utf8_keys_travel_as_bytes(tmp_path: Path) -> None:
    port = free_port()
    async with running(tmp_path, config(tmp_path, port, 1, 2)) as state:
        command = b"add map #0 7 v\xfe".decode("utf-8", "surrogateescape")
        wired = to_wire(command)
        wired.encode("utf-8")  # JSON can carry it
        assert apply_write(state, wired) == "\n"
        shown = await ask(state, b"show map #0\n")
        assert shown.encode("utf-8", "surrogateescape").endswith(b" 7 v\xfe\n\n")
        assert await ask(state, b"add map #0 k\xff v\n") == "'k\udcff' is not a number.\n\n"
        assert apply_write(state, "launch rockets") == "Unknown change.\n\n"
