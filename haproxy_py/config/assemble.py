"""Turning the filled builders into the frozen model, then checking what spans sections.

Runs only when parsing found no ALERT (as HAProxy does: reference checks on a half-read
configuration would only add noise). The checks that need the whole configuration live
here: backends named by default_backend/use_backend, frontends without bind, and HAProxy's
"missing timeouts" warning. Each is reported at the line that made the reference, which
HAProxy does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import count

from haproxy_py.config.builder import SectionBuilder, freeze_value
from haproxy_py.config.diagnostics import Diagnostics, Where
from haproxy_py.config.keywords.registry import PROXY_KINDS
from haproxy_py.config.model import Config, Global, Proxy, Section

_TIMEOUT_HINT = (
    "\n   | Connections may then wait forever on a silent peer; set 'timeout client',"
    "\n   | 'timeout connect' and 'timeout server' (usually in a defaults section)."
)


def _fields(builder: SectionBuilder) -> dict[str, object]:
    return {
        key: freeze_value(value) if isinstance(value, (list, dict)) else value
        for key, value in builder.values.items()
    }


def assemble(
    order: list[SectionBuilder],
    sections: Mapping[str, Mapping[str, SectionBuilder]],
    files: tuple[str, ...],
    env: Mapping[str, str],
    diagnostics: Diagnostics,
) -> Config:
    global_builder = sections.get("global", {}).get("")
    if global_builder is not None:
        global_ = Global(where=global_builder.where, **_fields(global_builder))
    else:
        global_ = Global()
    defaults: list[Proxy] = []
    proxies: list[Proxy] = []
    others: dict[str, dict[str, Section]] = {}
    used_ids = {
        builder.values["uuid"]
        for builder in order
        if builder.kind in PROXY_KINDS and "uuid" in builder.values
    }
    if global_.stats_sockets:  # HAProxy's CLI proxy ("GLOBAL") takes id 1 (seen in 2.6)
        used_ids.add(1)
    next_id = (n for n in count(1) if n not in used_ids)
    for builder in order:
        if builder.kind == "defaults":
            defaults.append(_proxy(builder, 0))
        elif builder.kind in PROXY_KINDS:
            uuid = builder.values.get("uuid") or next(next_id)
            proxies.append(_proxy(builder, uuid))
        elif builder.kind != "global":
            section = Section(builder.kind, builder.name, builder.where, **_fields(builder))
            others.setdefault(builder.kind, {})[builder.name] = section
    environment = {key: value for key, value in env.items() if not key.startswith(".")}
    config = Config(
        files=files,
        global_=global_,
        defaults=tuple(defaults),
        proxies=tuple(proxies),
        sections=freeze_value(others),
        environment=freeze_value(environment),
    )
    check_references(config, diagnostics)
    return config


def _proxy(builder: SectionBuilder, uuid: int) -> Proxy:
    values = _fields(builder)
    values.pop("uuid", None)
    return Proxy(
        kind=builder.kind,
        name=builder.name,
        where=builder.where,
        uuid=uuid,
        parent=builder.parent,
        **values,
    )


def check_references(config: Config, diagnostics: Diagnostics) -> None:
    backends = {proxy.name for proxy in config.proxies if proxy.is_backend}
    for proxy in config.proxies:
        if proxy.is_frontend:
            _check_frontend(proxy, backends, diagnostics)
        _check_timeouts(proxy, diagnostics)
        _check_cookies(proxy, diagnostics)


def _check_frontend(proxy: Proxy, backends: set[str], diagnostics: Diagnostics) -> None:
    if proxy.kind == "frontend" and not proxy.binds and not proxy.disabled:
        diagnostics.warning(
            f"frontend '{proxy.name}' has no 'bind' directive. Please declare it as a backend"
            " if this was intended.",
            proxy.where,
        )
    wanted: list[tuple[str, str, Where | None]] = []
    if proxy.default_backend is not None:
        wanted.append(("default_backend", proxy.default_backend, proxy.default_backend_where))
    wanted += [
        ("use_backend", switch.backend, switch.where)
        for switch in proxy.backend_switches
        if not switch.dynamic
    ]
    for keyword, name, where in wanted:
        if name not in backends:
            diagnostics.alert(
                f"Proxy '{proxy.name}': unable to find required {keyword}: '{name}'"
                f" (no backend named '{name}').",
                where,
            )


def _check_cookies(proxy: Proxy, diagnostics: Diagnostics) -> None:
    """Cookie persistence is HTTP-only: HAProxy warns and ignores it elsewhere."""
    if proxy.mode == "http" or not proxy.is_backend or proxy.disabled:
        return
    if proxy.setting("cookie"):
        diagnostics.warning(f"cookie will be ignored for proxy '{proxy.name}' (needs 'mode http').")
    for server in proxy.servers:
        if server.option("cookie"):
            diagnostics.warning(
                f"proxy '{proxy.name}' : ignoring cookie for server '{server.name}' as HTTP mode"
                " is disabled."
            )


def _check_timeouts(proxy: Proxy, diagnostics: Diagnostics) -> None:
    if proxy.mode not in ("tcp", "http") or proxy.disabled:
        return
    needed = []
    if proxy.is_frontend:
        needed.append("client")
    if proxy.is_backend:
        needed += ["connect", "server"]
    if any(not proxy.timeouts.get(name) for name in needed):
        diagnostics.warning(f"missing timeouts for {proxy.kind} '{proxy.name}'.{_TIMEOUT_HINT}")
