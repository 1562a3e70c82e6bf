"""`-D` and `daemon`: detach from the terminal, and the pid file.

daemonize() runs before trio starts (no process that entered trio.run() ever forks): fork,
the parent exits 0 at once (as HAProxy's does; start-up problems after this point reach
stderr only), setsid() so the daemon leads a session of its own with init as its parent,
fork again so it can never acquire a controlling terminal, chdir("/") is left to the chroot
(the configuration's relative paths are already read), stdin and stdout go to /dev/null. Stderr
stays connected until the daemon has started (HAProxy's first messages reach the caller), then
release_stderr() sends it to /dev/null too, in the master and in every worker: a caller that
reads the command's stderr through a pipe sees it close once the daemon serves.
"""

from __future__ import annotations

import os
import sys


def daemonize() -> None:
    """Become a daemon: returns in the grandchild only."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    _to_devnull(0, os.O_RDONLY)
    _to_devnull(1, os.O_WRONLY)


def release_stderr() -> None:
    """The daemon has started: nobody waits on its stderr any more."""
    sys.stderr.flush()
    _to_devnull(2, os.O_WRONLY)


def write_pidfile(path: str, pid: int) -> str | None:
    """Write `pid` and a newline; the error text if that failed (the caller reports it)."""
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(f"{pid}\n")
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _to_devnull(fd: int, mode: int) -> None:
    null = os.open(os.devnull, mode)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
