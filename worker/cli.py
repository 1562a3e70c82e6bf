"""Runtime-API sessions in a worker: one request, its answers, then the connection closes.

Today the sessions come from the master (a command routed with @N/@!PID arrives as one end
of a fresh socketpair over the ipc channel); the stats socket will use the same code. Rules:
the whole session is bounded by CLI_TIMEOUT (HAProxy's default `stats timeout`, 10 s) and
the request by MAX_REQUEST bytes, so a silent or endless peer costs nothing lasting; the
answers are computed from the worker's state without awaiting, so a session never sees a
half-updated state.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import time

import trio

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import (
    PERMISSION_DENIED,
    Request,
    find_command,
    help_text,
    parse_request,
    unknown_command,
)
from haproxy_py.runtime_api.info import format_info, format_uptime
from haproxy_py.version import RELEASE_DATE, VERSION
from worker.runtime import WorkerState

CLI_TIMEOUT = 10.0
MAX_REQUEST = 65536


async def serve_cli_session(state: WorkerState, sock: socket.socket, started: float) -> None:
    """Read one request until EOF (the master half-closes), answer it, close."""
    sock.setblocking(False)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    async with stream:
        with trio.move_on_after(CLI_TIMEOUT):
            data = b""
            while len(data) < MAX_REQUEST:
                chunk = await stream.receive_some(MAX_REQUEST - len(data))
                if not chunk:
                    break
                data += chunk
            request = parse_request(data)
            answer = "".join(run_command(state, request, cmd, started) for cmd in request.commands)
            # The master may have given up on us already: then there is no one to tell.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(answer.encode("utf-8", "surrogateescape"))


def run_command(state: WorkerState, request: Request, text: str, started: float) -> str:
    words = text.split()
    if words[:1] == ["help"]:
        return help_text(request.level, words[1:])
    keyword = find_command(words)
    if keyword is None:
        return unknown_command(text, request.level)
    if keyword.level > request.level:
        return PERMISSION_DENIED + "\n"
    if keyword.action == "show_info":
        return format_info(info_values(state, started))
    return unknown_command(text, request.level)


def info_values(state: WorkerState, started: float) -> dict[str, object]:
    """The `show info` fields one worker knows by itself (issue 7 shares the counters)."""
    uptime = time.time() - started
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    pipes = state.pipes.info() if state.pipes is not None else {"Maxpipes": 0}
    cumulated = sum(counters.total_sessions for counters in state.counters.frontends.values())
    values: dict[str, object] = {
        "Name": "HAProxy",
        "Version": VERSION,
        "Release_date": RELEASE_DATE,
        "Nbthread": 1,
        "Nbproc": 1,
        "Process_num": 1,
        "Pid": os.getpid(),
        "Uptime": format_uptime(uptime),
        "Uptime_sec": int(uptime),
        "Ulimit-n": soft,
        "Maxconn": state.fd_plan.maxconn,
        "Hard_maxconn": state.fd_plan.maxconn,
        "CurrConns": state.global_limit.current,
        "CumConns": cumulated,
        "node": state.config.global_.setting("node") or socket.gethostname(),
        "description": state.config.global_.setting("description") or "",
        "Stopping": int(state.stopping),
        "Listeners": len(state.listeners),
        "Start_time_sec": int(started),
    }
    values.update(pipes)
    return values


__all__ = ["CLI_TIMEOUT", "Level", "serve_cli_session"]
