"""Runtime-API sessions in a worker: one request, its answers, then the connection closes.

Sessions come from the master (a command routed with @N/@!PID arrives as one end of a fresh
socketpair over the ipc channel, and the master half-closes after the request) and from the
configuration's `stats socket` lines (a client sends one line). Rules: a session is bounded
by `stats timeout` (default 10 s) and the request by MAX_REQUEST bytes, so a silent or
endless peer costs nothing lasting; the answers are computed from the worker's state without
awaiting, so a session never sees a half-updated state. `_getsocks` on a stats socket with
`level admin` and `expose-fd listeners` hands every listening socket to the asker (HAProxy's
`-x` hand-over); elsewhere it closes the connection without a word, as HAProxy does.

Numbers are the whole process's, not this worker's: `show stat` and `show info` sum every
worker's slots of the shared stats table (haproxy_py/process/shm.py). Admin commands
(`disable server`, `set weight`, `set server .. state|weight`) are parsed here, with HAProxy's
error answers, and written by the admin section's single writer (worker/shared_state.py: the
master, which confirms before the session answers); `get weight` reads the table. Changes
each worker holds itself (maps, ACLs, frontend limits and states) are checked here and made
by every worker (worker/cli_write.py), `set rate-limit` among them; `add|del server`
go round the same way and take a spare row of the table (worker/cli_dynamic.py).
`show errors` shows every worker's captures (worker/cli_errors.py); `operator`, `user`, `set
timeout cli` and `set severity-output` change the request being answered
(haproxy_py/runtime_api/cli_session.py), the last one how each answer is printed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import struct
import time
from collections.abc import Mapping

import trio

from haproxy_py.process.fdpass import try_send_fds
from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.admin import get_weight, parse_admin
from haproxy_py.runtime_api.cli_session import as_shown, session_command
from haproxy_py.runtime_api.commands import (
    PERMISSION_DENIED,
    Request,
    find_command,
    help_text,
    parse_request,
    unknown_command,
)
from haproxy_py.runtime_api.info import format_uptime
from haproxy_py.runtime_api.maps import run_map_command, write_answer
from haproxy_py.stats.csv import info_rates
from haproxy_py.stats.layout import G_CUM_CONNS, G_CUM_REQ
from haproxy_py.stats.typed import show_info_answer, show_stat_answer
from haproxy_py.version import RELEASE_DATE, VERSION
from worker.cli_dynamic import is_dynamic, run_dynamic
from worker.cli_errors import (
    LOCAL_ERRORS,
    is_show_errors,
    local_errors,
    show_errors_everywhere,
    show_errors_here,
)
from worker.cli_extra import run_extra
from worker.cli_sessions import LOCAL, run_everywhere, run_local, session_action
from worker.cli_show import run_show
from worker.cli_write import after_write, apply_write, check_write, is_worker_write, to_wire
from worker.rate_limit import stat_limits
from worker.runtime import WorkerState
from worker.sessions_registry import register, unregister

CLI_TIMEOUT = 10.0
MAX_REQUEST = 65536
MAX_LINE = 16384  # a stats socket's command (HAProxy's tune.bufsize)
MAX_CHAIN = 4 << 20  # a whole `;` chain
_LEVELS = {"user": Level.USER, "operator": Level.OPERATOR, "admin": Level.ADMIN}
_FD_BATCH = 253  # descriptors per sendmsg(), and the size after which the asker acks


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
            answer = await run_commands(state, request, started)
            # The master may have given up on us already: then there is no one to tell.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(answer.encode("utf-8", "surrogateescape"))


async def serve_stats_socket(
    state: WorkerState, listener: socket.socket, options: Mapping[str, object], started: float
) -> None:
    """Accept runtime-API clients on a `stats socket` until the worker stops."""
    level = _LEVELS.get(str(options.get("level", "operator")), Level.OPERATOR)
    expose = options.get("expose-fd") == "listeners"
    timeout = (state.config.global_.setting("stats timeout") or CLI_TIMEOUT * 1000) / 1000
    sock = trio.socket.from_stdlib_socket(listener)
    async with trio.open_nursery() as sessions:
        while True:
            try:
                client, _ = await sock.accept()
            except OSError:  # out of descriptors, or the socket is gone: breathe
                await trio.sleep(0.1)
                continue
            sessions.start_soon(
                _guarded_session, state, trio.SocketStream(client), level, expose, timeout, started
            )


async def _guarded_session(state: WorkerState, stream: trio.SocketStream, *args: object) -> None:
    """One bad session (a bug) is reported and closed; it must not stop the worker."""
    try:
        await _stats_session(state, stream, *args)  # type: ignore[arg-type]
    except Exception as exc:  # trio.Cancelled is a BaseException: it goes through
        state.reporter.alert(f"runtime API session failed: {type(exc).__name__}: {exc}")


async def _stats_session(
    state: WorkerState,
    stream: trio.SocketStream,
    level: Level,
    expose: bool,
    timeout: float,
    started: float,
) -> None:
    live = register("GLOBAL", stream.socket, _peer(stream))  # listed by `show sess`, as HAProxy
    try:
        await _stats_exchange(state, stream, level, expose, timeout, started)
    finally:
        unregister(live)


def _peer(stream: trio.SocketStream) -> object:
    try:
        return stream.socket.getpeername()
    except OSError:
        return ""


async def _stats_exchange(
    state: WorkerState,
    stream: trio.SocketStream,
    level: Level,
    expose: bool,
    timeout: float,
    started: float,
) -> None:
    async with stream:
        with trio.move_on_after(timeout):
            line = b""
            while b"\n" not in line:
                # HAProxy's buffer bounds each command of a `;` chain, not the chain: a
                # command longer than that is closed unanswered, a long chain is answered.
                if len(line) - line.rfind(b";") > MAX_LINE or len(line) >= MAX_CHAIN:
                    return
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                line += chunk
            first = line.partition(b"\n")[0]
            if max(map(len, first.split(b";"))) > MAX_LINE:
                return
            request = parse_request(first + b"\n", level)
            if request.commands == ["_getsocks"]:
                if expose and request.level == Level.ADMIN:
                    await _send_listeners(state, stream)
                return  # refused: closed without a word
            answer = await run_commands(state, request, started)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(answer.encode("utf-8", "surrogateescape"))


async def _send_listeners(state: WorkerState, stream: trio.SocketStream) -> None:
    """`_getsocks`: the count as a native int, then the descriptors in batches, each with 6
    zero bytes per descriptor (no namespace, no interface, no options); after a full batch
    the asker acknowledges with 4 bytes."""
    socks = [listener.sock for listener in state.listeners] + list(state.unserved)
    fds = [sock.fileno() for sock in socks if sock.fileno() != -1]
    await stream.send_all(struct.pack("=i", len(fds)))
    # sendmsg() with SCM_RIGHTS on a plain socket object sharing the connection (a dup).
    with socket.fromfd(stream.socket.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        await _send_batches(stream, raw, fds)


async def _send_batches(stream: trio.SocketStream, raw: socket.socket, fds: list[int]) -> None:
    for first in range(0, len(fds), _FD_BATCH):
        batch = fds[first : first + _FD_BATCH]
        data = bytes(6 * len(batch))
        while True:
            try:
                sent = try_send_fds(raw, data, batch)  # type: ignore[arg-type]
                break
            except BlockingIOError:
                await trio.lowlevel.wait_writable(raw)
        if sent < len(data):
            await stream.send_all(data[sent:])
        if len(batch) == _FD_BATCH and first + _FD_BATCH < len(fds):
            acknowledged = b""
            while len(acknowledged) < 4:
                chunk = await stream.receive_some(4 - len(acknowledged))
                if not chunk:
                    return
                acknowledged += chunk


async def run_commands(state: WorkerState, request: Request, started: float) -> str:
    """Every command of the request in turn; admin ones wait for their write."""
    answers = []
    for text in request.commands:
        answer = run_command(state, request, text, started)
        if answer is None:  # a change: made by the table's writer, or by every worker
            words = text.split()
            if is_worker_write(words):
                answer = await _worker_write(state, words)
            elif is_dynamic(words):
                answer = await run_dynamic(state, words)
            elif is_show_errors(words):  # every worker's captures (worker/cli_errors.py)
                answer = await show_errors_everywhere(state, words)
            elif session_action(words) is not None:  # every worker's (cli_sessions.py)
                answer = await run_everywhere(state, words)
            else:
                answer = await _admin_command(state, words)
        answers.append(as_shown(request, text, answer))  # `set severity-output`
    return "".join(answers)


def run_command(state: WorkerState, request: Request, text: str, started: float) -> str | None:
    """The answer of one command, or None for an admin change (run_commands awaits it)."""
    words = text.split()
    if words[:1] == ["help"]:
        return help_text(request.level, words[1:])
    if words[:1] == [LOCAL]:  # a peer asks for this worker's own sessions only
        local = run_local(state, request.level, words)
        if local is not None:
            return local
    if words[:1] == [LOCAL_ERRORS]:  # a peer asks for this worker's `show errors` captures
        local = local_errors(request.level)
        if local is not None:
            return local
    keyword = find_command(words)
    if keyword is None:
        return unknown_command(text, request.level)
    if keyword.level > request.level:
        return PERMISSION_DENIED + "\n"
    if keyword.action == "cli_session":  # operator, user, set timeout cli
        return session_command(request, words)
    shared = state.shared
    if keyword.action == "show_errors":
        if shared is not None and shared.channel is not None:
            return None  # run_commands asks the other workers
        return show_errors_here(state, words)
    if keyword.action == "show_info":
        return show_info_answer(info_values(state, started), words[2:])
    if keyword.action == "show_stat" and shared is not None:
        return show_stat_answer(shared.table, state.config, words[2:], stat_limits(state))
    if keyword.action == "get_weight" and shared is not None:
        return get_weight(shared.table, words[2] if len(words) > 2 else None)
    if keyword.action == "dyncookie" and shared is not None:
        return None  # every worker's cookie tables (worker/cli_dyncookie.py, cli_write.py)
    if keyword.action in ("admin_server", "maxconn", "frontend_state", "checks") and shared:
        return None
    if keyword.action == "map" and state.maps is not None:
        if is_worker_write(words):
            return None
        return run_map_command(state.maps, words)
    if keyword.action == "dynamic_server" and shared is not None:
        return None  # `add|del server`: worker/cli_dynamic.py
    if keyword.action == "rate_limit" and shared is not None:
        return None  # `set rate-limit`: every worker's limits (worker/cli_write.py)
    if session_action(words) is not None and shared is not None and shared.channel is not None:
        return None  # show sess, shutdown session(s): every worker's (worker/cli_sessions.py)
    if keyword.action == "shutdown_frontend":
        return None  # every worker's accept loops (worker/cli_write.py, cli_extra.py)
    shown = run_extra(state, keyword.action, words, request.level)  # worker/cli_extra.py
    if shown is not None:
        return shown
    shown = run_show(state, keyword.action, words, request.level)  # worker/cli_show.py
    if shown is not None:
        return shown
    return unknown_command(text, request.level)


async def _admin_command(state: WorkerState, words: list[str]) -> str:
    shared = state.shared
    op = parse_admin(shared.table, words, lambda be, srv: configured_address(state, be, srv))
    if isinstance(op, str):
        return op
    error = await shared.admin(op)
    if error:
        return f"{error}\n\n"
    return op.answer or "\n"


async def _worker_write(state: WorkerState, words: list[str]) -> str:
    """A change every worker makes (worker/cli_write.py): checked here, then handed round."""
    refused = check_write(state, words)
    if refused is not None:
        return refused
    command = to_wire(" ".join(words))
    error = await state.shared.runtime_change(command, lambda text: apply_write(state, text))
    if error:
        return f"{error}\n\n"
    after_write(state, words)  # `disable frontend`: the shared sockets; log lines
    return write_answer(state.maps, words)  # "\n", or `prepare map`'s new version


def configured_address(state: WorkerState, backend: str, server: str) -> tuple[str, int]:
    """The server's address as resolved at start-up (before any `set server .. addr`)."""
    sync = state.shared.sync if state.shared is not None else None
    for entry in sync.entries if sync is not None else ():
        if entry.backend.name == backend and entry.server.name == server:
            target = entry.configured
            return (target.host, target.port) if target is not None else ("", 0)
    return ("", 0)


