"""The master's side of `add server` / `del server`: the one writer of the dynamic area.

A worker checked the command already (add_server.py, del_server.py); the master checks
again what only the table knows at that instant and writes it. `master_add`: the name still
free, the forced id still free, a spare row left; then the record, its state rows
(dynamic_rows.py) and address, and, with `track`, the tracked server's slot in its flags
and that server's maintenance and state copied in. `master_del`: in maintenance, no session
nor queued request on any worker's counters; then a dynamic server's record is freed, and a
configured server takes a spare record that hides it (a reload brings it back).
Rules: pure but for the table it is given, the only thing it writes; answers are "" (done)
or HAProxy's refusal, or haproxy-py's own when the spare rows run out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from haproxy_py.checks.track_admin import inherited
from haproxy_py.config.address import SERVER_RULES, Address, Family, parse_address
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.runtime_api.add_server_options import parse_options
from haproxy_py.runtime_api.del_server import parse_del
from haproxy_py.runtime_api.dynamic_rows import address_state, dynamic_state, next_id
from haproxy_py.runtime_api.dynamic_servers import (
    ALREADY_EXISTS,
    NO_SUCH_BACKEND,
    AddServer,
    server_exists,
    slot_with_id,
    split_name,
)
from haproxy_py.stats.layout import (
    DYN_AGENT,
    DYN_BACKUP,
    DYN_DELETED,
    DYN_DISABLED,
    DYN_FORCED_ID,
    DYN_OBSERVE,
    DYN_TRACK_SHIFT,
    MAINT_MASK,
    QCUR,
    SCUR,
    DynamicEntry,
    Layout,
    ServerSlot,
    dynamic_flags,
)

if TYPE_CHECKING:
    from haproxy_py.process.shm import StatsTable

NOT_IN_MAINT = "Only servers in maintenance mode can be deleted.\n"
HAS_CONNECTIONS = "Server still has connections attached to it, cannot remove it.\n"
POOL_EXHAUSTED = (
    "No spare server row left in haproxy-py's shared stats table (it holds {spares} dynamic"
    " servers at a time; a reload makes new room).\n\n"
)
NO_ROW_FOR_DELETE = (
    "No spare server row left in haproxy-py's shared stats table to record the deletion"
    " (it holds {spares} added or deleted servers at a time; a reload makes new room).\n"
)


def master_add(table: StatsTable, words: Sequence[str], order: int) -> str:
    """Write the server of an `add server` a worker checked into a spare row; "" or the
    answer to give instead (the name taken meanwhile, no spare row left)."""
    names = split_name(words[2] if len(words) > 2 else None)
    layout = table.layout
    backends = {r.proxy: r.iid for r in layout.rows if r.kind == "backend"}
    if names is None or names[0] not in backends or len(words) < 4:
        return NO_SUCH_BACKEND
    backend, name = names
    options = parse_options(words[4:], name)
    if isinstance(options, str):
        return options
    if server_exists(layout, backend, name):
        return ALREADY_EXISTS
    add = AddServer(backend, name, Address(Family.IPV4, "", 0, 0, False), options)
    sid = add.forced_id
    if sid is not None and slot_with_id(layout, backend, sid) is not None:
        return f"'id' : custom id {sid} already used at (null):0.\n\n"
    spare = table.free_spare()
    if spare is None:
        return POOL_EXHAUSTED.format(spares=layout.root.spares)
    flags = (DYN_DISABLED if add.disabled else 0) | (DYN_BACKUP if options.get("backup") else 0)
    if sid is not None:
        flags |= DYN_FORCED_ID
    rise, fall = int(options.get("rise", 2) or 2), int(options.get("fall", 3) or 3)
    flags |= dynamic_flags(bool(options.get("check")), rise, fall)
    if options.get("agent-check") and options.get("agent-port"):
        flags |= DYN_AGENT
    if options.get("observe", "none") != "none":
        flags |= DYN_OBSERVE
    tracked = _tracked_slot(layout, backend, options.get("track"))
    if tracked is not None:
        flags |= (tracked.index + 1) << DYN_TRACK_SHIFT
    weight = int(options.get("weight", 1))
    maxconn = int(options.get("maxconn", 0) or 0)
    entry = DynamicEntry(spare, backends[backend], sid or next_id(layout, backend), weight,
                         maxconn, flags, order, name)  # fmt: skip
    state = dynamic_state(entry, int(time.time()))
    with contextlib.suppress(ConfigError, ValueError):  # the asker checked it
        state.update(address_state(parse_address(words[3], "server", SERVER_RULES)))
    if tracked is not None:  # it starts as the server it tracks is: its maintenance, its state
        state["admin_state"] |= inherited(table.read_admin(tracked).admin_state)
        state["op_state"] = table.read_health(tracked).op_state
    table.add_dynamic(entry, state)
    return ""


def _tracked_slot(layout: Layout, backend: str, track: tuple | None) -> ServerSlot | None:
    if not track:
        return None
    try:
        slot = layout.server(track[0] or backend, track[1])
    except KeyError:
        return None
    return None if slot.dynamic else slot


def master_del(table: StatsTable, words: Sequence[str], order: int = 0) -> str:
    """Free the spare row of a `del server` (a configured server: take one to record its
    deletion); "" or HAProxy's refusal (not in maintenance, sessions or queued requests
    left, on every worker's counters). The asker refused pinned servers already."""
    found = parse_del(words, table.layout)
    if isinstance(found, str):
        return found
    slot = table.layout.server(*found)
    if not table.read_admin(slot).admin_state & MAINT_MASK:
        return NOT_IN_MAINT
    row = table.layout.row_at(slot.row)
    for worker in range(table.layout.workers):
        counters = table.counter_row(worker, row)
        if counters[SCUR] or counters[QCUR]:
            return HAS_CONNECTIONS
    if not slot.dynamic:
        spare = table.free_spare()
        if spare is None:
            return NO_ROW_FOR_DELETE.format(spares=table.layout.root.spares)
        table.hide_configured(
            DynamicEntry(spare, slot.iid, slot.sid, 0, 0, DYN_DELETED, order, slot.name)
        )
        return ""
    table.remove_dynamic(slot.index - len(table.layout.root.servers))
    return ""
