"""The rows of `show stat`: which rows an answer lists (its `{proxy} {type} {sid}`
arguments) and the values computed for each kind (frontend, backend, server).

A backend's picks, connections, times and last session are combined from its servers' rows
(the data path writes one row per event); a server's come from its counters, its state
rows and its configuration (haproxy_py/stats/reading.py). `listed` is the one place that
decides whether a row of the table is shown at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from haproxy_py.checks.shared import warmup_percent, warmup_weight
from haproxy_py.stats.assembly import ASSEMBLIES, NO_AGENT, TIME_SLOTS, Assembly, Built
from haproxy_py.stats.columns import STAT_COLUMNS
from haproxy_py.stats.layout import (
    AGENT_OFF,
    BACKEND,
    CONNECT,
    DRAIN_MASK,
    FRONTEND,
    HEALTH_OFF,
    IMAINT,
    LASTSESS,
    LBTOT,
    MAINT_MASK,
    RUNNING,
    SERVER,
    STARTING,
    STOPPED,
    Row,
)
from haproxy_py.stats.limits import ProxyLimits
from haproxy_py.stats.reading import Reading
from haproxy_py.stats.status_texts import (
    agent_values,
    check_values,
    status_text,
    unchecked_values,
)

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy
    from haproxy_py.process.shm import StatsTable


def stat_values(
    table: StatsTable,
    config: Config,
    wanted: tuple[str | None, int, int],
    now: float,
    limits: ProxyLimits | None = None,
) -> Iterable[tuple[Row, dict[str, object]]]:
    """The rows `wanted` (proxy filter, type mask, sid) selects, each as {column: value}
    (every column; "" where empty)."""
    for row, assembly, source in stat_rows(table, config, wanted, now, limits):
        yield row, dict(zip(STAT_COLUMNS, assembly.values(source), strict=True))


def stat_rows(
    table: StatsTable,
    config: Config,
    wanted: tuple[str | None, int, int],
    now: float,
    limits: ProxyLimits | None = None,
) -> Iterable[tuple[Row, Assembly, list[object]]]:
    """The rows `wanted` selects, each with its kind's assembly and its values for it."""
    proxy_filter, types, sid = wanted
    reading = Reading(table, config, now, limits)
    for row in selected_rows(table.layout.rows, proxy_filter, types, sid):
        proxy = reading.proxies.get(row.proxy)
        if proxy is not None and listed(reading, row):
            yield row, *row_values(reading, row, proxy)


def listed(reading: Reading, row: Row) -> bool:
    """Whether a row of the table is shown: every row of a proxy of the configuration. The
    one place to leave rows out (e.g. configured servers removed with `del server`), for the
    CSV and every renderer built on it (typed, JSON, the page, Prometheus)."""
    return True


def stat_filter(config: Config, words: Sequence[str]) -> tuple[str | None, int, int] | None:
    """(proxy name or None, type mask, sid or -1) of `show stat`'s arguments; None: no proxy."""
    args = [word for word in words if word not in ("typed", "json", "desc", "up", "no-maint")]
    if len(args) < 3:
        return None, -1, -1
    name, mask, sid = args[0], args[1], args[2]
    if name != "-1":
        if name.startswith("#") or name.isdigit():
            number = name.lstrip("#")
            found = [p for p in config.proxies if str(p.uuid) == number]
        else:
            found = [p for p in config.proxies if p.name == name]
        if not found:
            return None
        name = found[0].name
    try:
        return (None if name == "-1" else name), int(mask), int(sid)
    except ValueError:
        return None, -1, -1


def selected_rows(rows: Iterable[Row], proxy: str | None, types: int, sid: int) -> Iterable[Row]:
    bits = {FRONTEND: 1, BACKEND: 2, SERVER: 4}
    for row in rows:
        if row.kind not in bits:  # the global row; listeners only with `option socket-stats`
            continue
        if proxy is not None and row.proxy != proxy:
            continue
        if types != -1 and not types & bits[row.kind]:
            continue
        if sid != -1 and row.kind == SERVER and row.sid != sid:
            continue
        yield row


def row_values(reading: Reading, row: Row, proxy: Proxy) -> Built:
    """One row's assembly and the values it puts together (its counters, then the values
    computed for its kind)."""
    if row.kind == SERVER:
        return server_values(reading, row, proxy)
    if row.kind == FRONTEND:
        return frontend_values(reading, row, proxy)
    return backend_values(reading, row, proxy)


def frontend_values(reading: Reading, row: Row, proxy: Proxy) -> Built:
    rate, rate_max, req_rate, req_rate_max = reading.rates(row)
    # Every accepted connection is a session here: the connection rate is the session's.
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, rate, rate_max,
        rate, rate_max, req_rate, req_rate_max, reading.limits.frontend_slim(proxy),
        proxy.setting("rate-limit sessions") or 0,
    ]  # fmt: skip
    return ASSEMBLIES[proxy.mode == "http"][FRONTEND], reading.counters(row) + computed


