"""Runtime-API writes that live in each worker: maps and ACLs, frontend limits and states.

`add|del|set|clear map|acl`, `set maxconn frontend|global`, `set rate-limit` and
`enable|disable frontend` change what each worker holds by itself (its compiled maps, its
connection and rate limits (worker/rate_limit.py), its listeners), not the shared table.
So the asking worker checks the command here
(`check_write`: HAProxy's error answers, nothing changed), then has the master hand it to
every worker of its generation in one order (worker/shared_state.py `runtime_change`), and
each worker, the asker included, runs `apply_write`. Changes made so are lost on reload,
as HAProxy loses them (maps are read again from their files).
Rules: both functions run without awaiting; `apply_write` must accept what `check_write`
accepted, and does nothing when a concurrent change made it moot (an entry gone).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence

import trio

from haproxy_py.lb.ratelimit import c_atoi
from haproxy_py.runtime_api.check_commands import is_check_command
from haproxy_py.runtime_api.maps import is_write, run_map_command
from worker.cli_checks import run_check_command
from worker.cli_dynamic import apply_dynamic, is_dynamic
from worker.cli_dyncookie import is_dynamic_cookie_command, run_dynamic_cookie
from worker.cli_extra import after_shutdown, is_shutdown, shutdown_frontend, was_shut
from worker.limits import ConnLimit
from worker.runtime import FrontendRuntime, ListenerRuntime, WorkerState

NO_SUCH_FRONTEND = "No such frontend.\n\n"
FRONTEND_EXPECTED = "A frontend name is expected.\n\n"
# HAProxy 2.6's answer (a build with TLS lists ssl-sessions) to an unknown `set rate-limit`.
RATE_LIMIT_USAGE = (
    "'set rate-limit' only supports :\n"
    "   - 'connections global' to set the per-process maximum connection rate\n"
    "   - 'sessions global' to set the per-process maximum session rate\n"
    "   - 'ssl-sessions global' to set the per-process maximum SSL session rate\n"
    "   - 'http-compression global' to set the per-process maximum compression speed in kB/s\n"
    "\n"
)
RATE_LIMIT_KINDS = ("connections", "sessions", "ssl-sessions", "http-compression")


def is_worker_write(words: Sequence[str]) -> bool:
    """A write `check_write`/`apply_write` handle."""
    if is_write(words):
        return True
    if is_dynamic_cookie_command(words):  # worker/cli_dyncookie.py
        return True
    if words[:3] in (["set", "maxconn", "frontend"], ["set", "maxconn", "global"]):
        return True
    if words[:2] == ["set", "rate-limit"]:
        return True
    if is_check_command(words):  # health checks and agents (worker/cli_checks.py)
        return True
    if is_shutdown(words):  # `shutdown frontend` (worker/cli_extra.py)
        return True
    return words[:2] in (["enable", "frontend"], ["disable", "frontend"])


def check_write(state: WorkerState, words: Sequence[str]) -> str | None:
    """HAProxy's error answer for the command, or None when it can be applied."""
    answer = _run(state, list(words), commit=False)
    return None if answer == "\n" else answer


def to_wire(command: str) -> str:
    """The command as it travels to the master and back: its bytes (a key may hold any
    byte, kept as surrogates since parsing) spelled in latin-1, which JSON carries."""
    return command.encode("utf-8", "surrogateescape").decode("latin-1")


def apply_write(state: WorkerState, wired: str) -> str:
    """Apply one write (`to_wire` form; handed by the master, or asked here alone)."""
    command = wired.encode("latin-1", "replace").decode("utf-8", "surrogateescape")
    words = command.split()
    if is_dynamic(words):  # `add|del server` (worker/cli_dynamic.py)
        return apply_dynamic(state, command)
    if not is_worker_write(words):
        return "Unknown change.\n\n"
    try:
        return _run(state, words, commit=True)
    except Exception as exc:  # a bug must not take the worker down with it
        state.reporter.alert(f"runtime change '{command}' failed: {type(exc).__name__}: {exc}")
        return "Internal error.\n\n"


def _run(state: WorkerState, words: list[str], *, commit: bool) -> str:
    if is_write(words):
        return run_map_command(state.maps, words, commit=commit)
    if is_dynamic_cookie_command(words):
        return run_dynamic_cookie(state, words, commit=commit)
    if is_check_command(words):
        return run_check_command(state, words, commit)
    if is_shutdown(words):
        return shutdown_frontend(state, words[2:], commit)
    if words[1] == "maxconn":
        return _set_maxconn(state, words[2:], commit)
    if words[1] == "rate-limit":
        return _set_rate_limit(state, words[2:], commit)
    return _frontend_state(state, words[0] == "enable", words[2:], commit)


