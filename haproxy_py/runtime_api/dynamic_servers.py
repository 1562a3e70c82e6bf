"""`add server` and `del server` (dynamic servers): parsing and HAProxy 2.6's refusals.

A dynamic server lives in one of the stats table's spare rows (haproxy_py/stats/layout.py
DYN_FIELDS). The asking worker checks the command against its configuration and the live
layout (`parse_add`, `parse_del`); the master, the one writer of the dynamic area, checks
what only the table knows at that instant (the name still free, a spare row left, the server
in maintenance and idle: `master_add`, `master_del`) and writes it; then every worker of the
generation builds or drops the server (worker/cli_dynamic.py). Answers are HAProxy's, byte
for byte. As in HAProxy 2.6: no `default-server` setting applies, a new server starts in
maintenance (`enable server` to use it) unless `enabled` is given, and only backends whose
algorithm takes servers at run time accept one. `del server` takes configured servers
too, except those other configuration elements name (`pinned_servers`) or a dynamic
server tracks (`track`: the record keeps the tracked server's slot, and the new server
starts as it is, its maintenance included). Rules: pure (no
I/O); nothing here writes anything but `master_*`, which write the table they are given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from haproxy_py.checks.track import track_refusal
from haproxy_py.checks.track_admin import inherited
from haproxy_py.config.address import SERVER_RULES, Address, Family, parse_address
from haproxy_py.config.diagnostics import ConfigError, Where
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from haproxy_py.config.keywords.suboptions import parse_suboptions
from haproxy_py.config.model import Server
from haproxy_py.stats.layout import (
    AGENT_OFF,
    DYN_AGENT,
    DYN_BACKUP,
    DYN_CHECKED,
    DYN_DELETED,
    DYN_DISABLED,
    DYN_FORCED_ID,
    DYN_NAME_BYTES,
    DYN_OBSERVE,
    DYN_RISE_SHIFT,
    DYN_TRACK_SHIFT,
    FMAINT,
    HEALTH_OFF,
    MAINT_MASK,
    QCUR,
    SCUR,
    DynamicEntry,
    Layout,
    ServerSlot,
    dynamic_flags,
    initial_state,
    pack_address,
    unpack_address,
)

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy
    from haproxy_py.process.shm import StatsTable

REQUIRE_BACKEND_SERVER = "Require 'backend/server'.\n"
NO_SUCH_BACKEND = "No such backend.\n"
NO_SUCH_SERVER = "No such server.\n"
NOT_DYNAMIC_LB = "Backend must use a dynamic load balancing to support dynamic servers.\n"
EXPECTS_ADDRESS = "'server' expects <name> and <addr>[:<port>] as arguments.\n\n"
ALREADY_EXISTS = "Already exists a server with the same name in backend.\n\n"
REGISTERED = "New server registered.\n\n"
NOT_IN_MAINT = "Only servers in maintenance mode can be deleted.\n"
HAS_CONNECTIONS = "Server still has connections attached to it, cannot remove it.\n"
DELETED = "Server deleted.\n"
POOL_EXHAUSTED = (
    "No spare server row left in haproxy-py's shared stats table (it holds {spares} dynamic"
    " servers at a time; a reload makes new room).\n\n"
)
NO_ROW_FOR_DELETE = (
    "No spare server row left in haproxy-py's shared stats table to record the deletion"
    " (it holds {spares} added or deleted servers at a time; a reload makes new room).\n"
)
NAME_TOO_LONG = f"haproxy-py keeps dynamic server names up to {DYN_NAME_BYTES} bytes.\n\n"
LAYER7_TCP = "'layer7' can only be used in http proxies..\n\n"
CHECK_AND_TRACK = "unable to enable checks and tracking at the same time!\n\n"
# The configuration parser's messages the CLI words otherwise (HAProxy 2.6's answers).
_CLI_WORDING = (
    ("'track' expects", "'track' expects [<proxy>/]<server> as argument..\n\n"),
    ("'observe' expects none", "'observe' expects <mode> as argument..\n\n"),
    ("'on-error' expects", "'on-error' expects one of 'fastinter', 'fail-check',"
     " 'sudden-death' or 'mark-down' but got '{got}'.\n\n"),
    ("'error-limit' expects", "error-limit has to be > 0..\n\n"),
)  # fmt: skip
PINNED = (
    "This server cannot be removed at runtime due to other configuration elements pointing to it.\n"
)

# The server keywords HAProxy 2.6 accepts on `add server` (management.txt, "add server").
HAPROXY_DYNAMIC_KEYWORDS = frozenset(
    [
        "agent-addr",
        "agent-check",
        "agent-inter",
        "agent-port",
        "agent-send",
        "allow-0rtt",
        "alpn",
        "addr",
        "backup",
        "ca-file",
        "check",
        "check-alpn",
        "check-proto",
        "check-send-proxy",
        "check-sni",
        "check-ssl",
        "check-via-socks4",
        "ciphers",
        "ciphersuites",
        "crl-file",
        "crt",
        "disabled",
        "downinter",
        "enabled",
        "error-limit",
        "fall",
        "fastinter",
        "force-sslv3",
        "force-tlsv10",
        "force-tlsv11",
        "force-tlsv12",
        "force-tlsv13",
        "id",
        "inter",
        "maxconn",
        "maxqueue",
        "minconn",
        "no-ssl-reuse",
        "no-sslv3",
        "no-tlsv10",
        "no-tlsv11",
        "no-tlsv12",
        "no-tlsv13",
        "no-tls-tickets",
        "npn",
        "observe",
        "on-error",
        "on-marked-down",
        "on-marked-up",
        "pool-low-conn",
        "pool-max-conn",
        "pool-purge-delay",
        "port",
        "proto",
        "proxy-v2-options",
        "rise",
        "send-proxy",
        "send-proxy-v2",
        "send-proxy-v2-ssl",
        "send-proxy-v2-ssl-cn",
        "slowstart",
        "sni",
        "source",
        "ssl",
        "ssl-max-ver",
        "ssl-min-ver",
        "tfo",
        "tls-tickets",
        "track",
        "usesrc",
        "verify",
        "verifyhost",
        "weight",
        "ws",
    ]
)
# Of those, what haproxy-py builds for a dynamic server today.
BUILT_KEYWORDS = frozenset(
    {"backup", "disabled", "enabled", "id", "maxconn", "maxqueue", "minconn", "weight",
     # health checks (worker/cli_checks.py), off until `enable health` as in HAProxy 2.6
     "check", "inter", "fastinter", "downinter", "rise", "fall", "port", "addr",
     # the agent (worker/check_agent.py), off until `enable agent` as in HAProxy 2.6
     "agent-check", "agent-addr", "agent-inter", "agent-port", "agent-send",
     # warm-up under checks; the PROXY protocol to the server and on its checks
     "slowstart", "send-proxy", "send-proxy-v2", "proxy-v2-options", "check-send-proxy",
     # following a configured server's state (worker/cli_dynamic.py), observing traffic
     # (worker/check_observe.py), closing sessions on a state change (worker/shared_state.py)
     "track", "observe", "error-limit", "on-error", "on-marked-down", "on-marked-up"}
)  # fmt: skip
# Algorithms that take a server at run time (HAProxy's "dynamic" ones); the hashing ones
# only with `hash-type consistent`.
DYNAMIC_ALGORITHMS = frozenset({"roundrobin", "leastconn", "first", "random"})
HASHING_ALGORITHMS = frozenset({"source", "uri", "url_param", "hdr", "rdp-cookie"})
_OWNER = "\0"
_WHERE = Where("CLI", 0)


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
    refused = _refused_keyword(words[4:])
    if refused:
        return refused
    try:
        address = parse_address(words[3], "server", SERVER_RULES)
        options = parse_suboptions(words[4:], SERVER_OPTIONS, _OWNER)
    except ConfigError as exc:
        return _config_answer(exc.message, name)
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
    if _exists(layout, proxy.name, name):
        return ALREADY_EXISTS
    add = AddServer(proxy.name, name, address, options)
    taken = _id_owner(config, layout, proxy.name, add.forced_id)
    if taken:
        return taken
    return add


def _refused_keyword(words: Sequence[str]) -> str:
    """HAProxy's answer for the first keyword a dynamic server cannot have, else ""."""
    index = 0
    while index < len(words):
        word = words[index]
        option = SERVER_OPTIONS.options.get(word)
        known = option is not None or word in SERVER_OPTIONS.unsupported
        if known and word not in HAPROXY_DYNAMIC_KEYWORDS:
            return f"'{word}' option is not accepted for dynamic server\n\n"
        if option is None:
            return ""  # unknown or unsupported here: parse_suboptions says which
        if word not in BUILT_KEYWORDS:
            return f"'{word}' is not yet supported on dynamic servers by haproxy-py.\n\n"
        index += 1 + option.nargs
    return ""


