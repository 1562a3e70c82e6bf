"""The worker's serving core: accept loops, the stop signals, and the lifetime of everything.

`serve(start, sockets)` is what the worker's main runs under trio.run: `sockets[i]` is the
already-bound, non-blocking listening socket of `start.listeners[i]` (the worker never binds),
and serve() owns them from then on (it closes them all before returning). It returns the exit
status. Lifetime, as a table of contents:
- map the stats table handed over (haproxy_py/process/shm.py; a private one-slot table when
  none was, e.g. in tests): the counters live in this worker's slot, and the server states
  written there (by the master) are applied before each server choice (worker/shared_state.py);
- build the state (worker/runtime.py): every start-up check, server resolution and the fd
  limit, or StartupError with every message, nothing started;
- isolate the process (chroot, setgroups, setgid, setuid, no-new-privs) once everything it
  needs is loaded, before the first accept;
- one task per served listener, each with its own nursery holding the accept loop (in a cancel
  scope of its own) and the sessions it accepted (worker/session.py);
- signals through trio.open_signal_receiver (house rule 5): SIGINT/SIGTERM stop everything at
  once and serve() returns 128 + the signal (the worker then dies by it); SIGUSR1 is a soft
  stop: after global `grace` the listeners are closed (HAProxy's "Proxy X stopped" lines go
  to stderr), the sessions run to their end, and
  serve() returns 0 when the last one ends, or at `hard-stop-after` if set; SIGTTOU/SIGTTIN
  pause and resume the listeners (worker/pausing.py). With `close-spread-time`, keep-alive
  connections are let go over that window once the listeners are closed
  (worker/close_spread.py).
Accept loops try accept() first and wait for readability only on EAGAIN, take up to
ACCEPT_BATCH connections per wake-up, and stop accepting while a `maxconn` is reached (global,
frontend or bind line): the kernel backlog holds newcomers until a session ends. Likewise
while a rate limit is reached (worker/rate_limit.py), until the rate allows again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import AsyncIterator

import trio
from trio.lowlevel import checkpoint, wait_readable

from haproxy_py.process.channel import Channel
from haproxy_py.process.daemon import release_stderr
from haproxy_py.process.handoff import HANDED_OVER_SIGNALS, WorkerStart
from haproxy_py.process.privileges import PrivilegeError, isolate, isolation_from_global
from haproxy_py.process.shm import StatsTable, TableError, open_table
from haproxy_py.proto.ipc import (
    AdminDone,
    CliSession,
    HardStop,
    Ready,
    RuntimeApply,
    SessionsPeers,
    SoftStop,
)
from haproxy_py.report import Reporter
from worker.checks import serve_checks
from worker.cli import info_values, serve_cli_session, serve_stats_socket
from worker.cli_write import apply_write
from worker.close_spread import SpreadCloser
from worker.counters import private_table
from worker.gc_tuning import settle_gc
from worker.logs import with_admin_log
from worker.pausing import pause_listeners, resume_listeners
from worker.rate_limit import UNLIMITED, attach_rate_limits
from worker.runtime import ListenerRuntime, WorkerState, build_state
from worker.services import bind_services
from worker.session import serve_session, set_internal_error_report
from worker.sessions_registry import watch_server_states
from worker.shared_state import SharedState, StateSync
from worker.startup import StartupError

__all__ = ["ACCEPT_BATCH", "StartupError", "WorkerState", "serve"]

ACCEPT_BATCH = 64  # connections accepted per wake-up before letting other tasks run
# accept() errors about the one connection being accepted (Linux passes pending network errors
# of the new socket on, and a firewall may refuse it): skip it and accept the next.
_ONE_CONNECTION_ERRORS = frozenset(
    (errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT,
     errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH)
)  # fmt: skip
RESOURCE_PAUSE = 0.1  # seconds an accept loop waits after any other accept() error
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SIGNALS = (*_STOP_SIGNALS, signal.SIGUSR1, signal.SIGTTOU, signal.SIGTTIN)


async def serve(
    start: WorkerStart,
    sockets: list[socket.socket],
    *,
    reporter: Reporter | None = None,
    isolation: bool = True,
    channel: Channel | None = None,
    task_status: trio.TaskStatus[WorkerState] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Serve until stopped by a signal; `task_status` gets the state once accepting.

    `isolation=False` skips the chroot/setuid/no-new-privs step (and the collector's settings,
    worker/gc_tuning.py, which are for a process of its own): for tests that run serve()
    inside their own process, which must not lose its privileges for the tests after it.
    `channel` is the ipc channel to the master (-W): READY goes there once accepting, and
    the master's stop orders come from it.
    """
    reporter = reporter or Reporter()
    started = time.time()
    # Signals are taken over first: one arriving during the start-up checks waits in the
    # receiver and is handled as soon as serving starts.
    with trio.open_signal_receiver(*_SIGNALS) as signals:
        # The command blocked these across its exec into us; now they have a receiver.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)
        try:
            table = _map_table(start)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        try:
            state = build_state(start, sockets, reporter, table)
        except BaseException:
            table.close()
            for sock in sockets:
                sock.close()
            raise
        spread = state.config.global_.setting("close-spread-time")
        if spread is not None:
            state.closer = SpreadCloser(spread)
        sync = StateSync(table, state.backends)
        state.shared = SharedState(table, start.slot, sync, channel, state.config, reporter)
        sync.poll()  # states carried over from the previous generation are in force at once
        state.rates = attach_rate_limits(state, table, start.slot)  # accept-rate limits
        bind_services(state, lambda: info_values(state, started))  # use-service answers
        try:
            if isolation:
                _isolate(state)
                settle_gc()  # a process of its own: freeze what is loaded (worker/gc_tuning.py)
        except BaseException:
            state.close()
            raise
        reporter.preamble = False  # a running worker's warnings carry no start-up preamble
        # From here on, admin lines (server states, "Proxy X stopped") go to syslog too.
        state.reporter = state.shared.reporter = with_admin_log(reporter, state)
        set_internal_error_report(state.reporter.alert)  # a session's bug: reported, contained
        try:
            async with trio.open_nursery() as root:
                root.start_soon(_handle_signals, state, signals, root)
                await root.start(_serve_listeners, state, root.cancel_scope)
                root.start_soon(serve_checks, state)  # health checks (worker/checks.py)
                # on-marked-down/up (worker/sessions_registry.py), once a server has them
                root.start_soon(watch_server_states, sync.poll, sync.closing)
                _serve_stats_sockets(state, start, sockets, root, started)
                if channel is not None:
                    root.start_soon(_serve_master_channel, state, channel, root, started)
                if start.settings.get("daemon"):
                    release_stderr()  # started: a daemon's caller stops waiting on stderr
                task_status.started(state)
            # Here every session has ended (soft stop) or was cancelled (hard stop).
        finally:
            state.close()
            state.counters.detach()
            table.close()
    return 128 + state.stopped_by if state.stopped_by else 0


