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

import dataclasses
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio

from haproxy_py.checks.shared import warmup_weight
from haproxy_py.config.model import Config
from haproxy_py.process.channel import Channel
from haproxy_py.process.shm import AdminState, StatsTable
from haproxy_py.proto.ipc import AdminChange, AdminDone, RuntimeChange
from haproxy_py.report import Reporter
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.layout import (
    DRAIN_MASK,
    MAINT_MASK,
    STARTING,
    STOPPED,
    STOPPING,
    ServerSlot,
    unpack_address,
)
from worker.backend import BackendRuntime, ServerRuntime, Target
from worker.session_peers import PeerAsks, Peers
from worker.sessions_registry import kill_server_sessions

ADMIN_TIMEOUT = 10.0  # seconds the master has to confirm an admin change


@dataclass(slots=True)
class _Entry:
    slot: ServerSlot
    backend: BackendRuntime
    server: ServerRuntime
    follows: bool  # its health row decides (checked, or tracking a checked server)
    slowstart: int  # ms
    root: ServerSlot | None  # the checked server a tracking one follows (its MAINT too)
    configured: Target | None = None  # its address before any `set server .. addr`
    addr_gen: int = 0  # the admin row's addr_gen last applied
    on_down: bool = False  # `on-marked-down shutdown-sessions`
    on_up: bool = False  # `on-marked-up shutdown-backup-sessions`
    was_up: bool | None = None  # UP and not in maintenance at the last apply (None: unknown)


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
                entry = _Entry(slot, backend, server, follows, slowstart, root, server.target)
                if model is not None:
                    entry.on_down = model.options.get("on-marked-down") == "shutdown-sessions"
                    entry.on_up = model.options.get("on-marked-up") == "shutdown-backup-sessions"
                self.entries.append(entry)
        # Whether a server's transitions close sessions: then every worker polls on a timer
        # too (worker/sessions_registry.py), not only before a server choice.
        self.closes_sessions = any(e.on_down or e.on_up for e in self.entries)
        self.closing = trio.Event()  # set once a server closes sessions (a dynamic one too)
        if self.closes_sessions:
            self.closing.set()
        self.seen = -1
        for backend in backends.values():
            backend.state_sync = self.poll

    def add(
        self,
        backend: BackendRuntime,
        server: ServerRuntime,
        slot: ServerSlot,
        slowstart: int = 0,
        *,
        root: ServerSlot | None = None,
        options: Mapping[str, object] | None = None,
    ) -> None:
        """A dynamic server (worker/cli_dynamic.py): followed from now on, its rows applied
        at once (it starts in maintenance unless added `enabled`); with `check` or
        `agent-check` its health row rules it too (`slowstart`: ms of warm-up), with `track`
        too (`root`: the checked server at the end of the chain, whose owner writes it);
        `options`: its `on-marked-down|up`."""
        follows = slot.checked or slot.agent or root is not None
        entry = _Entry(slot, backend, server, follows, slowstart, root, server.target)
        options = options or {}
        entry.on_down = options.get("on-marked-down") == "shutdown-sessions"
        entry.on_up = options.get("on-marked-up") == "shutdown-backup-sessions"
        if entry.on_down or entry.on_up:
            self.closes_sessions = True
            self.closing.set()  # the timer of worker/sessions_registry.py starts
        self.entries.append(entry)
        self.seen = -1
        self.poll()

    def remove(self, server: ServerRuntime) -> None:
        """A deleted server: its rows (a spare row, soon another server's) are not read again."""
        self.entries = [entry for entry in self.entries if entry.server is not server]

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
            if admin.addr_gen != entry.addr_gen:  # `set server .. addr`: new connections go there
                entry.addr_gen = admin.addr_gen
                server.target = _moved(entry.configured, admin)
                backend.readdressed(server)  # a dynamic cookie follows the address
            lb = server.lb
            weight = admin.uweight
            healthy = server.target is not None
            stopping = False  # `http-check disable-on-404`'s NOLB: only persistent clients
            if entry.follows:
                health = read_health(slot)
                healthy = healthy and health.op_state != STOPPED
                stopping = health.op_state == STOPPING
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
            server.draining = (
                healthy and bool(state & DRAIN_MASK or stopping) and not state & MAINT_MASK
            )
            wanted = healthy and not server.admin_down and not stopping
            if lb.usable != wanted:
                backend.set_usable(server, wanted)
            elif reweighted:
                backend.algorithm.server_changed(lb)
            if entry.on_down or entry.on_up:
                self._close_sessions(entry, healthy and not state & MAINT_MASK)

    def _close_sessions(self, entry: _Entry, up: bool) -> None:
        """on-marked-down / on-marked-up: this worker's share of the sessions to close (each
        worker closes its own when it sees the change)."""
        was_up, entry.was_up = entry.was_up, up
        if was_up is None or was_up == up:
            return
        if not up and entry.on_down:
            kill_server_sessions([entry.server], "D")
        elif up and entry.on_up and not entry.server.lb.backup:
            backups = [s for s in entry.backend.servers.values() if s.lb.backup]
            kill_server_sessions(backups, "U")


def _moved(configured: Target | None, admin: AdminState) -> Target | None:
    """The server's address after runtime changes (IP and/or port) to its configured one."""
    ip = unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo)
    if configured is None:
        if ip is None:
            return None
        configured = Target(socket.AF_INET, ip)
    changes: dict[str, object] = {}
    if ip is not None:
        changes.update(family=socket.AF_INET6 if ":" in ip else socket.AF_INET, host=ip)
    if admin.port:
        changes.update(port=admin.port, relative=False)
    return dataclasses.replace(configured, **changes)  # type: ignore[arg-type]


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
        self.peer_asks = PeerAsks()  # show sess across workers (worker/session_peers.py)
        # worker/checks.py's scheduler, once running: takes the checks of dynamic servers
        # this worker owns (worker/cli_checks.py `start_dynamic_check`)
        self.check_runner: Callable[[object], None] | None = None
        self.waiting_checks: list[object] = []  # taken by the runner when it starts
        self.watch: object | None = None  # worker/check_observe.py's Watch, once checks run
        # (server, settings, check) observed by this worker's checks, added before they ran:
        # the Watch takes them when it exists (worker/cli_dynamic.py `_observe`)
        self.waiting_observed: list[tuple[object, object, object]] = []

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
            has_maxconn=op.maxconn >= 0,
            maxconn=max(op.maxconn, 0),
            addr=op.addr,
            has_port=op.port >= 0,
            port=max(op.port, 0),
        )
        return await self._ask(seq, waiting, change)

    async def runtime_change(self, command: str, apply: Callable[[str], str]) -> str:
        """Have every worker of the generation run `command` (worker/cli_write.py): through
        the master, which hands it to each of them in one order and confirms to us once our
        copy came back (so it is in force here when we answer); `apply` runs it alone."""
        if self.channel is None:
            apply(command)
            return ""
        self._seq += 1
        seq = self._seq
        waiting: list = [trio.Event(), ""]
        self._pending[seq] = waiting
        return await self._ask(seq, waiting, RuntimeChange(seq=seq, command=command))

    async def ask_peers(self, pid: int = 0) -> Peers | None:
        """Runtime-API sessions to the other workers (to worker `pid` only, when not 0),
        opened by the master; None when running alone or the master did not answer."""
        if self.channel is None:
            return None
        return await self.peer_asks.ask(self.channel, self._send_lock, pid)

    async def _ask(self, seq: int, waiting: list, change: AdminChange | RuntimeChange) -> str:
        assert self.channel is not None
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
