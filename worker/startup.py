"""Start-up checks of a worker: what this version cannot serve yet, and server addresses.

Everything here runs once, before the first accept, and reports every problem at once as
HAProxy-shaped ALERT texts (the caller prints them after "[ALERT]    (PID) : "). Nothing is
started until all checks pass, so a refused configuration leaves nothing half-started.
- Rules that need the rules engine (conditional or dynamic `use_backend`, `use-server`,
  `tcp-request`/`tcp-response` rules, and in `mode http` `http-request`/`http-response`/
  `http-after-response` rules) are refused, and so are PROXY-protocol listeners, cookie
  persistence and `errorloc*` pages, which would otherwise be silently ignored; a frontend and
  its backend must agree on the mode.
- Server host names are resolved here, once, with the system resolver, following `init-addr`
  (default `last,libc`; `last` has no state file to read yet, `none` starts the server in
  maintenance without an address, an IP address is used as given).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config, Proxy, Server
from worker.backend import Target

_RULES_ENGINE = "not yet supported by this version of haproxy-py (rules engine)"
_DEFAULT_INIT_ADDR = ("last", "libc")


class StartupError(Exception):
    """The worker cannot serve this configuration; `messages` are ALERT texts, in order."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def check_config(config: Config) -> list[str]:
    """What the TCP data plane of this version cannot serve, one message per problem."""
    messages: list[str] = []
    for proxy in config.proxies:
        if proxy.disabled:
            continue
        messages += _check_proxy(proxy)
    return messages + check_modes(config)


def _check_proxy(proxy: Proxy) -> list[str]:
    name = proxy.name
    messages = []
    if proxy.mode == "http":
        messages += _check_http_proxy(proxy)
    if proxy.is_frontend:
        for switch in proxy.backend_switches:
            if switch.dynamic:
                what = "'use_backend' with a dynamic backend name"
            elif switch.condition is not None:
                what = "'use_backend' with a condition"
            else:
                continue
            messages.append(
                f"config : [{switch.where}] : proxy '{name}': {what} is {_RULES_ENGINE}."
            )
        for bind in proxy.binds:
            if bind.options.get("accept-proxy"):
                messages.append(
                    f"config : [{bind.where}] : proxy '{name}': 'accept-proxy' (PROXY protocol)"
                    " is not yet supported by this version of haproxy-py."
                )
    for ruleset, rules in proxy.rules.items():
        if ruleset.startswith(("tcp-request", "tcp-response")) and rules:
            messages.append(
                f"config : [{rules[0].where}] : proxy '{name}': '{ruleset}' rules are"
                f" {_RULES_ENGINE}."
            )
    for switch in proxy.server_switches:
        where = switch.where
        messages.append(f"config : [{where}] : proxy '{name}': 'use-server' is {_RULES_ENGINE}.")
    return messages


_HTTP_RULESETS = ("http-request", "http-response", "http-after-response")
# HTTP settings whose meaning the HTTP data plane does not implement yet: refused, not ignored.
_HTTP_UNSUPPORTED_SETTINGS = {
    "cookie": "'cookie' (cookie persistence)",
    "errorloc": "'errorloc'/'errorloc302'/'errorloc303' (redirects as error pages)",
}


def _check_http_proxy(proxy: Proxy) -> list[str]:
    """What the HTTP data plane of this version cannot serve in a `mode http` proxy."""
    name = proxy.name
    messages = []
    for ruleset in _HTTP_RULESETS:
        rules = proxy.rules.get(ruleset) or ()
        if rules:
            messages.append(
                f"config : [{rules[0].where}] : proxy '{name}': '{ruleset}' rules are"
                f" {_RULES_ENGINE}."
            )
    for setting, what in _HTTP_UNSUPPORTED_SETTINGS.items():
        if proxy.setting(setting):
            messages.append(
                f"config : [{proxy.where}] : proxy '{name}': {what} is not yet supported by"
                " this version of haproxy-py in mode http."
            )
    return messages


