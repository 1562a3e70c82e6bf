"""The master CLI (`-S ADDR[,mode,M][,user,U][,group,G][,uid,N][,gid,N][,level,L]`): sockets.

Owns parsing the `-S` arguments (HAProxy's words for their errors), binding them like any
listener (haproxy_py/process/listeners.py: UNIX sockets through PATH.PID.tmp and rename), and
the sessions: each connection gets a sans-IO MasterCliConnection (haproxy_py/proto/mcli.py)
and this module does its I/O. Master commands (`reload`, `show proc`, `show version`,
`show startup-logs`) are answered by the Master (master/supervisor.py) through the `Commands`
protocol; a worker command travels to its worker as a fresh socketpair end sent over the
worker's ipc channel (SCM_RIGHTS), and its reply comes back on that pair. Rules: a worker
that does not answer within ROUTE_TIMEOUT gives a clear error, never a hang; a client that
stops reading is dropped after SEND_TIMEOUT; the line length is bounded by the protocol.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import Protocol

import trio

from haproxy_py.config.address import SOCKET_RULES, parse_address
from haproxy_py.config.diagnostics import ConfigError, Where
from haproxy_py.process.listeners import BindError, Listener, ListenerSpec, bind_one
from haproxy_py.proto.mcli import (
    NEED_DATA,
    Answer,
    Close,
    Level,
    MasterCliConnection,
    MasterCommand,
    Output,
    PidTarget,
    RelativeTarget,
    Relayed,
    WorkerCommand,
)

ROUTE_TIMEOUT = 10.0  # seconds a worker has to answer a routed command
SEND_TIMEOUT = 30.0  # seconds a client may leave our answer unread
LINGER_TIME = 2.0  # seconds an erring client's remaining bytes are read before closing
LINGER_BYTES = 16 << 20
MAX_REPLY = 16 << 20  # bytes of a worker's reply passed on (a `show stat` of huge configs)
_LEVELS = {"user": Level.USER, "operator": Level.OPERATOR, "admin": Level.ADMIN}


@dataclass(frozen=True)
class McliBind:
    spec: ListenerSpec
    level: Level


class Commands(Protocol):
    """What a master-CLI session asks of the master."""

    def resolve(self, target: RelativeTarget | PidTarget) -> int | None: ...

    def reload_failed(self) -> bool: ...

    async def master_command(self, command: MasterCommand, client: int | None = None) -> str: ...

    async def open_worker_session(self, pid: int) -> socket.socket | None: ...

    def report_failure(self, text: str) -> None: ...


def parse_master_cli(argument: str) -> McliBind:
    """One `-S` argument; ConfigError in HAProxy's words (the caller adds "Can't create the
    master's CLI.")."""
    address_text, *pairs = argument.split(",")
    address = parse_address(address_text, "master CLI", SOCKET_RULES)
    if len(pairs) % 2:
        raise ConfigError(f"'{address_text} {pairs[-1]}' : missing value.")
    options: dict[str, object] = {}
    level = Level.ADMIN
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        where = f"'{address_text} {key}'"
        if key == "level":
            if value not in _LEVELS:
                raise ConfigError(
                    f"{where} : ''level' only supports 'user', 'operator', and 'admin'"
                    f" (got '{value}')'"
                )
            level = _LEVELS[value]
        elif key == "mode":
            try:
                options["mode"] = int(value, 8)
            except ValueError:
                raise ConfigError(f"{where} : '{value}' is not an octal mode.") from None
        elif key in ("uid", "gid"):
            if not value.isdigit():
                raise ConfigError(f"{where} : '{value}' is not a number.")
            options[key] = int(value)
        elif key in ("user", "group"):
            options[key] = value
        else:
            raise ConfigError(f"{where} : unknown keyword '{key}'.")
    spec = ListenerSpec(
        Where("master-socket", 0),
        "proxy MASTER",
        "MASTER",
        address,
        address.port,
        options,
        10,
    )
    return McliBind(spec, level)


