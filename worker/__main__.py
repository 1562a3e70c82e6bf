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
import sys  # noqa: E402

from haproxy_py.process.handoff import HANDOFF_ENV, HandoffError, read_handoff  # noqa: E402
from haproxy_py.report import Reporter  # noqa: E402


def main() -> int:
    reporter = Reporter()
    try:
        start, sockets = read_handoff(os.environ)
    except HandoffError as exc:
        reporter.alert(str(exc))
        return 1
    os.environ.pop(HANDOFF_ENV, None)
    # Start-up problems speak as the command did (same executable, preamble once per run).
    reporter.executable = start.settings.get("executable", reporter.executable)
    reporter.preamble = not start.settings.get("preamble_printed", False)

    import trio

    from worker.serve import StartupError, serve

    try:
        return trio.run(functools.partial(serve, start, sockets, reporter=reporter))
    except StartupError as exc:
        for message in exc.messages:
            reporter.alert(message)
        return 1
    except Exception as exc:  # a bug: one line, no traceback
        reporter.alert(f"internal error: {type(exc).__name__}: {exc} (please report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
