"""The `haproxy-py` console script and `python -m master`.

Signal dispositions are reset before anything heavy is imported: a background job of a
non-interactive shell starts with SIGINT/SIGQUIT ignored, and a Ctrl-C during the first
tenth of a second (imports) must stop the program like any other, without a traceback.
"""

from __future__ import annotations

import signal


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    from master.cmdline import main as run

    run()
