"""The system's name resolution for server addresses at start-up (init-addr `libc`).

The one place that asks the C library for a server's address; haproxy_py/config/serving.py
takes it as its `Resolver`, so that the master (`-c` and start) and the workers agree.
"""

from __future__ import annotations

import socket


def system_resolver(host: str) -> tuple[int, str, int] | None:
    """(family, IP text, IPv6 scope id) of the first IPv4 or IPv6 answer; None if none."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for af, _, _, _, sockaddr in infos:
        if af == socket.AF_INET:
            return (af, sockaddr[0], 0)
        if af == socket.AF_INET6:
            return (af, sockaddr[0], sockaddr[3])
    return None
