"""The runtime API's read-only `show` answers beyond stat/info, in HAProxy 2.6's formats.

`show servers state [BE]` (format version 1, the columns of a server-state file),
`show servers conn [BE]`, `show backend`, `show env [NAME]`, `show activity`
(a subset), and `clear counters [all]`. Rules of this file: pure (the caller hands over
the stats table, the configuration, the environment, the clock and what only the worker
knows, such as its idle connections); answers end with their empty line, as every runtime
API answer does; errors use HAProxy's words.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from haproxy_py.runtime_api.dynamic_rows import dynamic_models
from haproxy_py.stats.layout import (
    AGENT_OFF,
    CONN_TOT,
    FRONTEND,
    HEALTH_OFF,
    effective_op_state,
    unpack_address,
)

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy, Server
    from haproxy_py.process.shm import StatsTable

CANT_FIND_BACKEND = "Can't find backend.\n\n"
VARIABLE_NOT_FOUND = "Variable not found\n\n"
SERVERS_STATE_VERSION = 1
SERVERS_STATE_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"
    " srv_iweight srv_time_since_last_change srv_check_status srv_check_result"
    " srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id"
    " srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr"
    " srv_agent_port\n"
)
# srv_check_state bits: configured and enabled (HAProxy's CHK_ST_CONFIGURED | CHK_ST_ENABLED).
CHECK_CONFIGURED_ENABLED = 0x02 | 0x04
DEFAULT_PURGE_DELAY_MS = 5000


def find_backend(config: Config, name: str) -> Proxy | None:
    """A backend (or listen section) by name or `#id`."""
    for proxy in config.proxies:
        if not proxy.is_backend:
            continue
        if proxy.name == name or (name.startswith("#") and name[1:] == str(proxy.uuid)):
            return proxy
    return None


def _backends(config: Config, words: Sequence[str]) -> list[Proxy] | None:
    """Every backend, or the one named by the first word; None when it does not exist."""
    if words:
        found = find_backend(config, words[0])
        return None if found is None else [found]
    return [proxy for proxy in config.proxies if proxy.is_backend]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(server: Server, resolved: str | None) -> str:
    """The configured IP, else what the host name resolved to at start-up, else `-`."""
    host = server.address.host
    if _is_ip(host):
        return host
    return resolved or "-"


def show_servers_state(
    table: StatsTable,
    config: Config,
    words: Sequence[str] = (),
    *,
    now: float | None = None,
    resolved: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """`show servers state [BE]`: the version line, the header, one line per server.
    `resolved` gives the address a server's host name resolved to, (backend, server) -> IP."""
    proxies = _backends(config, words)
    if proxies is None:
        return CANT_FIND_BACKEND
    moment = int(time.time() if now is None else now)
    lines = [f"{SERVERS_STATE_VERSION}\n", SERVERS_STATE_HEADER]
    for proxy in proxies:
        for server in proxy.servers:
            try:
                slot = table.layout.server(proxy.name, server.name)
            except KeyError:  # deleted (`del server`)
                continue
            if slot.dynamic:  # deleted, its name taken by `add server`: listed below
                continue
            lines.append(_state_line(table, proxy, server, slot, moment, resolved or {}))
        for model, slot in dynamic_models(table, proxy.name):  # `add server`: listed last
            lines.append(_state_line(table, proxy, model, slot, moment, resolved or {}))
    return "".join(lines) + "\n"


def _state_line(
    table: StatsTable,
    proxy: Proxy,
    server: Server,
    slot: object,
    now: int,
    resolved: Mapping[tuple[str, str], str],
) -> str:
    admin = table.read_admin(slot)  # type: ignore[arg-type]
    health = table.read_health(slot)  # type: ignore[arg-type]
    host = server.address.host
    address = unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo)
    if address is None:
        address = _address(server, resolved.get((proxy.name, server.name)))
    port = admin.port or server.address.port
    checked = bool(slot.checked)  # type: ignore[attr-defined]
    agent = bool(server.option("agent-check")) and bool(server.option("agent-port"))
    fields = [
        proxy.uuid,
        proxy.name,
        slot.sid,  # type: ignore[attr-defined]
        server.name,
        address or "-",
        effective_op_state(admin.admin_state, health.op_state),
        admin.admin_state,
        admin.uweight,
        admin.iweight,
        max(now - health.last_change, 0) if health.last_change else 0,
        health.check_status,
        health.check_result if checked else 0,
        health.check_health,
        _check_state(checked, health.check_flags),
        _agent_state(agent, health.check_flags),
        0,  # bk_f_forced_id: the model does not keep whether `id` was written
        int(server.option("id") is not None),
        host if host and not _is_ip(host) else "-",
        port,
        "-",  # srvrecord: no SRV records without resolvers
        int(bool(server.option("ssl", False))),
        int(server.option("port", 0) or 0),
        server.option("addr") or "-",
        (server.option("agent-addr") or address or "-") if agent else "-",
        int(server.option("agent-port") or 0) if agent else 0,
    ]
    return " ".join(str(field) for field in fields) + "\n"


