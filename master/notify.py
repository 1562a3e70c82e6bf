"""systemd's notification socket (`-Ws` with NOTIFY_SOCKET set), as the master's one voice.

Only the master notifies (workers inherit NOTIFY_SOCKET but never use it). The messages are
plain `KEY=value` lines in one datagram: READY=1 and MAINPID once the first workers serve,
RELOADING=1 when a reload starts, READY=1 when the new generation serves, STATUS= with the
reason when a reload fails (HAProxy does not say), STOPPING=1 when the master stops. Without
-Ws, or without NOTIFY_SOCKET, notify() does nothing; a systemd that went away is not an
error worth stopping for.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    def __init__(self, enabled: bool, environ: dict[str, str] | None = None) -> None:
        self._sock: socket.socket | None = None
        address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
        if not enabled or not address:
            return
        if address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            return
        self._sock = sock

    def notify(self, *lines: str) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.send("\n".join(lines).encode())

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