def _set_maxconn(state: WorkerState, args: list[str], commit: bool) -> str:
    if args[0] == "global":
        if len(args) < 2 or not _is_int(args[1]):
            return "Expects an integer value.\n\n"
        value = int(args[1])
        hard = state.fd_plan.maxconn
        if value < 0 or value > hard:
            return "Value out of range.\n\n"
        if commit:
            _set_limit(state.global_limit, value or hard)
        return "\n"
    frontend = _frontend(state, args[1] if len(args) > 1 else "")
    if frontend is None:
        return NO_SUCH_FRONTEND
    if len(args) < 3 or not _is_int(args[2]):
        return "Integer value expected.\n\n"
    value = int(args[2])
    if value < 0:
        return "Value out of range.\n\n"
    if commit:
        _set_limit(frontend.limit, value)
    return "\n"


def _set_rate_limit(state: WorkerState, args: list[str], commit: bool) -> str:
    """`set rate-limit KIND global VALUE`, read as HAProxy reads it (atoi: `12abc` is 12,
    `x` is 0, a value past 2**31 wraps)."""
    if len(args) < 2 or args[0] not in RATE_LIMIT_KINDS or args[1] != "global":
        return RATE_LIMIT_USAGE
    if len(args) < 3:
        return "Expects an integer value.\n\n"
    value = c_atoi(args[2])
    if value < 0:
        return "Value out of range.\n\n"
    if commit and state.rates is not None:
        state.rates.set_global(args[0], value)
    return "\n"


def _set_limit(limit: ConnLimit, value: int) -> None:
    limit.maximum = value or None
    # Accept loops parked on a full limit look again: there may be room now.
    limit._lot.unpark_all()


def _frontend_state(state: WorkerState, enable: bool, args: list[str], commit: bool) -> str:
    if not args:
        return FRONTEND_EXPECTED
    frontend = _frontend(state, args[0])
    if frontend is None:
        return NO_SUCH_FRONTEND
    if was_shut(state, frontend):  # `shutdown frontend`: for good
        verb = "enable" if enable else "disable"
        return f"Frontend was previously shut down, cannot {verb}.\n\n"
    listeners = [lst for lst in state.listeners if lst.frontend is frontend]
    paused = [lst for lst in listeners if lst.resumed is not None]
    if enable and len(paused) == 0:
        return "All sockets are already enabled.\n\n"
    if not enable and len(paused) == len(listeners):
        return "All sockets are already disabled.\n\n"
    if commit:
        for listener in listeners:
            _resume(listener) if enable else _pause(listener)
    return "\n"


def _pause(listener: ListenerRuntime) -> None:
    """Stop this worker's accept loop; the socket itself is left to `stop_listening`."""
    if listener.resumed is not None:
        return
    listener.resumed = trio.Event()
    listener.pausing.cancel()


def after_write(state: WorkerState, words: Sequence[str]) -> None:
    """What only the asking worker does once its write went round. `disable frontend FE`:
    its TCP sockets stop listening (connecting is refused, as HAProxy does): the workers
    share these kernel sockets, and a late shutdown by another worker would reset
    connections queued after the answer. Both frontend changes are logged once, here."""
    if is_shutdown(words) and len(words) > 2:
        after_shutdown(state, words[2])
        return
    if words[1:2] != ["frontend"] or len(words) < 3:
        return
    frontend = _frontend(state, words[2])
    if frontend is None:
        return
    label = "proxy" if frontend.proxy.kind == "listen" else "frontend"
    if words[0] == "enable":
        state.reporter.warning(f"Resumed {label} {frontend.name}.")
        return
    for listener in state.listeners:
        if listener.frontend is frontend and listener.sock.family != socket.AF_UNIX:
            with contextlib.suppress(OSError):  # already shut (ENOTCONN)
                listener.sock.shutdown(socket.SHUT_RD)
    state.reporter.warning(f"Paused {label} {frontend.name}.")


def _resume(listener: ListenerRuntime) -> None:
    if listener.resumed is None:
        return
    try:
        listener.sock.listen(listener.spec.backlog)
    except OSError:  # someone else listens on the port now: stays paused
        return
    listener.pausing = trio.CancelScope()
    resumed, listener.resumed = listener.resumed, None
    resumed.set()


def _frontend(state: WorkerState, name: str) -> FrontendRuntime | None:
    frontend = state.frontends.get(name)
    if frontend is None or not frontend.proxy.is_frontend:
        return None
    return frontend


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()
