"""The connection limits `show stat` prints in `slim` (and `rate_lim`) as HAProxy 2.6 fills them.

A frontend's `slim` is its `maxconn` in force: its own, else `-N`, else the global one (which
HAProxy computes from the descriptor limit when the configuration sets none, so only a worker
knows it). A backend's is its `fullconn`: its own, else a tenth (rounded up, at least 1) of the
maxconns of the frontends that may reach it: through `default_backend`, each `use_backend`
naming it (once per frontend, conditions or not, dynamic names never), and a `listen`
section's own. Servers show their `maxconn` (the admin row: `set maxconn server`), listeners
the bind line's. Rules: pure; `ProxyLimits` is what the caller knows (a worker passes the live
frontend limits, `set maxconn frontend` included); without it the configuration's numbers are
used and a frontend without any shows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from haproxy_py.lb.queue import default_fullconn

if TYPE_CHECKING:
    from haproxy_py.config.model import Config, Proxy


@dataclass(frozen=True)
class ProxyLimits:
    maxconn: Mapping[str, int] = field(default_factory=dict)  # frontend -> maxconn in force
    fullconn: Mapping[str, int] = field(default_factory=dict)  # backend -> fullconn in force

    def frontend_slim(self, proxy: Proxy) -> int | str:
        return self.maxconn.get(proxy.name) or proxy.maxconn or ""

    def backend_slim(self, proxy: Proxy) -> int | str:
        return self.fullconn.get(proxy.name) or proxy.fullconn or ""


def proxy_limits(
    config: Config,
    global_maxconn: int | None = None,
    per_proxy: int | None = None,
    live: Mapping[str, int] | None = None,
) -> ProxyLimits:
    """The limits HAProxy would show for `config`, given the global maxconn in force, `-N`,
    and the frontends' live maxconns (`live`, which win)."""
    global_maxconn = global_maxconn or config.global_.maxconn
    fronts = [p for p in config.proxies if p.is_frontend and not p.disabled]
    maxconns: dict[str, int] = {}
    for proxy in fronts:
        value = proxy.maxconn or per_proxy or global_maxconn
        if value:
            maxconns[proxy.name] = value
    # The fullconn default is computed at start-up, from the configured frontend limits.
    # A frontend whose maxconn is not known here (no global maxconn given) leaves the
    # backends it reaches without a computed value rather than a wrong one.
    feeding: dict[str, list[int | None]] = {}
    for proxy in fronts:
        for name in reached_backends(proxy):
            feeding.setdefault(name, []).append(maxconns.get(proxy.name))
    fullconns = {}
    for proxy in config.proxies:
        if proxy.is_backend and not proxy.disabled:
            feeders = feeding.get(proxy.name, [])
            if proxy.fullconn or None not in feeders:
                fullconns[proxy.name] = proxy.fullconn or default_fullconn(
                    n for n in feeders if n is not None
                )
    if live:
        maxconns.update({name: value for name, value in live.items() if value})
    return ProxyLimits(maxconns, fullconns)


def reached_backends(frontend: Proxy) -> list[str]:
    """The backends whose default fullconn counts this frontend's maxconn, each once."""
    names: list[str] = []
    default = frontend.default_backend or (frontend.name if frontend.is_backend else None)
    if default is not None:
        names.append(default)
    for switch in frontend.backend_switches:
        if not switch.dynamic and switch.backend not in names:
            names.append(switch.backend)
    return names
