"""Server state shared by every worker: applying the stats table's state rows to load balancing.

The master is the single writer of the table's admin section (`disable server`, `set weight`
asked through any worker's runtime API); the worker owning a server's checks is the single
writer of its health section (worker/checks.py, haproxy_py/checks/shared.py). Every state
write bumps an epoch word; before each server choice a backend calls `StateSync.poll()`
(BackendRuntime.state_sync), which compares the summed epochs with the last value seen and,
only when they differ, reads every server's rows and applies them to its LbServer (usable:
not in maintenance or draining, and UP by its checks; weight; maxconn). So a change made
by any worker is in force in every worker at its next server choice, and the steady state
costs one sum of a few words per choice. Rules: StateSync only reads (seqlocked reads,
shm.py); SharedState.admin() sends a change to the single writer and waits for its
confirmation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import trio

from haproxy_py.checks.shared import warmup_weight
from haproxy_py.config.model import Config
from haproxy_py.process.channel import Channel
from haproxy_py.process.shm import StatsTable
from haproxy_py.proto.ipc import AdminChange, AdminDone
from haproxy_py.report import Reporter
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.layout import DRAIN_MASK, MAINT_MASK, STARTING, STOPPED, ServerSlot
from worker.backend import BackendRuntime, ServerRuntime

ADMIN_TIMEOUT = 10.0  # seconds the master has to confirm an admin change


@dataclass(slots=True)
class _Entry:
    slot: ServerSlot
    backend: BackendRuntime
    server: ServerRuntime
    follows: bool  # its health row decides (checked, or tracking a checked server)
    slowstart: int  # ms
    root: ServerSlot | None  # the checked server a tracking one follows (its MAINT too)


class StateSync:
    def __init__(self, table: StatsTable, backends: Mapping[str, BackendRuntime]) -> None:
        self.table = table
        self.entries: list[_Entry] = []
        for backend in backends.values():
            models = {server.name: server for server in backend.proxy.servers}
            for server in backend.servers.values():
                try:
                    slot = table.layout.server(backend.name, server.name)
                except KeyError:
                    continue
                model = models.get(server.name)
                track = model.options.get("track") if model is not None else None
                root = None
                if track:
                    root = _root_slot(table, backends, backend.name, track)
                slowstart = int(model.options.get("slowstart") or 0) if model is not None else 0
                follows = slot.checked or root is not None
                self.entries.append(_Entry(slot, backend, server, follows, slowstart, root))
        self.seen = -1
        for backend in backends.values():
            backend.state_sync = self.poll

    def poll(self) -> None:
        epoch = self.table.state_epoch()
        if epoch != self.seen:
            self.seen = epoch
            self.apply()

    def apply(self) -> None:
        """Bring every LbServer in line with its rows: admin (maintenance, drain, weight,
        maxconn) and health (UP/DOWN; STARTING ramps the weight under `slowstart`)."""
        read_admin, read_health = self.table.read_admin, self.table.read_health
        now_ms = int(time.time() * 1000)
        for entry in self.entries:
            slot, backend, server = entry.slot, entry.backend, entry.server
            admin = read_admin(slot)
            lb = server.lb
            weight = admin.uweight
            healthy = server.target is not None
            if entry.follows:
                health = read_health(slot)
                healthy = healthy and health.op_state != STOPPED
                if health.op_state == STARTING and entry.slowstart:
                    weight = warmup_weight(weight, now_ms - health.changed_ms, entry.slowstart)
            reweighted = weight != lb.weight
            if reweighted:
                lb.weight = weight
            if admin.maxconn != lb.maxconn:
                lb.maxconn = admin.maxconn
            state = admin.admin_state
            if entry.root is not None:  # a tracked server's maintenance is its trackers' too
                state |= read_admin(entry.root).admin_state & MAINT_MASK
            server.admin_down = bool(state & (MAINT_MASK | DRAIN_MASK))
            # DRAIN keeps taking persistent clients (cookie persistence, worker/http_session.py)
            server.draining = healthy and bool(state & DRAIN_MASK) and not state & MAINT_MASK
            wanted = healthy and not server.admin_down
            if lb.usable != wanted:
                backend.set_usable(server, wanted)
            elif reweighted:
                backend.algorithm.server_changed(lb)


def _root_slot(
    table: StatsTable, backends: Mapping[str, BackendRuntime], here: str, track: tuple
) -> ServerSlot | None:
    """The checked server at the end of a `track` chain."""
    backend, name = track[0] or here, track[1]
    for _ in range(len(table.layout.servers)):
        runtime = backends.get(backend)
        if runtime is None:
            return None
        model = next((s for s in runtime.proxy.servers if s.name == name), None)
        if model is None:
            return None
        nxt = model.options.get("track")
        if not nxt:
            try:
                return table.layout.server(backend, name)
            except KeyError:
                return None
        backend, name = nxt[0] or backend, nxt[1]
    return None  # a loop


class SharedState:
    """What a worker shares with the others: the table, its slot, the state sync, and the
    way to the admin section's writer (the master's channel; None when running alone)."""

    def __init__(
        self,
        table: StatsTable,
        slot: int,
        sync: StateSync,
        channel: Channel | None,
        config: Config,
        reporter: Reporter,
    ) -> None:
        self.table = table
        self.slot = slot
        self.sync = sync
        self.channel = channel
        self.config = config
        self.reporter = reporter
        self._seq = 0
        self._pending: dict[int, list] = {}  # seq -> [event, error]
        self._send_lock = trio.Lock()

    async def admin(self, op: AdminOp) -> str:
        """Have `op` written by the admin section's single writer; "" or its error. Under a
        master this waits for its AdminDone, so that the answer is given once the change is in
        the table (and this worker applies it before answering)."""
        if self.channel is None:
            for level, line in apply_op(self.table, self.config, op):
                (self.reporter.alert if level == "alert" else self.reporter.warning)(line)
            self.sync.poll()
            return ""
        self._seq += 1
        seq = self._seq
        waiting: list = [trio.Event(), ""]
        self._pending[seq] = waiting
        change = AdminChange(
            seq=seq,
            backend=op.backend,
            server=op.server,
            set_bits=op.set_bits,
            clear_bits=op.clear_bits,
            has_weight=op.weight >= 0,
            weight=max(op.weight, 0),
        )
        try:
            async with self._send_lock:
                if not await self.channel.send(change):
                    return "The master is gone."
            with trio.move_on_after(ADMIN_TIMEOUT) as scope:
                await waiting[0].wait()
            if scope.cancelled_caught:
                return "The master did not answer."
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return "The master is gone."
        finally:
            self._pending.pop(seq, None)
        self.sync.poll()
        return waiting[1]

    def done(self, message: AdminDone) -> None:
        waiting = self._pending.get(message.seq)
        if waiting is not None:
            waiting[1] = message.error
            waiting[0].set()
