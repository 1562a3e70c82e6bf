"""What a check owner does besides checking: tracking servers and slowstart warm-ups.

- Followers: the servers tracking one the worker checks (`track`, chains included; see
  haproxy_py/checks/track.py). The owner of the root writes their state rows too and, on a
  transition, applies and logs theirs after its own, depth first, in HAProxy's words
  ("Server be2/t is DOWN via be/s1. ..."). On taking over (start, respawn, reload) it brings
  their rows in line with the root's, silently.
- Warm-ups: a server coming UP with `slowstart T` is STARTING in its row for T; the
  `Warmups` task rewrites its row every max(1 s, T/20) (each write bumps the epoch, so every
  worker recomputes the ramped weight, haproxy_py/checks/shared.py `warmup_weight`) and
  writes RUNNING once T has passed.
Rules: only the owner of a root server calls these; every row write goes through the table's
single-writer `write_health` with this worker's slot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from haproxy_py.checks import messages
from haproxy_py.checks.shared import Timeline
from haproxy_py.checks.track import Name
from haproxy_py.checks.track_admin import drain_tail
from haproxy_py.config.model import Server
from haproxy_py.process.shm import StatsTable
from haproxy_py.report import Reporter
from haproxy_py.stats.layout import (
    CHKDOWN,
    DRAIN_MASK,
    MAINT_MASK,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    ServerSlot,
)
from worker.backend import BackendRuntime, ServerRuntime

WARMUP_TICK_MS = 1000  # the shortest step of a slowstart ramp (HAProxy's too)


@dataclass(eq=False)
class Follower:
    backend: BackendRuntime
    server: ServerRuntime
    slot: ServerSlot | None
    via: str  # the server it tracks directly, `backend/server`
    backup: bool
    slowstart: int  # ms
    timeline: Timeline
    followers: list[Follower] = field(default_factory=list)


def _kind(backend: BackendRuntime) -> str:
    """How HAProxy names the proxy in its "has no server available" alert."""
    return "proxy" if backend.proxy.is_frontend else "backend"


def followers_of(
    root: Name,
    trackers: dict[Name, list[Name]],
    backends: dict[str, BackendRuntime],
    table: StatsTable | None,
) -> list[Follower]:
    """The servers following `root`, as a tree in HAProxy's visiting order (`trackers`:
    haproxy_py/checks/track.py `direct_trackers(config)`)."""
    if root not in trackers:
        return []

    def build(name: Name, seen: frozenset[Name]) -> list[Follower]:
        found = []
        for backend_name, server_name in trackers.get(name, ()):
            if (backend_name, server_name) in seen:
                continue  # a loop: refused by the configuration front end anyway
            backend = backends.get(backend_name)
            runtime = _runtime(backend, server_name)
            if backend is None or runtime is None:
                continue
            slot = _slot(table, backend_name, server_name)
            model = None if slot is not None and slot.dynamic else _model(backend, server_name)
            row = table.read_health(slot) if table is not None and slot is not None else None
            timeline = Timeline(int(time.time()))
            if row is not None:
                timeline = Timeline(row.last_change, row.downtime, row.down_since, row.changed_ms)
            follower = Follower(
                backend, runtime, slot, f"{name[0]}/{name[1]}",
                bool(model.option("backup")) if model is not None else runtime.lb.backup,
                int(model.option("slowstart") or 0) if model is not None else 0, timeline,
            )  # fmt: skip
            follower.followers = build((backend_name, server_name), seen | {name})
            found.append(follower)
        return found

    return build(root, frozenset())


def _model(backend: BackendRuntime, name: str) -> Server | None:
    return next((s for s in backend.proxy.servers if s.name == name), None)


def _runtime(backend: BackendRuntime | None, name: str) -> ServerRuntime | None:
    if backend is None:
        return None
    return next((s for s in backend.servers.values() if s.name == name), None)


def _slot(table: StatsTable | None, backend: str, server: str) -> ServerSlot | None:
    if table is None:
        return None
    try:
        return table.layout.server(backend, server)
    except KeyError:
        return None


class Effects:
    """One worker's writer side for rows beyond its checked servers' own verdicts."""

    def __init__(self, table: StatsTable | None, slot: int, reporter: Reporter) -> None:
        self.table = table
        self.slot = slot
        self.reporter = reporter
        self.warming: dict[int, tuple[ServerSlot, int, int]] = {}  # index -> slot, since, ms
        self._wake = trio.Event()

    # -- rows ----------------------------------------------------------------------------------

    def write(self, slot: ServerSlot | None, **values: int) -> None:
        if self.table is not None and slot is not None:
            self.table.write_health(slot, self.slot, **values)

    def warm_up(self, slot: ServerSlot | None, since_ms: int, slowstart: int) -> bool:
        """Start a warm-up; False when there is none to do (no slowstart, no row)."""
        if slowstart <= 0 or slot is None or self.table is None:
            return False
        self.warming[slot.index] = (slot, since_ms, slowstart)
        self._wake.set()
        return True

    def cool(self, slot: ServerSlot | None) -> None:
        if slot is not None:
            self.warming.pop(slot.index, None)

    async def serve_warmups(self) -> None:
        """Rewrite the rows of warming servers every tick; RUNNING once their time is up."""
        while True:
            if not self.warming:
                self._wake = trio.Event()
                await self._wake.wait()
            tick = max(WARMUP_TICK_MS, min(ms for _, _, ms in self.warming.values()) // 20)
            await trio.sleep(tick / 1000)
            now_ms = int(time.time() * 1000)
            for index, (slot, since, slowstart) in list(self.warming.items()):
                if now_ms - since >= slowstart:
                    del self.warming[index]
                    self.write(slot, op_state=RUNNING)
                else:
                    self.write(slot, op_state=STARTING)  # same state: the epoch moves

    # -- followers -----------------------------------------------------------------------------

    def align(self, followers: list[Follower], up: bool, stopping: bool = False) -> None:
        """On taking over: the followers' rows and farms agree with the root, silently
        (`stopping`: the root is UP in NOLB, disable-on-404's)."""
        stopping = up and stopping
        for follower in followers:
            wanted = STOPPING if stopping else RUNNING if up else STOPPED
            if self.table is not None and follower.slot is not None:
                state = self.table.read_health(follower.slot).op_state
                if (state == STOPPED) == up or (state == STOPPING) != stopping:
                    self.write(follower.slot, op_state=wanted)
                elif state == STARTING and up:
                    self.warm_up(follower.slot, follower.timeline.changed_ms, follower.slowstart)
            follower.server.draining = stopping
            follower.backend.set_usable(follower.server, up and not stopping)
            self.align(follower.followers, up, stopping)

    def propagate(
        self, followers: list[Follower], up: bool, now: float, *, was_stopping: bool = False
    ) -> None:
        """A root's transition, passed down its followers: row, farm, log line, in order
        (`was_stopping`: the root, hence its followers, was in NOLB before)."""
        if followers and followers[0].backend.state_sync is not None:
            # this worker's farms may not have seen the latest admin rows yet (a drain, a
            # maintenance just left): the farm counts logged below must (HAProxy's are live)
            followers[0].backend.state_sync()
        for follower in followers:
            timeline = follower.timeline
            if up:
                timeline.went_up(now)
            else:
                timeline.went_down(now)
            starting = up and self.warm_up(follower.slot, timeline.changed_ms, follower.slowstart)
            if not up:
                self.cool(follower.slot)
            self.write(
                follower.slot,
                op_state=(STARTING if starting else RUNNING) if up else STOPPED,
                last_change=timeline.last_change,
                changed_ms=timeline.changed_ms,
                downtime=timeline.downtime,
                down_since=timeline.down_since,
            )
            self.log_transition(follower.backend, follower.server, follower.backup, up, None,
                                via=follower.via, was_stopping=was_stopping)  # fmt: skip
            self.propagate(follower.followers, up, now, was_stopping=was_stopping)

    def propagate_stopping(self, followers: list[Follower], stopping: bool) -> None:
        """An UP root entering or leaving NOLB (disable-on-404), passed down its followers
        as HAProxy does ("Server be2/t is stopping via be/s. ..."); lastchg stays."""
        for follower in followers:
            self.write(follower.slot, op_state=STOPPING if stopping else RUNNING)
            if stopping:
                self.cool(follower.slot)
            self.log_stopping(follower.backend, follower.server, follower.backup, stopping,
                              None, via=follower.via)  # fmt: skip
            self.propagate_stopping(follower.followers, stopping)

    def log_transition(
        self,
        backend: BackendRuntime,
        server: ServerRuntime,
        backup: bool,
        up: bool,
        reason: object,
        *,
        via: str = "",
        was_stopping: bool = False,
    ) -> None:
        """Apply a transition to the farm and log it as HAProxy does (ALERT when the backend
        is left without a server, unless it was out of the farm already: `was_stopping`,
        disable-on-404's NOLB, which this ends)."""
        farm = backend.farm
        if was_stopping:
            server.draining = False
        requeued = backend.set_usable(server, up)
        lb = server.lb
        # A drained server stays out of the farm: HAProxy says so after its line, no alert.
        drained = self._drained(backend.name, server.name)
        if up:
            self.reporter.warning(
                messages.server_up_line(
                    backend.name, server.name, backup, reason,  # type: ignore[arg-type]
                    active=farm.active_count, backups=farm.backup_count,
                    requeued=requeued, queued=lb.pending, via=via,
                )
            )  # fmt: skip
            if drained:
                self.reporter.warning(drain_tail(f"{backend.name}/{server.name}", drained, via))
            return
        self.reporter.warning(
            messages.server_down_line(
                backend.name, server.name, backup, reason,  # type: ignore[arg-type]
                active=farm.active_count, backups=farm.backup_count,
                sessions=lb.cur_conns, requeued=requeued, queued=lb.pending, via=via,
            )
        )  # fmt: skip
        if drained:
            self.reporter.warning(drain_tail(f"{backend.name}/{server.name}", drained, via))
        elif not farm.available and not was_stopping:
            backend.counters.row[CHKDOWN] += 1  # the backend's chkdown: times it went down
            self.reporter.alert(messages.no_server_alert(backend.name, _kind(backend)))

    def _drained(self, backend: str, server: str) -> int:
        """The server's admin state if it is in drain (not in maintenance), else 0."""
        if self.table is None:
            return 0
        try:
            state = self.table.read_admin(self.table.layout.server(backend, server)).admin_state
        except KeyError:
            return 0
        return state if state & DRAIN_MASK and not state & MAINT_MASK else 0

    def log_stopping(
        self,
        backend: BackendRuntime,
        server: ServerRuntime,
        backup: bool,
        stopping: bool,
        reason: object,
        *,
        via: str = "",
    ) -> None:
        """`http-check disable-on-404`: an UP server leaves the farm but keeps its persistent
        clients (NOLB), or comes back into it; logged as HAProxy does."""
        if not stopping:
            self.log_transition(backend, server, backup, True, reason, via=via, was_stopping=True)
            return
        farm = backend.farm
        requeued = backend.set_usable(server, False)
        server.draining = True  # persistent clients still come (worker/http_session.py)
        lb = server.lb
        self.reporter.warning(
            messages.server_stopping_line(
                backend.name, server.name, backup, reason,  # type: ignore[arg-type]
                active=farm.active_count, backups=farm.backup_count,
                requeued=requeued, queued=lb.pending, via=via,
            )
        )  # fmt: skip
        if not farm.available:
            backend.counters.row[CHKDOWN] += 1
            self.reporter.alert(messages.no_server_alert(backend.name, _kind(backend)))


# -- dynamic followers (`add server ... track`, worker/cli_dynamic.py) ----------------------------


def adopt(followers: list[Follower], target: Name, root: Name, follower: Follower) -> bool:
    """Put a dynamic server's Follower under the server it tracks (`target`, the root itself
    or one of its followers), first: HAProxy visits the last tracker added first. False when
    the target is not in the tree, or the server is there already (a replay)."""
    if _find(followers, follower.server) is not None:
        return False
    if target == root:
        followers.insert(0, follower)
        return True
    for node in followers:
        if (node.backend.name, node.server.name) == target:
            node.followers.insert(0, follower)
            return True
        if adopt(node.followers, target, (node.backend.name, node.server.name), follower):
            return True
    return False


def drop(followers: list[Follower], server: ServerRuntime) -> bool:
    """Take a deleted server out of the tree; True when it was there."""
    for position, node in enumerate(followers):
        if node.server is server:
            del followers[position]
            return True
        if drop(node.followers, server):
            return True
    return False


def _find(followers: list[Follower], server: ServerRuntime) -> Follower | None:
    for node in followers:
        if node.server is server:
            return node
        found = _find(node.followers, server)
        if found is not None:
            return found
    return None
