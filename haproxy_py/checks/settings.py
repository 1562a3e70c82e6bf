"""Check settings of one server, read from the configuration model.

`check_settings(proxy, server, global_)` gathers what a server's checks need: whether it is
checked, the intervals (`inter`, `fastinter`, `downinter`), `rise`/`fall`, where to connect
(`addr`, `port`), the timeouts (`timeout check`, `timeout connect`) and the probe plan (plain
connect, `option httpchk`, `option tcp-check`, protocol checks; haproxy_py/checks/probe.py).
`default-server` values are already merged into `Server.options` by the configuration front end.
Timeouts follow HAProxy: connecting may take min(`timeout connect`, `inter`); then, with
`timeout check`, the rest of the check has `timeout check`, and without it the whole check
must fit in `inter`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from haproxy_py.checks.probe import Plan, plan_for_proxy
from haproxy_py.config.model import Global, Proxy, Server

DEFAULT_INTER = 2000  # ms
DEFAULT_RISE = 2
DEFAULT_FALL = 3
DEFAULT_ERROR_LIMIT = 10


@dataclass(frozen=True, slots=True)
class CheckSettings:
    backend: str
    server: str
    backup: bool
    inter: int  # ms
    fastinter: int
    downinter: int
    rise: int
    fall: int
    port: int | None  # None: the server's own port
    addr: str | None  # None: the server's own address
    connect_timeout: int  # ms
    read_timeout: int | None  # ms after connecting; None: the whole check must fit in `inter`
    spread: int  # global spread-checks, percent
    plan: Plan
    log_health_checks: bool
    slowstart: int = 0  # ms; 0: a recovered server takes its full weight at once
    observe: str = "none"  # `observe`: none | layer4 (live connection outcomes)
    error_limit: int = DEFAULT_ERROR_LIMIT  # consecutive errors before `on-error` applies
    on_error: str = "fail-check"  # fastinter | fail-check | sudden-death | mark-down

    def interval(self, up: bool, steady: bool) -> int:
        """The delay before the next check (ms), before spreading: HAProxy's table."""
        if steady:
            return self.inter if up else self.downinter
        return self.fastinter

    def spread_interval(self, ms: int, rng: random.Random) -> int:
        """`spread-checks N`: the interval moved by a random amount within +/- N percent."""
        if self.spread <= 0:
            return ms
        span = ms * self.spread // 100
        return max(1, ms + rng.randint(-span, span))


def check_settings(
    proxy: Proxy, server: Server, global_: Global, *, force: bool = False
) -> CheckSettings | None:
    """The settings of a server's health checks, or None when it is not checked (`force`:
    the settings all the same, for a server that has only an agent)."""
    options = server.options
    if not options.get("check") and not force:
        return None
    inter = int(options.get("inter") or DEFAULT_INTER)
    timeouts = proxy.timeouts
    check_timeout = timeouts.get("check")
    connect = timeouts.get("connect")
    connect_timeout = min(connect, inter) if connect else inter
    read_timeout = check_timeout or None
    return CheckSettings(
        backend=proxy.name,
        server=server.name,
        backup=bool(options.get("backup")),
        inter=inter,
        fastinter=int(options.get("fastinter") or inter),
        downinter=int(options.get("downinter") or inter),
        rise=int(options.get("rise") or DEFAULT_RISE),
        fall=int(options.get("fall") or DEFAULT_FALL),
        port=options.get("port"),
        addr=options.get("addr"),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        spread=int(global_.setting("spread-checks") or 0),
        plan=plan_for_proxy(proxy),
        log_health_checks=proxy.options.get("log-health-checks") is True,
        slowstart=int(options.get("slowstart") or 0),
        observe=str(options.get("observe") or "none"),
        error_limit=int(options.get("error-limit") or DEFAULT_ERROR_LIMIT),
        on_error=str(options.get("on-error") or "fail-check"),
    )
