"""Health checks at run time: the servers this worker owns, their checks, what results do.

`serve_checks(state)` runs in the worker's root nursery for as long as the worker serves.
Every server is checked by one worker of the generation, its owner (haproxy_py/checks/
shared.py `owner_of`); `checks_for` finds this worker's (`check` or `agent-check` on a
server with an address, not `disabled`), gives each a `ServerCheck` resumed from the
server's shared row (a respawn or a reload carries the verdict over), and hands them to the
scheduler (worker/check_scheduler.py: one task, first checks spread over the shortest
`inter`, then each at the interval its state calls for: `inter`, `fastinter`, `downinter`,
moved by `spread-checks`). A result feeds the rise/fall machine (`apply_result`), is written
to the row every worker routes on (`commit`) and, when the server's verdict changes (its
checks and its agent, worker/check_agent.py), is applied to the farm and logged in
HAProxy's words, then passed to the servers tracking it (`announce`, worker/
check_effects.py). `observe` is worker/check_observe.py.
Rules of this file: every network wait has a deadline (connect: min(`timeout connect`,
`inter`); then `timeout check`, else the rest of `inter`); sockets are closed on every way
out; the probe logic is the sans-IO generator of haproxy_py/checks/probe.py; only the
owner writes a server's health row.
"""

from __future__ import annotations

import _socket
import errno
import os
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import trio
from trio.lowlevel import wait_readable, wait_writable

from haproxy_py.checks import messages
from haproxy_py.checks.agent import AgentSettings, agent_settings
from haproxy_py.checks.health import Health
from haproxy_py.checks.probe import PLAIN, Connect, IoError, Plan, Receive, Send, run
from haproxy_py.checks.settings import CheckSettings, check_settings
from haproxy_py.checks.shared import NO_DURATION, Timeline, owner_of, resume, row_values
from haproxy_py.checks.status import INI, CheckResult
from haproxy_py.checks.track import direct_trackers, dynamic_edges
from haproxy_py.process.shm import StatsTable
from haproxy_py.report import Reporter
from haproxy_py.stats.layout import (
    AGENT_OFF,
    CHKDOWN,
    CHKFAIL,
    HEALTH_OFF,
    MAINT_MASK,
    STARTING,
    STOPPING,
    ServerSlot,
)
from worker.backend import BackendRuntime, ServerRuntime, Target
from worker.check_agent import serve_agent
from worker.check_driver import Driver, drivable
from worker.check_effects import Effects, Follower, followers_of
from worker.check_observe import Watch, attach_observers, observe_server
from worker.check_scheduler import MAX_TICK, Scheduler, close_reset, connect_now
from worker.connecting import connect_socket
from worker.proxy_header import check_header, checks_send_proxy
from worker.shared_state import SharedState

RECV_SIZE = 16 * 1024
PLAIN_CONNECT = Connect(None, None)  # the one step of a plain connect check
PAUSED_POLL = 0.25  # seconds between two looks for the master's admin writes (maintenance)
_LB_FIELDS = ("op_state", "changed_ms", "agent_health")  # what StateSync applies