def _map_table(start: WorkerStart) -> StatsTable:
    """The stats table handed over, checked against this worker's configuration."""
    if start.table_fd < 0:
        return private_table(start.config)
    os.set_inheritable(start.table_fd, False)
    try:
        table = open_table(start.table_fd)
    except (TableError, OSError) as exc:
        raise StartupError([f"cannot use the stats table: {exc}"]) from None
    from haproxy_py.stats.layout import layout_for

    expected = layout_for(start.config, table.layout.workers)
    if expected.digest != table.layout.digest or not 0 <= start.slot < table.layout.workers:
        table.close()
        raise StartupError(["the stats table was made for another configuration"])
    return table


def _serve_stats_sockets(
    state: WorkerState,
    start: WorkerStart,
    sockets: list[socket.socket],
    root: trio.Nursery,
    started: float,
) -> None:
    """The `stats socket` lines' runtime API (the listeners no frontend serves)."""
    for spec, sock in zip(start.listeners, sockets, strict=True):
        if not spec.proxy and sock in state.unserved:
            root.start_soon(serve_stats_socket, state, sock, spec.options, started)


def _isolate(state: WorkerState) -> None:
    """chroot, drop groups, gid, uid, no-new-privs: after everything is loaded and resolved,
    before the first accept (haproxy_py/process/privileges.py)."""
    try:
        isolate(isolation_from_global(state.config.global_))
    except PrivilegeError as exc:
        raise StartupError([str(exc)]) from None


