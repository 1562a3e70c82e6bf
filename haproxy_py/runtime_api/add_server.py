"""`add server BE/SRV ADDR [KEYWORD...]` as the asking worker checks it, HAProxy 2.6's way.

`parse_add` gives the checked command (an `AddServer`) or HAProxy's answer, in HAProxy's
order of checks: the name, the backend (by name or `#ID`), an algorithm that takes servers
at run time (`accepts_dynamic`), an address, the keywords a dynamic server may have
(add_server_options.py), the address and the options' values, then what depends on the
configuration and the live layout (`observe layer7` on an HTTP backend only,
`track` against `check` and against its target, the agent's port, the name's length and
freedom, the forced `id`). As in HAProxy 2.6, no `default-server` setting applies.
Rules: pure (no I/O); reads the configuration and the layout, writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from haproxy_py.checks.track import track_refusal
from haproxy_py.config.address import SERVER_RULES, parse_address
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.runtime_api.add_server_options import config_answer, parse_options, refused_keyword
from haproxy_py.runtime_api.dynamic_servers import (
    ALREADY_EXISTS,
    NO_SUCH_BACKEND,
    REQUIRE_BACKEND_SERVER,
    AddServer,
    server_exists,
    slot_with_id,
    split_name,
)
from haproxy_py.stats.layout import DYN_NAME_BYTES, Layout

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy

NOT_DYNAMIC_LB = "Backend must use a dynamic load balancing to support dynamic servers.\n"
EXPECTS_ADDRESS = "'server' expects <name> and <addr>[:<port>] as arguments.\n\n"
NAME_TOO_LONG = f"haproxy-py keeps dynamic server names up to {DYN_NAME_BYTES} bytes.\n\n"
LAYER7_TCP = "'layer7' can only be used in http proxies..\n\n"
CHECK_AND_TRACK = "unable to enable checks and tracking at the same time!\n\n"

# Algorithms that take a server at run time (HAProxy's "dynamic" ones); the hashing ones
# only with `hash-type consistent`.
DYNAMIC_ALGORITHMS = frozenset({"roundrobin", "leastconn", "first", "random"})
HASHING_ALGORITHMS = frozenset({"source", "uri", "url_param", "hdr", "rdp-cookie"})


def accepts_dynamic(proxy: Proxy) -> bool:
    """The backend's algorithm can take a server at run time."""
    algorithm = proxy.balance.get("algorithm", "roundrobin")
    if algorithm in DYNAMIC_ALGORITHMS:
        return True
    return algorithm in HASHING_ALGORITHMS and "consistent" in proxy.hash_type


def parse_add(words: Sequence[str], config: Config, layout: Layout) -> AddServer | str:
    """`add server BE/SRV ADDR [KEYWORD...]` checked as HAProxy 2.6 checks it: the command,
    or the answer to give (an error)."""
    names = split_name(words[2] if len(words) > 2 else None)
    if names is None:
        return REQUIRE_BACKEND_SERVER
    backend_name, name = names
    proxy = _backend(config, backend_name)
    if proxy is None:
        return NO_SUCH_BACKEND
    if not accepts_dynamic(proxy):
        return NOT_DYNAMIC_LB
    if len(words) < 4:
        return EXPECTS_ADDRESS
    refused = refused_keyword(words[4:])
    if refused:
        return refused
    try:
        address = parse_address(words[3], "server", SERVER_RULES)
    except ConfigError as exc:
        return config_answer(exc.message, name)
    options = parse_options(words[4:], name)
    if isinstance(options, str):
        return options
    if options.get("observe") == "layer7" and proxy.mode != "http":
        return LAYER7_TCP
    track = options.get("track")
    if track and options.get("check"):
        return CHECK_AND_TRACK
    if track:
        refused = track_refusal(config, layout, proxy.name, track)
        if refused:
            return refused
    if options.get("agent-check") and not options.get("agent-port"):
        # (HAProxy 2.6 says "Server" the first time in its life, "server" after)
        return f"server {name} does not have agent port. Agent check has been disabled.\n\n"
    if len(name.encode("utf-8", "surrogateescape")) > DYN_NAME_BYTES:
        return NAME_TOO_LONG
    if server_exists(layout, proxy.name, name):
        return ALREADY_EXISTS
    add = AddServer(proxy.name, name, address, options)
    taken = _id_owner(config, layout, proxy.name, add.forced_id)
    if taken:
        return taken
    return add


def _backend(config: Config, name: str) -> Proxy | None:
    for proxy in config.proxies:
        if proxy.is_backend and (proxy.name == name or f"#{proxy.uuid}" == name):
            return proxy
    return None


def _id_owner(config: Config, layout: Layout, backend: str, sid: int | None) -> str:
    """HAProxy's answer when the forced id is not usable, else ""."""
    if sid is None:
        return ""
    if sid <= 0:
        return "'id' : custom id has to be > 0.\n\n"
    slot = slot_with_id(layout, backend, sid)
    if slot is None:
        return ""
    where = "(null):0"
    proxy = _backend(config, backend)
    for server in proxy.servers if proxy is not None and not slot.dynamic else ():
        if server.name == slot.name:
            where = str(server.where)
    return f"'id' : custom id {sid} already used at {where} ('server {slot.name}').\n\n"