def _agent_state(agent: bool, flags: int) -> int:
    """srv_agent_state: an agent (0x10), configured, enabled unless `disable agent`."""
    if not agent:
        return 0
    return 0x10 | CHECK_CONFIGURED_ENABLED & ~(0x04 if flags & AGENT_OFF else 0)


def _check_state(checked: bool, flags: int) -> int:
    """srv_check_state: configured, and enabled unless `disable health` stopped it."""
    if not checked:
        return 0
    return CHECK_CONFIGURED_ENABLED & ~(0x04 if flags & HEALTH_OFF else 0)


@dataclass(frozen=True, slots=True)
class IdleCounts:
    """What a worker knows of one server's idle connections (its own pools)."""

    unsafe: int = 0
    safe: int = 0
    # Its connections in use now, their peak since the last purge and the need estimate
    # (haproxy_py/lb/idle_policy.py); None where the worker has no pool for it (TCP).
    used: int | None = None
    used_max: int | None = None
    need: int | None = None


def show_servers_conn(
    table: StatsTable,
    config: Config,
    words: Sequence[str] = (),
    *,
    idle: Mapping[tuple[str, str], IdleCounts] | None = None,
    resolved: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """`show servers conn [BE]`. Used connections come from the shared counters (every
    worker); idle ones from `idle`, what the answering worker holds (one thread: one column)."""
    proxies = _backends(config, words)
    if proxies is None:
        return CANT_FIND_BACKEND
    idle = idle or {}
    lines = [
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est"
        " unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]\n"
    ]
    snapshot = table.snapshot()
    for proxy in proxies:
        dynamic = [model for model, _ in dynamic_models(table, proxy.name)]  # `add server`
        taken = {model.name for model in dynamic}  # a deleted configured server's name
        configured = [server for server in proxy.servers if server.name not in taken]
        for server in [*configured, *dynamic]:
            try:
                row = table.layout.server_row(proxy.name, server.name)
            except KeyError:
                continue
            counters = table.row_counters(row, snapshot)
            pool = idle.get((proxy.name, server.name), IdleCounts())
            limit = server.option("pool-max-conn")
            delay = server.option("pool-purge-delay")
            current = pool.unsafe + pool.safe
            fields = [
                f"{proxy.name}/{server.name}",
                f"{proxy.uuid}/{row.sid}",
                _address(server, (resolved or {}).get((proxy.name, server.name))),
                server.address.port,
                "-",
                DEFAULT_PURGE_DELAY_MS if delay is None else delay,
                counters["scur"] if pool.used is None else pool.used,
                counters["smax"] if pool.used_max is None else pool.used_max,
                counters["smax"] if pool.need is None else pool.need,
                pool.unsafe,
                pool.safe,
                -1 if limit is None else limit,
                current,
                current,
            ]
            lines.append(" ".join(str(field) for field in fields) + "\n")
    return "".join(lines) + "\n"


def show_backend(config: Config) -> str:
    names = [proxy.name for proxy in config.proxies if proxy.is_backend]
    return "# name\n" + "".join(f"{name}\n" for name in names) + "\n"


def show_env(environment: Mapping[str, str], words: Sequence[str] = ()) -> str:
    """`show env [NAME]`: `NAME=value` lines, or HAProxy's "Variable not found"."""
    if words:
        name = words[0]
        if name not in environment:
            return VARIABLE_NOT_FOUND
        return f"{name}={environment[name]}\n\n"
    return "".join(f"{name}={value}\n" for name, value in environment.items()) + "\n"


def show_activity(table: StatsTable, worker: int, *, now: float | None = None) -> str:
    """`show activity`, the subset haproxy-py measures. Each worker process stands where
    HAProxy has a thread: `thread_id` is the answering worker (1-based) out of all, and
    `accepted` the connections each worker accepted (from its own counter slots)."""
    moment = time.time() if now is None else now
    workers = table.layout.workers
    fronts = [row for row in table.layout.rows if row.kind == FRONTEND]
    accepted = []
    for slot in range(workers):
        block = table.counter_block(slot)
        accepted.append(sum(block[row.offset + CONN_TOT] for row in fronts))
    per_worker = " ".join(str(count) for count in accepted)
    return (
        f"thread_id: {worker + 1} (1..{workers})\n"
        f"date_now: {moment:.6f}\n"
        f"accepted: {sum(accepted)} [ {per_worker} ]\n"
        "\n"
    )


def clear_counters(table: StatsTable, *, everything: bool) -> str:
    """`clear counters [all]` over every worker's slots (see docs/MIGRATING.md: an increment
    racing with the clear may survive it)."""
    for slot in range(table.layout.workers):
        table.clear_counters(slot, everything=everything)
    return "\n"
