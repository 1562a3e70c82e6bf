"""Health checks at run time: one trio task per checked server, and what their results do.

`serve_checks(state)` runs in the worker's root nursery for as long as the worker serves. It
finds the checked servers (`check` on a server with an address, not `disabled`), gives each a
`ServerCheck` (kept on its `ServerRuntime.check` for `show stat`) and starts one task per
server. The first checks are spread over the shortest `inter` (HAProxy's start-up offsets);
then each task checks, feeds the result to the rise/fall machine (haproxy_py/checks/health.py)
and sleeps the interval its state calls for (`inter`, `fastinter`, `downinter`), moved by
`spread-checks`. A transition makes the server usable or not in its backend's farm
(`BackendRuntime.set_usable`: queued requests move as HAProxy moves them) and is reported in
HAProxy's words on stderr: WARNING for check results (`option log-health-checks`) and
transitions, ALERT when a backend has no server left.
Rules of this file: every network wait has a deadline (connect: min(`timeout connect`,
`inter`); then `timeout check`, else the rest of `inter`); sockets are closed on every way
out; the probe logic is the sans-IO generator of haproxy_py/checks/probe.py.
Each worker checks its own farm: with several workers every worker checks every server
(the shared server state, with one owner per server, comes later).
"""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from dataclasses import dataclass, field

import trio
from trio.lowlevel import wait_readable, wait_writable

from haproxy_py.checks import messages
from haproxy_py.checks.health import DOWN, UP, Health
from haproxy_py.checks.probe import Connect, IoError, Receive, Send, run
from haproxy_py.checks.settings import CheckSettings, check_settings
from haproxy_py.checks.status import INI, CheckResult
from haproxy_py.report import Reporter
from worker.backend import BackendRuntime, ServerRuntime, Target
from worker.connecting import connect_socket

RECV_SIZE = 16 * 1024


@dataclass(eq=False)
class ServerCheck:
    """One server's check state: what `show stat` will read (check_status, check_code,
    check_duration, last_chk, lastchg, chkfail, chkdown, downtime)."""

    settings: CheckSettings
    backend: BackendRuntime
    server: ServerRuntime
    health: Health
    last: CheckResult = field(default_factory=lambda: CheckResult(INI))
    last_check: float = 0.0  # wall clock of the last result
    last_change: float = field(default_factory=time.time)  # wall clock of the last UP/DOWN
    failures: int = 0  # chkfail: failed checks while the server was UP
    downs: int = 0  # chkdown: UP -> DOWN transitions
    down_since: float | None = None
    downtime: float = 0.0  # seconds spent DOWN before `down_since`

    def total_downtime(self, now: float) -> float:
        return self.downtime + (now - self.down_since if self.down_since is not None else 0.0)


def checks_for(state: object, reporter: Reporter) -> list[ServerCheck]:
    """The checks of every backend of the worker, in backend then server order."""
    config = state.config  # type: ignore[attr-defined]
    backends: dict[str, BackendRuntime] = state.backends  # type: ignore[attr-defined]
    result = []
    for backend in backends.values():
        proxy = backend.proxy
        runtimes = {runtime.name: runtime for runtime in backend.servers.values()}
        for server in proxy.servers:
            settings = check_settings(proxy, server, config.global_)
            runtime = runtimes.get(server.name)
            if settings is None or runtime is None or runtime.target is None:
                continue
            if server.option("disabled"):
                continue  # maintenance: nothing to check until the runtime API enables it
            target = runtime.target
            if target.family != socket.AF_UNIX and target.relative and not settings.port:
                reporter.warning(
                    f"config : [{server.where}] : 'server {proxy.name}/{server.name}' has"
                    " neither service port nor check port. Check has been disabled."
                )
                continue
            check = ServerCheck(settings, backend, runtime, Health(settings.rise, settings.fall))
            runtime.check = check
            result.append(check)
    return result


async def serve_checks(state: object, *, rng: random.Random | None = None) -> None:
    """Run every server's checks until cancelled (the worker stops)."""
    reporter: Reporter = state.reporter  # type: ignore[attr-defined]
    checks = checks_for(state, reporter)
    if not checks:
        return
    rng = rng or random.Random()
    shortest = min(check.settings.inter for check in checks)
    async with trio.open_nursery() as nursery:
        for position, check in enumerate(checks):
            offset = shortest * position / len(checks) / 1000
            nursery.start_soon(_check_loop, check, reporter, offset, rng)


