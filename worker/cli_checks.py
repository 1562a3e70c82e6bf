"""Runtime-API commands on checks and agents, carried out by the worker owning the server.

haproxy_py/runtime_api/check_commands.py checks a command in the worker that was asked;
every worker then gets it (worker/cli_write.py, through the master), and only the owner of
the server's checks (haproxy_py/checks/shared.py `owner_of`) acts, since it alone writes the
server's health row and runs its checks:
- `enable|disable health|agent`: the row's check_flags (so every worker's `show stat` shows
  the checks or the agent as off) and the `ServerCheck`'s `disabled`/`agent_disabled`, which
  the scheduler and the agent loop look at before each check (worker/checks.py,
  worker/check_agent.py). A server keeps its state while its checks are off.
- `set server .. health|agent`: the health counter (or the agent's verdict) forced, the row
  written and the change applied and logged as a check result would be, "changed from CLI";
  a server without checks has its row's op_state written directly. The next check result
  goes on from there, as in HAProxy.
- `check-addr|check-port|agent-addr|agent-port|agent-send`: the owner's settings, used from
  the next check on.
Rules: nothing here awaits; a worker that does not own the server changes nothing.
"""

from __future__ import annotations

import dataclasses
import time

from haproxy_py.checks.agent import agent_settings
from haproxy_py.checks.health import Health
from haproxy_py.checks.settings import check_settings
from haproxy_py.checks.shared import Timeline, owner_of, resume
from haproxy_py.config.model import Server
from haproxy_py.runtime_api.check_commands import CheckCommand, parse_check_command
from haproxy_py.stats.layout import AGENT_OFF, HEALTH_OFF, RUNNING, STOPPED, STOPPING
from worker.backend import BackendRuntime, ServerRuntime
from worker.check_effects import Effects
from worker.checks import ServerCheck, announce, commit
from worker.proxy_header import checks_send_proxy
from worker.runtime import WorkerState

BY_CLI = "changed from CLI"


def run_check_command(state: WorkerState, words: list[str], commit_it: bool) -> str:
    """HAProxy's answer; with `commit_it`, the change made (by the owner only)."""
    shared = state.shared
    if shared is None:
        return "No stats table in this worker.\n\n"
    found = parse_check_command(shared.table, state.config, words)
    if isinstance(found, str):
        return found
    if commit_it:
        apply_check_command(state, found)
    return "\n"


def apply_check_command(state: WorkerState, command: CheckCommand) -> None:
    shared = state.shared
    assert shared is not None
    table = shared.table
    slot = table.layout.server(command.backend, command.server)
    if owner_of(slot.index, table.layout.workers) != shared.slot:
        return  # its owner does it; this worker sees the result in the row
    if shared.sync is not None:
        shared.sync.poll()  # the other workers' changes first: the log line counts servers
    backend = state.backends.get(command.backend)
    runtime = _runtime(backend, command.server)
    if backend is None or runtime is None:
        return
    check = runtime.check if isinstance(runtime.check, ServerCheck) else None
    kind = command.kind
    if kind.endswith(("-health", "-agent")):
        bit = HEALTH_OFF if kind.endswith("health") else AGENT_OFF
        flags = table.read_health(slot).check_flags
        flags = flags | bit if kind.startswith("disable") else flags & ~bit
        table.write_health(slot, shared.slot, epoch=False, check_flags=flags)
        if check is not None:
            check.disabled = bool(flags & HEALTH_OFF)
            check.agent_disabled = bool(flags & AGENT_OFF)
        return
    if kind == "health":
        if check is not None:
            _force_health(check, command.value, shared)
        else:
            _force_unchecked(state, backend, runtime, slot, command.value)
        return
    if check is None:
        return  # a server without checks: refused before coming here
    if kind == "agent":
        was_up = check.up
        check.agent_up = command.value == "up"
        commit(check, was_up, shared)
        announce(check, was_up, BY_CLI)  # type: ignore[arg-type]
    elif kind in ("check-addr", "check-port"):
        changes: dict[str, object] = {}
        if kind == "check-addr":
            changes["addr"] = command.value
        if command.port >= 0:
            changes["port"] = command.port or None  # 0: the server's own port again
        check.settings = dataclasses.replace(check.settings, **changes)  # type: ignore[arg-type]
        check.address_of = None  # the scheduler's try works the address out again
    elif check.agent is not None:
        agent_changes: dict[str, object] = {}
        if kind == "agent-addr":
            agent_changes["addr"] = command.value
        if kind == "agent-send":
            agent_changes["send"] = command.value.encode("utf-8", "surrogateescape")
        if command.port >= 0:
            agent_changes["port"] = command.port
        check.agent = dataclasses.replace(check.agent, **agent_changes)  # type: ignore[arg-type]


