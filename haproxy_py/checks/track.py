"""`track [<backend>/]<server>`: servers that follow another server's state, read from the model.

A tracking server has no check of its own: it is UP or DOWN with the server it tracks, which
may itself track another; the end of the chain is a checked server, the root. The worker
owning the root's checks writes the trackers' state rows too (one writer per row still: a
tracking server is never checked, so no other worker owns it), and logs their transitions
as HAProxy does ("Server be2/t is DOWN via be/s1. ..."), depth first, the trackers of a
server in the reverse of their declaration order (HAProxy keeps them in a list it pushes on).
Pure: names in, names out; the configuration front end has already checked that every
tracked server exists and is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from haproxy_py.config.model import Config, Proxy, Server

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


def followers_in_order(config: Config, root: Name) -> list[tuple[Name, Name]]:
    """Every server following `root`, directly or down a chain, as (follower, the server it
    tracks directly), depth first in HAProxy's visiting order: the order in which a change
    of `root`'s state passes down (and is logged)."""
    trackers = direct_trackers(config)
    found: list[tuple[Name, Name]] = []

    def visit(name: Name, seen: frozenset[Name]) -> None:
        for follower in trackers.get(name, ()):
            if follower in seen:
                continue  # a loop: refused by the configuration front end anyway
            found.append((follower, name))
            visit(follower, seen | {name})

    visit(root, frozenset({root}))
    return found
