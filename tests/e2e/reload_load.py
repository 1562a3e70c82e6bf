"""Load during reloads: an HTTP backend, keep-alive and new-connection clients, a reloader.

Used by the end-to-end reload test (short) and by bench/reload.py (the issue's 30 s proof).
Everything runs in one trio loop in the calling process: a small HTTP/1.1 backend answering
`200 ok` with keep-alive, clients that each send a request, read the whole response and
count it (a keep-alive client reconnects when told `Connection: close`), and a reloader that
alternates two configuration files and asks the master to reload, by USR2 or by the master
CLI's `reload`. A failure is anything but a complete 200 answer to a request sent: a refused
or reset connection, an early EOF, a timeout, another status.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

REQUEST = b"GET /ping HTTP/1.1\r\nHost: lb\r\n\r\n"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
RESPONSE_TIMEOUT = 10.0


@dataclass
class LoadStats:
    sent: int = 0
    answered: int = 0
    connections: int = 0
    failures: list[str] = field(default_factory=list)
    reloads_by_signal: int = 0
    reloads_by_cli: int = 0
    cli_answers: list[str] = field(default_factory=list)


async def serve_backend(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """A keep-alive HTTP backend on a free loopback port (the port goes to task_status)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(_answer_forever, listeners)


async def _answer_forever(stream: trio.SocketStream) -> None:
    buffer = b""
    try:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return
                buffer += chunk
            _, _, buffer = buffer.partition(b"\r\n\r\n")
            await stream.send_all(ANSWER)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


async def _read_response(stream: trio.SocketStream) -> tuple[int, bool]:
    """(status, whether the server will close) of one whole response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} bytes of a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError("connection closed in the middle of a body")
        body += chunk
    return status, headers.get(b"connection") == b"close"


async def _client(port: int, stats: LoadStats, done: trio.Event, keep_alive: bool) -> None:
    stream: trio.SocketStream | None = None
    try:
        while not done.is_set():
            try:
                if stream is None:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    stats.connections += 1
                stats.sent += 1
                with trio.fail_after(RESPONSE_TIMEOUT):
                    await stream.send_all(REQUEST)
                    status, closing = await _read_response(stream)
                if status != 200:
                    stats.failures.append(f"status {status}")
                else:
                    stats.answered += 1
                if closing or not keep_alive:
                    await stream.aclose()
                    stream = None
            except (OSError, EOFError, trio.BrokenResourceError, trio.TooSlowError) as exc:
                stats.failures.append(f"{type(exc).__name__}: {exc}")
                if stream is not None:
                    await stream.aclose()
                    stream = None
                await trio.sleep(0.05)
    finally:
        if stream is not None:
            await stream.aclose()


async def _cli_reload(mcli_path: Path) -> str:
    stream = await trio.open_unix_socket(str(mcli_path))
    async with stream:
        await stream.send_all(b"reload\n")
        await stream.send_eof()
        answer = b""
        with trio.fail_after(60):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    return answer.decode(errors="replace")


async def reload_under_load(
    *,
    port: int,
    master_pid: int,
    mcli_path: Path,
    config_path: Path,
    configs: tuple[str, str],
    duration: float,
    reloads: int,
    wait_ready: Callable[[int], None],
    keep_alive_clients: int = 50,
    new_connection_clients: int = 50,
) -> LoadStats:
    """Run the clients while `reloads` reloads alternate USR2 and the CLI and the two
    configurations, one every duration/(reloads+1) seconds, each waited for (`wait_ready(n)`
    blocks until the n-th "Loading success."); the load lasts `duration` seconds, or until
    one second after the last reload if the reloads take longer."""
    stats = LoadStats()
    began = trio.current_time()
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for number in range(keep_alive_clients + new_connection_clients):
            keep_alive = number < keep_alive_clients
            nursery.start_soon(_client, port, stats, done, keep_alive)
        step = duration / (reloads + 1)
        for number in range(1, reloads + 1):
            await trio.sleep_until(began + number * step)
            config_path.write_text(configs[number % 2])
            if number % 2:
                os.kill(master_pid, signal.SIGUSR2)
                stats.reloads_by_signal += 1
            else:
                stats.cli_answers.append(await _cli_reload(mcli_path))
                stats.reloads_by_cli += 1
            await trio.to_thread.run_sync(wait_ready, number + 1)
        await trio.sleep_until(max(began + duration, trio.current_time() + 1))
        done.set()
    return stats


async def load_while(
    port: int,
    action: Callable[[], None],
    *,
    before: float,
    after: float,
    keep_alive_clients: int = 20,
    new_connection_clients: int = 20,
) -> tuple[LoadStats, int]:
    """Clients run `before` seconds, then `action()` runs (in a thread), then `after` more
    seconds; returns the stats and how many requests had been sent when the action ran."""
    stats = LoadStats()
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for number in range(keep_alive_clients + new_connection_clients):
            nursery.start_soon(_client, port, stats, done, number < keep_alive_clients)
        await trio.sleep(before)
        sent_before = stats.sent
        await trio.to_thread.run_sync(action)
        await trio.sleep(after)
        done.set()
    return stats, sent_before
