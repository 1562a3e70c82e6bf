"""What a parsed configuration needs before it can be served: one check for `-c`, the master
and every worker, so that `haproxy-py -c` refuses exactly what a worker would refuse at start.

Owns two things:
- `serving_problems(config)`: what this version cannot serve yet (refused with file:line, never
  ignored) and the frontend/backend mode agreement HAProxy requires;
- `resolve_servers(backends, resolver)`: every server's address following `init-addr`
  (default `last,libc`; `last` has no state file to read yet, `none` leaves the server without
  an address and in maintenance, an IP address is the fallback), with HAProxy's ALERTs
  ("could not resolve address", "no method found to resolve address") and WARNINGs
  ("disabling server", "falling back to configured address").
Pure: name resolution is injected (`Resolver`; the system one is
haproxy_py/process/resolver.py), so the rules are tested without a DNS.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config, Proxy, Server

# host name -> (address family, IP text, IPv6 scope id), or None when it does not resolve
Resolver = Callable[[str], "tuple[int, str, int] | None"]
DEFAULT_INIT_ADDR = ("last", "libc")
_NOT_YET = "is not yet supported by this version of haproxy-py"


@dataclass(frozen=True, slots=True)
class Resolved:
    """A server's address as found at start-up (the worker turns it into its Target)."""

    family: int  # AF_INET, AF_INET6 or AF_UNIX
    host: str  # IP address text, or the UNIX path ("\0name" for an abstract socket)
    port: int = 0
    relative: bool = False  # the port is added to the client's destination port
    scope_id: int = 0


class ResolveError(Exception):
    pass


# -- what cannot be served yet ----------------------------------------------------------------


def serving_problems(config: Config) -> list[str]:
    """ALERT texts (after "[ALERT] (PID) : ") for what this version cannot serve."""
    messages: list[str] = []
    for proxy in config.proxies:
        if proxy.disabled:
            continue
        if proxy.mode == "http" and proxy.is_backend and proxy.options.get("checkcache") is True:
            messages.append(
                f"config : [{proxy.where}] : proxy '{proxy.name}': 'option checkcache' (blocking"
                f" cacheable responses that set cookies) {_NOT_YET} in mode http."
            )
        if proxy.mode == "http":
            messages += _http_error_problems(proxy)
    return messages + check_modes(config)


# `http-error` payloads the worker builds pages from; log-format ones are not built yet.
_SERVED_PAYLOADS = ("default-errorfiles", "errorfile", "errorfiles", "string", "file")


def _http_error_problems(proxy: Proxy) -> list[str]:
    messages = []
    for reply in proxy.setting("http-error") or ():
        payload = reply.get("payload", "default-errorfiles")
        if payload not in _SERVED_PAYLOADS:
            messages.append(
                f"config : [{proxy.where}] : proxy '{proxy.name}': 'http-error' with a"
                f" '{payload}' payload {_NOT_YET} (log-format strings)."
            )
    return messages


def check_modes(config: Config) -> list[str]:
    """A frontend and the backend it routes to must agree on HTTP (as HAProxy requires for
    an HTTP frontend; a TCP frontend feeding an HTTP backend is not served yet)."""
    messages = []
    for proxy in config.proxies:
        if proxy.disabled or not proxy.is_frontend:
            continue
        for backend, where in _named_backends(config, proxy):
            messages += _mode_mismatch(proxy, backend, where)
    return messages


def _named_backends(config: Config, proxy: Proxy) -> list[tuple[Proxy, object]]:
    found: dict[str, tuple[Proxy, object]] = {}
    for switch in proxy.backend_switches:
        backend = None if switch.dynamic else config.backend(switch.backend)
        if backend is not None and not backend.disabled:
            found.setdefault(backend.name, (backend, switch.where))
    backend = static_backend(config, proxy)
    if backend is not None:
        found.setdefault(backend.name, (backend, proxy.default_backend_where or proxy.where))
    return list(found.values())


