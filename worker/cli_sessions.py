"""The runtime API's session commands in a worker: `show sess [ID|all]`, `shutdown session ID`
and `shutdown sessions server BE/SRV`.

worker/cli_show.py hands the actions named here over; the answers are formatted by
haproxy_py/runtime_api/sessions.py from this worker's registry (worker/sessions_registry.py).
Every worker process has its own sessions: a stats socket answers with the sessions of the
worker that accepted the CLI connection, and the master CLI's `@N` reaches each worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from haproxy_py.runtime_api.sessions import (
    NO_SUCH_BACKEND,
    NO_SUCH_SERVER,
    server_reference,
    show_sess_answer,
    shutdown_session_target,
)
from worker import sessions_registry
from worker.runtime import WorkerState

ACTIONS = frozenset({"show_sess", "shutdown_session", "shutdown_sessions"})


def run_sessions(state: WorkerState, action: str, words: Sequence[str]) -> str:
    if action == "show_sess":
        return show_sess_answer(sessions_registry.views(), words[2:])
    if action == "shutdown_session":
        target = shutdown_session_target(words[2:], sessions_registry.SESSIONS)
        if isinstance(target, str):
            return target
        sessions_registry.kill(target)
        return "\n"
    reference = server_reference(words[3:])
    if isinstance(reference, str):
        return reference
    backend = state.backends.get(reference[0])
    if backend is None:
        return NO_SUCH_BACKEND
    server = next((s for s in backend.servers.values() if s.name == reference[1]), None)
    if server is None:
        return NO_SUCH_SERVER
    sessions_registry.kill_server_sessions([server], "K")
    return "\n"
