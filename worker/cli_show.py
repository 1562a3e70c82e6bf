"""The read-only runtime-API commands a worker answers from its state (and `clear counters`).

worker/cli.py finds the command and checks its level, then hands the actions named here to
`run_show()`; the answers are built by haproxy_py/runtime_api/show.py from the shared stats
table (every worker's numbers) plus what only this worker knows: its resolved server
addresses and its idle server connections. Rules: nothing awaits (an answer sees one state),
nothing is read from disk (this runs after the chroot).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import PERMISSION_DENIED
from haproxy_py.runtime_api.show import (
    IdleCounts,
    clear_counters,
    show_activity,
    show_backend,
    show_env,
    show_servers_conn,
    show_servers_state,
)
from worker.cli_sessions import ACTIONS as SESSION_ACTIONS
from worker.cli_sessions import run_sessions
from worker.runtime import WorkerState

ACTIONS = frozenset(
    {
        "clear_counters",
        "show_activity",
        "show_backend",
        "show_env",
        "show_servers_conn",
        "show_servers_state",
        "not_built",
    }
)
NOT_BUILT = "'{command}' is not yet supported by this version of haproxy-py.\n\n"


def run_show(state: WorkerState, action: str, words: Sequence[str], level: Level) -> str | None:
    """The answer of one of ACTIONS, or None when the action is not one of them."""
    if action in SESSION_ACTIONS:  # show sess, shutdown session(s) (worker/cli_sessions.py)
        return run_sessions(state, action, words)
    if action not in ACTIONS:
        return None
    config = state.config
    if action == "show_backend":
        return show_backend(config)
    if action == "show_env":
        return show_env(os.environ, words[2:])
    if action == "not_built":
        return NOT_BUILT.format(command=" ".join(words[:2]))
    table = state.shared.table if state.shared is not None else state.counters.table
    if table is None:
        return None
    if action == "show_servers_state":
        return show_servers_state(table, config, words[3:], resolved=_resolved(state))
    if action == "show_servers_conn":
        return show_servers_conn(
            table, config, words[3:], idle=_idle(state), resolved=_resolved(state)
        )
    if action == "show_activity":
        return show_activity(table, state.counters.slot)
    # clear counters [all]: `all` needs the admin level, as in HAProxy
    everything = words[2:3] == ["all"]
    if everything and level < Level.ADMIN:
        return PERMISSION_DENIED + "\n"
    return clear_counters(table, everything=everything)


def _resolved(state: WorkerState) -> dict[tuple[str, str], str]:
    """(backend, server) -> the IP its host name resolved to at start-up."""
    found = {}
    for backend in state.backends.values():
        for server in backend.servers.values():
            target = server.target
            if target is not None and target.family != socket.AF_UNIX:
                found[(backend.name, server.name)] = target.host
    return found


def _idle(state: WorkerState) -> dict[tuple[str, str], IdleCounts]:
    """(backend, server) -> this worker's idle connections: reused ones count as safe."""
    counts = {}
    for backend in state.backends.values():
        pools = next((p for p in state.http_pools if _owns(p, backend)), None)
        if pools is None:
            continue
        for server, pool in pools.pools.items():
            safe = sum(1 for conn in pool.conns if conn.reused)
            need = pool.need
            counts[(backend.name, server.name)] = IdleCounts(
                len(pool.conns) - safe, safe, need.used, need.peak, need.need
            )
    return counts


def _owns(pools: object, backend: object) -> bool:
    servers = set(getattr(backend, "servers", {}).values())
    return any(server in servers for server in getattr(pools, "pools", {}))
