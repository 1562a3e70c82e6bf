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

from haproxy_py.checks.settings import check_settings
from haproxy_py.checks.shared import Timeline
from haproxy_py.checks.track import roots, tracked_by
from haproxy_py.config.address import SERVER_RULES, Family, parse_address
from haproxy_py.config.diagnostics import Where
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from haproxy_py.config.keywords.suboptions import parse_suboptions
from haproxy_py.config.model import Server
from haproxy_py.lb import LbServer
from haproxy_py.runtime_api.add_server import parse_add
from haproxy_py.runtime_api.del_server import parse_del
from haproxy_py.runtime_api.dynamic_master import master_add, master_del
from haproxy_py.runtime_api.dynamic_servers import DELETED, REGISTERED, AddServer, split_name
from haproxy_py.runtime_api.dynamic_servers import is_dynamic_command as is_dynamic
from haproxy_py.stats.layout import ServerSlot
from worker.backend import BackendRuntime, ServerRuntime, Target
from worker.check_effects import Follower, adopt, drop
from worker.check_observe import Watch, observe_server
from worker.checks import ServerCheck
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
    tracked = tracked_by(shared.table.layout, backend.name, slot.name)  # `track`
    root = roots(state.config).get(tracked, tracked) if tracked is not None else None
    root_slot = shared.table.layout.server(*root) if root is not None else None
    shared.sync.add(backend, server, slot, int(options.get("slowstart") or 0), root=root_slot,
                    options=options)  # fmt: skip
    model = Server(_CLI, slot.name, address, options)
    # `check`, `agent-check`: its owner checks it once `enable health|agent` (cli_checks.py)
    start_dynamic_check(state, backend, server, model)
    if tracked is not None and root is not None:
        _follow(state, backend, server, slot, tracked, root)
    if options.get("observe", "none") != "none":
        _observe(state, backend, server, model)
    return ""


def _follow(
    state: WorkerState,
    backend: BackendRuntime,
    server: ServerRuntime,
    slot: ServerSlot,
    tracked: tuple[str, str],
    root: tuple[str, str],
) -> None:
    """The owner of the root's checks adds the new server to the servers following it: it
    writes its health row from now on and logs its transitions (worker/check_effects.py),
    starting from the root's verdict of now."""
    root_backend = state.backends.get(root[0])
    servers = root_backend.servers.values() if root_backend is not None else ()
    check = next((s.check for s in servers if s.name == root[1]), None)
    if not isinstance(check, ServerCheck) or check.effects is None:
        return  # another worker checks the root (or nobody does: it is in no scheduler)
    row = state.shared.table.read_health(slot)
    timeline = Timeline(row.last_change, row.downtime, row.down_since, row.changed_ms)
    follower = Follower(backend, server, slot, f"{tracked[0]}/{tracked[1]}", server.lb.backup,
                        0, timeline)  # fmt: skip
    if adopt(check.followers, tracked, root, follower):
        check.effects.align([follower], check.up, check.stopping)


def _observe(
    state: WorkerState, backend: BackendRuntime, server: ServerRuntime, model: Server
) -> None:
    """`observe layer4|layer7`: every worker counts the server's errors; its check owner
    acts on them (`on-error`) like on a configured server's (worker/check_observe.py).
    Without `check` nothing counts, as for a configured server without one."""
    if not model.option("check"):
        return
    settings = check_settings(backend.proxy, model, state.config.global_, force=True)
    if settings is None:
        return
    check = server.check if isinstance(server.check, ServerCheck) else None
    watch = state.shared.watch
    if check is not None and not isinstance(watch, Watch):
        # Added before this worker's checks started (right after its start): the Watch
        # takes it as it starts (worker/checks.py), with the owner's immediate action.
        state.shared.waiting_observed.append((server, settings, check))
    tripped = watch.add(check) if check is not None and isinstance(watch, Watch) else None
    observe_server(server, settings, tripped)


def backend_servers(state: WorkerState) -> list[ServerRuntime]:
    return [s for backend in state.backends.values() for s in backend.servers.values()]


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
    if isinstance(server.check, ServerCheck) and isinstance(state.shared.watch, Watch):
        state.shared.watch.remove(server.check)  # `observe`: its row is a spare again
    for other in backend_servers(state):  # `track`: the root's owner stops writing its row
        if isinstance(other.check, ServerCheck) and drop(other.check.followers, server):
            break
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
