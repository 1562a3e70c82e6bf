"""The I/O a check's sans-IO dialogue asks for (`Connect`, `Send`, `Receive`) and the failure
it may be sent back (`IoError`). Shared by probe.py (plain, tcp-check, httpchk) and
protocols.py (redis, smtp, pgsql, ldap, mysql); the worker answers them with real sockets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Connect:
    port: int | None = None  # None: the check's port (server `port`, else the server's)
    addr: str | None = None
    # A connect rule's `send-proxy` (True/False); None: the implicit connect, where the
    # server's check-send-proxy (or send-proxy) decides. As HAProxy 2.6 does.
    send_proxy: bool | None = None


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Receive:
    pass


@dataclass(frozen=True, slots=True)
class IoError:
    """A failed connect, send or receive: `timeout`, or the system's words ("Connection
    refused")."""

    timeout: bool = False
    text: str = ""
