"""The runtime API's server admin commands: parsing, HAProxy's answers, and the table write.

`disable server`, `enable server`, `set server BE/SRV state ready|drain|maint`, `set weight`,
`set server BE/SRV weight`, `set server BE/SRV addr IP [port P]`, `set maxconn server` and
`get weight`. The address and maxconn live in the table too, so every worker connects to
the new address at its next server choice (worker/shared_state.py).
A worker parses a command (`parse_admin`) into an `AdminOp` (or HAProxy's exact error
text), and the single writer of the table's admin section applies it (`apply_op`): the
master under -W (the worker forwards the op over its ipc channel as an AdminChange), the
worker itself when it runs alone. `apply_op` also gives HAProxy's log lines for the change
("Server be/s is going DOWN for maintenance. ..."), which its caller prints once (so the
master prints them under -W, not each worker).
Pure: no I/O, no trio; the table is a haproxy_py/process/shm.py StatsTable.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from haproxy_py.checks.track import dynamic_edges, followers_in_order, tracked, tracked_by
from haproxy_py.checks.track_admin import drain_line, drain_tail, own_maint_line, pass_down
from haproxy_py.stats.layout import (
    CMAINT,
    DRAIN_MASK,
    FDRAIN,
    FMAINT,
    MAINT_MASK,
    RUNNING,
    SERVER,
    STARTING,
    STOPPED,
    ServerSlot,
    pack_address,
    unpack_address,
)

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable

REQUIRE_BACKEND_SERVER = "Require 'backend/server'.\n\n"
NO_SUCH_BACKEND = "No such backend.\n\n"
NO_SUCH_SERVER = "No such server.\n\n"
REQUIRE_WEIGHT = "Require <weight> or <weight%>.\n\n"
WEIGHT_RANGE = "Absolute weight can only be between 0 and 256 inclusive.\n\n"
RELATIVE_NEGATIVE = "Relative weight must be positive.\n\n"
WEIGHT_GARBAGE = "Empty weight string empty or preceded by garbage\n"  # one newline, as HAProxy
STATE_USAGE = "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
SET_SERVER_USAGE = (
    "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send"
    " | check-addr | check-port | fqdn | health | ssl | state | weight\n\n"
)
MAX_WEIGHT = 256
REQUIRE_MAXCONN = "Require <maxconn>.\n\n"
MAXCONN_GARBAGE = "maxconn string empty or preceded by garbage\n"  # one newline, as HAProxy
ADDR_USAGE = "set server <b>/<s> addr requires an address and optionally a port.\n\n"
BY_CLI = "by 'stats socket command'"
# (backend, server) -> the configured (address, port): what `set server .. addr` reports as
# the previous address while no runtime change was made
Configured = Callable[[str, str], tuple[str, int]]


@dataclass(frozen=True)
class AdminOp:
    """One admin change: forced bits to set and clear, and the new user weight (or -1)."""

    backend: str
    server: str
    set_bits: int = 0
    clear_bits: int = 0
    weight: int = -1
    maxconn: int = -1  # the new maxconn (0: unlimited), -1 unchanged
    addr: str = ""  # the new IP, "" unchanged
    port: int = -1  # the new port, -1 unchanged
    answer: str = ""  # what the session answers once written ("" -> an empty line)


def find_server(table: StatsTable, text: str | None) -> tuple[str, str] | str:
    """(backend, server) of `BE/SRV` (either may be `#id`), or HAProxy's error answer."""
    if not text or "/" not in text:
        return REQUIRE_BACKEND_SERVER
    backend, _, server = text.partition("/")
    layout = table.layout
    rows = [row for row in layout.rows if row.kind == SERVER]
    if backend.startswith("#"):
        matches = {row.proxy for row in rows if str(row.iid) == backend[1:]}
    else:
        matches = {row.proxy for row in rows if row.proxy == backend}
    if not matches:
        backends = {r.proxy for r in layout.rows if r.kind == "backend"}
        if backend in backends or any(f"#{r.iid}" == backend for r in layout.rows):
            return NO_SUCH_SERVER
        return NO_SUCH_BACKEND
    name = matches.pop()
    for row in rows:
        if row.proxy == name and (
            row.name == server or (server.startswith("#") and str(row.sid) == server[1:])
        ):
            return name, row.name
    return NO_SUCH_SERVER