@dataclass(eq=False)
class ServerCheck:
    """One owned server's check state. `show stat` reads the shared row this writes."""

    settings: CheckSettings
    backend: BackendRuntime
    server: ServerRuntime
    health: Health
    slot: ServerSlot | None = None  # its state row; None without a table (tests)
    timeline: Timeline = field(default_factory=lambda: Timeline(int(time.time())))
    last: CheckResult = field(default_factory=lambda: CheckResult(INI))
    effects: Effects | None = None  # the worker's writer for followers and warm-ups
    followers: list[Follower] = field(default_factory=list)  # servers tracking this one
    scheduler: Scheduler | None = None
    due: float = 0.0  # trio clock of its next check (the scheduler's current entry)
    running: bool = False  # a check in flight in a task of its own
    late: float = 0.0  # how late the scheduler started the current (or last) check, in s
    hurried: float | None = None  # a hurry() that came while it was running
    rng: random.Random | None = None
    written: dict[str, int] | None = None  # its row as this worker last wrote it
    runs: bool = True  # False: only an agent (`agent-check` without `check`)
    agent: AgentSettings | None = None
    agent_up: bool = True  # the agent has not said down/fail/stopped
    agent_last: CheckResult | None = None
    stopping: bool = False  # `http-check disable-on-404`: UP but out of the farm (NOLB)
    paused: bool = False  # in maintenance: not checked (`disabled`, `disable server`...)
    disabled: bool = False  # `disable health` (runtime API): not checked, state kept
    agent_disabled: bool = False  # `disable agent`: the agent is not asked
    removed: bool = False  # `del server` (with `disabled`): never scheduled again
    admin_epoch: int = -1  # the state epoch when `paused` was last looked up
    maint_known: bool = False  # `paused` was looked up once (the first look changes nothing)
    tried_now: bool = True  # its first connect is tried by the scheduler (`_try_now`)
    address: tuple[int, object] = (0, None)  # (family, address) the checks connect to...
    address_of: object = None  # ... worked out for this target (ServerRuntime.target)
    # check-send-proxy (or send-proxy on its own address): the server's options, else None
    proxy_header: Any = None

    @property
    def up(self) -> bool:
        """The server's verdict: its checks say UP and its agent does not say down."""
        return self.health.up and self.agent_up

    def hurry(self) -> None:
        """The next check comes after `fastinter` at the latest (`observe`'s `on-error`)."""
        if self.scheduler is not None and self.runs:
            self.scheduler.hurry(self, trio.current_time() + self.settings.fastinter / 1000)

    def next_due(self, now: float) -> float:
        """When the check after the one just done is due: the interval its state calls for."""
        settings, health = self.settings, self.health
        if self.hurried is None and settings.spread <= 0:  # the usual case, in short
            if health.up and health.health == health.rise + health.fall - 1:
                return now + settings.inter / 1000
            if not health.up and health.health == 0:
                return now + settings.downinter / 1000
        interval = settings.interval(health.up, health.steady)
        due = now + settings.spread_interval(interval, self.rng or random.Random()) / 1000
        if self.hurried is not None:
            due, self.hurried = min(due, self.hurried), None
        return due