def _mode_mismatch(proxy: Proxy, backend: Proxy, where: object) -> list[str]:
    if backend.mode == proxy.mode:
        return []
    if proxy.mode == "http":
        return [
            f"config : [{where}] : proxy '{proxy.name}': unable to use proxy"
            f" '{backend.name}' with wrong mode, required: http, has: {backend.mode}."
        ]
    return [
        f"config : [{where}] : proxy '{proxy.name}': a tcp frontend routing to the"
        f" http backend '{backend.name}' {_NOT_YET}."
    ]


def static_backend(config: Config, frontend: Proxy) -> Proxy | None:
    """The backend a TCP frontend sends every connection to (only unconditional switches are
    allowed here): the first `use_backend NAME`, else `default_backend`, else itself for a
    `listen` section; None: connections are closed."""
    name = next(
        (s.backend for s in frontend.backend_switches if s.condition is None and not s.dynamic),
        None,
    )
    name = name or frontend.default_backend
    if name is None:
        return frontend if frontend.is_backend else None
    backend = config.backend(name)
    return backend if backend is not None and not backend.disabled else None


# -- server addresses -------------------------------------------------------------------------


@dataclass
class Resolution:
    """{(backend, server): Resolved or None (no address: maintenance)} and what to print."""

    addresses: dict[tuple[str, str], Resolved | None]
    alerts: list[str]
    warnings: list[str]
    ordered: list[tuple[str, str]]  # ("alert" | "warning", text) in the order HAProxy prints


def resolve_servers(
    backends: Iterable[Proxy], resolver: Resolver, *, ignore_failures: bool = False
) -> Resolution:
    """Every server's address. `ignore_failures` (-dr) starts a server that cannot be
    resolved in maintenance, with a warning, instead of refusing the configuration."""
    result = Resolution({}, [], [], [])
    for backend in backends:
        for server in backend.servers:
            try:
                address, warning = resolve_server(backend.name, server, resolver)
            except ResolveError as exc:
                if ignore_failures:
                    text = str(exc).rstrip(".")
                    warning = f"{text}, disabling server."
                else:
                    result.alerts.append(f"config : [{server.where}] : {exc}")
                    result.ordered.append(("alert", result.alerts[-1]))
                    warning = None
                address = None
            if warning:
                result.warnings.append(f"config : [{server.where}] : {warning}")
                result.ordered.append(("warning", result.warnings[-1]))
            result.addresses[(backend.name, server.name)] = address
    if result.alerts:
        result.alerts.append("config : Failed to initialize server(s) addr.")
        result.ordered.append(("alert", result.alerts[-1]))
    return result


def resolve_server(
    backend: str, server: Server, resolver: Resolver
) -> tuple[Resolved | None, str | None]:
    """The server's address (None when `init-addr none` leaves it without one) and the
    warning to print, if any; ResolveError when no method gives an address."""
    address = server.address
    family = address.family
    relative = address.port_offset or address.port == 0
    if family == Family.UNIX:
        return Resolved(socket.AF_UNIX, address.host), None
    if family == Family.ABNS:
        return Resolved(socket.AF_UNIX, "\0" + address.host), None
    if family in (Family.IPV4, Family.IPV6):
        af = socket.AF_INET6 if family == Family.IPV6 else socket.AF_INET
        return Resolved(af, address.host, address.port, relative), None
    name = f"'server {backend}/{server.name}'"
    if family != Family.HOSTNAME:
        raise ResolveError(f"{name} : address '{address.text}' {_NOT_YET} for servers.")
    methods = server.option("init-addr") or DEFAULT_INIT_ADDR
    tried_libc = False
    for method in methods:
        if method == "last":
            continue  # no server-state file is read yet
        if method == "libc":
            tried_libc = True
            found = resolver(address.host)
            if found is not None:
                af, host, scope = found
                return Resolved(af, host, address.port, relative, scope), None
            continue
        failed = f"{name} : could not resolve address '{address.host}'"
        if method == "none":
            return None, f"{failed}, disabling server." if tried_libc else None
        af = socket.AF_INET6 if ":" in method else socket.AF_INET  # an IP address, checked
        warning = f"{failed}, falling back to configured address." if tried_libc else None
        return Resolved(af, method, address.port, relative), warning
    if server.option("init-addr"):
        reason = "no method found to resolve address"
    else:
        reason = "could not resolve address"
    raise ResolveError(f"{name} : {reason} '{address.host}'.")
