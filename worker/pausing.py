"""SIGTTOU / SIGTTIN: pause and resume the listeners, as HAProxy does for `-sf` hand-overs.

Pausing a TCP listener stops it listening (shutdown(SHUT_RD) takes a listening socket back to
the closed state: connecting is refused, the socket keeps its address, and another process may
bind and listen there with SO_REUSEADDR) while every accepted connection runs on; resuming
listens again, which fails while someone else listens on the port. A UNIX-socket
listener stays bound and listening while paused (HAProxy 2.6 keeps it too): it only stops
accepting, and its backlog holds newcomers. Each proxy is reported once, in HAProxy's words:
"Paused frontend fe." / "Paused proxy app." (a listen section) and "Resumed ...". A port taken
meanwhile keeps that listener paused ("Port N busy while trying to enable ..."); the next
SIGTTIN tries again. Rules: called from the worker's signal task only; never blocks.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import trio

from worker.runtime import ListenerRuntime, WorkerState


def pause_listeners(state: WorkerState) -> None:
    """Stop accepting everywhere; TCP listeners refuse connections meanwhile."""
    for proxy_name, listeners in _by_proxy(state.listeners):
        for listener in listeners:
            if listener.resumed is not None:
                continue  # already paused
            listener.resumed = trio.Event()
            listener.pausing.cancel()
            if listener.sock.family != socket.AF_UNIX:
                listener.sock.shutdown(socket.SHUT_RD)
        state.reporter.warning(f"Paused {_label(listeners[0])} {proxy_name}.")


def resume_listeners(state: WorkerState) -> None:
    """Listen again where paused; a port someone else took is reported and stays paused."""
    for proxy_name, listeners in _by_proxy(state.listeners):
        busy = []
        for listener in listeners:
            if listener.resumed is None:
                continue
            try:
                listener.sock.listen(listener.spec.backlog)
            except OSError:  # EADDRINUSE: another socket listens on the port now
                busy.append(listener)
                continue
            listener.pausing = trio.CancelScope()
            resumed, listener.resumed = listener.resumed, None
            resumed.set()
        for listener in busy:
            port = listener.sock.getsockname()[1]
            state.reporter.warning(
                f"Port {port} busy while trying to enable {_label(listener)} {proxy_name}."
            )
        if not busy:
            state.reporter.warning(f"Resumed {_label(listeners[0])} {proxy_name}.")


def _label(listener: ListenerRuntime) -> str:
    return "proxy" if listener.frontend.proxy.kind == "listen" else "frontend"


def _by_proxy(listeners: Iterable[ListenerRuntime]) -> list[tuple[str, list[ListenerRuntime]]]:
    """Listeners grouped by proxy, proxies in the order of their first listener."""
    grouped: dict[str, list[ListenerRuntime]] = {}
    for listener in listeners:
        grouped.setdefault(listener.frontend.name, []).append(listener)
    return list(grouped.items())