def _config_answer(message: str, name: str) -> str:
    """A configuration parser's message as the CLI says it (no owner, HAProxy's dots)."""
    message = message.removeprefix(f"{_OWNER} : ")
    for start, answer in _CLI_WORDING:
        if message.startswith(start):
            got = re.search(r"got '([^']*)'", message)
            return answer.format(got=got.group(1) if got else "")
    if message.startswith("'id' expects an integer"):
        return "'id' : custom id has to be > 0.\n\n"
    if message.startswith("weight of server "):
        message = message.replace("weight of server ", f"weight of server {name} ", 1) + "."
    return f"{message}\n\n"


def _backend(config: Config, name: str) -> Proxy | None:
    for proxy in config.proxies:
        if proxy.is_backend and (proxy.name == name or f"#{proxy.uuid}" == name):
            return proxy
    return None


def _exists(layout: Layout, backend: str, name: str) -> bool:
    try:
        layout.server(backend, name)
    except KeyError:
        return False
    return True


def _id_owner(config: Config, layout: Layout, backend: str, sid: int | None) -> str:
    """HAProxy's answer when the forced id is not usable, else ""."""
    if sid is None:
        return ""
    if sid <= 0:
        return "'id' : custom id has to be > 0.\n\n"
    for slot in layout.servers:
        if slot.backend == backend and slot.sid == sid:
            where = "(null):0"
            proxy = _backend(config, backend)
            for server in proxy.servers if proxy is not None and not slot.dynamic else ():
                if server.name == slot.name:
                    where = str(server.where)
            return f"'id' : custom id {sid} already used at {where} ('server {slot.name}').\n\n"
    return ""