def info_values(state: WorkerState, started: float) -> dict[str, object]:
    """The `show info` fields one worker knows by itself (issue 7 shares the counters)."""
    uptime = time.time() - started
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    pipes = state.pipes.info() if state.pipes is not None else {"Maxpipes": 0}
    shared = state.shared
    cumulated = sum(counters.total_sessions for counters in state.counters.frontends.values())
    current = state.global_limit.current
    requests = 0
    if shared is not None:  # every worker's, from the shared table
        snapshot = shared.table.snapshot()
        layout = shared.table.layout
        global_row = layout.global_row()
        fronts = [row for row in layout.rows if row.kind == "frontend"]
        cumulated = sum(shared.table.row_counters(r, snapshot)["stot"] for r in fronts)
        current = sum(shared.table.row_counters(r, snapshot)["scur"] for r in fronts)
        requests = sum(shared.table.row_counters(r, snapshot)["req_tot"] for r in fronts)
        cumulated += snapshot[global_row.offset + G_CUM_CONNS]
        requests += snapshot[global_row.offset + G_CUM_REQ]
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
        "CurrConns": current,
        "CumConns": cumulated,
        "CumReq": requests,
        "node": state.config.global_.setting("node") or socket.gethostname(),
        "description": state.config.global_.setting("description") or "",
        "Stopping": int(state.stopping),
        "Listeners": len(state.listeners),
        "Start_time_sec": int(started),
    }
    values.update(pipes)
    if state.rates is not None:  # ConnRateLimit, SessRateLimit... (worker/rate_limit.py)
        values.update(state.rates.info())
    if shared is not None:  # every worker's, from the shared table
        values.update(info_rates(shared.table, state.config))
    return values


__all__ = ["CLI_TIMEOUT", "Level", "serve_cli_session", "serve_stats_socket"]
