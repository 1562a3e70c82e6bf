"""`observe layer4|layer7` with `error-limit` and `on-error`: live traffic as a health signal.

Every worker counts the consecutive errors of an observed server (`Consecutive`): with
`layer4` a failed connection is an error and an established one a success; with `layer7` a
failed connection is an error too, an established one says nothing, each HTTP response
counts by its status (`http_ok`: 5xx is an error, except 501 and 505, which a client's
request causes) and so does a server failing before its response (`failure_kind`: reset,
close, timeout, invalid head; a body cut short is not counted). Reaching `error-limit` is a
trip (counted in the server's `hanafail` slot of that worker's counters, which is how the
server's check owner learns of it, since the trip may happen in any worker). The owner then
applies `on-error` to its rise/fall machine (`prepare`) and, unless the action is only
`fastinter`, records one failed check with the HANA status (`hana_result`), which logs and
transitions as a check failure does; every action makes the next check come after
`fastinter`. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from haproxy_py.checks.health import Health
from haproxy_py.checks.status import HANA, CheckResult

L4_ERROR = "L4 unsuccessful connection"  # HAProxy's words for a failed connection
HTTP_ERROR = "Wrong http response"  # ... and for an HTTP response with an error status
# `layer7` also counts a server's failures before any response, in HAProxy's words:
READ_ERROR = "Read error (http)"  # the connection broke (a reset): answered 502
READ_TIMEOUT = "Read timeout (http)"  # `timeout server` ran out first: answered 504
CLOSED = "Close from server (http)"  # the server closed, the head not (all) there: 502
BAD_HEADERS = "Invalid http response (headers)"  # a head HAProxy refuses: 502


def failure_kind(status: int, cause: str) -> str | None:
    """`observe layer7`: the error a server failure counts as, None when it counts as none.
    `status`: what the client was answered (0: nothing, the response was under way: a
    body cut short, which HAProxy does not count; 503: no connection, counted as a failed
    connection already); `cause`: "reset", "closed" or "invalid" (how it broke)."""
    if status == 504:
        return READ_TIMEOUT
    if status != 502:
        return None
    return {"reset": READ_ERROR, "closed": CLOSED}.get(cause, BAD_HEADERS)


def http_ok(status: int) -> bool:
    """`observe layer7`: a response status that counts as a success."""
    return status >= 100 and (status < 500 or status in (501, 505))


@dataclass(slots=True)
class Consecutive:
    """Consecutive errors of one server in one worker."""

    limit: int
    errors: int = 0

    def outcome(self, ok: bool) -> bool:
        """Count one outcome; True when it completes `limit` errors in a row (then restart)."""
        if ok:
            self.errors = 0
            return False
        self.errors += 1
        if self.errors < self.limit:
            return False
        self.errors = 0
        return True


def prepare(health: Health, action: str) -> bool:
    """Set the machine up for `on-error ACTION`; True when a failed check is to be recorded."""
    if action == "fastinter":
        return False
    if action == "sudden-death" and health.up and health.health > health.rise:
        health.health = health.rise + 1  # pre-fatal: one more failure takes it down
    elif action == "mark-down" and health.up:
        health.health = health.rise  # the failure recorded next takes it down
    return True


def hana_result(errors: int, last: str = L4_ERROR) -> CheckResult:
    info = f"Detected {errors} consecutive errors, last one was: {last}"
    return CheckResult(HANA, info=info, duration_ms=-1)