def next_id(layout: Layout, backend: str) -> int:
    """The lowest server id the backend does not use (HAProxy numbers a new server so)."""
    taken = {slot.sid for slot in layout.servers if slot.backend == backend}
    sid = 1
    while sid in taken:
        sid += 1
    return sid


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
    if not _exists(layout, backend, name):
        return NO_SUCH_SERVER
    slot = layout.server(backend, name)
    if config is not None and not slot.dynamic and (backend, name) in pinned_servers(config):
        return PINNED
    if any(other.tracks == slot.index for other in layout.servers):
        return PINNED  # a dynamic server tracks it (HAProxy: its tracker list is not empty)
    return backend, name


_SRV_FETCH = re.compile(r"\bsrv_is_up\(([^),]*)\)")


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


# -- the master's side: the one writer of the dynamic area -------------------------------------


def master_add(table: StatsTable, words: Sequence[str], order: int) -> str:
    """Write the server of an `add server` a worker checked into a spare row; "" or the
    answer to give instead (the name taken meanwhile, no spare row left)."""
    names = split_name(words[2] if len(words) > 2 else None)
    layout = table.layout
    backends = {r.proxy: r.iid for r in layout.rows if r.kind == "backend"}
    if names is None or names[0] not in backends or len(words) < 4:
        return NO_SUCH_BACKEND
    backend, name = names
    try:
        options = parse_suboptions(words[4:], SERVER_OPTIONS, _OWNER)
    except ConfigError as exc:
        return _config_answer(exc.message, name)
    if _exists(layout, backend, name):
        return ALREADY_EXISTS
    add = AddServer(backend, name, Address(Family.IPV4, "", 0, 0, False), options)
    sid = add.forced_id
    if sid is not None and any(s.backend == backend and s.sid == sid for s in layout.servers):
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
        state.update(_address_state(parse_address(words[3], "server", SERVER_RULES)))
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


def _address_state(address: Address) -> dict[str, int]:
    """The admin row's address words for an IP address (a host name, a UNIX path: none)."""
    if address.family not in (Family.IPV4, Family.IPV6) or not address.host:
        return {}
    family, high, low = pack_address(address.host)
    return {"addr_family": family, "addr_hi": high, "addr_lo": low, "port": address.port}


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
