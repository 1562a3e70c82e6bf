"""This worker's `show errors` captures: the last invalid request or response per proxy.

worker/http_session.py calls `capture_error()` where it refuses a message its HTTP/1 core
raised an H1Error on (a bad request head: 400; a bad response: 502); the capture is built and
kept by haproxy_py/runtime_api/errors.py. Only error paths come here: the normal path pays
nothing. The copy is bounded by one buffer (the head limit plus HAProxy's default reserve).

The store is one per worker process, like the session registry (worker/sessions_registry.py):
the sessions that refuse a message do not carry the worker's state. The bytes come from the
core's `held()` (a copy, taken only here, after an error): the core keeps the bytes of the
message in error until its connection is dropped.
"""

from __future__ import annotations

import time

from haproxy_py.proto.http1 import H1Error
from haproxy_py.runtime_api.errors import ErrorCapture, ErrorCaptures, locate, parser_state

CAPTURES = ErrorCaptures()
_RESERVE = 1024  # tune.maxrewrite: what the head limit keeps apart from a buffer


def capture_error(
    conn: object,
    error: H1Error,
    *,
    response: bool,
    proxy: str,
    other: str = "",
    server: str = "",
    peer: object = None,
    in_body: bool = False,
) -> None:
    """Record that `proxy` refused the message `conn` (a Frontend- or BackendConnection)
    was reading. Never raises: a capture must not turn a refusal into a crash."""
    if "closed inside" in error.reason:
        return  # a peer that left mid-message sent nothing invalid (HAProxy keeps no capture)
    event = CAPTURES.next_event()
    try:
        buf, pos = conn.held()  # type: ignore[attr-defined]
        limit = conn.limits.max_head_size + _RESERVE  # type: ignore[attr-defined]
        whole_head = in_body or error.reason != "head larger than the buffer"
        start, index = locate(buf, pos, error.offset, whole_head)
        data = buf[start : start + limit]
        position = min(index - start, len(data))
        CAPTURES.keep(
            ErrorCapture(
                when=time.time(),
                response=response,
                proxy=proxy,
                other=other,
                server=server,
                event=event,
                source=_source(peer),
                data=data,
                position=position,
                state=parser_state(data, position, response, error.reason),
            )
        )
    except (AttributeError, TypeError, ValueError):  # an unexpected connection object
        return


def _source(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "unix" if isinstance(peer, (str, bytes)) else "-"
