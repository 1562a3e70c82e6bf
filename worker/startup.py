"""Start-up checks of a worker: what this version cannot serve yet, and server addresses.

Everything here runs once, before the first accept, and reports every problem at once as
HAProxy-shaped ALERT texts (the caller prints them after "[ALERT]    (PID) : "). Nothing is
started until all checks pass, so a refused configuration leaves nothing half-started.
- Rules are compiled here (`compile_rules`, worker/rules.py: what it cannot serve is refused
  with file:line) and attached to the frontends with one `Route` per backend a frontend may
  reach (`attach_rules`).
- What cannot be served yet and server addresses are checked by the configuration layer
  (haproxy_py/config/serving.py), the same code `haproxy-py -c` and the master run; here the
  worker runs it again on what it was sent and turns each address into its `Target`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from haproxy_py.config import serving
from haproxy_py.config.model import Config, Proxy, Server
from haproxy_py.config.serving import Resolved, serving_problems, static_backend
from haproxy_py.process.resolver import system_resolver
from haproxy_py.sample import MapCache, SampleError
from worker.backend import Target
from worker.http_errors import DEFAULT_ERROR_PAGES, ErrorPages
from worker.http_settings import build_http_settings
from worker.rules import FrontendRules, ProxyRules, Route, RulesError, compile_proxy_rules

Loader = Callable[[str], list[str]]


class StartupError(Exception):
    """The worker cannot serve this configuration; `messages` are ALERT texts, in order."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def check_config(config: Config) -> list[str]:
    """What this version cannot serve, one message per problem (haproxy_py/config/serving.py)."""
    return serving_problems(config)


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


def resolve_servers(
    backends: Iterable[Proxy], *, ignore_failures: bool = False
) -> tuple[dict[tuple[str, str], Target | None], list[str]]:
    """{(backend, server): Target or None} for every server, and the resolution ALERTs.

    `ignore_failures` (-dr) starts a server that cannot be resolved in maintenance instead.
    The warnings were printed by the master already (it runs the same check).
    """
    found = serving.resolve_servers(backends, system_resolver, ignore_failures=ignore_failures)
    targets = {key: _target(value) for key, value in found.addresses.items()}
    return targets, found.alerts


ResolveError = serving.ResolveError


def resolve_server(backend: str, server: Server) -> Target | None:
    """The server's address; None when `init-addr none` leaves it without one."""
    return _target(serving.resolve_server(backend, server, system_resolver)[0])


def _target(found: Resolved | None) -> Target | None:
    if found is None:
        return None
    return Target(found.family, found.host, found.port, found.relative, found.scope_id)