def bind_master_cli(binds: list[McliBind]) -> list[tuple[Listener, Level]]:
    """Bind every master-CLI socket, or none (BindError with every message)."""
    bound: list[tuple[Listener, Level]] = []
    errors: list[str] = []
    for item in binds:
        try:
            bound.append((Listener(item.spec, bind_one(item.spec)), item.level))
        except BindError as exc:
            errors += exc.messages
    if errors:
        for listener, _ in bound:
            listener.sock.close()
        raise BindError(errors)
    return bound


async def serve_master_cli(listener: Listener, level: Level, master: Commands) -> None:
    """Accept connections forever; one task per session."""
    sock = trio.socket.from_stdlib_socket(listener.sock)
    async with trio.open_nursery() as sessions:
        while True:
            try:
                client, _ = await sock.accept()
            except OSError:  # EMFILE and friends: breathe, then go on
                await trio.sleep(0.1)
                continue
            sessions.start_soon(_session, trio.SocketStream(client), level, master)


async def _session(stream: trio.SocketStream, level: Level, master: Commands) -> None:
    """One client; a bug met on its behalf is reported and ends only this session."""
    try:
        await _serve_client(stream, level, master)
    except Exception as exc:  # trio.Cancelled is a BaseException: it goes through
        master.report_failure(f"master CLI session failed: {type(exc).__name__}: {exc}")


async def _serve_client(stream: trio.SocketStream, level: Level, master: Commands) -> None:
    async with stream:
        connection = MasterCliConnection(
            master.resolve, level=level, reload_failed=master.reload_failed()
        )
        # The client left or stopped reading: the session just ends.
        with contextlib.suppress(
            trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError
        ):
            await _converse(stream, connection, master)


async def _converse(
    stream: trio.SocketStream, connection: MasterCliConnection, master: Commands
) -> None:
    while True:
        event = connection.next_event()
        if event is NEED_DATA:
            connection.receive_data(await stream.receive_some(65536))
        elif isinstance(event, Output):
            await _send(stream, event.data)
        elif isinstance(event, MasterCommand):
            text = await master.master_command(event, stream.socket.fileno())
            await _send(stream, connection.send(Answer(text)))
        elif isinstance(event, WorkerCommand):
            reply = await _route(master, event)
            await _send(stream, connection.send(Relayed(reply)))
        elif isinstance(event, Close):
            if event.reason == "error":
                await _linger(stream)
            return


async def _linger(stream: trio.SocketStream) -> None:
    """Before closing on an error, read and drop what the client is still sending (for a
    while): closing with unread bytes would make its next read fail with a reset, and it
    would never see why it was cut off."""
    await stream.send_eof()
    dropped = 0
    with trio.move_on_after(LINGER_TIME):
        while dropped < LINGER_BYTES and (chunk := await stream.receive_some(65536)):
            dropped += len(chunk)


async def _send(stream: trio.SocketStream, data: bytes) -> None:
    if data:
        with trio.fail_after(SEND_TIMEOUT):
            await stream.send_all(data)


async def _route(master: Commands, command: WorkerCommand) -> bytes:
    """Run one command on a worker's runtime API and bring its reply back."""
    ours = await master.open_worker_session(command.pid)
    if ours is None:
        return f"The worker {command.pid} is gone.\n\n".encode()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    reply = bytearray()
    async with stream:
        with trio.move_on_after(ROUTE_TIMEOUT) as waited:
            try:
                await stream.send_all(command.request())
                await stream.send_eof()
                while len(reply) < MAX_REPLY:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    reply += chunk
            except trio.BrokenResourceError:  # the worker died while answering
                return f"The worker {command.pid} is gone.\n\n".encode()
        if waited.cancelled_caught:
            return (
                f"The worker {command.pid} did not answer within {ROUTE_TIMEOUT:g} s.\n\n"
            ).encode()
    return bytes(reply)
