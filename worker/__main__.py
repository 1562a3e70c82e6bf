"""`python -m worker`: a worker process, started by haproxy-py with its hand-off.

It adopts the listening sockets and configuration it was handed (haproxy_py.process.handoff),
then runs the trio data plane until it is told to stop. Like every haproxy-py process it
resets SIGINT/SIGQUIT to their defaults first (a background job of a non-interactive shell
inherits them ignored) and never lets a traceback reach the user.
"""

from __future__ import annotations

import signal

# First, before the imports below: a signal during start-up must act like on any program.
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a peer that vanished is an EPIPE, not death

import functools  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

from haproxy_py.process.channel import Channel  # noqa: E402
from haproxy_py.process.handoff import (  # noqa: E402
    CHANNEL_ENV,
    HANDOFF_ENV,
    HandoffError,
    WorkerStart,
    read_handoff,
    receive_start,
)
from haproxy_py.report import Reporter  # noqa: E402


def _adopt_start() -> tuple[WorkerStart, list[socket.socket], Channel | None]:
    """From the master's channel (-W), else from the memory file of a one-process start."""
    text = os.environ.pop(CHANNEL_ENV, "")
    if not text:
        start, sockets = read_handoff(os.environ)
        os.environ.pop(HANDOFF_ENV, None)
        return start, sockets, None
    if not text.isdigit():
        raise HandoffError(f"{CHANNEL_ENV} must name a descriptor, not {text!r}")
    try:
        channel = Channel(socket.socket(fileno=int(text)), "worker")
    except OSError as exc:
        raise HandoffError(f"the master's channel (descriptor {text}) is unusable: {exc}") from None
    channel.sock.set_inheritable(False)
    try:
        start, sockets = receive_start(channel)
    except BaseException:
        channel.close()
        raise
    return start, sockets, channel


def main() -> int:
    reporter = Reporter()
    try:
        start, sockets, channel = _adopt_start()
    except (HandoffError, OSError) as exc:
        reporter.alert(str(exc))
        return 1
    # Start-up problems speak as the command did (same executable, preamble once per run).
    reporter.executable = start.settings.get("executable", reporter.executable)
    reporter.preamble = not start.settings.get("preamble_printed", False)

    import trio

    from worker.serve import StartupError, serve

    try:
        status = trio.run(
            functools.partial(serve, start, sockets, reporter=reporter, channel=channel)
        )
    except StartupError as exc:
        for message in exc.messages:
            reporter.alert(message)
        return 1
    except Exception as exc:  # a bug: one line, no traceback
        reporter.alert(f"internal error: {type(exc).__name__}: {exc} (please report it)")
        return 1
    if status > 128:
        _die_by(status - 128)
    return status


def _die_by(signum: int) -> None:
    """Everything is closed: end the way HAProxy's worker does when SIGTERM/SIGINT stop it,
    killed by that signal, so that a master, a shell or systemd reads the same status."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)


if __name__ == "__main__":
    sys.exit(main())