def checks_for(
    state: object, reporter: Reporter, effects: Effects | None = None
) -> list[ServerCheck]:
    """The checks this worker owns, in backend then server order, each resumed from the
    server's shared row (a respawn or a reload carries the last known state over), with
    the servers tracking it brought in line."""
    config = state.config  # type: ignore[attr-defined]
    backends: dict[str, BackendRuntime] = state.backends  # type: ignore[attr-defined]
    shared = getattr(state, "shared", None)
    table = shared.table if shared is not None else None
    if effects is None:
        effects = Effects(table, shared.slot if shared is not None else 0, reporter)
    trackers = direct_trackers(config)
    if table is not None:  # servers `add server ... track` added (a respawn's replay)
        for follower, target in dynamic_edges(table.layout):
            trackers.setdefault(target, []).insert(0, follower)
    result = []
    for backend in backends.values():
        proxy = backend.proxy
        runtimes = {runtime.name: runtime for runtime in backend.servers.values()}
        for server in proxy.servers:
            agent = agent_settings(proxy, server, config.global_)
            settings = check_settings(proxy, server, config.global_, force=agent is not None)
            runtime = runtimes.get(server.name)
            if settings is None or runtime is None or runtime.target is None:
                continue
            slot = _slot(table, proxy.name, server.name)
            if server.option("disabled") and slot is None:
                continue  # maintenance, and no runtime API to take it out: never checked
            if slot is not None and owner_of(slot.index, table.layout.workers) != shared.slot:
                continue  # another worker checks it; its row tells this one the verdict
            target = runtime.target
            runs = bool(server.option("check"))
            if settings.observe == "layer7" and proxy.mode != "http":
                # HAProxy's words; it runs on, counting only failed connections there.
                reporter.alert(
                    f"config : [{server.where}] : 'server {proxy.name}/{server.name}' :"
                    " 'layer7' can only be used in http proxies.."
                )
            if runs and target.family != socket.AF_UNIX and target.relative and not settings.port:
                reporter.warning(
                    f"config : [{server.where}] : 'server {proxy.name}/{server.name}' has"
                    " neither service port nor check port. Check has been disabled."
                )
                continue
            check = ServerCheck(settings, backend, runtime, Health(settings.rise, settings.fall))
            check.effects, check.runs, check.agent = effects, runs, agent
            if checks_send_proxy(server.options):  # worker/proxy_header.py
                check.proxy_header = server.options
            first = settings.plan.steps[0]  # the implicit connect, without a PROXY header
            check.tried_now = first.action == "connect" and first.number == 0
            check.tried_now &= check.proxy_header is None
            check.followers = followers_of((proxy.name, server.name), trackers, backends, table)
            if slot is not None:
                followers = _slots(check.followers)
                table.recover([slot, *followers], admin=False)  # a dead owner's half write
                row = table.read_health(slot)
                check.slot = slot
                check.health = resume(row.op_state, row.check_health, settings.rise, settings.fall)
                check.timeline = Timeline(
                    row.last_change, row.downtime, row.down_since, row.changed_ms
                )
                check.agent_up = agent is None or bool(row.agent_health)
                check.stopping = row.op_state == STOPPING and check.health.up
                check.disabled = bool(row.check_flags & HEALTH_OFF)  # worker/cli_checks.py
                check.agent_disabled = bool(row.check_flags & AGENT_OFF)
                if not check.agent_up and not check.health.up:
                    check.health.force(True)  # DOWN by its agent only: its checks passed
                if row.op_state == STARTING:
                    effects.warm_up(slot, row.changed_ms, settings.slowstart)
            effects.align(check.followers, check.up, check.stopping)
            runtime.check = check
            result.append(check)
    return result


def _slots(followers: list[Follower]) -> list[ServerSlot]:
    found = []
    for follower in followers:
        if follower.slot is not None:
            found.append(follower.slot)
        found += _slots(follower.followers)
    return found


def _slot(table: StatsTable | None, backend: str, server: str) -> ServerSlot | None:
    if table is None:
        return None
    try:
        return table.layout.server(backend, server)
    except KeyError:
        return None


