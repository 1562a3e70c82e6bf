"""What a reload changed, in words: the master logs it (HAProxy says nothing of the kind).

Proxies are matched by kind and name, servers by backend and name. A proxy is "modified"
when its settings as --show-config renders them differ once file positions are left out
(moving a section around a file is not a change); a server when its address or options do,
and the option names that changed are listed. Pure: two Configs in, message lines out.
"""

from __future__ import annotations

import re

from haproxy_py.config.model import Config, Proxy, Server
from master.show_config import render_proxy

_POSITION = re.compile(r"\s+#.*$")  # the "# file:line, id N" and "# file:line" comments


def describe_changes(old: Config, new: Config) -> list[str]:
    """One line per change, in the new configuration's order; [] when nothing changed."""
    before = {(p.kind, p.name): p for p in old.proxies if p.kind != "defaults"}
    after = {(p.kind, p.name): p for p in new.proxies if p.kind != "defaults"}
    lines = []
    for key, proxy in after.items():
        previous = before.get(key)
        if previous is None:
            lines.append(f"{proxy.kind} '{proxy.name}' added.")
        else:
            lines += _proxy_changes(previous, proxy)
    lines += [f"{kind} '{name}' removed." for (kind, name) in before if (kind, name) not in after]
    return lines


def _settings(proxy: Proxy) -> list[str]:
    return [
        _POSITION.sub("", line)
        for line in render_proxy(proxy)[1:]
        if not line.lstrip().startswith(("server ", "#"))
    ]


def _proxy_changes(old: Proxy, new: Proxy) -> list[str]:
    label = f"{new.kind} '{new.name}'"
    lines = [f"{label} modified."] if _settings(old) != _settings(new) else []
    servers = {server.name: server for server in old.servers}
    for server in new.servers:
        previous = servers.pop(server.name, None)
        if previous is None:
            lines.append(f"{label}: server '{server.name}' added.")
        elif what := _server_differences(previous, server):
            lines.append(f"{label}: server '{server.name}' modified ({', '.join(what)}).")
    lines += [f"{label}: server '{name}' removed." for name in servers]
    return lines


def _server_differences(old: Server, new: Server) -> list[str]:
    changed = ["address"] if old.address.text != new.address.text else []
    names = sorted(set(old.options) | set(new.options))
    changed += [name for name in names if old.options.get(name) != new.options.get(name)]
    return changed
