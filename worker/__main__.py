"""`python -m worker`: a worker process, started by haproxy-py with its hand-off.

It adopts the listening sockets and configuration it was handed (haproxy_py.process.handoff),
then runs the trio data plane until it is told to stop. Like every haproxy-py process it
resets SIGINT/SIGQUIT to their defaults first (a background job of a non-interactive shell
inherits them ignored) and never lets a traceback reach the user.
"""

from __future__ import annotations

import os
import signal
import sys

from haproxy_py.process.handoff import HANDOFF_ENV, HandoffError, read_handoff
from haproxy_py.report import Reporter


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a peer that vanished is an EPIPE, not death
    reporter = Reporter()
    try:
        start, sockets = read_handoff(os.environ)
    except HandoffError as exc:
        reporter.alert(str(exc))
        return 1
    os.environ.pop(HANDOFF_ENV, None)

    import trio

    from worker.serve import StartupError, serve

    try:
        return trio.run(serve, start, sockets)
    except StartupError as exc:
        for message in exc.messages:
            reporter.alert(message)
        return 1
    except Exception as exc:  # a bug: one line, no traceback
        reporter.alert(f"internal error: {type(exc).__name__}: {exc} (please report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
