"""`show sess`, `shutdown session` and `shutdown sessions server`: formats, argument parsing
and HAProxy 2.6's answers (no I/O).

The worker (worker/sessions_registry.py) hands over one `SessionView` per live session; this
module turns them into HAProxy's one-line-per-session listing and a reduced `show sess ID`
dump. Fields HAProxy fills from its stream internals that haproxy-py does not have (channel
and stream-connector flags, timers, call counts, CPU and latency) are printed with neutral
values so that the line keeps its shape for tools that split it. Answers end with the empty
line every runtime API answer ends with.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SESSION_NOT_FOUND = "Session not found.\n\n"
POINTER_EXPECTED = "Session pointer expected (use 'show sess').\n\n"
NO_SUCH_SESSION = "No such session (use 'show sess').\n\n"
REQUIRE_SERVER = "Require 'backend/server'.\n\n"
NO_SUCH_BACKEND = "No such backend.\n\n"
NO_SUCH_SERVER = "No such server.\n\n"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class SessionView:
    """What `show sess` prints of one live session (a snapshot taken by the worker)."""

    id: int
    proto: str  # tcpv4, tcpv6, unix_stream
    src: str  # "127.0.0.1:33000", "::1:33000", "unix:1"
    frontend: str
    frontend_mode: str  # tcp, http
    listener_addr: str
    backend: str | None
    server: str | None
    server_addr: str
    age: float  # seconds since accept
    started: float  # wall-clock time of accept
    client_fd: int
    server_fd: int  # -1: no server connection


def human_time(seconds: float) -> str:
    """An age as HAProxy writes it: `0s`, `42s`, `3m5s`, `2h1m`, `1d4h`."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def parse_pointer(text: str) -> int:
    """C's strtoul(text, NULL, 0): the longest valid prefix (0x.. hex, 0.. octal, else
    decimal), 0 when there is none."""
    text = text.strip()
    base, digits = 10, "0123456789"
    if text[:2].lower() == "0x":
        base, digits, text = 16, "0123456789abcdef", text[2:]
    elif text.startswith("0"):
        base, digits = 8, "01234567"
    end = 0
    while end < len(text) and text[end].lower() in digits:
        end += 1
    return int(text[:end], base) if end else 0


def session_line(view: SessionView) -> str:
    backend = view.backend if view.backend is not None else "<NONE>"
    server = view.server if view.server is not None else "<none>"
    return (
        f"0x{view.id:x}: proto={view.proto} src={view.src} fe={view.frontend} be={backend}"
        f" srv={server} ts=00 epoch=0 age={human_time(view.age)} calls=0 rate=0 cpu=0 lat=0"
        " rq[f=0h,i=0,an=00h,rx=,wx=,ax=] rp[f=0h,i=0,an=00h,rx=,wx=,ax=]"
        f" scf=[8,0h,fd={view.client_fd}] scb=[8,1h,fd={view.server_fd}] exp= rc=0 c_exp=\n"
    )


def session_detail(view: SessionView, serial: int) -> str:
    """The reduced `show sess ID` dump: its first lines as HAProxy prints them (who, where,
    which proxies and server), without HAProxy's buffer and connection internals."""
    stamp = time.localtime(view.started)
    micro = int((view.started % 1) * 1_000_000)
    when = (
        f"{stamp.tm_mday:02d}/{_MONTHS[stamp.tm_mon - 1]}/{stamp.tm_year}:"
        f"{stamp.tm_hour:02d}:{stamp.tm_min:02d}:{stamp.tm_sec:02d}.{micro:06d}"
    )
    lines = [
        f"0x{view.id:x}: [{when}] id={serial} proto={view.proto} source={view.src}",
        f"  frontend={view.frontend} (mode={view.frontend_mode}), addr={view.listener_addr}",
    ]
    if view.backend is None:
        lines.append("  backend=<NONE>")
    else:
        lines.append(f"  backend={view.backend} (mode={view.frontend_mode})")
    if view.server is None:
        lines.append("  server=<NONE>")
    else:
        lines.append(f"  server={view.server} addr={view.server_addr}")
    lines.append(
        f"  age={human_time(view.age)} scf=[fd={view.client_fd}] scb=[fd={view.server_fd}]"
    )
    return "\n".join(lines) + "\n"


def show_sess_answer(views: Sequence[SessionView], args: Sequence[str]) -> str:
    """`show sess` (every session, one line each), `show sess all` (every session's dump),
    `show sess ID` (that one's dump, or "Session not found.")."""
    if args[:1] == ["all"]:
        return "".join(session_detail(v, n) for n, v in enumerate(views)) + "\n"
    wanted = parse_pointer(args[0]) if args else 0
    if not wanted:  # as HAProxy: no number (or 0) lists them all
        return "".join(session_line(view) for view in views) + "\n"
    for serial, view in enumerate(views):
        if view.id == wanted:
            return session_detail(view, serial) + "\n"
    return SESSION_NOT_FOUND


def shutdown_session_target(args: Sequence[str], known: Iterable[int]) -> int | str:
    """`shutdown session ID`: the id of a live session, or HAProxy's error answer."""
    wanted = parse_pointer(args[0]) if args else 0
    if not wanted:
        return POINTER_EXPECTED
    if wanted not in set(known):
        return NO_SUCH_SESSION
    return wanted


def server_reference(args: Sequence[str]) -> tuple[str, str] | str:
    """`BE/SRV` of `shutdown sessions server BE/SRV`, or HAProxy's error answer."""
    backend, slash, server = (args[0] if args else "").partition("/")
    if not slash or not backend or not server:
        return REQUIRE_SERVER
    return backend, server


# -- every worker's sessions (worker/cli_sessions.py gathers them) ---------------------------
# A worker asks its peers with the command behind LOCAL: "answer with your own sessions only".
LOCAL = "_sessions"
PID_SHIFT = 32  # a session id is its worker's pid << 32 | a serial number


def session_pid(session_id: int) -> int:
    """The pid of the worker holding that session (0 for an id no worker gave)."""
    return session_id >> PID_SHIFT


def local_form(words: Sequence[str]) -> bytes:
    """The request a worker sends a peer for this command (admin level, one line)."""
    return (" ".join([LOCAL, *words]) + "\n").encode("utf-8", "surrogateescape")


def merged_listing(parts: Iterable[str]) -> str:
    """One `show sess [all]` answer from the workers' answers (each ends with its empty
    line; a peer that gave no well-formed answer adds nothing)."""
    body = [part[:-1] for part in parts if part.endswith("\n") and part != SESSION_NOT_FOUND]
    return "".join(body) + "\n"