def parse_weight(text: str | None, iweight: int) -> int | str:
    """The new user weight of `N` or `N%` (relative to the configured weight), or the error."""
    if text is None or text == "":
        return REQUIRE_WEIGHT
    digits = text.removesuffix("%")
    sign = digits[:1] if digits[:1] in "+-" else ""
    body = digits[len(sign) :]
    if not body.isdigit():
        return WEIGHT_GARBAGE
    value = int(digits)
    if text.endswith("%"):
        if value < 0:
            return RELATIVE_NEGATIVE
        return min(MAX_WEIGHT, iweight * value // 100)
    if not 0 <= value <= MAX_WEIGHT:
        return WEIGHT_RANGE
    return value


def parse_admin(
    table: StatsTable, words: Sequence[str], configured: Configured | None = None
) -> AdminOp | str:
    """An admin command's op, or the text to answer (an error)."""
    if words[:3] == ["set", "maxconn", "server"]:
        found = find_server(table, words[3] if len(words) > 3 else None)
        if isinstance(found, str):
            return found
        if len(words) < 5:
            return REQUIRE_MAXCONN
        if not words[4].isdigit():
            return MAXCONN_GARBAGE
        return AdminOp(*found, maxconn=min(int(words[4]), 2**31 - 1))
    if words[:2] in (["disable", "server"], ["enable", "server"]):
        found = find_server(table, words[2] if len(words) > 2 else None)
        if isinstance(found, str):
            return found
        if words[0] == "disable":  # a forced drain ends there (HAProxy: admin state 1)
            return AdminOp(*found, set_bits=FMAINT, clear_bits=FDRAIN)
        # Enabling a `disabled` server (CMAINT) takes it out of maintenance too, and it ends
        # a forced drain, as `set server .. state ready` (HAProxy).
        return AdminOp(*found, clear_bits=FMAINT | CMAINT | FDRAIN)
    if words[:2] == ["set", "weight"]:
        found = find_server(table, words[2] if len(words) > 2 else None)
        if isinstance(found, str):
            return found
        return _weight_op(table, found, words[3] if len(words) > 3 else None)
    if words[:2] == ["set", "server"]:
        found = find_server(table, words[2] if len(words) > 2 else None)
        if isinstance(found, str):
            return found
        what = words[3] if len(words) > 3 else ""
        if what == "weight":
            return _weight_op(table, found, words[4] if len(words) > 4 else None)
        if what == "addr":
            return _addr_op(table, found, words[4:], configured)
        if what == "state":
            state = words[4] if len(words) > 4 else ""
            if state == "ready":
                return AdminOp(*found, clear_bits=FMAINT | CMAINT | FDRAIN)
            if state == "drain":
                return AdminOp(*found, set_bits=FDRAIN, clear_bits=FMAINT | CMAINT)
            if state == "maint":
                return AdminOp(*found, set_bits=FMAINT, clear_bits=FDRAIN)
            return STATE_USAGE
        return SET_SERVER_USAGE
    return REQUIRE_BACKEND_SERVER


def _weight_op(table: StatsTable, found: tuple[str, str], text: str | None) -> AdminOp | str:
    slot = table.layout.server(*found)
    weight = parse_weight(text, table.read_admin(slot).iweight)
    if isinstance(weight, str):
        return weight
    return AdminOp(*found, weight=weight)


def _addr_op(
    table: StatsTable, found: tuple[str, str], args: Sequence[str], configured: Configured | None
) -> AdminOp | str:
    """`addr IP [port P]`: HAProxy's sentence on what changed (a bad port leaves the port)."""
    if not args:
        return ADDR_USAGE
    try:
        new_ip = str(ipaddress.ip_address(args[0]))
    except ValueError:
        return f"Invalid addr '{args[0]}' {BY_CLI}\n\n"
    admin = table.read_admin(table.layout.server(*found))
    old_ip, old_port = configured(*found) if configured is not None else ("", 0)
    if admin.addr_gen:
        old_ip = unpack_address(admin.addr_family, admin.addr_hi, admin.addr_lo) or old_ip
    if admin.port:
        old_port = admin.port
    parts = []
    changed = new_ip != old_ip
    parts.append(
        f"IP changed from '{old_ip}' to '{new_ip}'" if changed else "no need to change the addr"
    )
    port = -1
    if len(args) > 1 and args[1] == "port":
        text = args[2] if len(args) > 2 else ""
        digits = text.lstrip("+-")
        if not text or not digits.isdigit():
            parts.append(f"problem converting port '{text}' to an int")
        else:
            port = int(text) % 65536  # HAProxy keeps the low 16 bits
            if port != old_port:
                parts.append(f"port changed from '{old_port}' to '{port}'")
            else:
                port = -1
    answer = ", ".join(parts) + f" {BY_CLI}\n\n"
    return AdminOp(*found, addr=new_ip if changed else "", port=port, answer=answer)


def get_weight(table: StatsTable, text: str | None) -> str:
    """`get weight BE/SRV`: `12 (initial 50)`."""
    found = find_server(table, text)
    if isinstance(found, str):
        return found
    admin = table.read_admin(table.layout.server(*found))
    return f"{admin.uweight} (initial {admin.iweight})\n\n"


def apply_op(table: StatsTable, config: Config, op: AdminOp) -> list[tuple[str, str]]:
    """Write `op` into the admin section (the caller is its single writer); HAProxy's log lines
    for it as (level, text), level "warning" or "alert"."""
    slot = table.layout.server(op.backend, op.server)
    before = table.read_admin(slot)
    state = (before.admin_state | op.set_bits) & ~op.clear_bits
    values: dict[str, int] = {}
    if state != before.admin_state:
        values["admin_state"] = state
        values["admin_changed"] = int(time.time())
    if op.weight >= 0 and op.weight != before.uweight:
        values["uweight"] = op.weight
    if op.maxconn >= 0 and op.maxconn != before.maxconn:
        values["maxconn"] = op.maxconn
    if op.addr:
        family, high, low = pack_address(op.addr)
        values.update(addr_gen=before.addr_gen + 1, addr_family=family, addr_hi=high, addr_lo=low)
    if op.port >= 0:
        values.update(port=op.port, addr_gen=before.addr_gen + 1)
    if values:
        table.write_admin(slot, **values)
    lines = _transition_lines(table, config, op, before.admin_state, state)
    if (before.admin_state ^ state) & (MAINT_MASK | DRAIN_MASK):
        # maintenance and drain pass down the servers tracking it (IMAINT, IDRAIN)
        extra = dynamic_edges(table.layout)  # `add server ... track`
        followers = followers_in_order(config, (op.backend, op.server), extra)
        lines += pass_down(table, followers, lambda backend: _online(table, config, backend))
    return lines


def _via(config: Config, backend: str, server: str, table: StatsTable | None = None) -> str:
    """The server `backend/server` tracks directly, as `be/s`, or ""."""
    if table is not None and table.layout.server(backend, server).dynamic:
        target = tracked_by(table.layout, backend, server)
        return f"{target[0]}/{target[1]}" if target else ""
    for proxy in config.proxies:
        if proxy.name == backend:
            for model in proxy.servers:
                if model.name == server:
                    target = tracked(proxy, model)
                    return f"{target[0]}/{target[1]}" if target else ""
    return ""


def _up_down(table: StatsTable, slot: ServerSlot) -> str:
    return "DOWN" if table.read_health(slot).op_state == STOPPED else "UP"


def _transition_lines(
    table: StatsTable, config: Config, op: AdminOp, was: int, now: int
) -> list[tuple[str, str]]:
    name = f"{op.backend}/{op.server}"
    active, backups = _online(table, config, op.backend)
    lines: list[tuple[str, str]] = []
    if now & MAINT_MASK and not was & MAINT_MASK:
        if _up_down(table, table.layout.server(op.backend, op.server)) == "DOWN":
            # already out of the farm: HAProxy says so, and no farm count nor alert follows
            lines.append(("warning", f"Server {name} was DOWN and now enters maintenance."))
            return lines
        sessions = table.read_counters(op.backend, op.server)["scur"]
        lines.append(
            (
                "warning",
                f"Server {name} is going DOWN for maintenance. {active} active and {backups}"
                f" backup servers left. {sessions} sessions active, 0 requeued, 0 remaining"
                " in queue.",
            )
        )
        if not active and not backups:
            lines.append(("alert", f"backend '{op.backend}' has no server available!"))
    elif was & MAINT_MASK and not now & MAINT_MASK:
        if now & DRAIN_MASK:
            lines.append(("warning", f"Server {name} is UP/DRAIN (leaving forced maintenance)."))
            lines.append(
                ("warning", drain_tail(name, now, _via(config, op.backend, op.server, table)))
            )
        else:
            lines.append(("warning", f"Server {name} is UP/READY (leaving forced maintenance)."))
    elif now & MAINT_MASK:  # still in maintenance (another reason): drain changes say nothing
        line = own_maint_line(name, was, now, _via(config, op.backend, op.server, table))
        if line is not None:
            lines.append(line)
    elif now & DRAIN_MASK and not was & DRAIN_MASK:
        down = _up_down(table, table.layout.server(op.backend, op.server)) == "DOWN"
        lines.append(("warning", drain_line(name, active, backups, down=down)))
        if not active and not backups and not down:
            lines.append(("alert", f"backend '{op.backend}' has no server available!"))
    elif was & DRAIN_MASK and not now & DRAIN_MASK:
        slot = table.layout.server(op.backend, op.server)
        lines.append(
            ("warning", f"Server {name} is {_up_down(table, slot)} (leaving forced drain).")
        )
    return lines


def _online(table: StatsTable, config: Config, backend: str) -> tuple[int, int]:
    """(active, backup) servers of a backend that take traffic now."""
    proxy = next((p for p in config.proxies if p.name == backend), None)
    backup_names = {
        s.name for s in (proxy.servers if proxy is not None else ()) if s.option("backup", False)
    }
    active = backups = 0
    for slot in table.layout.servers:
        if slot.backend != backend:
            continue
        admin = table.read_admin(slot)
        if admin.admin_state & (MAINT_MASK | DRAIN_MASK):
            continue
        if table.read_health(slot).op_state not in (RUNNING, STARTING):
            continue
        if slot.name in backup_names:
            backups += 1
        else:
            active += 1
    return active, backups
