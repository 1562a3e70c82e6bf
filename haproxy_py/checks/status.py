"""A check's outcome: HAProxy's check status codes, their descriptions, and `CheckResult`.

The codes are those `show stat` prints in `check_status` (L4OK, L7STS...); the descriptions
are the words the logs use ("Layer7 wrong status"). A status whose `has_code` is set carries a
numeric code (the HTTP status, 0 for tcp-check) that the logs print as ", code: N". Pure data:
nothing here reads a clock or a socket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Status:
    name: str  # the `show stat` check_status text
    description: str  # what the logs say
    passed: bool = False
    has_code: bool = False  # the logs print ", code: N"


UNK = Status("UNK", "Unknown")
INI = Status("INI", "Initializing")
SOCKERR = Status("SOCKERR", "Socket error")
L4OK = Status("L4OK", "Layer4 check passed", passed=True)
L4TOUT = Status("L4TOUT", "Layer4 timeout")
L4CON = Status("L4CON", "Layer4 connection problem")
L7TOUT = Status("L7TOUT", "Layer7 timeout")
L7RSP = Status("L7RSP", "Layer7 invalid response")
L7OK = Status("L7OK", "Layer7 check passed", passed=True, has_code=True)
L7STS = Status("L7STS", "Layer7 wrong status", has_code=True)
# `http-check disable-on-404`: a 404 from an UP server; it stays UP but leaves the farm (NOLB).
L7OKC = Status("L7OKC", "Layer7 check conditionally passed", passed=True, has_code=True)
HANA = Status("HANA", "Health analyze")  # `observe`: live traffic errors past `error-limit`
CHECKED = Status("CHECKED", "No status change", passed=True)  # an agent reply without a verdict

STATUSES = {
    s.name: s
    for s in (
        UNK,
        INI,
        SOCKERR,
        L4OK,
        L4TOUT,
        L4CON,
        L7TOUT,
        L7RSP,
        L7OK,
        L7OKC,
        L7STS,
        HANA,
        CHECKED,
    )
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One finished check. `duration_ms` is filled in by whoever timed it (-1: none)."""

    status: Status
    code: int = 0
    info: str = ""
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        return self.status.passed

    @property
    def conditional(self) -> bool:
        """A conditional pass (L7OKC): counted as a pass, but the server stops taking
        new traffic."""
        return self.status is L7OKC

    def reason(self) -> str:
        """`DESCRIPTION[, code: N][, info: "TEXT"], check duration: Nms`, as the logs put it."""
        text = self.status.description
        if self.status.has_code:
            text += f", code: {self.code}"
        if self.info:
            text += f', info: "{self.info}"'
        if self.duration_ms < 0:  # not a check that ran (observe's HANA): no duration
            return text
        return f"{text}, check duration: {self.duration_ms}ms"

    def timed(self, duration_ms: int) -> CheckResult:
        return CheckResult(self.status, self.code, self.info, duration_ms)
