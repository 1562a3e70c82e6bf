"""`del server BE/SRV` as HAProxy 2.6 allows it: which servers may go.

`parse_del` gives the (backend, server) of an existing server or HAProxy's answer. A
dynamic server may go, and a configured one too, except the servers other configuration
elements name (`pinned_servers`: HAProxy's "non purgeable" servers, marked once at start-up
for the whole generation) and those a dynamic server tracks. Whether the server is in
maintenance and idle only the table knows at the instant of the change: the master checks
that (dynamic_master.py `master_del`). Rules: pure (no I/O); writes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from haproxy_py.runtime_api.dynamic_servers import (
    NO_SUCH_BACKEND,
    REQUIRE_BACKEND_SERVER,
    server_exists,
    split_name,
)
from haproxy_py.stats.layout import Layout

if TYPE_CHECKING:
    from haproxy_py.config.model import Config

NO_SUCH_SERVER = "No such server.\n"
PINNED = (
    "This server cannot be removed at runtime due to other configuration elements pointing to it.\n"
)

_SRV_FETCH = re.compile(r"\bsrv_is_up\(([^),]*)\)")


def parse_del(
    words: Sequence[str], layout: Layout, config: Config | None = None
) -> tuple[str, str] | str:
    """`del server BE/SRV`: (backend, server) of an existing server, or the answer. With
    `config`, a configured server other configuration elements name is refused (HAProxy
    2.6's "non purgeable" servers: see `pinned_servers`)."""
    names = split_name(words[2] if len(words) > 2 else None)
    if names is None:
        return REQUIRE_BACKEND_SERVER
    backend, name = names
    backends = {r.proxy for r in layout.rows if r.kind == "backend"}
    if backend not in backends:
        return NO_SUCH_BACKEND
    if not server_exists(layout, backend, name):
        return NO_SUCH_SERVER
    slot = layout.server(backend, name)
    if config is not None and not slot.dynamic and (backend, name) in pinned_servers(config):
        return PINNED
    if any(other.tracks == slot.index for other in layout.servers):
        return PINNED  # a dynamic server tracks it (HAProxy: its tracker list is not empty)
    return backend, name


def pinned_servers(config: Config) -> frozenset[tuple[str, str]]:
    """The configured servers `del server` refuses, as HAProxy 2.6 marks them at start-up:
    a `track` target, a `use-server` target, a server a sample fetch names
    (`srv_is_up(BE/SRV)`, in an ACL, a rule or a log format). They stay so for the whole
    generation, even once the element naming them is gone (a tracker deleted)."""
    found: set[tuple[str, str]] = set()
    for proxy in config.proxies:
        for server in proxy.servers:
            track = server.options.get("track")
            if track:
                found.add((track[0] or proxy.name, track[1]))
        for switch in proxy.server_switches:
            if switch.server:
                found.add((proxy.name, switch.server))
        for text in _strings(proxy):
            for match in _SRV_FETCH.finditer(text):
                backend, slash, server = match.group(1).strip().rpartition("/")
                found.add((backend if slash else proxy.name, server))
    return frozenset(found)


def _strings(value: object) -> list[str]:
    """Every string held in a configuration object, nested ones included."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (tuple, list, set, frozenset)):
            stack.extend(item)
    return found
