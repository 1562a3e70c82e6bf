"""A dynamic server's rows in the shared stats table: what they start as, how they read back.

A new dynamic server's state rows (`dynamic_state`) start in forced maintenance unless
`enabled` (HAProxy 2.6), UP for the checks it does not have, its checks and agent, if any,
off until `enable health|agent`; its id, unless forced, is the lowest its backend does not
use (`next_id`); an IP address goes into the admin row (`address_state`). `show servers
state|conn` read the servers back as stand-in configuration lines (`dynamic_models`).
Rules: pure (no I/O); nothing here writes the table (dynamic_master.py does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from haproxy_py.config.address import Address, Family
from haproxy_py.config.diagnostics import Where
from haproxy_py.config.model import Server
from haproxy_py.stats.layout import (
    AGENT_OFF,
    DYN_AGENT,
    DYN_CHECKED,
    DYN_DISABLED,
    DYN_RISE_SHIFT,
    FMAINT,
    HEALTH_OFF,
    DynamicEntry,
    Layout,
    ServerSlot,
    initial_state,
    pack_address,
    unpack_address,
)

if TYPE_CHECKING:
    from haproxy_py.process.shm import StatsTable

_WHERE = Where("CLI", 0)


def next_id(layout: Layout, backend: str) -> int:
    """The lowest server id the backend does not use (HAProxy numbers a new server so)."""
    taken = {slot.sid for slot in layout.servers if slot.backend == backend}
    sid = 1
    while sid in taken:
        sid += 1
    return sid


def dynamic_state(entry: DynamicEntry, now: int) -> dict[str, int]:
    """A new dynamic server's state rows: in forced maintenance unless `enabled` (HAProxy
    2.6), UP for the checks it does not have; its checks, if any, off until `enable health`."""
    checked = bool(entry.flags & DYN_CHECKED)
    rise = (entry.flags >> DYN_RISE_SHIFT & 0xFFFF) or 2
    slot = ServerSlot(0, "", entry.name, entry.iid, entry.sid, 0, entry.iweight, entry.maxconn,
                      False, checked, rise, 3)  # fmt: skip
    values = initial_state(slot)
    if checked:
        values["check_flags"] = HEALTH_OFF
    if entry.flags & DYN_AGENT:
        values["check_flags"] = values.get("check_flags", 0) | AGENT_OFF
    maint = bool(entry.flags & DYN_DISABLED)
    values.update(
        admin_state=FMAINT if maint else 0,
        check_health=0 if maint else values["check_health"],  # as HAProxy 2.6 shows it
        admin_changed=now,
        last_change=now,
    )
    return values


def address_state(address: Address) -> dict[str, int]:
    """The admin row's address words for an IP address (a host name, a UNIX path: none)."""
    if address.family not in (Family.IPV4, Family.IPV6) or not address.host:
        return {}
    family, high, low = pack_address(address.host)
    return {"addr_family": family, "addr_hi": high, "addr_lo": low, "port": address.port}


def dynamic_models(table: StatsTable, backend: str) -> list[tuple[Server, ServerSlot]]:
    """Stand-in configuration lines for a backend's dynamic servers, in the order added
    (`show servers state|conn`): the address from the admin row (`master_add` wrote it)."""
    found = []
    for slot in table.layout.servers:
        if slot.dynamic and slot.backend == backend:
            admin = table.read_admin(slot)
            host = unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo) or ""
            family = Family.IPV6 if ":" in host else Family.IPV4
            options = {"id": slot.sid} if slot.forced_id else {}
            address = Address(family, host, admin.port, admin.port)
            found.append((Server(_WHERE, slot.name, address, options), slot))
    return found