def check_modes(config: Config) -> list[str]:
    """A frontend and the backend it routes to must agree on HTTP (as HAProxy requires for
    an HTTP frontend; a TCP frontend feeding an HTTP backend is not served yet)."""
    messages = []
    for proxy in config.proxies:
        if proxy.disabled or not proxy.is_frontend:
            continue
        backend = static_backend(config, proxy)
        if backend is None or backend.mode == proxy.mode:
            continue
        where = proxy.default_backend_where or proxy.where
        if proxy.mode == "http":
            messages.append(
                f"config : [{where}] : proxy '{proxy.name}': unable to use proxy"
                f" '{backend.name}' with wrong mode, required: http, has: {backend.mode}."
            )
        else:
            messages.append(
                f"config : [{where}] : proxy '{proxy.name}': a tcp frontend routing to the"
                f" http backend '{backend.name}' is not yet supported by this version of"
                " haproxy-py."
            )
    return messages


def static_backend(config: Config, frontend: Proxy) -> Proxy | None:
    """The backend a TCP frontend sends every connection to (only unconditional switches are
    allowed here): the first `use_backend NAME`, else `default_backend`, else itself for a
    `listen` section; None: connections are closed."""
    name = next((s.backend for s in frontend.backend_switches if s.condition is None), None)
    name = name or frontend.default_backend
    if name is None:
        return frontend if frontend.is_backend else None
    backend = config.backend(name)
    return backend if backend is not None and not backend.disabled else None


def resolve_servers(
    backends: Iterable[Proxy], *, ignore_failures: bool = False
) -> tuple[dict[tuple[str, str], Target | None], list[str]]:
    """{(backend, server): Target or None} for every server, and the resolution errors.

    `ignore_failures` (-dr) starts a server that cannot be resolved in maintenance instead.
    """
    targets: dict[tuple[str, str], Target | None] = {}
    errors: list[str] = []
    for backend in backends:
        for server in backend.servers:
            try:
                target = resolve_server(backend.name, server)
            except ResolveError as exc:
                if not ignore_failures:
                    errors.append(f"config : [{server.where}] : {exc}")
                target = None
            targets[(backend.name, server.name)] = target
    if errors:
        errors.append("config : Failed to initialize server(s) addr.")
    return targets, errors


class ResolveError(Exception):
    pass


def resolve_server(backend: str, server: Server) -> Target | None:
    """The server's address; None when `init-addr none` leaves it without one."""
    address = server.address
    family = address.family
    relative = address.port_offset or address.port == 0
    if family == Family.UNIX:
        return Target(socket.AF_UNIX, address.host)
    if family == Family.ABNS:
        return Target(socket.AF_UNIX, "\0" + address.host)
    if family in (Family.IPV4, Family.IPV6):
        af = socket.AF_INET6 if family == Family.IPV6 else socket.AF_INET
        return Target(af, address.host, address.port, relative)
    if family != Family.HOSTNAME:
        raise ResolveError(
            f"'server {backend}/{server.name}' : address '{address.text}' is not supported"
            " for servers by this version of haproxy-py."
        )
    methods = server.option("init-addr") or _DEFAULT_INIT_ADDR
    for method in methods:
        if method == "last":
            continue  # no server-state file is read yet
        if method == "none":
            return None
        if method == "libc":
            target = _getaddrinfo(address.host, address.port, relative)
            if target is not None:
                return target
            continue
        af = socket.AF_INET6 if ":" in method else socket.AF_INET  # an IP address, checked
        return Target(af, method, address.port, relative)
    if server.option("init-addr"):
        reason = "no method found to resolve address"
    else:
        reason = "could not resolve address"
    raise ResolveError(f"'server {backend}/{server.name}' : {reason} '{address.host}'.")


def _getaddrinfo(host: str, port: int, relative: bool) -> Target | None:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for af, _, _, _, sockaddr in infos:
        if af == socket.AF_INET:
            return Target(af, sockaddr[0], port, relative)
        if af == socket.AF_INET6:
            return Target(af, sockaddr[0], port, relative, sockaddr[3])
    return None