async def _check_loop(
    check: ServerCheck, reporter: Reporter, offset: float, rng: random.Random
) -> None:
    await trio.sleep(offset)
    settings = check.settings
    while True:
        result = await run_check(check)
        apply_result(check, result, reporter)
        health = check.health
        interval = settings.interval(health.up, health.steady)
        await trio.sleep(settings.spread_interval(interval, rng) / 1000)


# -- one check ----------------------------------------------------------------------------------


async def run_check(check: ServerCheck) -> CheckResult:
    """Run the server's probe once over real sockets; the result carries its duration."""
    settings = check.settings
    target = check.server.target
    assert target is not None
    started = trio.current_time()
    connect_deadline = started + settings.connect_timeout / 1000
    # Without `timeout check` the whole check must fit in `inter`.
    deadline = started + settings.inter / 1000
    probe = run(settings.plan)
    sock: socket.socket | None = None
    try:
        action = next(probe)
        while True:
            if isinstance(action, Connect):
                if sock is not None:
                    sock.close()
                sock, outcome = await _connect(target, settings, action, connect_deadline)
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
            sock.close()
    duration = int((trio.current_time() - started) * 1000)
    return result.timed(duration)


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
) -> tuple[socket.socket | None, IoError | None]:
    family, address = _address(target, settings, action)
    sock, error = await connect_socket(family, address, deadline)
    if sock is None:
        if error == errno.ETIMEDOUT:
            return None, IoError(timeout=True)
        return None, IoError(text=os.strerror(error))
    return sock, None


async def _send(sock: socket.socket, data: bytes, deadline: float) -> IoError | None:
    view = memoryview(data)
    with trio.move_on_at(deadline):
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await wait_writable(sock)
                continue
            except OSError as exc:
                return IoError(text=os.strerror(exc.errno or errno.EIO))
            view = view[sent:]
        await trio.lowlevel.checkpoint()
        return None
    return IoError(timeout=True)


async def _receive(sock: socket.socket, deadline: float) -> bytes | IoError:
    with trio.move_on_at(deadline):
        while True:
            try:
                return sock.recv(RECV_SIZE)
            except BlockingIOError:
                await wait_readable(sock)
            except OSError as exc:
                return IoError(text=os.strerror(exc.errno or errno.EIO))
    return IoError(timeout=True)


# -- what a result does -------------------------------------------------------------------------


def apply_result(check: ServerCheck, result: CheckResult, reporter: Reporter) -> None:
    """Feed the rise/fall machine, keep the status, log, and apply a transition."""
    settings = check.settings
    now = time.time()
    previous = check.last
    if not result.passed and check.health.up:
        check.failures += 1
    outcome = check.health.record(result.passed)
    check.last = result
    check.last_check = now
    if settings.log_health_checks and (outcome.changed or previous.status != result.status):
        reporter.warning(
            messages.check_line(
                settings.backend, settings.server, settings.backup, result,
                check.health.describe(),
            )
        )  # fmt: skip
    if outcome.transition is None:
        return
    check.last_change = now
    # With log-health-checks the check line above already gave the reason.
    reason = None if settings.log_health_checks else result
    backend, server = check.backend, check.server
    farm = backend.farm
    if outcome.transition == DOWN:
        check.downs += 1
        check.down_since = now
        requeued = backend.set_usable(server, False)
        reporter.warning(
            messages.server_down_line(
                settings.backend, settings.server, settings.backup, reason,
                active=farm.active_count, backups=farm.backup_count,
                sessions=server.lb.cur_conns, requeued=requeued, queued=server.lb.pending,
            )
        )  # fmt: skip
        if not farm.available:
            reporter.alert(messages.no_server_alert(settings.backend))
    elif outcome.transition == UP:
        if check.down_since is not None:
            check.downtime += now - check.down_since
            check.down_since = None
        requeued = backend.set_usable(server, True)
        reporter.warning(
            messages.server_up_line(
                settings.backend, settings.server, settings.backup, reason,
                active=farm.active_count, backups=farm.backup_count,
                requeued=requeued, queued=server.lb.pending,
            )
        )  # fmt: skip
