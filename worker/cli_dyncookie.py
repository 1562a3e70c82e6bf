"""The dynamic-cookie commands in a worker: `set dynamic-cookie-key backend BK KEY`,
`enable|disable dynamic-cookie backend BK`.

Each worker holds its backends' cookie tables (haproxy_py/lb/persistence.py), so these are
writes every worker makes (worker/cli_write.py hands them round through the master, and a
respawned worker gets them again). Parsing and answers: haproxy_py/runtime_api/dyncookie.py.
Applying recomputes, in the backend, the cookie of every server without its own `cookie
VALUE`: derived from the key in force, or none at all (dynamic cookies off, or no key), as
HAProxy does. Rules: nothing here awaits.
"""

from __future__ import annotations

from collections.abc import Sequence

from haproxy_py.runtime_api.dyncookie import (
    DynamicCookieChange,
    is_dynamic_cookie_command,
    parse_dynamic_cookie,
)
from worker.backend import BackendRuntime, server_dynamic_cookie
from worker.runtime import WorkerState

__all__ = ["is_dynamic_cookie_command", "run_dynamic_cookie"]


def run_dynamic_cookie(state: WorkerState, words: Sequence[str], *, commit: bool) -> str:
    """HAProxy's answer; the change is made only with `commit`."""
    change = parse_dynamic_cookie(words, state.backends)
    if isinstance(change, str):
        return change
    if commit:
        apply_change(state.backends[change.backend], change)
    return "\n"


def apply_change(backend: BackendRuntime, change: DynamicCookieChange) -> None:
    setting = change.applied(backend.dynamic_cookie_setting)
    backend.dynamic_cookie_setting = setting
    cookie = backend.cookie
    if cookie is None:  # no `cookie` line: nothing derives from it (the setting is kept)
        return
    key = backend.dynamic_cookie_key = setting.key_in_force
    own = {server.name for server in backend.proxy.servers if server.option("cookie")}
    for server in backend.servers.values():
        if server.name not in own:
            cookie.set_value(server, server_dynamic_cookie(key, server.target) if key else None)
