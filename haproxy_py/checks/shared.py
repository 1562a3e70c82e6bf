"""Check results in the shared server state: who checks a server, and what its row says.

Every server is checked by exactly one worker of a generation, its owner (`owner_of`: the
server's state-row index modulo the worker count, so the owners are known to every process
without asking anyone). The owner writes the health section of the server's row
(haproxy_py/stats/layout.py HEALTH_FIELDS) after every check (`row_values`); every worker
applies the row's op_state before its next server choice (worker/shared_state.py). A worker
that takes a server over (a respawned worker in the dead one's slot, a new generation after
a reload, whose table got the old rows) resumes from the row (`resume`), not from scratch.
Pure: the caller gives the clock's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from haproxy_py.checks.health import Health
from haproxy_py.checks.status import CheckResult
from haproxy_py.stats.layout import (
    CHECK_STATUS,
    CHK_CONDPASS,
    CHK_FAILED,
    CHK_PASSED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    pack_text,
)

NO_DURATION = (1 << 64) - 1


def owner_of(index: int, workers: int) -> int:
    """The worker slot (0-based) that checks the server of state row `index`."""
    return index % max(workers, 1)


@dataclass(slots=True)
class Timeline:
    """The times `show stat` derives lastchg and downtime from (epoch seconds), and the
    change's millisecond (slowstart ramps from it)."""

    last_change: int
    downtime: int = 0  # seconds DOWN before `down_since`
    down_since: int = 0  # 0 while UP
    changed_ms: int = 0

    def went_down(self, now: float) -> None:
        self.last_change = int(now)
        self.changed_ms = int(now * 1000)
        self.down_since = int(now)

    def went_up(self, now: float) -> None:
        self.last_change = int(now)
        self.changed_ms = int(now * 1000)
        if self.down_since:
            self.downtime += max(int(now) - self.down_since, 0)
            self.down_since = 0


def warmup_percent(elapsed_ms: int, slowstart_ms: int) -> int:
    """How far a server is into its `slowstart` (show stat's throttle), 1..100."""
    if slowstart_ms <= 0 or elapsed_ms >= slowstart_ms:
        return 100
    return max(1, -(-100 * max(elapsed_ms, 0) // slowstart_ms))


def warmup_weight(weight: int, elapsed_ms: int, slowstart_ms: int) -> int:
    """The weight of a server `elapsed_ms` into its `slowstart`: the user weight scaled by
    the time elapsed, rounded up, at least 1 (a weight of 0 stays 0)."""
    if weight <= 0 or slowstart_ms <= 0 or elapsed_ms >= slowstart_ms:
        return weight
    return max(1, -(-weight * max(elapsed_ms, 0) // slowstart_ms))


def resume(op_state: int, check_health: int, rise: int, fall: int) -> Health:
    """The rise/fall machine of a server taken over, from its row: same side (UP or DOWN),
    the counter kept within what this configuration's rise/fall allow on that side."""
    up = op_state != STOPPED
    health = Health(rise, fall, up=up)
    if up:
        health.health = min(max(check_health, rise), health.top)
    else:
        health.health = min(max(check_health, 0), rise - 1)
    return health


def _check_result(result: CheckResult) -> int:
    if result.conditional:
        return CHK_CONDPASS
    return CHK_PASSED if result.passed else CHK_FAILED


def _op_state(up: bool, starting: bool, stopping: bool) -> int:
    if not up:
        return STOPPED
    if stopping:  # disable-on-404's NOLB wins over a warm-up
        return STOPPING
    return STARTING if starting else RUNNING


def row_values(
    result: CheckResult,
    health: Health,
    timeline: Timeline,
    *,
    starting: bool = False,
    up: bool | None = None,
    agent: CheckResult | None = None,
    agent_up: bool = True,
    stopping: bool = False,
) -> dict[str, int]:
    """The health section of a server's row after one check (`starting`: UP and warming up
    under `slowstart`; `up`: the server's verdict when an agent has a say in it, else the
    checks'; `agent`: the last agent check, if the server has one)."""
    if up is None:
        up = health.up
    values = {
        "op_state": _op_state(up, starting, stopping),
        "check_status": CHECK_STATUS[result.status.name],
        "check_result": _check_result(result),
        "check_health": health.health,
        "check_code": result.code if result.status.has_code else 0,
        # -1 (no duration) is stored as HAProxy prints it: the unsigned 64-bit -1.
        "check_duration": result.duration_ms if result.duration_ms >= 0 else NO_DURATION,
        "last_change": timeline.last_change,
        "downtime": timeline.downtime,
        "down_since": timeline.down_since,
        "changed_ms": timeline.changed_ms,
        "agent_health": int(agent_up),
    }
    values.update(pack_text(result.info))
    if agent is not None:
        values["agent_status"] = CHECK_STATUS[agent.status.name]
        values["agent_code"] = agent.code
        values["agent_duration"] = max(agent.duration_ms, 0)
        values.update(pack_text(agent.info, "agent_info"))
    return values
