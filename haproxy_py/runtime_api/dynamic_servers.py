"""`add server` and `del server` (dynamic servers): the flow, and what every step shares.

A dynamic server lives in one of the stats table's spare rows (haproxy_py/stats/layout.py
DYN_FIELDS). The asking worker checks the command against its configuration and the live
layout (add_server.py `parse_add`, del_server.py `parse_del`); the master, the one writer of
the dynamic area, checks what only the table knows at that instant (the name still free, a
spare row left, the server in maintenance and idle) and writes it (dynamic_master.py
`master_add`, `master_del`, building the rows dynamic_rows.py describes); then every worker
of the generation builds or drops the server (worker/cli_dynamic.py). Answers are HAProxy
2.6's, byte for byte.
This module owns what those steps share: recognising the commands, the `backend/server`
name, the checked `add server` record (`AddServer`), the lookups in the live layout and the
answers more than one step gives. Rules: pure (no I/O), nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from haproxy_py.config.address import Address
from haproxy_py.stats.layout import Layout, ServerSlot

REQUIRE_BACKEND_SERVER = "Require 'backend/server'.\n"
NO_SUCH_BACKEND = "No such backend.\n"
ALREADY_EXISTS = "Already exists a server with the same name in backend.\n\n"
REGISTERED = "New server registered.\n\n"
DELETED = "Server deleted.\n"


@dataclass(frozen=True)
class AddServer:
    """An `add server` command that passed the worker's checks."""

    backend: str
    name: str
    address: Address
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def disabled(self) -> bool:
        """Starts in maintenance: HAProxy 2.6's default, unless `enabled`."""
        return self.options.get("disabled", True) is not False

    @property
    def forced_id(self) -> int | None:
        value = self.options.get("id")
        return int(value) if value is not None else None


def is_dynamic_command(words: Sequence[str]) -> bool:
    return words[:2] in (["add", "server"], ["del", "server"])


def split_name(text: str | None) -> tuple[str, str] | None:
    """(backend, server) of `backend/server`, both non-empty."""
    if not text:
        return None
    backend, slash, server = text.partition("/")
    if not slash or not backend or not server:
        return None
    return backend, server


def server_exists(layout: Layout, backend: str, name: str) -> bool:
    try:
        layout.server(backend, name)
    except KeyError:
        return False
    return True


def slot_with_id(layout: Layout, backend: str, sid: int) -> ServerSlot | None:
    """The backend's server (configured or dynamic) that has server id `sid`, if any."""
    for slot in layout.servers:
        if slot.backend == backend and slot.sid == sid:
            return slot
    return None
