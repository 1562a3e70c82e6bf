"""The events of the HTTP/1 core, its two sentinels and its two exceptions.

Value types only: nothing here parses or serialises. Headers are lists of (name, value) byte
pairs in wire order with the sender's case, because HAProxy forwards them in order and the
`h1-case-adjust` family needs the original spelling. Events are mutable slotted dataclasses: the
worker edits a Request's headers (http-request rules, forwardfor) before sending it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Request:
    """A request head. `version` is b"1.0" or b"1.1" (any single digit pair on the wire)."""

    method: bytes
    target: bytes
    version: bytes = b"1.1"
    headers: Headers = field(default_factory=list)
    # Set by the parser: the client sent `Expect: 100-continue` (the caller decides to answer 100).
    expects_continue: bool = False


@dataclass(slots=True)
class Response:
    """A response head; 1xx statuses are interim responses (101 switches to tunnel mode)."""

    status: int
    reason: bytes = b""
    version: bytes = b"1.1"
    headers: Headers = field(default_factory=list)

    @property
    def is_informational(self) -> bool:
        return self.status < 200


@dataclass(slots=True)
class Data:
    """A piece of body, already de-chunked."""

    data: bytes


@dataclass(slots=True)
class EndOfMessage:
    """The body is complete. `trailers` are the chunked trailer fields (empty otherwise)."""

    trailers: Headers = field(default_factory=list)


@dataclass(slots=True)
class ConnectionClosed:
    """The peer closed its sending side at a message boundary (a clean end)."""


Event = Request | Response | Data | EndOfMessage | ConnectionClosed


class Sentinel:
    """A marker `next_event` returns when it has no event: see NEED_DATA and PAUSED."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# More bytes are needed before the next event can be produced.
NEED_DATA = Sentinel("NEED_DATA")
# The peer's message is complete and nothing more is parsed until our side has finished its
# message and `start_next_cycle()` is called; also returned in tunnel mode (read
# `trailing_data` instead).
PAUSED = Sentinel("PAUSED")


class H1Error(Exception):
    """The peer sent something HAProxy 2.6 would refuse.

    `status` is what HAProxy answers (400 for a request, 502 for a response, 422 for a request
    transfer-coding it cannot process), `reason` a short text for logs, `offset` the position
    of the offending byte counted from the start of the message (what `show errors` reports).
    """

    def __init__(self, status: int, reason: str, offset: int = 0) -> None:
        super().__init__(f"{status}: {reason} (at byte {offset})")
        self.status = status
        self.reason = reason
        self.offset = offset


class H1UsageError(RuntimeError):
    """The caller did something the protocol state does not allow (our bug, not the peer's)."""
