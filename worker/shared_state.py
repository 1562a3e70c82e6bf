"""Server state shared by every worker: applying the stats table's admin rows to load balancing.

The master is the single writer of the table's admin section (`disable server`, `set weight`
asked through any worker's runtime API). Every state write bumps an epoch word; before each
server choice a backend calls `StateSync.poll()` (BackendRuntime.state_sync), which compares
the summed epochs with the last value seen and, only when they differ, reads every server's
admin row and applies it to its LbServer (usable, weight, maxconn). So a change made through
any worker is in force in every worker at its next server choice, and the steady state costs
one sum of a few words per choice. Rules: StateSync only reads (seqlocked reads, shm.py);
SharedState.admin() sends a change to the single writer and waits for its confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping

import trio

from haproxy_py.config.model import Config
from haproxy_py.process.channel import Channel
from haproxy_py.process.shm import StatsTable
from haproxy_py.proto.ipc import AdminChange, AdminDone
from haproxy_py.report import Reporter
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.layout import DRAIN_MASK, MAINT_MASK, ServerSlot
from worker.backend import BackendRuntime, ServerRuntime

ADMIN_TIMEOUT = 10.0  # seconds the master has to confirm an admin change


class StateSync:
    def __init__(self, table: StatsTable, backends: Mapping[str, BackendRuntime]) -> None:
        self.table = table
        self.entries: list[tuple[ServerSlot, BackendRuntime, ServerRuntime]] = []
        for backend in backends.values():
            for server in backend.servers.values():
                try:
                    slot = table.layout.server(backend.name, server.name)
                except KeyError:
                    continue
                self.entries.append((slot, backend, server))
        self.seen = -1
        for backend in backends.values():
            backend.state_sync = self.poll

    def poll(self) -> None:
        epoch = self.table.state_epoch()
        if epoch != self.seen:
            self.seen = epoch
            self.apply()

    def apply(self) -> None:
        """Bring every LbServer in line with its admin row."""
        read_admin = self.table.read_admin
        for slot, backend, server in self.entries:
            admin = read_admin(slot)
            lb = server.lb
            reweighted = admin.uweight != lb.weight
            if reweighted:
                lb.weight = admin.uweight
            if admin.maxconn != lb.maxconn:
                lb.maxconn = admin.maxconn
            server.admin_down = bool(admin.admin_state & (MAINT_MASK | DRAIN_MASK))
            check = server.check
            healthy = server.target is not None and (
                check is None or bool(check.health.up)  # type: ignore[attr-defined]
            )
            wanted = healthy and not server.admin_down
            if lb.usable != wanted:
                backend.set_usable(server, wanted)
            elif reweighted:
                backend.algorithm.server_changed(lb)


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
