"""Start-up checks of a worker: what this version cannot serve yet, and server addresses.

Everything here runs once, before the first accept, and reports every problem at once as
HAProxy-shaped ALERT texts (the caller prints them after "[ALERT]    (PID) : "). Nothing is
started until all checks pass, so a refused configuration leaves nothing half-started.
- Rules are compiled here (`compile_rules`, worker/rules.py: what it cannot serve is refused
  with file:line) and attached to the frontends with one `Route` per backend a frontend may
  reach (`attach_rules`); `option checkcache` and `errorloc*`
  pages are refused, since they would otherwise be silently ignored; a frontend and every
  backend it names must agree on the mode.
- Server host names are resolved here, once, with the system resolver, following `init-addr`
  (default `last,libc`; `last` has no state file to read yet, `none` starts the server in
  maintenance without an address, an IP address is used as given).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config, Proxy, Server
from haproxy_py.sample import MapCache, SampleError
from worker.backend import Target
from worker.http_errors import DEFAULT_ERROR_PAGES, ErrorPages
from worker.http_settings import build_http_settings
from worker.rules import FrontendRules, ProxyRules, Route, RulesError, compile_proxy_rules

Loader = Callable[[str], list[str]]
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
    messages = []
    if proxy.mode == "http":
        messages += _check_http_proxy(proxy)
    return messages


# HTTP settings whose meaning the HTTP data plane does not implement yet: refused, not ignored.
_HTTP_UNSUPPORTED_SETTINGS = {
    "errorloc": "'errorloc'/'errorloc302'/'errorloc303' (redirects as error pages)",
}


def _check_http_proxy(proxy: Proxy) -> list[str]:
    """What the HTTP data plane of this version cannot serve in a `mode http` proxy."""
    name = proxy.name
    messages = []
    for setting, what in _HTTP_UNSUPPORTED_SETTINGS.items():
        if proxy.setting(setting):
            messages.append(
                f"config : [{proxy.where}] : proxy '{name}': {what} is not yet supported by"
                " this version of haproxy-py in mode http."
            )
    if proxy.options.get("checkcache") is True and proxy.is_backend:
        messages.append(
            f"config : [{proxy.where}] : proxy '{name}': 'option checkcache' (blocking"
            " cacheable responses that set cookies) is not yet supported by this version of"
            " haproxy-py in mode http."
        )
    return messages


# -- rules (worker/rules.py) ------------------------------------------------------------------


def read_lines(path: str) -> list[str]:
    """The rules engine's loader: a pattern, map or reply file, read before the chroot."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as file:
            return file.read().splitlines(keepends=True)
    except OSError as exc:
        raise SampleError(f"failed to open file <{path}> : {exc.strerror}") from None


def compile_rules(
    config: Config,
    pages: Mapping[str, ErrorPages],
    loader: Loader = read_lines,
    maps: MapCache | None = None,
) -> tuple[dict[str, ProxyRules], list[str]]:
    """{proxy: compiled rules} for every enabled proxy that has some, and every refusal;
    `maps` is the worker's map cache (the runtime API edits its maps and pattern files)."""
    compiled: dict[str, ProxyRules] = {}
    messages: list[str] = []
    for proxy in config.proxies:
        if proxy.disabled:
            continue
        try:
            rules = compile_proxy_rules(
                config, proxy, loader, pages.get(proxy.name, DEFAULT_ERROR_PAGES), maps
            )
        except RulesError as error:
            messages += error.messages
            continue
        if rules is not None:
            compiled[proxy.name] = rules
    return compiled, messages


def attach_rules(
    config: Config,
    frontends: Mapping[str, Any],
    backends: Mapping[str, Any],
    http_pools: Mapping[str, Any],
    compiled: Mapping[str, ProxyRules],
    pages: Mapping[str, ErrorPages],
    timeouts: Callable[[Proxy, Proxy | None], Any],
) -> None:
    """Give each frontend that needs rules its FrontendRules: its own, and one Route per
    backend it may reach (HTTP settings are per frontend/backend pair)."""
    for frontend in frontends.values():
        proxy = frontend.proxy
        own = compiled.get(proxy.name)
        reachable = _reachable_backends(config, proxy, own)
        needs = own is not None or any(name in compiled for name in reachable)
        if not needs:
            continue
        routes = {}
        for name in reachable:
            backend_proxy = config.backend(name)
            runtime = backends.get(name)
            if backend_proxy is None or runtime is None:
                continue
            route = Route(
                name,
                runtime,
                None if name == proxy.name else compiled.get(name),
                {server.name: server for server in runtime.servers.values()},
                timeouts=timeouts(proxy, backend_proxy),
            )
            if proxy.mode == "http":
                route.http = build_http_settings(
                    config, proxy, backend_proxy, pages, runtime.key_for
                )
                route.pools = http_pools.get(name)
            routes[name] = route
        if name_of(frontend.backend) == proxy.name and proxy.name in routes and own is not None:
            routes[proxy.name].rules = own  # a listen section: its use-server rules
        default = routes.get(name_of(frontend.backend)) if frontend.backend is not None else None
        frontend.rules = FrontendRules(proxy.name, own, default, routes)


def name_of(runtime: Any) -> str | None:
    return runtime.name if runtime is not None else None


def _reachable_backends(config: Config, proxy: Proxy, own: ProxyRules | None) -> list[str]:
    """Backends this frontend may route to; every backend when a switch is dynamic."""
    if own is not None and any(s.dynamic for s in proxy.backend_switches):
        return [p.name for p in config.proxies if p.is_backend and not p.disabled]
    names = [s.backend for s in proxy.backend_switches]
    static = static_backend(config, proxy)
    if static is not None:
        names.append(static.name)
    return list(dict.fromkeys(names))


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
    messages: list[str] = []
    if backend.mode != proxy.mode:
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
    name = next(
        (s.backend for s in frontend.backend_switches if s.condition is None and not s.dynamic),
        None,
    )
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
