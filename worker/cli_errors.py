"""`show errors [<px>] [request|response]` for every worker of the generation.

Each worker keeps its own captures (worker/error_captures.py). Alone, a worker answers from
them. Under a master, the worker that took the CLI connection asks each peer for theirs with
the internal `_errors` command (as `show sess` asks with `_sessions`, worker/cli_sessions.py)
and merges: the event counts add up, and per proxy and direction the latest capture of any
worker is shown. Rules: a peer silent for PEER_TIMEOUT adds nothing; `_errors` needs the admin
level (the master's routed sessions have it); answers are formatted by
haproxy_py/runtime_api/errors.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.errors import (
    decode_captures,
    encode_captures,
    merge_captures,
    show_errors_answer,
)
from worker.cli_sessions import ask_peers  # every peer's answer, as `show sess` asks
from worker.error_captures import CAPTURES
from worker.runtime import WorkerState

LOCAL_ERRORS = "_errors"


def is_show_errors(words: Sequence[str]) -> bool:
    return list(words[:2]) == ["show", "errors"]


def local_errors(level: Level) -> str | None:
    """`_errors` from a peer: this worker's captures; None (unknown command) if not admin."""
    return encode_captures(CAPTURES) if level >= Level.ADMIN else None


def show_errors_here(state: WorkerState, words: Sequence[str]) -> str:
    """This worker's captures only (no master to reach the others through)."""
    return show_errors_answer(state.config, CAPTURES.captures(), CAPTURES.events, words[2:])


async def show_errors_everywhere(state: WorkerState, words: Sequence[str]) -> str:
    parts = [(CAPTURES.events, CAPTURES.captures())]
    answers, _ = await ask_peers(state, f"{LOCAL_ERRORS}\n".encode())
    parts.extend(decode_captures(answer) for answer in answers if answer)
    events, captures = merge_captures(parts)
    return show_errors_answer(state.config, captures, events, words[2:])
