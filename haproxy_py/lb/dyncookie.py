"""Dynamic server cookies (`cookie NAME ... dynamic` with `dynamic-cookie-key KEY`).

A server without its own `cookie VALUE` gets one derived from the backend's key and the
server's address: XXH64 (seed 0) of the key's bytes, the IP address in network order (4
bytes for IPv4, 16 for IPv6) and the port as a 4-byte big-endian number, printed as 16
lower-case hex digits. The layout matches HAProxy 2.6 (checked against its Set-Cookie
answers), so several load balancers, HAProxy or haproxy-py, with the same key agree.
"""

from __future__ import annotations

import ipaddress

from haproxy_py.sample.xxh64 import xxh64


def dynamic_cookie(key: str | bytes, address: str, port: int) -> bytes | None:
    """The cookie value of a server at `address`:`port`, None when it is not an IP address."""
    try:
        packed = ipaddress.ip_address(address.strip("[]")).packed
    except ValueError:
        return None  # a UNIX socket or an unresolved name gets no dynamic cookie
    raw_key = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    value = xxh64(raw_key + packed + (port & 0xFFFFFFFF).to_bytes(4, "big"))
    return b"%016x" % value
