"""Smaller runtime-API commands answered by a worker: `show pools`, `show version`, `show
cli level`, the stick-table commands (there are no stick tables), `shutdown frontend`.

`show pools` describes this worker's memory (haproxy_py/runtime_api/pools.py for the shape
and the meaning of each line): CPython's allocator prints its size classes on the C
stderr only, so the table is captured through a memfd put in place of descriptor 2 for the
call (no file, no pipe that could fill up; nothing else runs meanwhile: the worker is one
thread). `shutdown frontend FE` goes round every worker like `disable frontend`
(worker/cli_write.py): each shuts the shared sockets (connecting is refused at once) and
ends its accept loops on the frontend for good (their scope cancelled: the loop closes the
worker's copy); the asking worker logs HAProxy's line. The master keeps its copy of the
sockets (for reloads), so the ports are not free for another process, unlike HAProxy.
Rules: nothing awaits; nothing reads the filesystem (this runs after the chroot).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Sequence

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.pools import Pool, parse_mallocstats, show_pools, table_answer
from haproxy_py.version import VERSION
from worker.runtime import FrontendRuntime, ListenerRuntime, WorkerState

ACTIONS = frozenset({"show_pools", "show_version", "show_cli_level", "table"})
NO_SUCH_FRONTEND = "No such frontend.\n\n"
FRONTEND_EXPECTED = "A frontend name is expected.\n\n"
ALREADY_SHUT = "Frontend was already shut down.\n\n"


def run_extra(state: WorkerState, action: str, words: Sequence[str], level: Level) -> str | None:
    """The answer of one of ACTIONS, or None when the action is not one of them."""
    if action == "show_pools":
        return show_pools(worker_pools(state))
    if action == "show_version":
        return f"{VERSION}\n\n"
    if action == "show_cli_level":
        return f"{level.label}\n\n"
    if action == "table":
        return table_answer(words)
    return None


def worker_pools(state: WorkerState) -> list[Pool]:
    pools = parse_mallocstats(_mallocstats())
    pipes = state.pipes
    if pipes is not None:
        info = pipes.info()
        used, free = info["PipesUsed"], info["PipesFree"]
        pools.append(Pool("pipe", _pipe_size(pipes), used + free, used, 1))
    return pools


def _mallocstats() -> str:
    """What `sys._debugmallocstats()` writes on descriptor 2, captured."""
    capture = os.memfd_create("show-pools", os.MFD_CLOEXEC)
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: it is closed again afterwards
        saved = -1
    try:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(capture, 2)
        try:
            sys._debugmallocstats()
        finally:
            if saved >= 0:
                os.dup2(saved, 2)
            else:
                os.close(2)
        size = os.lseek(capture, 0, os.SEEK_END)
        return os.pread(capture, size, 0).decode("ascii", "replace")
    finally:
        if saved >= 0:
            os.close(saved)
        os.close(capture)


def _pipe_size(pipes: object) -> int:
    """A pooled pipe's capacity (`tune.pipesize`, else the kernel's 64 KiB)."""
    return int(getattr(pipes, "pipe_size", 0) or 65536)


# -- shutdown frontend --------------------------------------------------------------------------


def is_shutdown(words: Sequence[str]) -> bool:
    return words[:2] == ["shutdown", "frontend"]


def shut(frontend: FrontendRuntime, state: WorkerState) -> list[ListenerRuntime]:
    """The frontend's listeners; all of them shut down when the frontend was."""
    return [lst for lst in state.listeners if lst.frontend is frontend]


def was_shut(state: WorkerState, frontend: FrontendRuntime) -> bool:
    listeners = shut(frontend, state)
    return bool(listeners) and all(lst.accepting.cancel_called for lst in listeners)


def shutdown_frontend(state: WorkerState, args: Sequence[str], commit: bool) -> str:
    if not args:
        return FRONTEND_EXPECTED
    frontend = state.frontends.get(args[0])
    if frontend is None or not frontend.proxy.is_frontend:
        return NO_SUCH_FRONTEND
    if was_shut(state, frontend):
        return ALREADY_SHUT
    if commit:
        for listener in shut(frontend, state):
            # The workers and the master share the kernel socket: shut it (connecting is
            # refused from now on, what was queued is reset), then this worker's accept
            # loop ends and closes its copy.
            if listener.sock.fileno() != -1 and listener.sock.family != socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    listener.sock.shutdown(socket.SHUT_RD)
            listener.accepting.cancel()
    return "\n"


def after_shutdown(state: WorkerState, name: str) -> None:
    """The asker logs HAProxy's line, once."""
    frontend = state.frontends.get(name)
    if frontend is None:
        return
    front, back = _cumulated(state, frontend)
    state.reporter.warning(f"Proxy {name} stopped (cumulated conns: FE: {front}, BE: {back}).")


def _cumulated(state: WorkerState, frontend: FrontendRuntime) -> tuple[int, int]:
    """Sessions the frontend (and, for a `listen`, its backend side) took, every worker's."""
    shared = state.shared
    if shared is None:
        return state.counters.cumulated(frontend.name)  # type: ignore[no-any-return]
    table = shared.table
    snapshot = table.snapshot()
    layout = table.layout
    front = table.row_counters(layout.frontend(frontend.name), snapshot)["stot"]
    back = 0
    if frontend.proxy.kind == "listen":
        back = table.row_counters(layout.backend(frontend.name), snapshot)["stot"]
    return front, back