async def serve_checks(state: object, *, rng: random.Random | None = None) -> None:
    """Run the checks of the servers this worker owns until cancelled (the worker stops)."""
    reporter: Reporter = state.reporter  # type: ignore[attr-defined]
    shared: SharedState | None = getattr(state, "shared", None)
    table = shared.table if shared is not None else None
    effects = Effects(table, shared.slot if shared is not None else 0, reporter)
    checks = checks_for(state, reporter, effects)
    observed = [check for check in checks if check.settings.observe != "none"]
    watch = None
    if table is not None:  # (`add server ... observe` may give it servers to watch later)

        def apply(check: ServerCheck, result: CheckResult) -> None:
            apply_result(check, result, reporter, shared)

        watch = Watch(observed, table, apply)
        if shared is not None:
            shared.watch = watch  # worker/cli_dynamic.py
    attach_observers(state, watch.owned() if watch is not None else None)  # every worker counts
    if shared is not None and watch is not None:
        for server, server_settings, check in shared.waiting_observed:  # worker/cli_dynamic.py
            observe_server(server, server_settings, watch.add(check))  # type: ignore[arg-type]
        shared.waiting_observed.clear()
    if not checks and shared is None:
        return  # (with a table, `add server ... check` may give this worker checks later)
    rng = rng or random.Random()
    shortest = min((check.settings.inter for check in checks), default=0)
    plain_results: dict[int, CheckResult] = {}  # a plain connect's result: errno << 32 | ms

    epoch = [-1]  # the table's state epoch, read once per scheduler wake-up
    drivable_plans: dict[int, tuple[Plan, bool]] = {}  # id(plan) -> (plan, drivable(plan))

    def _drivable(plan: Plan) -> bool:
        known = drivable_plans.get(id(plan))
        if known is None:  # (the plan is kept with its answer: its id stays its own)
            known = drivable_plans[id(plan)] = (plan, drivable(plan))
        return known[1]

    def read_epoch() -> None:
        epoch[0] = table.state_epoch() if table is not None else -1

    look = _MaintenanceLook(list(checks), shared)

    def fast(check: ServerCheck) -> tuple[bool, Pending | None]:
        if check.__class__ is _MaintenanceLook:
            look.look()
            scheduler.add(look, scheduler.now + PAUSED_POLL)
            return True, None
        # Maintenance is looked up only when an admin write moved the epoch (or it is on).
        looked = check.paused or epoch[0] != check.admin_epoch
        if check.disabled or (looked and _paused(check, shared, epoch[0])):
            if not check.removed:
                scheduler.add(check, _paused_due(check))
            return True, None
        done, pending = _try_now(check, reporter, shared, plain_results)
        if pending is not None and pending.connected and _drivable(check.settings.plan):
            # Connected at once: the rest of the dialogue needs no task (check_driver.py).
            check.running = True
            settings = check.settings
            if settings.read_timeout:
                deadline = trio.current_time() + settings.read_timeout / 1000
            else:
                deadline = pending.started + settings.inter / 1000
            driver.start_plan(
                check, pending.sock, settings.plan, check.up, pending.started, deadline
            )
            return True, None
        return done, pending

    def finished(check: ServerCheck, result: CheckResult) -> None:
        check.running = False
        apply_result(check, result, reporter, shared)
        scheduler.add(check, check.next_due(scheduler.resumed(check, trio.current_time())))

    async def slow(check: ServerCheck, pending: Pending | None) -> None:
        try:
            result = await run_check(check, pending)
            apply_result(check, result, reporter, shared)
        finally:
            check.running = False
            scheduler.add(check, check.next_due(scheduler.resumed(check, trio.current_time())))

    scheduler = Scheduler(slow, fast)
    scheduler.on_wake = read_epoch
    scheduler.tick = MAX_TICK
    for check in checks:
        _fit(scheduler, check)
    # The driver's timeouts ride on the scheduler's wake-ups: its own wait needs no cancel
    # scope (one per answer read, otherwise).
    driver = Driver(finished, timers=False)

    def timers(now: float) -> float:
        driver.ready()  # the answers already there, read while this wake-up lasts
        return driver.expire(now)

    scheduler.timers = timers
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(effects.serve_warmups)
        nursery.start_soon(driver.serve)
        if watch is not None:
            nursery.start_soon(watch.serve)
        for position, check in enumerate(checks):
            offset = shortest * position / len(checks) / 1000
            check.scheduler, check.rng = scheduler, rng
            if check.runs:
                scheduler.add(check, start + offset)
            if check.agent is not None:
                nursery.start_soon(serve_agent, check, shared, offset, commit, announce)
        nursery.start_soon(scheduler.serve, nursery)
        if shared is not None:
            scheduler.add(look, start)

            def take(check: object) -> None:  # a dynamic server's (worker/cli_checks.py)
                look.checks.append(check)  # type: ignore[arg-type]
                check.scheduler, check.rng = scheduler, rng  # type: ignore[attr-defined]
                _fit(scheduler, check)  # type: ignore[arg-type]
                if check.runs:  # type: ignore[attr-defined]
                    scheduler.add(check, trio.current_time())
                if check.agent is not None:  # type: ignore[attr-defined]
                    nursery.start_soon(serve_agent, check, shared, 0, commit, announce)

            shared.check_runner = take
            for waiting in shared.waiting_checks:  # added before this ran (a respawn's replay)
                take(waiting)
            shared.waiting_checks.clear()


def _fit(scheduler: Scheduler, check: ServerCheck) -> None:
    """The scheduler's tick made fine enough for the check's shortest interval."""
    settings = check.settings
    scheduler.fit(min(settings.inter, settings.fastinter, settings.downinter) / 1000)


