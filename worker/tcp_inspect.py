"""tcp-response content inspection: the server's first bytes, looked at before the relay.

HAProxy runs a backend's `tcp-response content` rules when the server connection is
established and again each time response data arrives, until a rule decides (accept,
reject, close, silent-drop), the buffer is full, the server ends, or `tcp-response
inspect-delay` expires. Without an inspect-delay they run once, at connect, on an empty
buffer (so a rule on `res.payload` never matches then: checked against haproxy 2.6).

Here the server's bytes are peeked (MSG_PEEK, never consumed) while the client's bytes are
forwarded to the server, since most protocols wait for the client to speak first; once a
verdict is reached the caller starts the ordinary relay (worker/relay.py) on the same
sockets, or ends the session. What was forwarded during inspection is reported so that the
session's byte counts stay whole.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from worker.rule_actions import CLOSE, Wait
from worker.rule_replies import SILENT_DROP, reset_connection

INSPECT_POLL = 0.01  # seconds between two looks once the server has sent something
INSPECT_BUFFER = 16384 - 1024  # a buffer less HAProxy's rewrite reserve
_LINGER_RESET = struct.pack("ii", 1, 0)
ABORTED = object()  # inspect_content(): the inspected peer reset its connection
_SEND_BOUND = 30.0  # seconds a forwarded chunk may wait for the server to read


@dataclass(slots=True)
class ResponseInspection:
    verdict: Any = None  # True accept, False reject, CLOSE, SILENT_DROP, None: no rule matched
    seen: bytes = b""  # the server bytes the rules saw (peeked, still in the socket)
    bytes_in: int = 0  # client -> server bytes forwarded while inspecting
    client_ended: bool = False  # the client sent its FIN meanwhile (passed on to the server)


async def inspect_content(
    sock: socket.socket,
    run: Callable[..., Any],
    ctx: Any,
    delay: float,
    store: Callable[[bytes], None],
) -> Any:
    """Content inspection of what `sock` has received, as HAProxy's analysers do it: the
    rules run at once on an empty buffer (HAProxy's first pass comes before its first read,
    so a set-var of the payload there finds nothing), then each time more data is there,
    while they answer Wait (worker/rules.py's _content_verdict), until they decide or run
    out, or the buffer is full, the peer ends, or `delay` is over (then the rules run a last
    time with every sample final). The bytes are peeked, never consumed; `store` hands them
    to the context. Returns the rules' verdict (None: no rule decided), or ABORTED when the
    peer reset the connection meanwhile."""
    deadline = trio.current_time() + delay
    resume = 0
    first = True
    try:
        while True:
            try:
                if first:
                    first, data, ended = False, b"", False
                else:
                    data = sock.recv(INSPECT_BUFFER, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    ended = not data
            except BlockingIOError:
                data, ended = b"", False
            except OSError:
                return ABORTED  # the peer reset the connection
            now = trio.current_time()
            final = ended or len(data) >= INSPECT_BUFFER or now >= deadline
            ctx.content_final = final
            store(data)
            verdict = run(ctx, resume)
            if not isinstance(verdict, Wait):
                return verdict
            if final:
                return None
            resume = verdict.resume
            if data:  # a peeked socket stays readable: look again a little later
                await trio.sleep(min(INSPECT_POLL, max(0.0, deadline - now)))
            else:
                with trio.move_on_at(deadline):
                    await trio.lowlevel.wait_readable(sock)
    finally:
        ctx.content_final = True  # later fetches (use_backend, logs) see a settled buffer


async def inspect_response(
    rules: Any, ctx: Any, client: socket.socket, server: socket.socket
) -> ResponseInspection:
    """Run `rules.tcp_response` as HAProxy does; the sockets are left open."""
    result = ResponseInspection()
    if rules.response_inspect_delay <= 0:
        ctx.response_buffer = b""  # HAProxy runs them once, at connect, on nothing yet
        result.verdict = rules.tcp_response(ctx)
        return result
    client.setblocking(False)
    server.setblocking(False)

    def store(data: bytes) -> None:
        ctx.response_buffer = result.seen = data

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_forward_request, client, server, result)
        verdict = await inspect_content(
            server, rules.tcp_response, ctx, rules.response_inspect_delay, store
        )
        result.verdict = None if verdict is ABORTED else verdict  # the relay meets the reset
        nursery.cancel_scope.cancel()
    return result


async def _forward_request(
    client: socket.socket, server: socket.socket, result: ResponseInspection
) -> None:
    """Client -> server while the response is inspected (the relay takes over after)."""
    while True:
        await trio.lowlevel.wait_readable(client)
        try:
            data = client.recv(16384)
        except BlockingIOError:
            continue
        except OSError:
            return  # reset: the relay meets the client's error and logs it
        if not data:
            result.client_ended = True
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_WR)
            return
        # Bytes read from the client are never dropped by the end of the inspection; a server
        # that reads nothing for this long loses them (the relay then meets its timeout).
        with trio.CancelScope(shield=True), trio.move_on_after(_SEND_BOUND):
            view = memoryview(data)
            while view:
                try:
                    view = view[server.send(view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(server)
                except OSError:
                    return
        result.bytes_in += len(data)


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER {1,0}), as HAProxy kills a rejected server connection."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


async def end_inspected(
    result: ResponseInspection,
    client: socket.socket,
    server: socket.socket,
    counters: tuple[Any, ...],
    record: Any,
    client_timeout: float | None,
) -> None:
    """A reject, silent-drop or close verdict ends the session here, as HAProxy 2.6 does:
    - reject: the server connection is reset, the client closed (FIN) with nothing sent;
      dresp counts it (frontend, backend, server); logged "PD";
    - silent-drop: the client is dropped without a word (worker/rule_replies.py), the server
      reset; dreq counts it (frontend, backend); logged "PR";
    - close: what the rules saw goes to the client, then both sides close; logged "--"."""
    sent = 0
    if result.verdict is not CLOSE:
        # What the client sent and nobody forwarded yet is read and dropped (a close with
        # unread bytes would be a reset); HAProxy, which had read it, counts it too.
        with contextlib.suppress(OSError):
            result.bytes_in += len(client.recv(65536, socket.MSG_DONTWAIT))
    for side in counters:
        side.bytes_in += result.bytes_in
    if result.verdict is CLOSE:
        sent = await _deliver_and_close(client, server, result.seen, client_timeout)
        for side in counters:
            side.bytes_out += sent
        termination = "--"
    elif result.verdict is SILENT_DROP:
        reset_connection(client)
        reset(server)
        for side in counters[:2]:
            side.denied += 1
        termination = "PR"
    else:
        reset(server)
        for side in counters:
            side.denied_responses += 1
        termination = "PD"
    if record is not None:
        record.termination = termination
        record.bytes_in = result.bytes_in
        # HAProxy counts what it read from the server, forwarded or not
        record.bytes_out = max(sent, len(result.seen))


async def _deliver_and_close(
    client: socket.socket, server: socket.socket, seen: bytes, client_timeout: float | None
) -> int:
    """`close`: the bytes the rules saw go to the client, then both sides end (HAProxy shuts
    the server connection at once; the client gets what was read, then a FIN)."""
    with contextlib.suppress(OSError):
        seen = server.recv(len(seen), socket.MSG_DONTWAIT) if seen else b""
    server.close()
    sent = 0
    with trio.move_on_after(client_timeout or 5.0):
        view = memoryview(seen)
        while view:
            try:
                count = client.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(client)
                continue
            except OSError:
                break
            view = view[count:]
            sent += count
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_WR)
    return sent
