"""This worker's live sessions: what `show sess` lists and what `shutdown session(s)` and the
server options `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions`
close.

A worker is one process, so the registry is one module-level dict: id -> LiveSession. A
session is registered when its connection is accepted (worker/session.py) and removed when it
ends: one dict insert and one delete per connection, never per request. Its backend and server
are filled by the TCP relay once connected; an HTTP session's are read from its HttpSession
(the current backend and the last server used) only when someone asks, so that the HTTP path
pays nothing per request. Closing a session shuts its sockets down (shutdown(SHUT_RDWR), not
close: the descriptors stay the session's): its pending reads see EOF, its writes fail, and
its own `finally` blocks close and account as for any session that ends (a cancel scope per
session would do the same at about ten times the cost per connection). Rules: nothing here
awaits; `kill*` only shut down (the session task ends at its next turn, so an answer given
right after a shutdown may still list it once).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable

import trio

from haproxy_py.runtime_api.sessions import SessionView

_Socket = socket.socket | trio.socket.SocketType  # a stats socket's client is a trio one
_PROTOS = {socket.AF_INET: "tcpv4", socket.AF_INET6: "tcpv6", socket.AF_UNIX: "unix_stream"}


class LiveSession:
    """One accepted connection, from accept to the end of its session."""

    __slots__ = (
        "backend",
        "client",
        "http",
        "id",
        "killed",
        "listener",
        "peer",
        "server",
        "server_sock",
        "started",
    )

    def __init__(self, listener: object, client: _Socket, peer: object) -> None:
        self.listener = listener  # ListenerRuntime, or a stats socket's name (str)
        self.id = 0
        self.client = client
        self.peer = peer
        self.started = time.monotonic()
        self.backend: object = None  # BackendRuntime (TCP), set once chosen
        self.server: object = None  # ServerRuntime (TCP), set once connected
        self.server_sock: socket.socket | None = None
        self.http: object = None  # HttpSession (HTTP): backend and server read from it
        self.killed = ""  # why it was closed: "K" (by the runtime API), "D"/"U" (server state)

    def current(self) -> tuple[object, object]:
        """(backend, server) now: the relay's, or the HTTP session's current ones."""
        http = self.http
        if http is not None:
            return getattr(http, "backend", None), getattr(http, "last_server", None)
        return self.backend, self.server

    def kill(self, reason: str) -> None:
        """Shut both connections down: every wait of the session on them (a read, a write,
        the relay, the wait for the next HTTP request) ends at once with EOF or an error, and
        the session's own `finally` blocks close and account as for any ended session."""
        if not self.killed:
            self.killed = reason
        for sock in (self.client, self.server_sock, _http_server_sock(self.http)):
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed or reset
                    sock.shutdown(socket.SHUT_RDWR)


SESSIONS: dict[int, LiveSession] = {}
# Ids are never reused (a stale id cannot close a newer session) and differ between workers:
# the worker's pid in the high bits, a serial number below. Shown in hex, like HAProxy's.
_SERIAL = itertools.count(1)
_ID_BASE = os.getpid() << 32


def register(listener: object, client: _Socket, peer: object) -> LiveSession:
    """At accept: `listener` is the ListenerRuntime (or "GLOBAL" for a stats socket)."""
    live = LiveSession(listener, client, peer)
    live.id = _ID_BASE | next(_SERIAL)
    SESSIONS[live.id] = live
    return live


def unregister(live: LiveSession) -> None:
    SESSIONS.pop(live.id, None)


def views() -> list[SessionView]:
    """A snapshot of every live session, in accept order."""
    now, wall = time.monotonic(), time.time()
    found = []
    for key, live in list(SESSIONS.items()):
        backend, server = live.current()
        server_sock = live.server_sock or _http_server_sock(live.http)
        server_fd = server_sock.fileno() if server_sock is not None else -1
        target = getattr(server, "target", None)
        age = now - live.started
        frontend, mode, listener_addr = _frontend(live.listener)
        found.append(
            SessionView(
                id=key,
                proto=_PROTOS.get(live.client.family, "?"),
                src=_source(live),
                frontend=frontend,
                frontend_mode=mode,
                listener_addr=listener_addr,
                backend=getattr(backend, "name", None),
                server=getattr(server, "name", None),
                server_addr=_target_text(target),
                age=age,
                started=wall - age,
                client_fd=live.client.fileno(),
                server_fd=server_fd,
            )
        )
    return found


def kill(key: int) -> bool:
    live = SESSIONS.get(key)
    if live is None:
        return False
    live.kill("K")
    return True


def kill_server_sessions(servers: Iterable[object], reason: str) -> int:
    """Close every session whose server is one of `servers`; how many there were."""
    wanted = {id(server) for server in servers}
    closed = 0
    for live in list(SESSIONS.values()):
        server = live.current()[1]
        if server is not None and id(server) in wanted:
            live.kill(reason)
            closed += 1
    return closed


def _http_server_sock(http: object) -> socket.socket | None:
    """An HTTP session's server connection kept between requests, if it has one."""
    if http is None:
        return None
    conn = getattr(http, "private", None) or getattr(http, "taken", None)
    return getattr(conn, "sock", None)


def _frontend(listener: object) -> tuple[str, str, str]:
    """(frontend name, mode, listening address) of a ListenerRuntime, or a stats socket's."""
    if isinstance(listener, str):
        return listener, "tcp", "unix:1"
    frontend = listener.frontend  # type: ignore[attr-defined]
    mode = "http" if frontend.http is not None else "tcp"
    try:
        name = listener.sock.getsockname()  # type: ignore[attr-defined]
    except OSError:  # closed by a soft stop while its sessions run on
        return frontend.name, mode, "?"
    if isinstance(name, tuple):
        return frontend.name, mode, f"{name[0]}:{name[1]}"
    return frontend.name, mode, f"unix:{name}" if name else "unix:1"


def _source(live: LiveSession) -> str:
    peer = live.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "unix:1"  # HAProxy prints the listener's id; all unix peers are unnamed


def _target_text(target: object) -> str:
    if target is None:
        return "-"
    host, port = getattr(target, "host", None), getattr(target, "port", None)
    if host is None:
        return "-"
    return f"{host}:{port}" if port else str(host)


STATE_POLL = 0.1  # seconds between two looks at the shared server states


async def watch_server_states(poll: Callable[[], None], wanted: trio.Event | None = None) -> None:
    """With `on-marked-down`/`on-marked-up` servers: apply the shared server states on a
    timer too, so that a worker with established sessions and no new connection (which would
    poll before its server choice) still closes them within STATE_POLL of a change.
    `wanted`: wait for it first (set when `add server` brings the first such server)."""
    if wanted is not None:
        await wanted.wait()
    while True:
        await trio.sleep(STATE_POLL)
        poll()
