"""Master <-> worker messages on their socketpair, sans-IO: framing, kinds, checks.

Owns the wire format of the small control messages (READY, STATUS, SOFT_STOP, routed CLI
sessions...) and how many file descriptors travel beside each one. It never touches a
socket: haproxy_py/process/fdpass.py moves the bytes and descriptors, master/ and worker/
decide what to do with the messages.

Frame: an 8-byte header, `!BBHI` = format version, kind, number of descriptors sent with
the frame (SCM_RIGHTS, on the sendmsg() carrying the frame's first byte), body length; then
the body, a UTF-8 JSON object with exactly the fields of the kind's dataclass. Descriptors
reach the receiver with (or before) the first byte of their frame, so a receiver queues the
descriptors it gets and takes `message.fd_count()` of them for each message it decodes.

Why not pickle: the master stays root while a worker runs, parses hostile traffic and may
be compromised; unpickling runs whatever code the sender chose, so one bad worker would own
the master. JSON into a fixed schema, in a bounded frame, gives a worker nothing more than
the few typed fields it may set. The version byte lets an upgraded master (after a re-exec
into a newer haproxy-py) refuse, by name, frames from workers it no longer understands; bump
FORMAT_VERSION with any change to a kind or its fields.

Rules: bytes in, events out (h11 names: receive_data, next_event, send); buffering bounded
by max_frame; any malformed frame is an IpcError naming what was wrong, after which the
connection is dead (a stream cannot be resynchronised).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

FORMAT_VERSION = 4  # 2: Start carries the stats table and a slot; AdminChange/AdminDone
# 3: AdminChange.maxconn; RuntimeChange/RuntimeApply (maps, addresses, frontend limits)
# 4: SessionsAsk/SessionsPeers (show sess, shutdown session(s) across workers)
HEADER = struct.Struct("!BBHI")
MAX_FRAME = 64 * 1024  # body bytes; the biggest real message is an exit reason
MAX_FDS = 250  # per frame; Linux caps SCM_RIGHTS at 253 descriptors per message

Role = Literal["master", "worker"]


class IpcError(Exception):
    """A malformed or unexpected frame; the connection cannot be used any more."""


@dataclass(frozen=True)
class Message:
    KIND: ClassVar[int] = 0
    SENDER: ClassVar[Role] = "master"
    FDS: ClassVar[int] = 0  # descriptors sent beside the frame

    def fd_count(self) -> int:
        return self.FDS


# -- worker -> master -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ready(Message):
    """The worker has loaded everything, dropped its privileges and accepts connections."""

    KIND: ClassVar[int] = 1
    SENDER: ClassVar[Role] = "worker"
    pid: int


@dataclass(frozen=True)
class Stopping(Message):
    """The worker began a soft stop: listeners closed, finishing its connections."""

    KIND: ClassVar[int] = 2
    SENDER: ClassVar[Role] = "worker"
    pid: int


@dataclass(frozen=True)
class ExitReport(Message):
    """Sent just before the worker exits on its own: its exit code and why (for the logs
    and a failed reload's report)."""

    KIND: ClassVar[int] = 3
    SENDER: ClassVar[Role] = "worker"
    pid: int
    code: int
    reason: str


@dataclass(frozen=True)
class Status(Message):
    """The answer to StatusRequest: what `show proc` shows beside the pid."""

    KIND: ClassVar[int] = 4
    SENDER: ClassVar[Role] = "worker"
    pid: int
    connections: int
    stopping: bool


@dataclass(frozen=True)
class AdminChange(Message):
    """A runtime-API admin change asked through this worker (`disable server`, `set weight`
    ...): the master is the single writer of the table's admin section and answers AdminDone
    with the same `seq`. `set_bits`/`clear_bits` act on the forced admin bits (FMAINT,
    FDRAIN); `weight` is the new user weight when `has_weight`; `maxconn` the server's new
    limit (`set maxconn server`) when `has_maxconn`; `addr` and `port` its new address."""

    KIND: ClassVar[int] = 5
    SENDER: ClassVar[Role] = "worker"
    seq: int
    backend: str
    server: str
    set_bits: int
    clear_bits: int
    has_weight: bool
    weight: int
    has_maxconn: bool = False
    maxconn: int = 0
    addr: str = ""  # the new IP (`set server .. addr`), "" when unchanged
    has_port: bool = False
    port: int = 0


@dataclass(frozen=True)
class RuntimeChange(Message):
    """A runtime-API change that lives in each worker rather than in the stats table (`add
    map`, `del acl`, `set server .. addr`, `set maxconn frontend|global`, `enable|disable
    frontend`), already checked by the asking worker. The master hands it as RuntimeApply to
    every worker of the asker's generation, the asker included, all in one order; keeps it
    for a worker of that generation started later; then answers AdminDone with `seq`."""

    KIND: ClassVar[int] = 6
    SENDER: ClassVar[Role] = "worker"
    seq: int
    command: str


@dataclass(frozen=True)
class SessionsAsk(Message):
    """`show sess` or `shutdown session(s)` asked through this worker: the master answers
    SessionsPeers with the same `seq`, carrying a runtime-API session to each other serving
    worker of the asker's generation (`pid` 0), or to worker `pid` only (a session id holds
    its worker's pid)."""

    KIND: ClassVar[int] = 7
    SENDER: ClassVar[Role] = "worker"
    seq: int
    pid: int


# -- master -> worker -----------------------------------------------------------------------


@dataclass(frozen=True)
class Start(Message):
    """The start hand-off: two descriptors, the memory file holding the WorkerStart (see
    process/handoff.py) and the generation's stats table (process/shm.py); `slot` is the
    worker's counter slot in it (0-based; a respawned worker reuses the dead one's);
    `listeners` listening sockets follow in Listeners frames."""

    KIND: ClassVar[int] = 16
    FDS: ClassVar[int] = 2
    listeners: int
    slot: int


@dataclass(frozen=True)
class Listeners(Message):
    """A batch of listening sockets: WorkerStart.listeners[first : first + count]."""

    KIND: ClassVar[int] = 17
    first: int
    count: int

    def fd_count(self) -> int:
        return self.count


@dataclass(frozen=True)
class CliSession(Message):
    """One descriptor: a fresh socketpair end on which to serve one runtime-API session
    (a master-CLI command routed with @N/@!PID)."""

    KIND: ClassVar[int] = 18
    FDS: ClassVar[int] = 1


@dataclass(frozen=True)
class SoftStop(Message):
    """Stop accepting, finish the connections in flight, then exit (like SIGUSR1)."""

    KIND: ClassVar[int] = 19


@dataclass(frozen=True)
class HardStop(Message):
    """Close everything now and exit (like SIGTERM)."""

    KIND: ClassVar[int] = 20


@dataclass(frozen=True)
class StatusRequest(Message):
    """Ask for a Status."""

    KIND: ClassVar[int] = 21


@dataclass(frozen=True)
class AdminDone(Message):
    """The master wrote (or refused, `error` non-empty) the AdminChange of that `seq`."""

    KIND: ClassVar[int] = 22
    seq: int
    error: str


@dataclass(frozen=True)
class RuntimeApply(Message):
    """Apply this runtime-API change (a RuntimeChange's command) to the worker's state."""

    KIND: ClassVar[int] = 23
    command: str


@dataclass(frozen=True)
class SessionsPeers(Message):
    """`count` descriptors: socketpair ends, each already handed to another worker as a
    CliSession, in @N order; `position` is where the asker's own answer goes among them."""

    KIND: ClassVar[int] = 24
    seq: int
    count: int
    position: int

    def fd_count(self) -> int:
        return self.count


KINDS: dict[int, type[Message]] = {
    cls.KIND: cls
    for cls in (Ready, Stopping, ExitReport, Status, AdminChange, RuntimeChange, Start,
                Listeners, CliSession, SoftStop, HardStop, StatusRequest, AdminDone, RuntimeApply,
                SessionsAsk, SessionsPeers)
}  # fmt: skip
_FIELD_TYPES = {"int": int, "str": str, "bool": bool}
_MAX_INT = 2**63 - 1


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


class _Closed:
    def __repr__(self) -> str:
        return "CLOSED"


NEED_DATA = _NeedData()  # next_event(): no complete frame yet
CLOSED = _Closed()  # next_event(): the peer closed cleanly, between two frames


def _check_fields(cls: type[Message], fields: dict[str, Any]) -> None:
    """The message's fields, present, alone and of their type, or an IpcError."""
    expected = {field.name: field.type for field in dataclasses.fields(cls)}
    if set(fields) != set(expected):
        missing = sorted(set(expected) - set(fields))
        extra = sorted(set(fields) - set(expected))
        raise IpcError(f"{cls.__name__} message: missing fields {missing}, unknown {extra}")
    for name, type_name in expected.items():
        value = fields[name]
        wanted = _FIELD_TYPES[str(type_name)]
        # bool is an int in Python; JSON keeps them apart and so do we.
        if type(value) is not wanted or (wanted is int and not 0 <= value <= _MAX_INT):
            raise IpcError(f"{cls.__name__} message: field '{name}' is not a valid {type_name}")


def encode(message: Message) -> bytes:
    """One frame for `message`."""
    cls = type(message)
    if KINDS.get(cls.KIND) is not cls:
        raise TypeError(f"{cls.__name__} is not an ipc message kind")
    fields = dataclasses.asdict(message)
    _check_fields(cls, fields)
    fds = message.fd_count()
    if not 0 <= fds <= MAX_FDS:
        raise IpcError(f"{cls.__name__} message: {fds} descriptors (at most {MAX_FDS})")
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_FRAME:
        raise IpcError(f"{cls.__name__} message: body of {len(body)} bytes (at most {MAX_FRAME})")
    return HEADER.pack(FORMAT_VERSION, cls.KIND, fds, len(body)) + body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise IpcError("message body repeats a field")
    return fields


def _bad_constant(name: str) -> None:
    raise IpcError(f"message body holds {name}, which is not a JSON number")


def decode_body(kind: int, nfds: int, body: bytes) -> Message:
    """The message of one frame whose header was already read and checked."""
    cls = KINDS[kind]
    try:
        fields = json.loads(
            body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_bad_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise IpcError(f"{cls.__name__} message: body is not a JSON object ({error})") from None
    if not isinstance(fields, dict):
        raise IpcError(f"{cls.__name__} message: body is not a JSON object")
    _check_fields(cls, fields)
    message = cls(**fields)
    if message.fd_count() != nfds:
        raise IpcError(
            f"{cls.__name__} message announces {nfds} descriptors, expected {message.fd_count()}"
        )
    return message


class IpcConnection:
    """One end of a master<->worker channel. `role` is this end's: a master receives only
    the worker's kinds and sends only its own, and the other way round."""

    def __init__(self, role: Role, *, max_frame: int = MAX_FRAME) -> None:
        if role not in ("master", "worker"):
            raise ValueError(f"role must be 'master' or 'worker', not {role!r}")
        self.role = role
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._eof = False
        self._error: IpcError | None = None

    def send(self, message: Message) -> bytes:
        if self.role != message.SENDER:
            raise IpcError(f"the {self.role} cannot send {type(message).__name__}")
        return encode(message)

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; b"" means it closed its end."""
        if not data:
            self._eof = True
        elif self._error is None:
            self._buffer += data

    def next_event(self) -> Message | _NeedData | _Closed:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except IpcError as error:
            self._error = error
            self._buffer.clear()
            raise

    def _next(self) -> Message | _NeedData | _Closed:
        if len(self._buffer) < HEADER.size:
            return self._short()
        version, kind, nfds, length = HEADER.unpack_from(self._buffer)
        if version != FORMAT_VERSION:
            raise IpcError(f"frame of format version {version}, this end speaks {FORMAT_VERSION}")
        cls = KINDS.get(kind)
        if cls is None:
            raise IpcError(f"frame of unknown kind {kind}")
        if self.role == cls.SENDER:
            raise IpcError(f"the {self.role} received {cls.__name__}, which only it may send")
        if length > self.max_frame:
            raise IpcError(f"{cls.__name__} frame of {length} bytes (at most {self.max_frame})")
        if nfds > MAX_FDS:
            raise IpcError(f"{cls.__name__} frame announces {nfds} descriptors (at most {MAX_FDS})")
        end = HEADER.size + length
        if len(self._buffer) < end:
            return self._short()
        body = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return decode_body(kind, nfds, body)

    def _short(self) -> _NeedData | _Closed:
        if not self._eof:
            return NEED_DATA
        if self._buffer:
            raise IpcError(f"peer closed in the middle of a frame ({len(self._buffer)} bytes)")
        return CLOSED
