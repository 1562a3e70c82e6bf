"""The configuration model: frozen dataclasses, the one shape every other part reads.

Only haproxy_py.config produces these objects (through the builders); master, workers and
`-c` all read the same ones. Every object that comes from a statement carries its `where`
(file:line). Collections are tuples and read-only mappings. Times are integer milliseconds,
sizes integer bytes; None means "not set" where HAProxy distinguishes unset from zero.
This module imports only other model modules.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from haproxy_py.config.address import Address
from haproxy_py.config.diagnostics import Where

EMPTY: Mapping[str, Any] = MappingProxyType({})


def read_only_mapping(values: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(values)


# Read-only mappings must cross process boundaries (master -> worker): teach pickle them.
copyreg.pickle(MappingProxyType, lambda proxy: (read_only_mapping, (dict(proxy),)))


def _empty() -> Mapping[str, Any]:
    return EMPTY


def _read_only(instance: Any) -> None:
    """Make an option mapping given to a frozen object read-only (parsers build plain dicts)."""
    options = instance.options
    if not isinstance(options, MappingProxyType):
        object.__setattr__(instance, "options", MappingProxyType(dict(options)))


# -- conditions, ACLs and rules ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acl:
    """`acl NAME CRITERION [FLAGS] [OPERATOR] [VALUE]...` (or an anonymous `{ ... }` one)."""

    where: Where
    name: str  # "" for an anonymous ACL
    fetch: str  # the sample fetch with its converters, e.g. "hdr(host),lower"
    flags: tuple[str, ...] = ()  # -i, -n, -m METHOD, -f FILE, -M, as written
    match: str = ""  # match method from -m or the derived fetch name ("beg" for path_beg)
    operator: str = ""  # eq ne lt le gt ge for integer matches
    values: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # -f FILE arguments


@dataclass(frozen=True, slots=True)
class AclTerm:
    """One operand of a condition: a named ACL or an anonymous one, possibly negated."""

    name: str  # "" when `inline` is given
    negated: bool = False
    inline: Acl | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """`if|unless` followed by OR-ed groups of AND-ed terms."""

    unless: bool
    groups: tuple[tuple[AclTerm, ...], ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule of an ordered rule set: http-request, tcp-request content, redirect, ..."""

    where: Where
    ruleset: str  # "http-request", "tcp-request connection", "http-check", ...
    action: str  # "set-header", "deny", "reject", ...
    args: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(
        default_factory=_empty
    )  # action keyword options (deny_status, code, ...)

    def __post_init__(self) -> None:
        _read_only(self)

    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class BackendSwitch:
    """`use_backend NAME|FORMAT [if|unless COND]`."""

    where: Where
    backend: str
    dynamic: bool = False  # the name is a log-format string (contains %[...])
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class ServerSwitch:
    """`use-server NAME [if|unless COND]`, `force-persist`, `ignore-persist`."""

    where: Where
    server: str
    condition: Condition | None = None


# -- logging --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogTarget:
    """`log ADDR [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]` or `log global`."""

    where: Where
    address: Address | None  # None for "global" (use the global section's targets)
    target: str  # as written: "127.0.0.1:514", "stdout", "global", ...
    facility: str = ""
    level: str = ""
    min_level: str = ""
    length: int = 1024
    format: str = "rfc3164"
    sample_ranges: str = ""
    sample_size: int = 0


# -- listeners and servers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    """One `bind` line (or a `stats socket`): addresses and their bind options."""

    where: Where
    addresses: tuple[Address, ...]
    options: Mapping[str, Any] = field(default_factory=_empty)  # bind option name -> typed value

    def __post_init__(self) -> None:
        _read_only(self)


@dataclass(frozen=True, slots=True)
class Server:
    """One `server` line with `default-server` options already applied."""

    where: Where
    name: str
    address: Address
    options: Mapping[str, Any] = field(default_factory=_empty)  # server option name -> typed value

    def __post_init__(self) -> None:
        _read_only(self)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


# -- proxies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """A frontend, backend, listen or defaults section after inheritance."""

    kind: str  # "defaults", "frontend", "backend", "listen"
    name: str  # "" for an anonymous defaults section
    where: Where
    uuid: int = 0  # the proxy id (`id` keyword, or assigned in file order)
    parent: str | None = None  # the defaults section inherited from
    mode: str = "tcp"
    description: str = ""
    disabled: bool = False
    maxconn: int | None = None
    backlog: int | None = None
    fullconn: int | None = None
    retries: int | None = None
    retry_on: tuple[str, ...] = ()
    balance: Mapping[str, Any] = field(
        default_factory=_empty
    )  # {"algorithm": "roundrobin", ...arguments}
    hash_type: tuple[str, ...] = ()
    timeouts: Mapping[str, int] = field(default_factory=_empty)  # "connect" -> ms
    options: Mapping[str, Any] = field(
        default_factory=_empty
    )  # "httplog" -> True / False / typed arguments
    binds: tuple[Bind, ...] = ()
    servers: tuple[Server, ...] = ()
    default_server: Mapping[str, Any] = field(default_factory=_empty)
    default_backend: str | None = None
    default_backend_where: Where | None = None
    backend_switches: tuple[BackendSwitch, ...] = ()
    server_switches: tuple[ServerSwitch, ...] = ()
    acls: tuple[Acl, ...] = ()
    rules: Mapping[str, tuple[Rule, ...]] = field(
        default_factory=_empty
    )  # ruleset -> ordered rules
    logs: tuple[LogTarget, ...] = ()
    settings: Mapping[str, Any] = field(
        default_factory=_empty
    )  # every other keyword: name -> typed value

    @property
    def is_frontend(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def is_backend(self) -> bool:
        return self.kind in ("backend", "listen")

    def setting(self, name: str, default: Any = None) -> Any:
        return self.settings.get(name, default)


# -- global and the other sections -------------------------------------------------------------


@dataclass(frozen=True)
class Global:
    where: Where | None = None
    daemon: bool = False
    master_worker: bool = False
    maxconn: int | None = None
    nbproc: int | None = None  # the seeds' keyword: number of worker processes
    nbthread: int | None = None  # HAProxy 2.6's keyword: here, also worker processes
    chroot: str | None = None
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    pidfile: str | None = None
    ulimit_n: int | None = None
    logs: tuple[LogTarget, ...] = ()
    stats_sockets: tuple[Bind, ...] = ()
    settings: Mapping[str, Any] = field(
        default_factory=_empty
    )  # every other global keyword: name -> typed value

    def setting(self, name: str, default: Any = None) -> Any:
        return self.settings.get(name, default)


@dataclass(frozen=True)
class Section:
    """userlist, peers, resolvers, cache, program and http-errors sections."""

    kind: str
    name: str
    where: Where
    entries: tuple[Any, ...] = ()  # users, groups, peers, errorfiles... (typed per kind)
    settings: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class Config:
    files: tuple[str, ...]
    global_: Global
    defaults: tuple[Proxy, ...] = ()
    proxies: tuple[Proxy, ...] = ()  # frontends, backends and listens in file order
    sections: Mapping[str, Mapping[str, Section]] = field(
        default_factory=_empty
    )  # kind -> name -> section
    environment: Mapping[str, str] = field(default_factory=_empty)  # as changed by setenv & co

    def frontends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.is_frontend)

    def backends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.is_backend)

    def backend(self, name: str) -> Proxy | None:
        for proxy in self.proxies:
            if proxy.name == name and proxy.is_backend:
                return proxy
        return None

    def has_listeners(self) -> bool:
        return any(p.binds and not p.disabled for p in self.proxies) or bool(
            self.global_.stats_sockets
        )
