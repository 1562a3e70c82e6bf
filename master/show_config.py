"""`haproxy-py --show-config`: the configuration as haproxy-py understood it.

HAProxy has no such view. It prints every proxy after defaults inheritance, with times in
milliseconds and addresses as parsed, so that what a configuration means can be checked
without starting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haproxy_py.config.model import Config, Proxy


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def render_proxy(proxy: Proxy) -> list[str]:
    title = f"{proxy.kind} {proxy.name}".rstrip()
    lines = [f"{title}    # {proxy.where}, id {proxy.uuid}"]
    if proxy.parent is not None:
        lines.append(f"    # inherits defaults {proxy.parent or '(anonymous)'}")
    lines.append(f"    mode {proxy.mode}")
    if proxy.balance:
        lines.append(f"    balance {_value(proxy.balance)}")
    for name, millis in sorted(proxy.timeouts.items()):
        lines.append(f"    timeout {name} {millis}ms")
    for name, value in sorted(proxy.options.items()):
        prefix = "no " if value is False else ""
        extra = "" if isinstance(value, bool) else f" {_value(value)}"
        lines.append(f"    {prefix}option {name}{extra}")
    for bind in proxy.binds:
        addresses = ",".join(address.text for address in bind.addresses)
        options = f" {_value(bind.options)}" if bind.options else ""
        lines.append(f"    bind {addresses}{options}")
    for server in proxy.servers:
        options = f" {_value(server.options)}" if server.options else ""
        lines.append(f"    server {server.name} {server.address.text}{options}")
    if proxy.default_backend:
        lines.append(f"    default_backend {proxy.default_backend}")
    for switch in proxy.backend_switches:
        lines.append(f"    use_backend {switch.backend}  # {switch.where}")
    for ruleset, rules in proxy.rules.items():
        for rule in rules:
            lines.append(f"    {ruleset} {rule.action} {' '.join(rule.args)}  # {rule.where}")
    for name, value in sorted(proxy.settings.items()):
        lines.append(f"    {name} {_value(value)}")
    return lines


def render_config(config: Config) -> str:
    lines = [f"# files: {', '.join(config.files)}", "global"]
    glob = config.global_
    for name in ("daemon", "master_worker", "maxconn", "nbproc", "nbthread", "chroot",
                 "uid", "gid", "user", "group", "pidfile", "ulimit_n"):  # fmt: skip
        value = getattr(glob, name)
        if value not in (None, False):
            lines.append(f"    {name.replace('_', '-')} {value}")
    for target in glob.logs:
        lines.append(f"    log {target.target} {target.facility} {target.level}".rstrip())
    for socket in glob.stats_sockets:
        lines.append(f"    stats socket {socket.addresses[0].text} {_value(socket.options)}")
    for name, value in sorted(glob.settings.items()):
        lines.append(f"    {name} {_value(value)}")
    for proxy in (*config.defaults, *config.proxies):
        lines.append("")
        lines += render_proxy(proxy)
    for kind, sections in config.sections.items():
        for name, section in sections.items():
            lines += ["", f"{kind} {name}    # {section.where}"]
            lines += [f"    {_value(entry)}" for entry in section.entries]
    return "\n".join(lines) + "\n"
