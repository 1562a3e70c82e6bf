"""The words HAProxy 2.6 logs about checks and server states, byte for byte.

Each function returns one line's text (no level tag, no trailing newline); the worker prints
it as a WARNING or an ALERT on stderr and hands it to the log emitters. Numbers come from the
caller: the servers left or online are the backend's usable servers after the change.
"""

from __future__ import annotations

from haproxy_py.checks.status import CheckResult


def check_line(backend: str, server: str, backup: bool, result: CheckResult, health: str) -> str:
    """`option log-health-checks`: one check result, with the health counter after it."""
    if result.conditional:
        verdict = "conditionally succeeded"
    else:
        verdict = "succeeded" if result.passed else "failed"
    kind = "backup server" if backup else "server"
    return (
        f"Health check for {kind} {backend}/{server} {verdict}, reason: {result.reason()},"
        f" status: {health}."
    )


def _reason(result: CheckResult | str | None, via: str = "") -> str:
    """The transition's `, reason: ...`: left out with `option log-health-checks`, whose
    check line just said it (result None); ` via be/srv` for a tracking server; a text is
    said as it is (`, changed from CLI`: the runtime API's `set server .. health|agent`)."""
    if via:
        return f" via {via}"
    if isinstance(result, str):
        return f", {result}"
    return f", reason: {result.reason()}" if result is not None else ""


def _servers(active: int, backup: int) -> str:
    return f"{active} active and {backup} backup servers"


def server_down_line(
    backend: str,
    server: str,
    backup: bool,
    result: CheckResult | str | None,
    *,
    active: int,
    backups: int,
    sessions: int,
    requeued: int,
    queued: int,
    via: str = "",
) -> str:
    running = " Running on backup." if not active and backups else ""
    return (
        f"{'Backup ' if backup else ''}Server {backend}/{server} is DOWN{_reason(result, via)}."
        f" {_servers(active, backups)} left.{running} {sessions} sessions active,"
        f" {requeued} requeued, {queued} remaining in queue."
    )


def server_up_line(
    backend: str,
    server: str,
    backup: bool,
    result: CheckResult | str | None,
    *,
    active: int,
    backups: int,
    requeued: int,
    queued: int,
    via: str = "",
) -> str:
    return (
        f"{'Backup ' if backup else ''}Server {backend}/{server} is UP{_reason(result, via)}."
        f" {_servers(active, backups)} online. {requeued} sessions requeued,"
        f" {queued} total in queue."
    )


def server_stopping_line(
    backend: str,
    server: str,
    backup: bool,
    result: CheckResult | str | None,
    *,
    active: int,
    backups: int,
    requeued: int,
    queued: int,
    via: str = "",
) -> str:
    """`http-check disable-on-404`: an UP server answered 404 and leaves the farm (NOLB);
    `via`: a server tracking it follows it there."""
    return (
        f"{'Backup ' if backup else ''}Server {backend}/{server} is stopping"
        f"{_reason(result, via)}."
        f" {_servers(active, backups)} online. {requeued} sessions requeued,"
        f" {queued} total in queue."
    )


def no_server_alert(backend: str, kind: str = "backend") -> str:
    """The stderr ALERT when a backend's last server goes down (`kind`: "proxy" for a
    `listen` section, as HAProxy names it)."""
    return f"{kind} '{backend}' has no server available!"


def no_server_log(backend: str, kind: str = "backend") -> str:
    """The same event as the log (syslog) line words it."""
    return f"{kind} {backend} has no server available!"
