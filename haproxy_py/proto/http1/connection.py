"""The two sides of an HTTP/1 connection as sans-IO state machines.

`FrontendConnection` faces a client (it parses requests and serialises responses);
`BackendConnection` faces a server (it serialises requests and parses responses). Both take
bytes with `receive_data` (b"" means the peer closed), give events with `next_event`, and turn
the events we send into bytes with `send`. Rules:
- one exchange at a time: after the peer's message ends, `next_event` returns PAUSED until our
  message has ended too and `start_next_cycle()` is called, so pipelined requests come one by
  one while the bytes of the next wait in the buffer;
- every message ends with an EndOfMessage, also when it has no body;
- keep-alive is the peer's wish (version and Connection tokens) AND the framing (TE+CL or a
  close-delimited response forces close) AND ours (`disable_keep_alive()`, for httpclose and
  server-close); `keep_alive` says whether the cycle may restart;
- 101 and a 2xx answer to CONNECT put both directions in TUNNEL: nothing more is parsed and
  the bytes are read raw through `trailing_data` / `take_trailing_data()`;
- a parse error raises H1Error once and leaves the connection in ERROR: it must be closed;
- `BackendConnection.read_held_body()` reads, right after a response head, the body bytes
  held with it (HAProxy parses a whole buffer before it looks at the head): a body error
  there is found while nothing of the response went out, and is answered 502.
"""

from __future__ import annotations

from haproxy_py.proto.http1.body import BodyWriter, make_reader
from haproxy_py.proto.http1.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    H1Error,
    H1UsageError,
    Request,
    Response,
    Sentinel,
)
from haproxy_py.proto.http1.framing import (
    NO_BODY,
    TUNNEL,
    Framing,
    outgoing_framing,
    request_framing,
    response_framing,
    wants_upgrade,
)
from haproxy_py.proto.http1.head import (
    DEFAULT_LIMITS,
    H1Limits,
    find_head_end,
    parse_request_head,
    parse_response_head,
    skip_empty_lines,
)
from haproxy_py.proto.http1.headers import (
    lower_names,
    serialize_request_head,
    serialize_response_head,
)
from haproxy_py.proto.http1.plain import (
    CLOSE_LINE,
    KEEP_ALIVE_LINE,
    plain_request,
    plain_response,
)

# tune.maxrewrite: a buffer (tune.bufsize) is the head limit plus this reserve.
MAXREWRITE = 1024

# States, for each direction.
IDLE = "IDLE"  # waiting for a head
BODY = "BODY"  # head seen (or sent), body in progress
DONE = "DONE"  # message complete
TUNNEL_STATE = "TUNNEL"  # protocol switched: raw bytes
CLOSED = "CLOSED"  # the peer closed at a message boundary (theirs) / we said so (ours)
ERROR = "ERROR"


