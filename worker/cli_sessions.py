"""The runtime API's session commands in a worker: `show sess [ID|all]`, `shutdown session ID`
and `shutdown sessions server BE/SRV`, for every worker of the generation.

The answers are formatted by haproxy_py/runtime_api/sessions.py from each worker's registry
(worker/sessions_registry.py). Under a master, the worker that accepted the CLI connection
asks the master for a runtime-API session to each peer (worker/session_peers.py) and sends
them the command behind `_sessions` (each answers with its own sessions only): `show sess`
and `show sess all` list every worker's sessions in @N order; `show sess ID` and `shutdown
session ID` go to the worker whose pid the id carries; `shutdown sessions server` is checked
here, then made by every worker. Rules: the asking session awaits its peers (the event loop
serves on); a peer silent for PEER_TIMEOUT adds nothing; `_sessions` needs the admin level
(the master's routed sessions have it; the asker checked the user's level).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import trio

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import find_command
from haproxy_py.runtime_api.sessions import (
    LOCAL,
    NO_SUCH_BACKEND,
    NO_SUCH_SERVER,
    NO_SUCH_SESSION,
    POINTER_EXPECTED,
    SESSION_NOT_FOUND,
    local_form,
    merged_listing,
    parse_pointer,
    server_reference,
    session_pid,
    show_sess_answer,
    shutdown_session_target,
)
from worker import sessions_registry
from worker.runtime import WorkerState

ACTIONS = frozenset({"show_sess", "shutdown_session", "shutdown_sessions"})
PEER_TIMEOUT = 5.0  # seconds a peer has to answer
MAX_ANSWER = 64 << 20  # bytes read from one peer (a million sessions listed)


def run_sessions(state: WorkerState, action: str, words: Sequence[str]) -> str:
    """This worker's answer alone (no master, or a peer's `_sessions` request)."""
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


def session_action(words: Sequence[str]) -> str | None:
    keyword = find_command(list(words))
    return keyword.action if keyword is not None and keyword.action in ACTIONS else None


def run_local(state: WorkerState, level: Level, words: Sequence[str]) -> str | None:
    """`_sessions <command>` from a peer: this worker's own answer; None when refused
    (not admin, or not a session command), which the caller answers as unknown."""
    action = session_action(words[1:])
    if level < Level.ADMIN or action is None:
        return None
    return run_sessions(state, action, words[1:])


async def run_everywhere(state: WorkerState, words: Sequence[str]) -> str:
    """The answer for every worker of the generation (the caller checked the level)."""
    action = session_action(words)
    assert action is not None
    args = words[2:]
    if action == "shutdown_sessions":
        answer = run_sessions(state, action, words)  # checks the names, closes ours
        if answer == "\n":
            await _ask(state, words, 0)
        return answer
    wanted = parse_pointer(args[0]) if args and args[0] != "all" else 0
    if not wanted:
        if action == "shutdown_session":
            return POINTER_EXPECTED
        return merged_listing(await _ask(state, words, 0, own=True))
    # One session: only the worker whose pid the id carries can know it.
    if session_pid(wanted) == os.getpid():
        return run_sessions(state, action, words)
    answers = await _ask(state, words, session_pid(wanted))
    if answers:
        return answers[0]
    return SESSION_NOT_FOUND if action == "show_sess" else NO_SUCH_SESSION


async def _ask(
    state: WorkerState, words: Sequence[str], pid: int, *, own: bool = False
) -> list[str]:
    """The peers' answers (and ours at our place among them when `own`), @N order."""
    action = session_action(words)
    assert action is not None and state.shared is not None
    mine = run_sessions(state, action, words) if own else None
    answers, position = await ask_peers(state, local_form(words), pid)
    if mine is not None:
        answers.insert(position, mine)
    return answers


async def ask_peers(state: WorkerState, request: bytes, pid: int = 0) -> tuple[list[str], int]:
    """`request` asked of every peer of the generation (or of worker `pid`), at once: their
    answers in @N order ("" for a silent one) and where this worker's own would go."""
    peers = await state.shared.ask_peers(pid) if state.shared is not None else None
    ends, position = peers if peers is not None else ([], 0)
    answers = [""] * len(ends)
    async with trio.open_nursery() as nursery:
        for index, end in enumerate(ends):
            nursery.start_soon(_ask_peer, end, request, answers, index)
    return answers, position


async def _ask_peer(end: socket.socket, request: bytes, answers: list[str], index: int) -> None:
    end.setblocking(False)
    chunks: list[bytes] = []
    size = 0
    with trio.socket.from_stdlib_socket(end) as sock, trio.move_on_after(PEER_TIMEOUT):
        try:
            await sock.send(request)  # a few bytes: the socket buffer takes them at once
            sock.shutdown(socket.SHUT_WR)  # the peer reads the request until EOF
            while size < MAX_ANSWER:
                chunk = await sock.recv(65536)
                if not chunk:
                    answers[index] = b"".join(chunks).decode("utf-8", "surrogateescape")
                    return
                chunks.append(chunk)
                size += len(chunk)
        except OSError:  # the peer left: it has no sessions to show
            return


__all__ = [
    "ACTIONS",
    "LOCAL",
    "ask_peers",
    "run_everywhere",
    "run_local",
    "run_sessions",
    "session_action",
]
