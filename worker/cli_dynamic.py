"""`add server` / `del server` in a worker: check, go round through the master, build or drop.

The asking worker checks the command (haproxy_py/runtime_api/dynamic_servers.py: HAProxy's
answers) and sends it as a RuntimeChange; the master (master/runtime_changes.py) writes or
frees the spare row of the shared stats table, then hands the command to every worker of the
generation (a respawned one gets the list again), and each runs `apply_dynamic`: the server
joins (or leaves) its backend's farm, algorithm, idle pools and the StateSync, so its admin
row (maintenance until `enable server`) rules it like any other. Without a master the worker
is the table's writer and does both. Dynamic servers are not in the configuration: a reload
forgets them, as HAProxy does. A configured server is deleted the same way (the master hides
its rows; each worker drops it from its farm); a reload brings it back.
Rules: `apply_dynamic` never awaits and tolerates a command made moot (the server already
there, or already gone: a replay after later changes).
"""

from __future__ import annotations

from typing import Any

from haproxy_py.config.address import SERVER_RULES, Family, parse_address
from haproxy_py.config.diagnostics import Where
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from haproxy_py.config.keywords.suboptions import parse_suboptions
from haproxy_py.config.model import Server
from haproxy_py.lb import LbServer
from haproxy_py.runtime_api.dynamic_servers import (
    DELETED,
    REGISTERED,
    AddServer,
    master_add,
    master_del,
    parse_add,
    parse_del,
    split_name,
)
from haproxy_py.runtime_api.dynamic_servers import is_dynamic_command as is_dynamic
from worker.backend import BackendRuntime, ServerRuntime, Target
from worker.cli_checks import start_dynamic_check, stop_dynamic_check
from worker.http_server import DEFAULT_PURGE_DELAY, IdlePool
from worker.runtime import WorkerState
from worker.startup import ResolveError, resolve_server

_CLI = Where("CLI", 0)


async def run_dynamic(state: WorkerState, words: list[str]) -> str:
    """The answer to `add server ...` or `del server ...` once every worker made it."""
    shared = state.shared
    table = shared.table
    adding = words[0] == "add"
    if adding:
        checked = parse_add(words, state.config, table.layout)
    else:
        checked = parse_del(words, table.layout, state.config)
    if isinstance(checked, str):
        return checked
    if isinstance(checked, AddServer):  # `#ID/NAME`: the backend by name from here on
        words = [*words[:2], f"{checked.backend}/{checked.name}", *words[3:]]
    command = " ".join(words)
    if shared.channel is None:  # alone: this worker is the table's writer
        order = shared.table.state_epoch()
        error = master_add(table, words, order) if adding else master_del(table, words)
        if not error:
            apply_dynamic(state, command)
    else:
        error = await shared.runtime_change(command, lambda text: apply_dynamic(state, text))
    if error:
        return error if error.endswith("\n") else f"{error}\n\n"
    if adding:  # logged once, by the asker, in HAProxy's words
        state.reporter.notice(f"CLI : 'server {words[2]}' : New server registered.")
        return REGISTERED
    state.reporter.notice("Server deleted.")
    return DELETED


def apply_dynamic(state: WorkerState, command: str) -> str:
    """Make one `add server`/`del server` the master wrote (or this worker, alone)."""
    words = command.split()
    names = split_name(words[2] if len(words) > 2 else None)
    shared = state.shared
    if names is None or shared is None:
        return "Unknown change.\n\n"
    backend = state.backends.get(names[0])
    if backend is None:
        return ""
    present = next((s for s in backend.servers.values() if s.name == names[1]), None)
    if words[0] == "del":
        if present is not None:
            _remove(state, backend, present)
        return ""
    if present is not None:
        return ""
    try:
        slot = shared.table.layout.server(*names)
    except KeyError:  # deleted since (a replay): nothing to build
        return ""
    try:
        options = parse_suboptions(words[4:], SERVER_OPTIONS, "add server")
        address = parse_address(words[3], "server", SERVER_RULES)
    except Exception as exc:  # checked before: only a bug gets here
        state.reporter.alert(f"runtime change '{command}' failed: {exc}")
        return ""
    lb = LbServer(
        name=slot.name,
        id=slot.sid,
        initial_weight=slot.iweight,
        backup=bool(options.get("backup", False)),
        usable=False,  # StateSync.add applies the admin row (maintenance unless `enabled`)
        maxconn=slot.maxconn,
        maxqueue=int(options.get("maxqueue", 0) or 0),
        minconn=int(options.get("minconn", 0) or 0),
    )
    counters = state.counters
    counters.servers.pop((backend.name, slot.name), None)  # a former holder of the name
    server = backend.add_server(lb, _target(backend.name, slot.name, address, options),
                                counters.server(backend.name, slot.name))  # fmt: skip
    sends_proxy = bool(options.get("send-proxy") or options.get("send-proxy-v2"))
    if sends_proxy:  # the PROXY protocol towards it (worker/proxy_header.py)
        server.proxy_header = options
    pools = state.backend_pools.get(backend.name)
    if pools is not None:  # a connection carrying one client's PROXY header is not shared
        pools.pools[server] = IdlePool(0 if sends_proxy else -1, DEFAULT_PURGE_DELAY, server)
    backend.readdressed(server)  # `cookie ... dynamic`: its cookie from its address
    shared.sync.add(backend, server, slot, int(options.get("slowstart") or 0))
    # `check`, `agent-check`: its owner checks it once `enable health|agent` (cli_checks.py)
    start_dynamic_check(state, backend, server, Server(_CLI, slot.name, address, options))
    return ""


def _target(backend: str, name: str, address: Any, options: dict) -> Target | None:
    """Its address: a host name is not resolved (HAProxy starts a dynamic server with
    `init-addr none`), so such a server has none and stays out of load balancing."""
    if address.family == Family.HOSTNAME:
        return None
    try:
        return resolve_server(backend, Server(_CLI, name, address, options))
    except ResolveError:
        return None


def _remove(state: WorkerState, backend: BackendRuntime, server: ServerRuntime) -> None:
    """Drop a deleted server: out of the StateSync and the farm; its idle connections are
    closed, and its pool takes no more (a connection handed back later is closed)."""
    state.shared.sync.remove(server)
    stop_dynamic_check(server)
    backend.remove_server(server)
    if backend.cookie is not None:
        backend.cookie.set_value(server, None)
    pools = state.backend_pools.get(backend.name)
    if pools is not None and server in pools.pools:
        pools.pools[server].close_all()
        pools.pools[server] = IdlePool(0, DEFAULT_PURGE_DELAY, server)
    state.counters.servers.pop((backend.name, server.name), None)


__all__ = ["apply_dynamic", "is_dynamic", "run_dynamic"]
