"""What a proxy does when a server's response turns out invalid: HAProxy 2.6's rule, pure.

The HTTP/1 core raises H1Error on a response that breaks the framing rules (a bad head, a bad
chunk size, a missing line end after chunk data...). What the client then gets depends only on
whether the final response head already went out to it:
- not yet (the error was in the head, or in body bytes read together with the head: see
  `BackendConnection.read_held_body()`): the proxy's 502 page (or its `errorfile 502`), logged
  502 with termination state `PH` (an invalid response refused by the proxy); interim (1xx)
  responses already sent do not count, the 502 follows them;
- already sent: the client connection is cut (status 0 here), the log keeps the status sent
  and says `SD` (the server broke the data phase).
A server that closed inside its message (the core's "closed inside ..." errors) sent nothing
invalid: 502 `SH` before the head, the cut `SD` after. All count `eresp` on the server and
the backend (the caller's job).
"""

from __future__ import annotations

CUT = 0  # no answer: the client connection is closed


def invalid_response(head_sent: bool, closed: bool = False) -> tuple[int, str]:
    """(status to answer, or CUT; termination state) for an invalid server response;
    `closed`: the error is the server closing inside its message."""
    if head_sent:
        return CUT, "SD"
    return 502, "SH" if closed else "PH"


def closed_inside(reason: str) -> bool:
    """The core's H1Error says the peer closed inside its message (nothing invalid came)."""
    return reason.startswith("connection closed inside")
