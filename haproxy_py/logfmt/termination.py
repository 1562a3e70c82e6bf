"""The two-letter termination state of a log line (`%ts`): why the stream ended, and where.

First letter (cause): `C` client abort, `S` server abort or refusal, `P` the proxy (a rule,
a bad request), `R` a resource limit, `I` an internal error, `D` a server going down, `U`
the server going up, `K` killed by an admin, `c` client-side timeout, `s` server-side
timeout, `-` normal. Second letter (step): `R` waiting for the request, `Q` in a queue, `C`
connecting, `H` waiting for the response headers, `D` data phase, `L` last data sent, `T`
tarpit, `-` normal end.
"""

from __future__ import annotations

CAUSES = {
    "-": "normal end",
    "C": "client aborted",
    "S": "server aborted or refused",
    "P": "stopped by the proxy",
    "L": "handled locally",
    "R": "resource exhausted",
    "I": "internal error",
    "D": "server went down",
    "U": "server came up",
    "K": "killed by an admin",
    "c": "client timeout",
    "s": "server timeout",
}
STEPS = {
    "-": "normal",
    "R": "request",
    "Q": "queue",
    "C": "connect",
    "H": "headers",
    "D": "data",
    "L": "last data",
    "T": "tarpit",
}


def termination_state(cause: str, step: str) -> str:
    """The two letters, checked against the tables above (ValueError otherwise)."""
    if cause not in CAUSES or step not in STEPS:
        raise ValueError(f"unknown termination state {cause!r}{step!r}")
    return cause + step