def server_values(reading: Reading, row: Row, proxy: Proxy) -> Built:
    table, now = reading.table, reading.now
    slot = table.layout.server(row.proxy, row.name)
    facts = reading.facts(proxy, slot)
    admin = reading.admin(slot)
    health = reading.health(slot)
    admin_state, op_state = admin.admin_state, health.op_state
    # `disable health|agent` (runtime API): shown as HAProxy shows checks that are off
    checked = slot.checked and not health.check_flags & HEALTH_OFF
    agent = facts.agent and not health.check_flags & AGENT_OFF
    root = facts.root
    if root is not None:  # a tracking server: shown as its root is
        root_slot = table.layout.server(*root)
        root_admin = reading.admin(root_slot).admin_state
        check_health = reading.health(root_slot).check_health
        if admin_state & IMAINT:  # inherited: HAProxy names the server tracked directly
            status = f"MAINT (via {facts.tracked})"
        elif root_admin & MAINT_MASK and not admin_state & MAINT_MASK:
            status = f"MAINT (via {root[0]}/{root[1]})"  # a row not yet written (start-up)
        else:
            status = status_text(admin_state, op_state, True, check_health, root_slot.rise,
                             root_slot.fall, facts.root_agent, 1)  # fmt: skip
    else:
        status = status_text(admin_state, op_state, checked, health.check_health, slot.rise,
                         slot.fall, agent, health.agent_health)  # fmt: skip
    weight = uweight = admin.uweight
    throttle: object = ""
    if op_state == STARTING and facts.slowstart:
        elapsed = int(now * 1000) - health.changed_ms
        weight = warmup_weight(weight, elapsed, facts.slowstart)
        throttle = warmup_percent(elapsed, facts.slowstart)
    counters = reading.counters(row)
    snapshot, base = reading.snapshot, row.offset
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, *reading.rates(row)[:2],
        status, weight, uweight, int(not facts.backup), int(facts.backup),
        admin.maxconn or "", facts.maxqueue, reading.lastsess(counters[LASTSESS]), facts.addr,
        max(int(now) - health.last_change, 0), facts.tracked, throttle,
    ]  # fmt: skip
    for total, count, _ in TIME_SLOTS:
        samples = snapshot[base + count]
        computed.append(snapshot[base + total] // samples if samples else 0)
    if checked:
        paused = bool(admin_state & MAINT_MASK)  # maintenance pauses the checks
        computed += check_values(now, slot, health, counters, facts.observe, paused=paused)
    else:
        computed += unchecked_values(counters, facts.observe)
    computed += agent_values(health) if agent else NO_AGENT
    return ASSEMBLIES[proxy.mode == "http"][SERVER], counters + computed


def backend_values(reading: Reading, row: Row, proxy: Proxy) -> Built:
    now = reading.now
    active = backup = weight = 0
    up_since: list[int] = []  # when each usable server last changed
    down_since: list[int] = []
    slots = reading.by_backend.get(row.proxy, [])
    for slot in slots:
        admin = reading.admin(slot)
        health = reading.health(slot)
        op_state = health.op_state
        (down_since if op_state == STOPPED else up_since).append(health.last_change)
        if admin.admin_state & (MAINT_MASK | DRAIN_MASK) or op_state not in (RUNNING, STARTING):
            continue
        facts = reading.facts(proxy, slot)
        if facts.backup:
            backup += 1
            continue
        active += 1
        if op_state == STARTING and facts.slowstart:
            elapsed = int(now * 1000) - health.changed_ms
            weight += warmup_weight(admin.uweight, elapsed, facts.slowstart)
        else:
            weight += admin.uweight
    # What the data path counts on the servers only (one row to write per event, not two):
    # picks, connection attempts, times and the last session, combined over the servers.
    rows = [reading.table.layout.row_at(slot.row) for slot in slots]
    found = [reading.counters(server_row) for server_row in rows]
    computed: list[object] = [
        row.proxy, row.name, row.iid, row.sid, proxy.mode, *reading.rates(row)[:2],
        # HAProxy: a backend without any server is UP (nothing to be down); with servers,
        # it is UP while one of them can take traffic.
        "UP" if active or backup or not slots else "DOWN", weight, weight, active, backup,
        reading.limits.backend_slim(proxy), proxy.balance.get("algorithm", "roundrobin"),
        # The backend has no state row: it changed when its earliest usable server came
        # up, or (all down) when the last one went down.
        max(int(now) - backend_changed(reading.table, up_since, down_since), 0),
        0 if slots else "",
        sum(counters[LBTOT] for counters in found),
        sum(counters[CONNECT] for counters in found),
        reading.lastsess(max((counters[LASTSESS] for counters in found), default=0)),
    ]  # fmt: skip
    snapshot, peaks = reading.snapshot, []
    for total, count, highest in TIME_SLOTS:
        sums = sum(snapshot[server_row.offset + total] for server_row in rows)
        samples = sum(snapshot[server_row.offset + count] for server_row in rows)
        computed.append(sums // samples if samples else 0)
        peaks.append(max((counters[highest] for counters in found), default=0))
    computed += peaks
    return ASSEMBLIES[proxy.mode == "http"][BACKEND], reading.counters(row) + computed


def backend_changed(table: StatsTable, up_since: list[int], down_since: list[int]) -> int:
    """When a backend last changed: its earliest usable server came up, or (all down) the
    last one went down; without servers, when the table was made (at start or reload)."""
    if up_since:
        return min(up_since)
    return max(down_since) if down_since else table.created