def _force_health(check: ServerCheck, wanted: str, shared: object) -> None:
    """HAProxy's `set server .. health`: the counter set full (up, stopping) or empty."""
    was_up, was_stopping = check.up, check.stopping
    check.health.force(wanted != "down")
    check.stopping = wanted == "stopping"
    commit(check, was_up, shared)  # type: ignore[arg-type]
    effects = check.effects
    if check.stopping and not was_up and check.up and effects is not None:
        # From DOWN straight to NOLB: said as HAProxy says it, "is stopping".
        effects.log_stopping(check.backend, check.server, check.settings.backup, True, BY_CLI)
        effects.propagate_stopping(check.followers, True)
        return
    announce(check, was_up, BY_CLI, was_stopping=was_stopping)  # type: ignore[arg-type]


def _force_unchecked(
    state: WorkerState,
    backend: BackendRuntime,
    runtime: ServerRuntime,
    slot: object,
    wanted: str,
) -> None:
    """A server without checks keeps whatever state it is given (HAProxy 2.6 too): its row
    written here (every worker applies op_state), the farm and the log line as a check's."""
    shared = state.shared
    assert shared is not None
    table = shared.table
    row = table.read_health(slot)  # type: ignore[arg-type]
    op_state = {"up": RUNNING, "stopping": STOPPING, "down": STOPPED}[wanted]
    if row.op_state == op_state:
        return
    timeline = Timeline(row.last_change, row.downtime, row.down_since, row.changed_ms)
    was_up = row.op_state != STOPPED
    now = time.time()
    if was_up and op_state == STOPPED:
        timeline.went_down(now)
    elif not was_up:
        timeline.went_up(now)
    table.write_health(
        slot,  # type: ignore[arg-type]
        shared.slot,
        op_state=op_state,
        last_change=timeline.last_change,
        changed_ms=timeline.changed_ms,
        downtime=timeline.downtime,
        down_since=timeline.down_since,
    )
    effects = Effects(table, shared.slot, state.reporter)
    model = next((s for s in backend.proxy.servers if s.name == runtime.name), None)
    backup = bool(model.option("backup")) if model is not None else False
    was_stopping = row.op_state == STOPPING
    if op_state == STOPPING:
        effects.log_stopping(backend, runtime, backup, True, BY_CLI)
    else:
        effects.log_transition(
            backend, runtime, backup, op_state == RUNNING, BY_CLI, was_stopping=was_stopping
        )


def _runtime(backend: BackendRuntime | None, name: str) -> ServerRuntime | None:
    if backend is None:
        return None
    return next((s for s in backend.servers.values() if s.name == name), None)


# -- dynamic servers (`add server ... check`) ----------------------------------------------------


def start_dynamic_check(
    state: WorkerState, backend: BackendRuntime, runtime: ServerRuntime, model: Server
) -> None:
    """The owner of a server just added with `check` or `agent-check` builds its check
    (as worker/checks.py `checks_for` does a configured server's), its checks and agent off
    until `enable health|agent` (HAProxy 2.6), and hands it to its scheduler."""
    shared = state.shared
    if shared is None or runtime.target is None:
        return
    agent = agent_settings(backend.proxy, model, state.config.global_)
    if not model.option("check") and agent is None:
        return
    table = shared.table
    try:
        slot = table.layout.server(backend.name, runtime.name)
    except KeyError:
        return
    if owner_of(slot.index, table.layout.workers) != shared.slot:
        return
    settings = check_settings(backend.proxy, model, state.config.global_, force=True)
    if settings is None:
        return
    check = ServerCheck(settings, backend, runtime, Health(settings.rise, settings.fall))
    check.effects = Effects(table, shared.slot, state.reporter)
    check.runs, check.agent = bool(model.option("check")), agent
    if checks_send_proxy(model.options):  # worker/proxy_header.py
        check.proxy_header = model.options
    first = settings.plan.steps[0]
    check.tried_now = first.action == "connect" and first.number == 0
    check.tried_now &= check.proxy_header is None
    row = table.read_health(slot)
    check.slot = slot
    check.health = resume(row.op_state, row.check_health, settings.rise, settings.fall)
    check.timeline = Timeline(row.last_change, row.downtime, row.down_since, row.changed_ms)
    check.disabled = bool(row.check_flags & HEALTH_OFF)
    check.agent_disabled = bool(row.check_flags & AGENT_OFF)
    check.agent_up = agent is None or bool(row.agent_health)
    runtime.check = check
    if shared.check_runner is not None:
        shared.check_runner(check)
    else:
        shared.waiting_checks.append(check)


def stop_dynamic_check(runtime: ServerRuntime) -> None:
    """`del server`: its check, if this worker runs one, is never scheduled again."""
    check = runtime.check
    if isinstance(check, ServerCheck):
        check.disabled = check.removed = True
