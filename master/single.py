"""Serving without a master (`haproxy-py -d -f CFG`, `haproxy-py -db -f CFG`): one process.

As HAProxy does without -W, the process that read the configuration binds every listener
itself (so privileged ports work and a bind failure is reported before anything starts),
then becomes the worker: it writes the start message into a memory file and replaces
itself, same pid, with `python -m worker`, which inherits exactly that file and the
listening sockets. master never imports worker; this exec is how the two meet. The stats
table (haproxy_py/process/shm.py) is created here too, with one worker slot, and inherited
across the exec like the sockets: the worker finds it as WorkerStart.table_fd.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from haproxy_py.checks.track import edges as track_edges
from haproxy_py.checks.track_admin import inherit_all
from haproxy_py.config.model import Config
from haproxy_py.process.daemon import daemonize, write_pidfile
from haproxy_py.process.handoff import HANDED_OVER_SIGNALS, HANDOFF_ENV, write_handoff
from haproxy_py.process.listeners import BindError, Listener, bind_all, listener_specs
from haproxy_py.process.shm import create_table
from haproxy_py.report import Reporter
from haproxy_py.stats.layout import layout_for
from master.legacy import PAUSE, RESUME, TakeOverError, fetch_listeners, signal_old

# HAProxy's per-proxy connection limit when neither the proxy nor -N sets one.
DEFAULT_PROXY_MAXCONN = 2000


def bind_listeners(
    config: Config, settings: Mapping[str, Any], reporter: Reporter
) -> list[Listener] | None:
    """Every listener of `config`, bound; None (reported as HAProxy does) when that fails.

    With `-x` the running process's sockets are used where the addresses match; with
    `-sf`/`-st` a port the old process still holds is asked for with SIGTTOU first (and
    given back with SIGTTIN if binding fails anyway)."""
    backlog = settings.get("maxconn_per_proxy") or DEFAULT_PROXY_MAXCONN
    specs = listener_specs(config, default_backlog=backlog)
    if not specs:
        reporter.alert(
            "[haproxy.main()] No enabled listener found (check for 'bind' directives) ! Exiting."
        )
        return None
    adopted = {}
    if settings.get("take_sockets"):
        try:
            adopted = fetch_listeners(settings["take_sockets"])
        except TakeOverError as exc:
            reporter.alert(str(exc))
            reporter.alert("Failed to get the sockets from the old process!")
            return None
    old = tuple(settings.get("soft_stop_pids", ())) + tuple(settings.get("hard_stop_pids", ()))
    reuseport = not settings.get("noreuseport")
    try:
        try:
            return bind_all(specs, reuseport, adopted)
        except BindError:
            if not old:
                raise
            signal_old(old, PAUSE)  # the old processes stop listening: try once more
            time.sleep(0.05)
            try:
                return bind_all(specs, reuseport, adopted)
            except BindError:
                signal_old(old, RESUME)
                raise
    except BindError as exc:
        for message in exc.messages:
            reporter.alert(message)
        reporter.alert("[haproxy.main()] Some protocols failed to start their listeners! Exiting.")
        return None
    finally:
        for sock in adopted.values():  # sockets of the old process we have no use for
            sock.close()


def stop_old_processes(settings: Mapping[str, Any]) -> None:
    """`-sf PID...` get SIGUSR1 (finish and leave), `-st PID...` SIGTERM, once we serve."""
    signal_old(tuple(settings.get("soft_stop_pids", ())), signal.SIGUSR1)
    signal_old(tuple(settings.get("hard_stop_pids", ())), signal.SIGTERM)


def serve_alone(config: Config, settings: Mapping[str, Any], reporter: Reporter) -> int:
    """Bind, then exec the worker; returns only on failure (with the exit status)."""
    listeners = bind_listeners(config, settings, reporter)
    if listeners is None:
        return 1
    if settings.get("daemon"):
        daemonize()
    pidfile = settings.get("pidfile") or config.global_.pidfile
    if pidfile and (error := write_pidfile(pidfile, os.getpid())):
        reporter.alert(f"[haproxy.main()] Cannot create pidfile {pidfile} ({error})")
    stop_old_processes(settings)
    table = create_table(layout_for(config, 1))
    inherit_all(table, track_edges(config))  # followers of `disabled` servers: in maintenance
    handoff = write_handoff(config, listeners, settings, table.fd)
    environment = dict(config.environment)  # with setenv/unsetenv of the global section
    environment[HANDOFF_ENV] = str(handoff)
    sys.stdout.flush()
    sys.stderr.flush()
    # Stop signals stay blocked across exec and wait, pending, until the worker's handlers are
    # in place (worker.serve unblocks them): one arriving while the new interpreter starts
    # would otherwise interrupt its imports with a traceback.
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDED_OVER_SIGNALS)
    try:
        os.execve(sys.executable, [sys.executable, "-m", "worker"], environment)
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)
        reporter.alert(f"cannot start the worker ({sys.executable} -m worker): {exc.strerror}")
        return 1
    raise AssertionError("unreachable: execve returned without an error")