def _paused(check: ServerCheck, shared: SharedState | None, epoch: int) -> bool:
    """Whether the server is in maintenance, which pauses its checks (as HAProxy).
    `epoch`: the table's state epoch (an admin write moves it: the row is read only then)."""
    if check.slot is None or shared is None:
        return False
    if epoch != check.admin_epoch:
        check.admin_epoch = epoch
        follow_maintenance(check, shared)
    return check.paused


def _paused_due(check: ServerCheck) -> float:
    """When a check that is not run (maintenance, `disable health`) is looked at again. In
    maintenance its schedule goes on every `inter` (HAProxy's does): leaving it, the server
    shows `UP 1/3` until the check that was due anyway confirms it; the watch of
    `_MaintenanceLook` sees it leave in the meantime."""
    now = trio.current_time()
    if check.disabled or not check.paused:
        return now + PAUSED_POLL
    due = check.due + check.settings.inter / 1000
    return due if due > now else now + check.settings.inter / 1000


def follow_maintenance(check: ServerCheck, shared: SharedState) -> None:
    """Bring the check in line with its server's admin row: maintenance pauses it, leaving
    it starts the server again UP at `rise`, not yet confirmed (`UP 1/3` in show stat), its
    next check due when it would have been. The first look only notes the state (a server
    configured `disabled`, or resumed in maintenance, has nothing to leave)."""
    assert check.slot is not None
    maint = bool(shared.table.read_admin(check.slot).admin_state & MAINT_MASK)
    quiet, check.maint_known = not check.maint_known, True
    if maint == check.paused:
        return
    check.paused = maint
    if quiet:
        return
    if maint:
        _enter_maintenance(check, shared)
    else:
        _leave_maintenance(check, shared)


def _enter_maintenance(check: ServerCheck, shared: SharedState) -> None:
    """An UP server going into maintenance goes down as HAProxy counts it: chkdown, lastchg
    and downtime from now; its counter drops to `rise`, what `show stat` shows on leaving.
    A server already DOWN keeps its row (HAProxy's lastchg and downtime go on)."""
    if not check.up:
        return
    check.server.counters.row[CHKDOWN] += 1
    check.timeline.went_down(time.time())
    check.health.health = check.health.rise
    commit(check, True, shared)


def _leave_maintenance(check: ServerCheck, shared: SharedState) -> None:
    was_up = check.up
    check.health = Health(check.settings.rise, check.settings.fall)
    check.stopping = False
    # HAProxy restarts lastchg, and leaves the time in maintenance (and a DOWN spell just
    # before it) out of downtime.
    timeline = check.timeline
    timeline.down_since = 0
    if was_up:
        timeline.last_change, timeline.changed_ms = int(time.time()), int(time.time() * 1000)
    commit(check, was_up, shared)  # op_state RUNNING: every worker routes to it again
    if check.effects is not None:  # its followers left maintenance UP with it (HAProxy)
        check.effects.align(check.followers, check.up)


class _MaintenanceLook:
    """The master's admin writes (its epoch word) followed for the checks this worker owns,
    so that maintenance is seen within PAUSED_POLL rather than at a check's next due time.
    It is an entry of the check scheduler's heap, not a task: its wake-ups fall on the
    scheduler's ticks, which the checks wake anyway (none added while they run). One word
    is read per look, the rows only when the master wrote."""

    def __init__(self, checks: list[ServerCheck], shared: SharedState | None) -> None:
        self.checks = checks
        self.shared = shared
        self.seen = -1
        self.due = 0.0  # the scheduler's fields of a heap entry
        self.running = False
        self.late = 0.0

    def look(self) -> None:
        shared = self.shared
        if shared is None:
            return
        master = int(shared.table.epochs[0])
        if master == self.seen:
            return
        self.seen = master
        self.checks[:] = [check for check in self.checks if not check.removed]
        for check in self.checks:
            if check.runs and check.slot is not None:
                follow_maintenance(check, shared)


# -- one check ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Pending:
    """A check the scheduler's try began: its socket (connected, or connecting)."""

    sock: _socket.socket
    connected: bool
    started: float


