"""The master process (-W, -Ws, `master-worker`): spawn, supervise, reload, stop.

The command (master/cmdline.py) has read the configuration and bound every listener before
trio starts; `run_master()` takes it from there. As a table of contents:
- start: spawn_generation(): one worker per `nbthread`/`nbproc` (default: the CPUs this
  process may run on), each sent its start message and listeners over its channel; the
  master waits for every READY, then says "Loading success." and notifies systemd;
- run: signals arrive through trio.open_signal_receiver (coalesced, house rule 5):
  USR2/HUP reload, TERM/INT stop everything (forwarded), USR1 soft-stops every worker and
  the master leaves with the last one, TTOU/TTIN are forwarded; each worker has a watcher
  task that reaps it (master/workers.py) and applies HAProxy's exit rules;
- reload (handle_reload): read the configuration again; on failure the old generation keeps
  serving; else listeners are matched by address and options (kept sockets are the same
  kernel sockets, new ones are bound, removed ones are closed once the old workers are gone),
  the new generation is spawned and only once all of it is READY is the old one told to stop
  softly, and what changed (proxies and servers added, removed, modified) is logged. A new
  worker that dies or is not READY in time fails the reload: the new generation is stopped
  and the old one keeps serving;
- stop: when no worker is left, "All workers exited. Exiting... (N)" and N is the status:
  the first abnormal worker exit (exit-on-failure), 130 after SIGINT, else 0.
- shared state: each generation gets its stats table (haproxy_py/process/shm.py) before its
  workers start, sized by its worker count; each worker gets the table and its slot (@N - 1,
  kept by a respawned worker) with its start message. A reload copies the operator-set server
  state into the new table (carry_over); an old table is closed once its generation has left.
  The master is the single writer of the admin section: a worker forwards `disable server`,
  `set weight`... as AdminChange, the master writes it, logs HAProxy's line and answers
  AdminDone;
- programs (master/programs.py): started before the first generation and restarted on
  reload (unless `no option start-on-reload`), signalled with the workers, reaped like them;
  once no worker is left they get SIGTERM and the master leaves after the last one.
HAProxy's lines, in its words where tools grep them: `New worker (PID) forked`, `Loading
success.`, `Reloading HAProxy`, `Loading failure!`, `Current worker (PID) exited with code N
(...)`, `Former worker (PID) exited with code N (...)`, `Exiting Master process...`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from haproxy_py.checks.track import edges as track_edges
from haproxy_py.checks.track_admin import inherit_all
from haproxy_py.config.model import Config
from haproxy_py.process.daemon import release_stderr, write_pidfile
from haproxy_py.process.handoff import send_start
from haproxy_py.process.listeners import (
    BindError,
    Listener,
    bind_one,
    listener_key,
    listener_specs,
)
from haproxy_py.process.logsend import AdminLog, AdminReporter, open_master_log
from haproxy_py.process.shm import StatsTable, TableError, carry_over, create_table, open_table
from haproxy_py.proto.cli_help import Level
from haproxy_py.proto.ipc import (
    AdminChange,
    AdminDone,
    Ready,
    RuntimeChange,
    SessionsAsk,
    SoftStop,
)
from haproxy_py.report import Reporter
from haproxy_py.runtime_api.admin import AdminOp, apply_op
from haproxy_py.stats.layout import FORCED_MASK, layout_for, pack_address
from master.changes import describe_changes
from master.control import MasterControl, StartupLog
from master.mcli import serve_master_cli
from master.notify import Notifier
from master.programs import (
    ProgramProcess,
    ProgramSpec,
    plan_reload,
    program_specs,
    spawn_program,
    wait_for_program,
)
from master.reexec import (
    MASTER_SIGNALS,
    CarriedState,
    ReexecError,
    adopt_carried,
    carry_master,
    exec_master,
    unblock_master_signals,
)
from master.runtime_changes import RuntimeChanges
from master.session_peers import open_peers
from master.single import DEFAULT_PROXY_MAXCONN, stop_old_processes
from master.workers import (
    ORDERLY_EXITS,
    WorkerProcess,
    describe_exit,
    spawn_worker,
    wait_for_exit,
)

READY_TIMEOUT = 60.0  # seconds a new worker has to load, isolate itself and accept
RESPAWN_INTERVAL = 1.0  # no-exit-on-failure: at most one respawn per second per slot


@dataclass
class MasterSettings:
    """What the master needs from the command line besides the configuration."""

    load_config: Callable[[], Config | None]  # read and report; None when invalid
    worker_settings: dict[str, Any]  # the WorkerStart settings (-dS, -n, -N ...)
    reuseport: bool = True
    pidfile: str | None = None
    systemd: bool = False
    program: str = ""  # the command as started (argv[0]) and its arguments, for the re-exec
    argv: list[str] = field(default_factory=list)
    start_dir: str = "/"  # where the command started (before any -C), for the re-exec
    reexec: bool = True  # reload by re-executing the master (False: reload in place)
    daemon: bool = False  # -D / `daemon`: stderr goes to /dev/null once started


@dataclass(eq=False)
class Master:
    config: Config
    listeners: list[Listener]
    settings: MasterSettings
    reporter: Reporter
    notifier: Notifier
    workers: list[WorkerProcess] = field(default_factory=list)
    generation: int = 0
    reloads: int = 0
    failed_reloads: int = 0
    started_at: float = field(default_factory=time.time)
    stopping: int = 0  # the signal stopping everything (TERM, INT or USR1), once received
    exit_status: int | None = None  # set by the first abnormal exit (exit-on-failure)
    retired: list[tuple[list[Listener], list[WorkerProcess]]] = field(default_factory=list)
    nursery: trio.Nursery | None = None
    finished: trio.Event = field(default_factory=trio.Event)
    log: StartupLog | None = None  # what the master printed since its last (re)start
    carried: CarriedState | None = None  # set in a re-executed image: what to resume
    mcli: list[tuple[Listener, Level]] = field(default_factory=list)  # -S sockets
    reload_lock: trio.Lock = field(default_factory=trio.Lock)  # one reload at a time
    tables: dict[int, StatsTable] = field(default_factory=dict)  # generation -> stats table
    serving: int = 0  # the generation serving now (its table is the one admin changes go to)
    runtime_changes: RuntimeChanges = field(default_factory=RuntimeChanges)  # maps, limits
    programs: list[ProgramProcess] = field(default_factory=list)  # `program` sections
    leaving: bool = False  # no worker left: waiting for the programs before exiting

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> int:
        with trio.open_signal_receiver(*sorted(MASTER_SIGNALS)) as signals:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                unblock_master_signals()  # blocked across a re-exec; the receiver is here now
                # The master CLI answers from the start, also while a re-executed image is
                # still reloading: a `show proc` right after READY=1 must not find it deaf.
                if self.log is not None:
                    control = MasterControl(self, self.log)
                    for listener, level in self.mcli:
                        nursery.start_soon(serve_master_cli, listener, level, control)
                if self.carried is not None:
                    await self.resume(self.carried)
                else:
                    self.write_pidfile()
                    async with self.reload_lock:  # a `reload` typed meanwhile waits for it
                        # The programs first, as HAProxy does.
                        self.start_programs(program_specs(self.config), self.config)
                        first = await self.spawn_generation(self.config, self.listeners)
                    if first is not None:
                        self.serving = self.generation
                        self.reporter.notice("Loading success.")
                        self.notifier.notify("READY=1", f"MAINPID={os.getpid()}")
                        stop_old_processes(self.settings.worker_settings)
                    if self.settings.daemon:
                        release_stderr()
                nursery.start_soon(self.handle_signals, signals)
                await self.finished.wait()
                nursery.cancel_scope.cancel()
        for listener in self.listeners:
            listener.sock.close()
        for listener, _ in self.mcli:
            listener.sock.close()
        self.notifier.close()
        for table in self.tables.values():
            table.close()
        return self.final_status()

    async def resume(self, carried: CarriedState) -> None:
        """The first thing a re-executed master does: adopt its workers, then reload."""
        assert self.nursery is not None
        self.watch_carried_workers()
        for program in self.programs:
            self.nursery.start_soon(self.watch_program, program)
        self._close_retired()
        async with self.reload_lock:  # a `reload` typed meanwhile waits for this one
            succeeded = await self._reload()
        answer = f"Success={int(succeeded)}\n--\n{self.log.text() if self.log else ''}\n"
        for fd in carried.requesters:
            await answer_and_close(fd, answer)
        if not self.workers:
            self._leave_when_alone()

    def watch_carried_workers(self) -> None:
        """Watch each carried worker; one the previous image reaped just before its exec (its
        channel was still being read) has its end reported now, as that image would have."""
        assert self.nursery is not None
        for worker in list(self.workers):
            if worker.exit_code is None:
                self.nursery.start_soon(self.watch_worker, worker)
            else:
                worker.channel.close()
                self.worker_exited(worker, worker.exit_code)

    def final_status(self) -> int:
        if self.exit_status is not None:
            return self.exit_status
        return 128 + signal.SIGINT if self.stopping == signal.SIGINT else 0

    def write_pidfile(self) -> None:
        path = self.settings.pidfile or self.config.global_.pidfile
        if path and (error := write_pidfile(path, os.getpid())):
            self.reporter.alert(f"[haproxy.main()] Cannot create pidfile {path} ({error})")

    def worker_count(self, config: Config) -> int:
        wanted = config.global_.nbthread or config.global_.nbproc
        return wanted or max(1, len(os.sched_getaffinity(0)))

    # -- generations ----------------------------------------------------------------------

    async def spawn_generation(
        self, config: Config, listeners: list[Listener]
    ) -> list[WorkerProcess] | None:
        """Start a full generation and wait until every worker is READY; None if one died or
        was too slow (then the ones started are stopped)."""
        assert self.nursery is not None
        self.generation += 1
        count = self.worker_count(config)
        table = create_table(layout_for(config, count))
        table.generation = self.generation
        previous = self.tables.get(self.serving)
        if previous is not None:
            carry_over(previous, table)
        inherit_all(table, track_edges(config))  # followers of servers in maintenance or drain
        self.tables[self.generation] = table
        fresh: list[WorkerProcess] = []
        for number in range(1, count + 1):
            worker = spawn_worker(config.environment, generation=self.generation, relative=number)
            fresh.append(worker)
            self.workers.append(worker)
            self.reporter.notice(f"New worker ({worker.pid}) forked")
            self.nursery.start_soon(self.watch_worker, worker)
            send_start(
                worker.channel, config, listeners, self.settings.worker_settings,
                table.fd, number - 1,
            )  # fmt: skip
        with trio.move_on_after(READY_TIMEOUT):
            for worker in fresh:
                await worker.settled.wait()
                if not worker.ready.is_set():
                    break  # one died before it was ready: no need to wait for the others
        if all(worker.ready.is_set() and not worker.exited.is_set() for worker in fresh):
            return fresh
        for worker in fresh:
            worker.kill(signal.SIGTERM)
        return None

    def adopt_tables(self, carried: dict[int, int]) -> None:
        """A re-executed master maps the tables it carried (generation -> descriptor); a write
        the previous image left half-done is closed (it was their admin writer)."""
        for generation, fd in carried.items():
            try:
                table = open_table(fd)
            except (TableError, OSError) as exc:
                self.reporter.alert(f"cannot map the stats table of generation {generation}: {exc}")
                continue
            table.recover(table.layout.servers, admin=True)
            self.tables[generation] = table

    async def watch_worker(self, worker: WorkerProcess) -> None:
        """Read the worker's messages until its channel closes, reap it, apply the rules."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_messages, worker)
                code = await wait_for_exit(worker)
                # The reader ends on its own: a dead process holds no end of the channel.
        finally:
            worker.channel.close()
        self.worker_exited(worker, code)

    async def _read_messages(self, worker: WorkerProcess) -> None:
        while True:
            received = await worker.channel.receive()
            if received is None:
                return
            message, fds = received
            for fd in fds:
                os.close(fd)
            if isinstance(message, Ready):
                await self.runtime_changes.replay(worker)  # maps changed since (a respawn)
                worker.ready.set()
                worker.settled.set()
            elif isinstance(message, RuntimeChange):  # master/runtime_changes.py
                table = self.tables.get(worker.generation)  # `add|del server` write it
                await self.runtime_changes.broadcast(worker, message, self.workers, table)
            elif isinstance(message, SessionsAsk):  # master/session_peers.py
                await open_peers(worker, message, self.workers)
            elif isinstance(message, AdminChange):
                error = self.admin_change(worker, message)
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await worker.channel.send(AdminDone(seq=message.seq, error=error))

    def admin_change(self, worker: WorkerProcess, change: AdminChange) -> str:
        """Write a worker's admin change into the serving generation's table (and that of the
        asking worker's generation, if it is an older one still serving); "" or the error."""
        op = AdminOp(
            change.backend,
            change.server,
            set_bits=change.set_bits & FORCED_MASK,
            clear_bits=change.clear_bits & FORCED_MASK,
            weight=change.weight if change.has_weight else -1,
            maxconn=change.maxconn if change.has_maxconn else -1,
            addr=change.addr,
            port=change.port if change.has_port else -1,
        )
        if op.weight > 256:
            return "Absolute weight can only be between 0 and 256 inclusive."
        if op.port > 65535 or op.maxconn > 2**31 - 1:
            return "Value out of range."
        if op.addr:
            try:
                pack_address(op.addr)
            except ValueError:
                return f"Invalid addr '{op.addr}'"
        targets = [self.tables.get(self.serving), self.tables.get(worker.generation)]
        written = False
        for table in dict.fromkeys(t for t in targets if t is not None):
            try:
                table.layout.server(op.backend, op.server)
            except KeyError:
                continue
            lines = apply_op(table, self.config, op)
            if not written:
                for level, line in lines:
                    (self.reporter.alert if level == "alert" else self.reporter.warning)(line)
            written = True
        return "" if written else "No such server."

    def worker_exited(self, worker: WorkerProcess, code: int) -> None:
        self.workers.remove(worker)
        self._close_tables()
        how = f"exited with code {code} ({describe_exit(code)})"
        if worker.old:
            self.reporter.warning(f"Former worker ({worker.pid}) {how}")
        elif not worker.ready.is_set() and worker.generation > 1:
            # A reload's new worker that never served: the reload fails, the old ones stay.
            self.reporter.warning(f"New worker ({worker.pid}) {how} before it was ready")
        else:
            line = f"Current worker ({worker.pid}) {how}"
            self.reporter.alert(line) if code >= 128 else self.reporter.warning(line)
            if not worker.ready.is_set() and not self.stopping:
                # The first generation could not start: nothing serves, and nothing will.
                self.exit_status = code or 1
                self.stop(signal.SIGTERM, announce=False)
            elif not self.stopping and code not in ORDERLY_EXITS:
                self.worker_failed(worker, code)
        self._close_retired()
        if not any(not other.old for other in self.workers) and not self._respawning():
            self._leave_when_alone()

    def worker_failed(self, worker: WorkerProcess, code: int) -> None:
        if self.config.global_.setting("no-exit-on-failure"):
            assert self.nursery is not None
            self.nursery.start_soon(self.respawn, worker)
            return
        self.reporter.alert("exit-on-failure: killing every processes with SIGTERM")
        self.exit_status = code
        self.stop(signal.SIGTERM, announce=False)

    def _respawning(self) -> bool:
        return bool(self.config.global_.setting("no-exit-on-failure")) and not self.stopping

    async def respawn(self, dead: WorkerProcess) -> None:
        """Replace a crashed worker of the current generation, one per second at most."""
        await trio.sleep(max(0.0, dead.started_at + RESPAWN_INTERVAL - time.time()))
        if self.stopping:
            return
        assert self.nursery is not None
        table = self.tables.get(dead.generation)
        if table is None:
            return
        table.reset_gauges(dead.relative - 1)  # its sessions died with it; totals carry on
        worker = spawn_worker(
            self.config.environment, generation=dead.generation, relative=dead.relative
        )
        self.workers.append(worker)
        self.reporter.notice(f"New worker ({worker.pid}) forked")
        self.nursery.start_soon(self.watch_worker, worker)
        send_start(
            worker.channel, self.config, self.listeners, self.settings.worker_settings,
            table.fd, dead.relative - 1,
        )  # fmt: skip

    def _leave_when_alone(self) -> None:
        if self.workers:
            return  # old workers still finishing: the master stays to reap them
        if self.programs:  # nothing left to supervise: the programs go with the master
            self.leaving = True
            for program in self.programs:
                program.kill(signal.SIGTERM)
            return  # program_exited() comes back here with the last one
        self.reporter.warning(f"All workers exited. Exiting... ({self.final_status()})")
        self.finished.set()

    def _close_tables(self) -> None:
        """A generation's table goes once none of its workers is left (the serving one and one
        being started stay)."""
        alive = {worker.generation for worker in self.workers}
        self.runtime_changes.forget(alive | {self.serving, self.generation})
        for generation in list(self.tables):
            if generation in alive or generation in (self.serving, self.generation):
                continue
            self.tables.pop(generation).close()

    def _close_retired(self) -> None:
        """Listeners a reload removed close once every worker that could use them is gone."""
        keep = []
        for listeners, users in self.retired:
            if any(user in self.workers for user in users):
                keep.append((listeners, users))
            else:
                for listener in listeners:
                    listener.sock.close()
        self.retired = keep

    # -- programs -------------------------------------------------------------------------

    def start_programs(self, specs: list[ProgramSpec], config: Config) -> None:
        assert self.nursery is not None
        for spec in specs:
            try:
                program = spawn_program(spec, config.environment)
            except (OSError, KeyError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else f"unknown {exc}"
                self.reporter.alert(f"Cannot start program '{spec.name}' ({reason}).")
                if not self.config.global_.setting("no-exit-on-failure") and not self.stopping:
                    self.reporter.alert("exit-on-failure: killing every processes with SIGTERM")
                    self.exit_status = self.exit_status or 1
                    self.stop(signal.SIGTERM, announce=False)
                continue
            self.programs.append(program)
            self.reporter.notice(f"New program '{spec.name}' ({program.pid}) forked")
            self.nursery.start_soon(self.watch_program, program)

    def reload_programs(self, config: Config) -> None:
        """HAProxy's order: the programs to restart get SIGUSR1, then start again; those
        with `no option start-on-reload` (and unchanged) keep running."""
        _, stopped, start = plan_reload(self.programs, program_specs(config))
        for program in stopped:
            program.old = True
            program.kill(signal.SIGUSR1)
        self.start_programs(start, config)

    async def watch_program(self, program: ProgramProcess) -> None:
        code = await wait_for_program(program)
        self.program_exited(program, code)

    def program_exited(self, program: ProgramProcess, code: int) -> None:
        self.programs.remove(program)
        how = f"program '{program.spec.name}' ({program.pid}) exited with code {code}"
        how += f" ({describe_exit(code)})"
        if program.old:
            self.reporter.warning(f"Former {how}")
        else:
            self.reporter.alert(f"Current {how}")
            failed = not self.stopping and code not in ORDERLY_EXITS
            if failed and not self.config.global_.setting("no-exit-on-failure"):
                self.reporter.alert("exit-on-failure: killing every processes with SIGTERM")
                self.exit_status = code
                self.stop(signal.SIGTERM, announce=False)
        if self.leaving:
            self._leave_when_alone()

    # -- signals --------------------------------------------------------------------------

    async def handle_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            if signum in (signal.SIGUSR2, signal.SIGHUP):
                await self.handle_reload()
            elif signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                self.stop(signum)
            else:  # SIGTTOU / SIGTTIN: the workers pause or resume their listeners
                for worker in self.workers:
                    worker.kill(signum)

    def stop(self, signum: int, *, announce: bool = True) -> None:
        """TERM/INT: every worker now; USR1: soft stop. The master leaves with the last."""
        if announce:
            self.notifier.notify("STOPPING=1")
            self.reporter.warning("Exiting Master process...")
        self.stopping = self.stopping or signum
        for worker in self.workers:
            worker.kill(signum)
        for program in self.programs:
            program.kill(signum)
        if not self.workers:
            self._leave_when_alone()

    # -- reload ---------------------------------------------------------------------------

    async def handle_reload(self, requester: int | None = None) -> bool:
        """USR2, HUP or the master CLI's `reload` (`requester`: its connection, answered by
        the next image); True when the new generation serves. Normally the master re-executes
        itself first (master/reexec.py) and the new image reloads; if the exec fails, the
        reload happens in this image."""
        async with self.reload_lock:
            if self.stopping:
                return False
            if self.settings.reexec:
                state = carry_master(self, () if requester is None else (requester,))
                try:
                    os.chdir(self.settings.start_dir)
                    exec_master(state, self.settings.program, self.settings.argv, os.environ)
                except (ReexecError, OSError) as exc:
                    self.reporter.alert(f"{exc}; reloading in place.")
            if self.log is not None:
                self.log.begin()
            return await self._reload()

    async def _reload(self) -> bool:
        self.reporter.notice("Reloading HAProxy")
        self.notifier.notify("RELOADING=1")
        self.reloads += 1
        for worker in self.workers:
            worker.reloads += 1
        for program in self.programs:
            program.reloads += 1
        config = self.settings.load_config()
        if config is None:
            return self._reload_failed("the configuration has errors")
        try:
            listeners, fresh, retired = self._match_listeners(config)
        except BindError as exc:
            for message in exc.messages:
                self.reporter.alert(message)
            return self._reload_failed("a listener could not be bound")
        old = [worker for worker in self.workers if not worker.old]
        self.reload_programs(config)
        started = await self.spawn_generation(config, listeners)
        if started is None:
            self._close_tables()
            for listener in fresh:
                listener.sock.close()
            return self._reload_failed("a new worker did not start")
        self.serving = self.generation
        for worker in old:
            worker.old = True
            await worker.channel.send(SoftStop())
        self._enforce_max_reloads(config)
        self.retired.append((retired, old))
        for change in describe_changes(self.config, config) or ["no configuration change."]:
            self.reporter.notice(f"Reload: {change}")
        self.config, self.listeners = config, listeners
        if isinstance(self.reporter, AdminReporter):  # the new configuration's log targets
            self.reporter.retarget(*(open_master_log(config) or (AdminLog(), None)))
        self.failed_reloads = 0
        self.write_pidfile()
        self.reporter.notice("Loading success.")
        self.notifier.notify("READY=1", f"MAINPID={os.getpid()}")
        self._close_retired()
        return True

    def _enforce_max_reloads(self, config: Config) -> None:
        """`mworker-max-reloads N`: an old worker still there after more than N reloads gets
        SIGTERM (its remaining connections are closed)."""
        limit = config.global_.setting("mworker-max-reloads")
        if limit is None:
            return
        for worker in self.workers:
            if worker.old and worker.reloads > limit:
                worker.kill(signal.SIGTERM)

    def _reload_failed(self, why: str) -> bool:
        self.failed_reloads += 1
        self.reporter.warning("Loading failure!")
        self.notifier.notify(f"STATUS=Reload failed: {why}; the previous workers keep serving")
        self.notifier.notify("READY=1", f"MAINPID={os.getpid()}")
        return False

    def _match_listeners(
        self, config: Config
    ) -> tuple[list[Listener], list[Listener], list[Listener]]:
        """(the new configuration's listeners, those bound fresh, those no longer used).

        Kept sockets are the very ones the master already holds, so their accept queues
        carry over; a new address is bound now, and a failure closes only what was new."""
        backlog = self.settings.worker_settings.get("maxconn_per_proxy") or DEFAULT_PROXY_MAXCONN
        held = {listener_key(listener.spec): listener for listener in self.listeners}
        matched: list[Listener] = []
        fresh: list[Listener] = []
        errors: list[str] = []
        for spec in listener_specs(config, default_backlog=backlog):
            kept = held.pop(listener_key(spec), None)
            if kept is not None:
                matched.append(Listener(spec, kept.sock))
                continue
            try:
                listener = Listener(spec, bind_one(spec, self.settings.reuseport))
            except BindError as exc:
                errors += exc.messages
                continue
            fresh.append(listener)
            matched.append(listener)
        if errors:
            for listener in fresh:
                listener.sock.close()
            raise BindError(errors)
        return matched, fresh, list(held.values())


async def answer_and_close(fd: int, text: str) -> None:
    """Answer a master-CLI connection carried across the re-exec, then close it."""
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
    async with stream:
        with trio.move_on_after(5), contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(text.encode("utf-8", "surrogateescape"))


def with_master_log(reporter: Reporter, config: Config) -> Reporter:
    """The master's reporter, also sending its process events to the global log targets
    and admin lines (maintenance changes it writes) to their proxy's targets."""
    opened = open_master_log(config)
    if opened is None:
        return reporter
    wrapped = AdminReporter(reporter, opened[0], process_events=True)
    wrapped.retarget(*opened)
    return wrapped


def run_master(
    config: Config,
    listeners: list[Listener],
    mcli: list[tuple[Listener, Level]],
    settings: MasterSettings,
    reporter: Reporter,
    carried: CarriedState | None = None,
) -> int:
    """The master's life under trio; returns its exit status. With `carried`, this image
    was re-executed for a reload: `config` is the last good one and the rest is adopted."""
    # A master-CLI client that hangs up before its answer is an EPIPE, not the master's death
    # (the command line restores SIGPIPE's default so that `haproxy-py -vv | head` is quiet).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log = StartupLog(reporter.stream)
    reporter.stream = log
    reporter = with_master_log(reporter, config)  # events and admin lines to syslog too
    master = Master(config, listeners, settings, reporter, Notifier(settings.systemd))
    master.log, master.mcli, master.carried = log, mcli, carried
    if carried is not None:
        for name, value in adopt_carried(carried).items():
            if name == "tables":
                master.adopt_tables(value)
            else:
                setattr(master, name, value)
    return trio.run(master.run)