class _Connection:
    """What both sides share: the receive buffer, the cycle, the body writer and readers."""

    _error_status = 400

    def __init__(self, limits: H1Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.their_state = IDLE
        self.our_state = IDLE
        self._buf: bytes | bytearray = bytearray()  # bytes: the peer's, while unsplit
        self._pos = 0
        self._search_from = 0
        self._eof = False
        self._reader = make_reader(NO_BODY, 0, 400, 0, limits)
        self._head_size = 0  # of the message being read (read_held_body's window)
        self._writer = BodyWriter(NO_BODY, 0)
        self._their_keep_alive = True
        self._our_keep_alive = True
        self._close_wanted = False
        self._method = b""  # the current exchange's request method
        self._request_version = b"1.1"
        self._upgrade_asked = False
        self.exchanges = 0  # completed cycles, for logs and tests

    def held(self) -> tuple[bytes, int]:
        """A copy of the bytes held and how far they were parsed: `show errors`' capture of a
        refused message (worker/error_captures.py), taken only after an error."""
        return bytes(self._buf), self._pos

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means it closed its side."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise H1UsageError("data received after end of file")
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            # Everything was read: keep the peer's bytes object as it is, so that a head or a
            # body which fills it is handed on without a copy (slicing all of a bytes object
            # gives the object itself).
            self._buf = data if data.__class__ is bytes else bytearray(data)
            self._pos = self._search_from = 0
            return
        if pos or buf.__class__ is bytes:
            self._buf = buf = bytearray(buf[pos:]) if pos else bytearray(buf)
            self._search_from = max(0, self._search_from - pos)
            self._pos = 0
        buf += data

    @property
    def eof_received(self) -> bool:
        return self._eof

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Unparsed bytes (raw tunnel bytes, or what follows a paused message) and EOF."""
        return bytes(self._buf[self._pos :]), self._eof

    def take_trailing_data(self) -> bytes:
        data = bytes(self._buf[self._pos :])
        self._buf = bytearray()
        self._pos = 0
        self._search_from = 0
        return data

    def next_event(self) -> Event | Sentinel:
        """The next event from the peer, NEED_DATA, or PAUSED; raises H1Error on bad input."""
        state = self.their_state
        if state == BODY:
            try:
                event, self._pos = self._reader.read(self._buf, self._pos, self._eof)
            except H1Error:
                self.their_state = ERROR
                raise
            if event.__class__ is EndOfMessage:
                self.their_state = DONE
                if self.our_state == TUNNEL_STATE:
                    self.their_state = TUNNEL_STATE
            return event
        if state == IDLE:
            try:
                return self._next_head()
            except H1Error:
                self.their_state = ERROR
                raise
        if state == CLOSED:
            return ConnectionClosed()
        if state == ERROR:
            raise H1UsageError("the connection had a protocol error and must be closed")
        return PAUSED

    def _take_head(self) -> bytes | None:
        """The next complete head's bytes, or None when more are needed."""
        buf = self._buf
        pos = self._pos = skip_empty_lines(buf, self._pos)
        end = find_head_end(buf, pos, max(pos, self._search_from))
        limit = self.limits.max_head_size
        if end < 0:
            if len(buf) - pos > limit:
                raise H1Error(self._error_status, "head larger than the buffer", limit)
            self._search_from = max(pos, len(buf) - 2)
            return None
        if end - pos > limit:
            raise H1Error(self._error_status, "head larger than the buffer", limit)
        self._pos = end
        self._search_from = end
        return bytes(buf[pos:end])

    def _start_reading(self, framing: Framing, head_size: int) -> None:
        self._reader = make_reader(
            framing.kind, framing.length, self._error_status, head_size, self.limits
        )
        self._head_size = head_size
        self.their_state = BODY

    # -- output --------------------------------------------------------------------------------

    def disable_keep_alive(self) -> None:
        """Close after the current exchange (httpclose, server-close, soft stop)."""
        self._close_wanted = True

    @property
    def keep_alive(self) -> bool:
        return self._their_keep_alive and self._our_keep_alive and not self._close_wanted

    def _send_body(self, event: Event) -> bytes:
        if self.our_state != BODY:
            raise H1UsageError(f"cannot send {type(event).__name__} in state {self.our_state}")
        if isinstance(event, Data):
            return self._writer.data(event.data)
        if isinstance(event, EndOfMessage):
            data = self._writer.end(event.trailers)
            self.our_state = DONE
            return data
        raise H1UsageError(f"cannot send {type(event).__name__} in state {self.our_state}")

    def _switch_to_tunnel(self) -> None:
        self.our_state = TUNNEL_STATE
        if self.their_state in (DONE, IDLE):
            self.their_state = TUNNEL_STATE
        self._our_keep_alive = False

    def start_next_cycle(self) -> None:
        """After both messages ended on a keep-alive connection: accept the next exchange."""
        if self.their_state != DONE or self.our_state != DONE:
            raise H1UsageError(f"exchange not finished ({self.their_state}/{self.our_state})")
        if not (self._their_keep_alive and self._our_keep_alive) or self._close_wanted:
            raise H1UsageError("this connection cannot be kept alive")  # (not keep_alive)
        self.their_state = self.our_state = IDLE
        self._their_keep_alive = self._our_keep_alive = True
        self._method = b""
        self._upgrade_asked = False
        self.exchanges += 1

    @property
    def idle_and_empty(self) -> bool:
        """Waiting for the next message with nothing buffered: where the plain path starts."""
        return (
            self.their_state == IDLE
            and self.our_state == IDLE
            and self._pos >= len(self._buf)
            and not self._eof
        )

    @property
    def head_complete(self) -> bool:
        """A whole head is buffered, or the buffer is already over the head size limit."""
        buf = self._buf
        pos = skip_empty_lines(buf, self._pos)
        return len(buf) - pos > self.limits.max_head_size or find_head_end(buf, pos, pos) >= 0


class FrontendConnection(_Connection):
    """Faces a client: requests in, responses out."""

    _error_status = 400

    def _next_head(self) -> Event | Sentinel:
        head = self._take_head()
        if head is None:
            if self._eof:
                if self._pos == len(self._buf):
                    self.their_state = CLOSED
                    return ConnectionClosed()
                raise H1Error(400, "connection closed inside the request head", 0)
            return NEED_DATA
        request, info = parse_request_head(head, self.limits)
        framing = request_framing(request, info)
        self._method = request.method
        self._request_version = request.version
        self._upgrade_asked = bool(info.upgrade) and wants_upgrade(request.headers)
        self._their_keep_alive = framing.keep_alive
        self._start_reading(framing, len(head))
        return request

    def take_plain_request(self) -> tuple[bytes, bytes] | None:
        """The buffer when it is exactly one plain request (plain.py): (its method, the bytes
        to forward); else None.

        On success the state is what next_event() giving its Request and EndOfMessage leaves,
        and the buffer is consumed. On None nothing changed and next_event() parses the
        buffer as usual.
        """
        buf = self._buf
        if self.their_state != IDLE or self._pos or buf.__class__ is not bytes:
            return None
        found = plain_request(buf, self.limits)  # type: ignore[arg-type]
        if found is None:
            return None
        method, wire, keep_alive, version = found
        self._pos = self._search_from = len(buf)
        self._method = method
        self._request_version = version
        self._upgrade_asked = False
        self._their_keep_alive = keep_alive
        self.their_state = DONE
        return method, wire

    def send(self, event: Event) -> bytes:
        """Bytes for one event of our response."""
        if isinstance(event, Response):
            return self._send_response(event)
        if isinstance(event, ConnectionClosed):
            self.our_state = CLOSED
            return b""
        return self._send_body(event)

    def _send_response(self, response: Response) -> bytes:
        if self.our_state != IDLE or self.their_state in (IDLE, CLOSED):
            raise H1UsageError(f"cannot send a response in state {self.our_state}")
        lnames = lower_names(response.headers)
        framing = outgoing_framing(response.headers, response, self._method, lnames)
        if framing.kind == TUNNEL:
            if response.status == 101 and not self._upgrade_asked:
                raise H1UsageError("101 to a request that did not ask for an upgrade")
            self._switch_to_tunnel()
            return serialize_response_head(response, None)
        if response.status < 200:
            return serialize_response_head(response, None)
        self._our_keep_alive = framing.keep_alive
        data = serialize_response_head(response, self.keep_alive, self._request_version, lnames)
        self._writer = BodyWriter(framing.kind, framing.length)
        self.our_state = BODY
        return data


class BackendConnection(_Connection):
    """Faces a server: requests out, responses in."""

    _error_status = 502

    def send(self, event: Event) -> bytes:
        """Bytes for one event of our request."""
        if isinstance(event, Request):
            if self.our_state != IDLE:
                raise H1UsageError(f"cannot send a request in state {self.our_state}")
            lnames = lower_names(event.headers)
            framing = outgoing_framing(event.headers, None, event.method, lnames)
            self._method = event.method
            self._upgrade_asked = wants_upgrade(event.headers, lnames)
            self._writer = BodyWriter(framing.kind, framing.length)
            self.our_state = BODY
            return serialize_request_head(event, not self._close_wanted, lnames)
        if isinstance(event, ConnectionClosed):
            self.our_state = CLOSED
            return b""
        return self._send_body(event)

    def sent_plain_request(self, method: bytes) -> None:
        """A plain request (FrontendConnection.take_plain_request) went out as it came: the
        state send(Request) and send(EndOfMessage) leave."""
        if self.our_state != IDLE:
            raise H1UsageError(f"cannot send a request in state {self.our_state}")
        if self._close_wanted:
            raise H1UsageError("a plain request is sent on keep-alive connections only")
        self._method = method
        self._upgrade_asked = False
        self.our_state = DONE

    def read_held_body(self) -> list[Event]:
        """The body events the bytes already held give, read now; call it right after
        next_event() gave a final response head, before acting on that head.

        HAProxy 2.6 turns all of a buffer it received into its internal message before its
        stream looks at the head, so a body error in the same buffer as the head makes the
        whole response invalid (502, nothing forwarded), while one in a later read cuts a
        response already under way. The window is that buffer: the message's first
        tune.bufsize bytes (head limit + tune.maxrewrite); a Data event may run past it, as
        the chunk it reads can. Raises H1Error as next_event() does (the state is then
        ERROR); stops at NEED_DATA or the EndOfMessage, which it includes.
        """
        events: list[Event] = []
        if self.their_state != BODY:
            return events
        window = self._pos + self.limits.max_head_size + MAXREWRITE - self._head_size
        while self._pos < window:
            event = self.next_event()
            if event is NEED_DATA:
                break
            events.append(event)  # type: ignore[arg-type]
            if event.__class__ is EndOfMessage:
                break
        return events

    def _next_head(self) -> Event | Sentinel:
        if self.our_state == IDLE:
            if self._pos < len(self._buf):
                raise H1Error(502, "data from the server before any request", 0)
            if self._eof:
                self.their_state = CLOSED
                return ConnectionClosed()
            return NEED_DATA
        head = self._take_head()
        if head is None:
            if self._eof:
                raise H1Error(502, "connection closed inside the response head", 0)
            return NEED_DATA
        response, info = parse_response_head(head, self.limits)
        framing = response_framing(response, info, self._method)
        if framing.kind == TUNNEL:
            if response.status == 101 and not self._upgrade_asked:
                raise H1Error(502, "101 to a request that did not ask for an upgrade", 0)
            self._switch_to_tunnel()
            self.their_state = TUNNEL_STATE
            return response
        if response.status < 200:
            return response  # interim: the final response follows
        self._their_keep_alive = framing.keep_alive
        self._start_reading(framing, len(head))
        return response


def pass_plain_response(
    back: BackendConnection, front: FrontendConnection
) -> tuple[bytes, int] | None:
    """A whole plain response (plain.py) in `back`'s buffer, as (bytes for `front`, status).

    For an HTTP/1.1 or 1.0 client whose request is read and our answer not begun (with
    `Connection: close` added when a 1.1 `front` closes after it, `Connection: keep-alive`
    when a 1.0 one stays, as send() adds them). On
    success both states are what the event path leaves (the response read on `back`, sent
    whole on `front`); on None nothing changed and the event path goes on with the buffer.
    """
    buf = back._buf
    if (
        back.their_state != IDLE
        or back.our_state != DONE
        or back._pos
        or buf.__class__ is not bytes
        or front.our_state != IDLE
        or front.their_state != DONE
    ):
        return None
    # The line send() would add last: by the client's version and whether it stays.
    stays = front._their_keep_alive and front._our_keep_alive and not front._close_wanted
    version = front._request_version
    if version == b"1.1":
        last = b"" if stays else CLOSE_LINE
    elif version == b"1.0":
        last = KEEP_ALIVE_LINE if stays else b""
    else:
        return None
    found = plain_response(buf, back._method, back.limits, last)  # type: ignore[arg-type]
    if found is None:
        return None
    wire, status, server_keep_alive = found
    back._pos = back._search_from = len(buf)
    back._their_keep_alive = server_keep_alive
    back.their_state = DONE
    front.our_state = DONE  # (a Content-Length or bodiless response: _our_keep_alive stays)
    return wire, status