def _try_now(
    check: ServerCheck,
    reporter: Reporter,
    shared: SharedState | None,
    plain_results: dict[int, CheckResult],
) -> tuple[bool, Pending | None]:
    """Begin a check without a task: its first connect (when it is the implicit one) is
    tried at once, and a plain connect check whose connect completes at once is done here.
    (True, None) when done, else (False, what the check's task goes on from).
    `plain_results`: a plain connect check's result by errno (0: connected), worked out by
    its probe once and shared by every check, since it depends on nothing else."""
    clock = time.perf_counter()  # the duration's start; the trio clock only if a task goes on
    plan = check.settings.plan
    target = check.server.target
    if not check.tried_now or target is None:
        return False, None  # an explicit first connect or a PROXY header: a task does it
    if check.address_of is not target:  # `set server .. addr` moves the target
        check.address_of = target
        check.address = _address(target, check.settings, PLAIN_CONNECT)
    family, address = check.address
    try:
        error, sock = connect_now(family, address)
    except OSError:
        return False, None  # out of descriptors: the task reports it
    if (plan.kind != PLAIN and not error) or error == errno.EINPROGRESS:
        started = trio.current_time() - (time.perf_counter() - clock)
        return False, Pending(sock, not error, started)
    if error:
        sock.close()
    else:
        close_reset(sock)
    duration = int((time.perf_counter() - clock) * 1000)
    # Keyed by errno and duration (nearly always 0 ms): the usual check builds no result.
    key = (error << 32) | duration if 0 <= duration < 1 << 32 else -1
    result = plain_results.get(key)
    if result is None:
        result = plain_results.get(error << 32)
        if result is None:
            result = plain_results[error << 32] = _probe_plain(plan, error)
        result = result.timed(duration)
        if key >= 0 and len(plain_results) < 4096:
            plain_results[key] = result
    apply_result(check, result, reporter, shared)
    scheduler = check.scheduler
    assert scheduler is not None
    # Due again an interval after it was due (it took a few µs), unless it came more than a
    # tick late (a worker held up): then from now, with no burst of checks to catch up.
    base = check.due if check.late < scheduler.tick else scheduler.now
    scheduler.add(check, check.next_due(base))
    return True, None


