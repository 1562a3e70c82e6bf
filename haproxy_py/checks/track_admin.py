"""Maintenance and drain inherited down `track` chains (HAProxy's IMAINT and IDRAIN bits).

A server tracking another is in maintenance while the server it tracks directly is (for any
reason, inherited included), and in drain while that one drains: bits IMAINT and IDRAIN of
its own admin row, written by the admin section's single writer (the master, or a lone
worker) right after the change that causes them, follower after follower in HAProxy's
visiting order (`track.followers_in_order`), each with HAProxy 2.6's log lines (recorded
from haproxy 2.6): "Server be2/s2 is going DOWN for maintenance via be/s1. ...", "... was
DOWN and now enters maintenance via ...", "... is UP/READY (leaving maintenance).". Since
the bits live in the row, `show stat` ("MAINT (via be2/s2)") and `show servers state` (admin
state 2) read them like any other. A new table gets them silently (`inherit_all`).
Pure: the table is the shared-memory StatsTable; the edges are (follower, tracked) names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from haproxy_py.checks.track import Name
from haproxy_py.stats.layout import (
    CMAINT,
    DRAIN_MASK,
    FDRAIN,
    FMAINT,
    IDRAIN,
    IMAINT,
    MAINT_MASK,
    STOPPED,
)

if TYPE_CHECKING:
    from haproxy_py.process.shm import StatsTable

Line = tuple[str, str]  # (level, text): level "warning" or "alert"
Online = Callable[[str], tuple[int, int]]  # backend -> (active, backup) taking traffic now
INHERITED = IMAINT | IDRAIN


def inherited(via_admin: int) -> int:
    """The inherited bits of a server tracking one whose admin state is `via_admin`."""
    return (IMAINT if via_admin & MAINT_MASK else 0) | (IDRAIN if via_admin & DRAIN_MASK else 0)


def drain_line(name: str, active: int, backups: int, via: str = "", *, down: bool) -> str:
    """A server entering drain (`via`: inherited from that one): worded as HAProxy words it
    for an UP server, or for one its checks found DOWN."""
    via = f" via {via}" if via else ""
    if down:
        return (
            f"Server {name} enters drain state{via}. {active} active and {backups} backup"
            " servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        )
    return (
        f"Server {name} enters drain state{via}. {active} active and {backups} backup servers"
        " online. 0 sessions requeued, 0 total in queue."
    )


def drain_tail(name: str, now: int, via: str) -> str:
    """The second line of a server leaving maintenance into drain (HAProxy says both)."""
    if now & FDRAIN:
        return f"Server {name} remains in forced drain mode."
    return f"Server {name} is leaving forced drain but remains in drain mode via {via}."


def follower_lines(
    name: str,
    via: str,
    was: int,
    now: int,
    *,
    down: bool,
    online: tuple[int, int],
    sessions: int,
) -> list[Line]:
    """What HAProxy logs when a follower's inherited bits go from `was` to `now` (whole admin
    states). `down`: its checks (its root's) say DOWN; `online`: its backend's (active,
    backup) servers taking traffic once this change is made; `sessions`: its current ones."""
    lines: list[Line] = []
    active, backups = online
    if now & MAINT_MASK and not was & MAINT_MASK:
        if down:
            return [("warning", f"Server {name} was DOWN and now enters maintenance via {via}.")]
        lines.append(
            (
                "warning",
                f"Server {name} is going DOWN for maintenance via {via}. {active} active and"
                f" {backups} backup servers left. {sessions} sessions active, 0 requeued,"
                " 0 remaining in queue.",
            )
        )
        # a drained follower was out of the farm already: no backend newly left empty
        if not active and not backups and not was & DRAIN_MASK:
            lines.append(("alert", f"backend '{name.partition('/')[0]}' has no server available!"))
        return lines
    if was & MAINT_MASK and not now & MAINT_MASK:
        if not now & DRAIN_MASK:
            return [("warning", f"Server {name} is UP/READY (leaving maintenance).")]
        return [
            ("warning", f"Server {name} is UP/DRAIN (leaving maintenance)."),
            ("warning", drain_tail(name, now, via)),
        ]
    if was & IMAINT and not now & IMAINT and now & MAINT_MASK:
        return [("warning", f"Server {name} remains in forced maintenance.")]
    if now & MAINT_MASK or bool(was & DRAIN_MASK) == bool(now & DRAIN_MASK):
        return []  # in maintenance, or in drain on its own too: nothing new to say
    if now & DRAIN_MASK:
        lines.append(("warning", drain_line(name, active, backups, via, down=down)))
        if not active and not backups and not down:
            lines.append(("alert", f"backend '{name.partition('/')[0]}' has no server available!"))
        return lines
    return [("warning", f"Server {name} is {'DOWN' if down else 'UP'} (leaving forced drain).")]


def own_maint_line(name: str, was: int, now: int, via: str) -> Line | None:
    """A tracking server leaving its own (forced or configured) maintenance while the server
    it tracks keeps it in maintenance: HAProxy says so, and nothing else."""
    own = FMAINT | CMAINT
    if was & own and not now & own and now & IMAINT and via:
        return (
            "warning",
            f"Server {name} is leaving forced maintenance but remains in maintenance via {via}.",
        )
    return None


def pass_down(
    table: StatsTable,
    followers: Sequence[tuple[Name, Name]],
    online: Online,
) -> list[Line]:
    """Bring each follower's inherited bits in line with the server it tracks, in order (the
    caller's `followers_in_order` of the server just changed), writing its admin row and
    giving HAProxy's lines for each."""
    lines: list[Line] = []
    layout = table.layout
    for (backend, server), via in followers:
        try:
            slot, via_slot = layout.server(backend, server), layout.server(*via)
        except KeyError:
            continue  # not in the table (a disabled proxy's): nothing to pass on
        was = table.read_admin(slot).admin_state
        now = was & ~INHERITED | inherited(table.read_admin(via_slot).admin_state)
        if now == was:
            continue
        table.write_admin(slot, admin_state=now, admin_changed=int(time.time()))
        down = table.read_health(slot).op_state == STOPPED
        sessions = table.read_counters(backend, server)["scur"] if now & ~was & IMAINT else 0
        lines += follower_lines(
            f"{backend}/{server}", f"{via[0]}/{via[1]}", was, now,
            down=down, online=online(backend), sessions=sessions,
        )  # fmt: skip
    return lines


def inherit_all(table: StatsTable, edges: Iterable[tuple[Name, Name]]) -> None:
    """A new table (start, reload after the carry-over): every follower's inherited bits from
    the servers it tracks, silently (chains settle in as many rounds as they are long)."""
    edges = list(edges)
    layout = table.layout
    slots = []
    for follower, via in edges:
        try:
            slots.append((layout.server(*follower), layout.server(*via)))
        except KeyError:
            continue
    for _ in range(len(slots) + 1):
        changed = False
        for slot, via_slot in slots:
            was = table.read_admin(slot).admin_state
            now = was & ~INHERITED | inherited(table.read_admin(via_slot).admin_state)
            if now != was:
                table.write_admin(slot, admin_state=now)
                changed = True
        if not changed:
            return