async def _serve_listeners(
    state: WorkerState,
    everything: trio.CancelScope,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """All listeners and their sessions. This ends only after a soft stop, once the last
    session has ended; then nothing is left to serve and the signal handler is ended too."""
    async with trio.open_nursery() as nursery:
        for listener in state.listeners:
            await nursery.start(_serve_listener, listener)
        nursery.start_soon(_wait_for_stop, state)
        task_status.started()
    everything.cancel()


async def _wait_for_stop(state: WorkerState) -> None:
    # Keeps the listener nursery open until a soft stop, even with nothing to accept on.
    await state.stop_requested.wait()


async def _serve_listener(
    listener: ListenerRuntime, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    async with trio.open_nursery() as sessions:
        with listener.accepting:
            task_status.started()
            while True:
                with listener.pausing:
                    await _accept_loop(listener, sessions)
                if listener.resumed is not None:  # paused by SIGTTOU until SIGTTIN
                    await listener.resumed.wait()
        # Soft stop: no more accepting; the socket closes now so the kernel stops queueing new
        # connections, while the sessions already accepted run on in this nursery.
        listener.sock.close()


async def _accept_loop(listener: ListenerRuntime, sessions: trio.Nursery) -> None:
    sock = listener.sock
    if sock.family != socket.AF_UNIX:
        # Accepted sockets inherit TCP_NODELAY from their listener on Linux: set once here
        # rather than once per connection (a system call less per accept).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rate = listener.rate or UNLIMITED  # worker/rate_limit.py: one attribute read when unset
    batch = 0
    while True:
        blocked = listener.blocked_by()
        if blocked is not None:
            batch = 0
            await blocked.wait_for_room()
            continue
        if rate.active and not rate.allows():  # maxconnrate, maxsessrate, rate-limit sessions
            batch = 0
            await rate.wait()
            continue
        try:
            client, peer = sock.accept()
        except BlockingIOError:
            batch = 0
            await wait_readable(sock)
            continue
        except OSError as exc:
            # A connection that died in the backlog concerns that connection only; anything
            # else (no descriptors left, a listener shut by someone else) pauses this loop for
            # a moment rather than spinning on the same error.
            if exc.errno not in _ONE_CONNECTION_ERRORS:
                batch = 0
                await trio.sleep(RESOURCE_PAUSE)
                continue
        else:
            if rate.active:
                rate.took()
            _start_session(listener, sessions, client, peer)
        batch += 1
        if batch >= ACCEPT_BATCH:
            batch = 0
            await checkpoint()


def _start_session(
    listener: ListenerRuntime, sessions: trio.Nursery, client: socket.socket, peer: object
) -> None:
    listener.admit()
    try:
        client.setblocking(False)  # (TCP_NODELAY comes from the listener: _accept_loop)
        sessions.start_soon(serve_session, listener, client, peer)
    except BaseException:
        client.close()
        listener.release()
        raise


async def _handle_signals(
    state: WorkerState, signals: AsyncIterator[int], root: trio.Nursery
) -> None:
    """SIGINT/SIGTERM: stop now. SIGUSR1: soft stop (once; repeated signals are harmless).
    SIGTTOU/SIGTTIN: pause/resume the listeners (nothing to do once stopping)."""
    async for signum in signals:
        if signum in _STOP_SIGNALS:
            state.stopped_by = signum
            root.cancel_scope.cancel()
            return
        if state.stopping:
            continue
        if signum == signal.SIGUSR1:
            _begin_soft_stop(state, root)
        elif signum == signal.SIGTTOU:
            pause_listeners(state)
        elif signum == signal.SIGTTIN:
            resume_listeners(state)


async def _serve_master_channel(
    state: WorkerState, channel: Channel, root: trio.Nursery, started: float
) -> None:
    """Under a master: say READY, then obey its orders. A master that vanished (EOF) leaves
    no one to supervise us: finish the connections in flight and exit, as a soft stop."""
    await channel.send(Ready(pid=os.getpid()))
    while True:
        received = await channel.receive()
        if received is None:
            if not state.stopping:
                state.reporter.warning("The master process is gone: stopping softly.")
                _begin_soft_stop(state, root)
            return
        message, fds = received
        if isinstance(message, CliSession):
            root.start_soon(serve_cli_session, state, socket.socket(fileno=fds[0]), started)
            continue
        if isinstance(message, SessionsPeers) and state.shared is not None:
            state.shared.peer_asks.answered(message, fds)  # worker/session_peers.py
            continue
        for fd in fds:  # no other order carries descriptors
            os.close(fd)
        if isinstance(message, AdminDone):
            if state.shared is not None:
                state.shared.done(message)
            continue
        if isinstance(message, RuntimeApply):  # a map, limit or frontend change (cli_write.py)
            apply_write(state, message.command)
            continue
        if isinstance(message, HardStop):
            root.cancel_scope.cancel()
            return
        if isinstance(message, SoftStop):
            _begin_soft_stop(state, root)


def _begin_soft_stop(state: WorkerState, root: trio.Nursery) -> None:
    if not state.stopping:
        state.stopping = True
        root.start_soon(_soft_stop, state, root.cancel_scope)
        hard_stop_after = state.config.global_.setting("hard-stop-after")
        if hard_stop_after:
            root.start_soon(_hard_stop_later, state, root.cancel_scope, hard_stop_after / 1000)


async def _hard_stop_later(state: WorkerState, everything: trio.CancelScope, delay: float) -> None:
    """`hard-stop-after`: a soft stop that lasts too long ends with every connection closed.
    (Cancelled with everything else when the last session ends first.)"""
    await trio.sleep(delay)
    state.reporter.warning("soft-stop running for too long, performing a hard-stop.")
    for proxy in state.config.proxies:
        frontend = state.frontends.get(proxy.name)
        if frontend is not None and frontend.counters.cur_sessions:
            remaining = frontend.counters.cur_sessions
            state.reporter.warning(
                f"Proxy {proxy.name} hard-stopped ({remaining} remaining conns will be closed)."
            )
    everything.cancel()


async def _soft_stop(state: WorkerState, everything: trio.CancelScope) -> None:
    """Stop accepting (after `grace`); the sessions finish (`hard-stop-after` bounds them)."""
    grace = state.config.global_.setting("grace")
    if grace:
        await trio.sleep(grace / 1000)
    for listener in state.listeners:
        listener.accepting.cancel()
    _report_stopped(state)
    state.stop_requested.set()
    if state.closer is not None:  # close-spread-time: keep-alive connections let go over time
        await state.closer.release()


def _report_stopped(state: WorkerState) -> None:
    """HAProxy's soft-stop lines: frontends (and listens) first, then the other backends."""
    proxies = [p for p in state.config.proxies if not p.disabled]
    ordered = [p for p in proxies if p.is_frontend] + [p for p in proxies if not p.is_frontend]
    for proxy in ordered:
        front, back = state.counters.cumulated(proxy.name)
        state.reporter.warning(
            f"Proxy {proxy.name} stopped (cumulated conns: FE: {front}, BE: {back})."
        )