def _probe_plain(plan: Plan, error: int) -> CheckResult:
    """What the probe makes of a plain connect check whose connect ended with `error`."""
    probe = run(plan)
    next(probe)
    try:
        probe.send(IoError(text=os.strerror(error)) if error else None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("a plain connect check has one step")  # pragma: no cover


async def run_check(check: ServerCheck, pending: Pending | None = None) -> CheckResult:
    """Run the server's probe once over real sockets; the result carries its duration.
    `pending`: the scheduler's try of the plan's first (implicit) connect."""
    settings = check.settings
    target = check.server.target
    assert target is not None
    started = pending.started if pending is not None else trio.current_time()
    connecting = pending.sock if pending is not None else None
    connect_deadline = started + settings.connect_timeout / 1000
    # Without `timeout check` the whole check must fit in `inter`.
    deadline = started + settings.inter / 1000
    probe = run(settings.plan, up=check.up)
    sock: _socket.socket | None = None
    try:
        action = next(probe)
        while True:
            if isinstance(action, Connect):
                if sock is not None:
                    close_reset(sock)
                if connecting is not None:
                    if pending is not None and pending.connected:
                        sock, outcome = connecting, None
                    else:
                        sock, outcome = await _finish_connect(connecting, connect_deadline)
                    connecting = None
                else:
                    sock, outcome = await _connect(target, settings, action, connect_deadline)
                if sock is not None and _sends_proxy(check, action):
                    header = check_header(_server_options(check), sock)
                    outcome = await _send(sock, header, deadline)
                if sock is not None and settings.read_timeout:
                    deadline = trio.current_time() + settings.read_timeout / 1000
            elif isinstance(action, Send):
                assert sock is not None
                outcome = await _send(sock, action.data, deadline)
            else:
                assert isinstance(action, Receive) and sock is not None
                outcome = await _receive(sock, deadline)
            action = probe.send(outcome)
    except StopIteration as done:
        result: CheckResult = done.value
    finally:
        probe.close()
        if sock is not None:
            close_reset(sock)
        if connecting is not None:
            connecting.close()
    duration = int((trio.current_time() - started) * 1000)
    return result.timed(duration)


def _sends_proxy(check: ServerCheck, action: Connect) -> bool:
    """A PROXY header first: the implicit connect follows the server (check-send-proxy, or
    send-proxy without port/addr), a connect rule its own send-proxy (as HAProxy 2.6)."""
    if action.send_proxy is None:
        return check.proxy_header is not None
    return action.send_proxy


def _server_options(check: ServerCheck) -> Any:
    if check.proxy_header is not None:
        return check.proxy_header
    proxy = check.backend.proxy
    return next((s.options for s in proxy.servers if s.name == check.server.name), {})


async def _finish_connect(
    sock: _socket.socket, deadline: float
) -> tuple[_socket.socket | None, IoError | None]:
    """Wait for a connect started by the scheduler's try."""
    error = errno.ETIMEDOUT
    try:
        with trio.move_on_at(deadline):
            await wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except BaseException:
        sock.close()
        raise
    if not error:
        return sock, None
    sock.close()
    if error == errno.ETIMEDOUT:
        return None, IoError(timeout=True)
    return None, IoError(text=os.strerror(error))


def _address(target: Target, settings: CheckSettings, action: Connect) -> tuple[int, object]:
    if target.family == socket.AF_UNIX:
        return socket.AF_UNIX, target.host
    port = action.port or settings.port or target.port
    host = action.addr or settings.addr or target.host
    if ":" in host:
        return socket.AF_INET6, (host, port, 0, target.scope_id if host == target.host else 0)
    return socket.AF_INET, (host, port)


async def _connect(
    target: Target, settings: CheckSettings, action: Connect, deadline: float
) -> tuple[_socket.socket | None, IoError | None]:
    family, address = _address(target, settings, action)
    sock, error = await connect_socket(family, address, deadline)
    if sock is None:
        if error == errno.ETIMEDOUT:
            return None, IoError(timeout=True)
        return None, IoError(text=os.strerror(error))
    return sock, None


async def _send(sock: _socket.socket, data: bytes, deadline: float) -> IoError | None:
    """Send it all: tried at once (a check's request fits an empty socket buffer), waiting
    for room only when there is none."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
            continue
        except BlockingIOError:
            pass
        except OSError as exc:
            return IoError(text=os.strerror(exc.errno or errno.EIO))
        with trio.move_on_at(deadline):
            await wait_writable(sock)
            continue
        return IoError(timeout=True)
    return None


async def _receive(sock: _socket.socket, deadline: float) -> bytes | IoError:
    """What the server sent: tried at once, waiting only when nothing is there yet."""
    while True:
        try:
            return sock.recv(RECV_SIZE)
        except BlockingIOError:
            pass
        except OSError as exc:
            return IoError(text=os.strerror(exc.errno or errno.EIO))
        with trio.move_on_at(deadline):
            await wait_readable(sock)
            continue
        return IoError(timeout=True)


# -- what a result does -------------------------------------------------------------------------


def apply_result(
    check: ServerCheck, result: CheckResult, reporter: Reporter, shared: SharedState | None = None
) -> None:
    """Feed the rise/fall machine, write the server's shared row, log, apply a transition
    (to this server, then to the servers tracking it)."""
    if check.disabled or check.paused:
        return  # `disable health` or maintenance came while the check ran: result ignored
    if _steady(check, result, shared):
        return
    settings = check.settings
    previous = check.last
    was_up, was_stopping = check.up, check.stopping
    if not result.passed and check.health.up:
        check.server.counters.row[CHKFAIL] += 1
    outcome = check.health.record(result.passed)
    check.last = result
    if result.passed:
        check.stopping = result.conditional
    elif not check.health.up:
        check.stopping = False  # DOWN: a later pass brings it back fully UP
    commit(check, was_up, shared)
    if settings.log_health_checks and (outcome.changed or previous.status != result.status):
        reporter.warning(
            messages.check_line(
                settings.backend, settings.server, settings.backup, result,
                check.health.describe(),
            )
        )  # fmt: skip
    # With log-health-checks the check line above already gave the reason.
    reason = None if settings.log_health_checks else result
    announce(check, was_up, reason, was_stopping=was_stopping)


def _steady(check: ServerCheck, result: CheckResult, shared: SharedState | None) -> bool:
    """The usual result, handled in a few comparisons: the same as the last one (status,
    code, text) for a server fully UP that passed or fully DOWN that failed. Nothing moves
    but the check's duration, written only when it changed; no log, no transition. False
    when the full path must run (anything else, or a row not yet written)."""
    health, last = check.health, check.last
    written = check.written
    if (
        written is None
        or result.status is not last.status
        or result.passed is not health.up
        or health.health != (health.rise + health.fall - 1 if health.up else 0)
        or result.code != last.code
        or result.info != last.info
        or check.stopping
        or result.conditional
        or shared is None
        or check.slot is None
        or (check.effects is not None and check.slot.index in check.effects.warming)
    ):
        return False
    check.last = result
    duration = result.duration_ms if result.duration_ms >= 0 else NO_DURATION
    if written["check_duration"] != duration:
        written["check_duration"] = duration
        shared.table.write_health(check.slot, shared.slot, epoch=False, check_duration=duration)
    return True


def commit(check: ServerCheck, was_up: bool, shared: SharedState | None) -> None:
    """Date a change of the server's verdict and write its row."""
    effects = check.effects or Effects(None, 0, Reporter())
    up = check.up
    timeline = check.timeline
    if up == was_up:
        starting = check.slot is not None and check.slot.index in effects.warming
    elif up:
        timeline.went_up(time.time())
        starting = effects.warm_up(check.slot, timeline.changed_ms, check.settings.slowstart)
    else:
        timeline.went_down(time.time())
        check.server.counters.row[CHKDOWN] += 1
        effects.cool(check.slot)
        starting = False
    if check.stopping:
        effects.cool(check.slot)  # no warm-up to finish: it takes no new traffic
        starting = False
    if shared is not None and check.slot is not None:
        values = row_values(
            check.last, check.health, timeline, starting=starting, up=up,
            agent=check.agent_last, agent_up=check.agent_up, stopping=check.stopping,
        )  # fmt: skip
        last = check.written
        if values == last:
            return  # the steady state: nothing to write
        changed = values if last is None else {k: v for k, v in values.items() if last.get(k) != v}
        # Only what load balancing reads moves the epoch (every worker then re-reads rows).
        lb = last is None or any(key in changed for key in _LB_FIELDS)
        shared.table.write_health(check.slot, shared.slot, epoch=lb, **changed)
        check.written = values


def announce(
    check: ServerCheck,
    was_up: bool,
    reason: CheckResult | None,
    *,
    was_stopping: bool | None = None,
) -> None:
    """Apply and log a change of the server's verdict, then its followers'. `was_stopping`:
    it was UP but out of the farm (disable-on-404's NOLB) before; None: unchanged."""
    up = check.up
    if was_stopping is None:
        was_stopping = check.stopping
    effects = check.effects or Effects(None, 0, Reporter())
    backend, server, backup = check.backend, check.server, check.settings.backup
    if up == was_up:
        stopping = up and check.stopping
        if up and stopping != was_stopping:
            effects.log_stopping(backend, server, backup, stopping, reason)
            effects.propagate_stopping(check.followers, stopping)  # NOLB is tracked too
        return
    # A server that was already out of the farm leaves no backend newly empty.
    effects.log_transition(backend, server, backup, up, reason, was_stopping=was_stopping)
    effects.propagate(check.followers, up, time.time(), was_stopping=was_stopping and not up)
