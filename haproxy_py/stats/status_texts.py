"""The texts of a server row: its `status` column and its check and agent columns.

`server_status` is HAProxy's status text for a state (with the transitional `UP 1/3`,
`DOWN 1/2`, `NOLB`, `DRAIN`, `MAINT`); `status_text` is the same cached per state tuple,
and the check texts of the health rows are decoded once per distinct text, since a few
dozen tuples and texts cover thousands of servers.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from haproxy_py.checks.status import STATUSES
from haproxy_py.stats.assembly import NO_CHECK
from haproxy_py.stats.layout import (
    CHECK_STATUSES,
    CHKDOWN,
    CHKFAIL,
    DRAIN_MASK,
    HANAFAIL,
    HEALTH_FIELDS,
    INFO_WORDS,
    MAINT_MASK,
    RUNNING,
    STARTING,
    STATUSES_WITH_CODE,
    STOPPING,
    ServerSlot,
    unpack_text,
)

if TYPE_CHECKING:
    from haproxy_py.process.shm import Health

CHECK_DESCRIPTIONS = {name: status.description for name, status in STATUSES.items()}


def server_status(
    admin_state: int,
    op_state: int,
    checked: bool,
    health: int = 0,
    rise: int = 1,
    fall: int = 1,
    *,
    agent: bool = False,
    agent_health: int = 1,
) -> str:
    """The `status` column of a server row, with HAProxy's transitional states: `UP 1/3`
    (UP, failing: the failures so far out of `fall`), `DOWN 1/2` (DOWN, passing: the
    successes out of `rise`), `NOLB`, `DRAIN`, `MAINT`, `no check`."""
    if admin_state & MAINT_MASK:
        return "MAINT"
    top = rise + fall - 1
    if op_state in (RUNNING, STARTING):
        going_down = checked and health < top
        if admin_state & DRAIN_MASK:
            if agent:
                return "DRAIN (agent)"
            return f"DRAIN {health - rise + 1}/{fall}" if going_down else "DRAIN"
        if not checked:
            return "no check"
        return f"UP {health - rise + 1}/{fall}" if going_down else "UP"
    if op_state == STOPPING:
        return f"NOLB {health - rise + 1}/{fall}" if checked and health < top else "NOLB"
    if agent and not agent_health:
        return "DOWN (agent)"
    if checked and health > 0:
        return f"DOWN {health}/{rise}"
    return "DOWN"


def check_values(
    now_s: float,
    slot: ServerSlot,
    health: Health,
    counters: list[int],
    observe: bool,
    *,
    paused: bool = False,
) -> tuple[object, ...]:
    """chkfail ... check_duration of a checked server (_SERVER_COMPUTED's order).
    `paused`: in maintenance, where HAProxy keeps the counters (chkfail, chkdown, downtime,
    hanafail) but leaves the check's own columns empty, its checks being paused."""
    now = int(now_s)
    down = health.downtime + (max(now - health.down_since, 0) if health.down_since else 0)
    hanafail = counters[HANAFAIL] if observe else ""
    if paused:
        return (counters[CHKFAIL], counters[CHKDOWN], down, "", "", "", "", "", "", hanafail,
                "", "")  # fmt: skip
    index = health.check_status
    name = CHECK_STATUSES[index] if index < len(CHECK_STATUSES) else ""
    return (
        counters[CHKFAIL], counters[CHKDOWN], down, name, CHECK_DESCRIPTIONS.get(name, ""),
        _text(health, _INFO), slot.rise, slot.fall, health.check_health, hanafail,
        health.check_code if name in STATUSES_WITH_CODE else "",
        health.check_duration if name not in _NO_DURATION else "",
    )  # fmt: skip


def unchecked_values(counters: list[int], observe: bool) -> tuple[object, ...]:
    """The check columns of a server whose checks are off: all empty but `hanafail`, which
    HAProxy shows for every server with `observe` (its counter is the observer's, not the
    check's)."""
    if not observe:
        return NO_CHECK
    return ("",) * 9 + (counters[HANAFAIL], "", "")


def agent_values(health: Health) -> tuple[object, ...]:
    """The agent columns of a server that has an agent (its rise and fall are 1)."""
    index = health.agent_status
    name = CHECK_STATUSES[index] if index < len(CHECK_STATUSES) else ""
    return (
        name, CHECK_DESCRIPTIONS.get(name, ""), 1, 1, health.agent_health,
        _text(health, _AGENT_INFO),
        health.agent_code if name in STATUSES_WITH_CODE else "",
        health.agent_duration if name not in _NO_DURATION else "",
    )  # fmt: skip


_NO_DURATION = frozenset({"UNK", "INI", "START"})
_INFO = HEALTH_FIELDS.index("info_len")
_AGENT_INFO = HEALTH_FIELDS.index("agent_info_len")


@functools.lru_cache(maxsize=1024)
def _decoded(key: tuple[int, ...]) -> str:
    return unpack_text(key[0], key[1:])


def _text(health: Health, start: int) -> str:
    """A check text of the health row (its length word, then the packed words), decoded
    once per distinct text: servers mostly share a few ("Layer4 check passed")."""
    return _decoded(health[start : start + 1 + INFO_WORDS])


@functools.lru_cache(maxsize=1024)
def status_text(
    admin_state: int, op_state: int, checked: bool, health: int, rise: int, fall: int,
    agent: bool, agent_health: int,
) -> str:  # fmt: skip
    """server_status() for a state tuple: a few dozen tuples cover every server."""
    return server_status(admin_state, op_state, checked, health, rise, fall, agent=agent,
                         agent_health=agent_health)  # fmt: skip
