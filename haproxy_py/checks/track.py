"""`track [<backend>/]<server>`: servers that follow another server's state, read from the model.

A tracking server has no check of its own: it is UP or DOWN with the server it tracks, which
may itself track another; the end of the chain is a checked server, the root. The worker
owning the root's checks writes the trackers' state rows too (one writer per row still: a
tracking server is never checked, so no other worker owns it), and logs their transitions
as HAProxy does ("Server be2/t is DOWN via be/s1. ..."), depth first, the trackers of a
server in the reverse of their declaration order (HAProxy keeps them in a list it pushes on).
A server added with `add server ... track` is a follower too: its record in the stats
table keeps the tracked server's state slot (`dynamic_edges` reads them from the live
layout), and `track_refusal` gives HAProxy's answers for a target it cannot follow.
Pure: names in, names out; the configuration front end has already checked that every
configured tracked server exists and is checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from haproxy_py.config.model import Config, Proxy, Server

if TYPE_CHECKING:
    from haproxy_py.stats.layout import Layout

Name = tuple[str, str]  # (backend, server)


def tracked(proxy: Proxy, server: Server) -> Name | None:
    """The server `server` tracks directly, or None."""
    option = server.options.get("track")
    if not option:
        return None
    backend, name = option
    return (backend or proxy.name, name)


def direct_trackers(config: Config) -> dict[Name, list[Name]]:
    """Tracked server -> the servers tracking it directly, in the order HAProxy visits them."""
    found: dict[Name, list[Name]] = {}
    for proxy in config.proxies:
        for server in proxy.servers:
            target = tracked(proxy, server)
            if target is not None:
                found.setdefault(target, []).insert(0, (proxy.name, server.name))
    return found


def edges(config: Config) -> list[tuple[Name, Name]]:
    """Every (tracking server, the server it tracks directly) of the configuration."""
    found = []
    for proxy in config.proxies:
        for server in proxy.servers:
            target = tracked(proxy, server)
            if target is not None:
                found.append(((proxy.name, server.name), target))
    return found


def dynamic_edges(layout: Layout) -> list[tuple[Name, Name]]:
    """Every (dynamic server, the configured server it tracks) of the live layout (`add
    server ... track`: the record keeps the tracked server's state slot), in the order added."""
    by_index = {slot.index: slot for slot in layout.servers}
    found = []
    for slot in layout.servers:
        target = by_index.get(slot.tracks) if slot.dynamic and slot.tracks >= 0 else None
        if target is not None:
            found.append(((slot.backend, slot.name), (target.backend, target.name)))
    return found


def tracked_by(layout: Layout, backend: str, server: str) -> Name | None:
    """The server a dynamic server tracks, or None."""
    for follower, target in dynamic_edges(layout):
        if follower == (backend, server):
            return target
    return None


def roots(config: Config) -> dict[Name, Name]:
    """Tracking server -> the checked server at the end of its chain."""
    edges: dict[Name, Name] = {}
    for proxy in config.proxies:
        for server in proxy.servers:
            target = tracked(proxy, server)
            if target is not None:
                edges[(proxy.name, server.name)] = target
    return {name: _root(name, edges) for name in edges}


def _root(name: Name, edges: Mapping[Name, Name]) -> Name:
    seen = {name}
    while name in edges:
        name = edges[name]
        if name in seen:  # a loop: the configuration front end refuses these
            break
        seen.add(name)
    return name


def track_label(proxy: Proxy, server: Server) -> str:
    """The `tracked` column of `show stat` and the `via` of the logs: `backend/server`."""
    target = tracked(proxy, server)
    return f"{target[0]}/{target[1]}" if target is not None else ""


def followers_in_order(
    config: Config, root: Name, extra: Iterable[tuple[Name, Name]] = ()
) -> list[tuple[Name, Name]]:
    """Every server following `root`, directly or down a chain, as (follower, the server it
    tracks directly), depth first in HAProxy's visiting order: the order in which a change
    of `root`'s state passes down (and is logged). `extra`: the dynamic servers' edges
    (`dynamic_edges`), visited first, the last added first (HAProxy pushes them on)."""
    trackers = direct_trackers(config)
    for follower, target in extra:
        trackers.setdefault(target, []).insert(0, follower)
    found: list[tuple[Name, Name]] = []

    def visit(name: Name, seen: frozenset[Name]) -> None:
        for follower in trackers.get(name, ()):
            if follower in seen:
                continue  # a loop: refused by the configuration front end anyway
            found.append((follower, name))
            visit(follower, seen | {name})

    visit(root, frozenset({root}))
    return found


def track_refusal(config: Config, layout: Layout, backend: str, track: tuple) -> str:
    """HAProxy 2.6's answer to `add server BACKEND/... track [BE/]SRV` when the server
    cannot be followed, else "": it must be a configured one (not a dynamic one) at the end
    of whose chain a check or an agent runs."""
    backend_name, name = track[0] or backend, track[1]
    target = next((p for p in config.proxies if p.name == backend_name and p.is_backend), None)
    if target is None:
        return f"unable to find required proxy '{backend_name}' for tracking.\n\n"
    try:
        slot = layout.server(target.name, name)
    except KeyError:
        return f"unable to find required server '{name}' for tracking.\n\n"
    if slot.dynamic:
        return f"unable to use {target.name}/{name} for tracking as it is a dynamic server.\n\n"
    root = roots(config).get((target.name, name), (target.name, name))
    model = next(
        (s for p in config.proxies if p.name == root[0] for s in p.servers if s.name == root[1]),
        None,
    )
    agent = model is not None and model.option("agent-check") and model.option("agent-port")
    if model is None or not (model.option("check") or agent):
        return (
            f"unable to use {target.name}/{name} for tracking as it does not have any check"
            " nor agent enabled.\n\n"
        )
    return ""
