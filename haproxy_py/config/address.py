"""Socket addresses as HAProxy writes them, for bind, server, stats socket, log and peer.

Forms: `IP:PORT`, `[IPv6]:PORT`, `IPv6:PORT` (the last colon starts the port), `*:PORT` and
`:PORT` (any address), `HOST:PORT` (resolved later, once, at start), port ranges `P1-P2`
where allowed, server port offsets `+N`/`-N`, and the prefixed forms `ipv4@`, `ipv6@`,
`udp@`, `udp4@`, `udp6@`, `unix@PATH`, `abns@NAME`, `fd@N`, `sockpair@N`; an absolute path
is a UNIX socket. Parsing is pure: nothing is resolved or bound here.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from enum import Enum

from haproxy_py.config.diagnostics import ConfigError


class Family(str, Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    HOSTNAME = "hostname"  # resolved at start-up
    UNIX = "unix"
    ABNS = "abns"
    FD = "fd"
    SOCKPAIR = "sockpair"


@dataclass(frozen=True, slots=True)
class Address:
    family: Family
    host: str = ""  # IP text, host name, UNIX path or abstract name; "" = any address
    port: int = 0  # 0 = none given
    port_last: int = 0  # last port of a range; equal to `port` otherwise
    port_offset: bool = False  # server "+N"/"-N": relative to the client's destination port
    fd: int = -1
    datagram: bool = False  # udp@ forms (log targets)
    text: str = ""  # as written, for messages

    @property
    def is_inet(self) -> bool:
        return self.family in (Family.IPV4, Family.IPV6, Family.HOSTNAME)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class AddressRules:
    """What a keyword accepts: ports required, ranges, offsets, host names, UNIX sockets."""

    port: str = "required"  # "required" | "optional" | "none"
    ranges: bool = False
    offsets: bool = False
    hostnames: bool = True
    unix: bool = True
    datagram: bool = False


BIND_RULES = AddressRules(port="required", ranges=True, hostnames=True)
SERVER_RULES = AddressRules(port="optional", offsets=True)
PEER_RULES = AddressRules(port="required", unix=False)
LOG_RULES = AddressRules(port="optional", datagram=True)
SOCKET_RULES = AddressRules(port="required")

_PREFIXES = {
    "ipv4@": (Family.IPV4, False),
    "ipv6@": (Family.IPV6, False),
    "tcp@": (None, False),
    "tcp4@": (Family.IPV4, False),
    "tcp6@": (Family.IPV6, False),
    "udp@": (None, True),
    "udp4@": (Family.IPV4, True),
    "udp6@": (Family.IPV6, True),
}


# The most common form, checked first in one step: large generated configurations are mostly
# `server NAME IPv4:PORT` lines. Anything it does not settle takes the general path.
_IPV4_PORT = re.compile(r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}):([0-9]{1,5})")


def parse_address(text: str, keyword: str, rules: AddressRules) -> Address:
    """Parse one address; raise ConfigError naming the keyword and what is wrong."""
    simple = _IPV4_PORT.fullmatch(text)
    if simple is not None and rules.port != "none":
        host, port = simple[1], int(simple[2])
        if (1 <= port <= 65535 or (port == 0 and rules.port != "required")) and _is_ipv4(host):
            return Address(Family.IPV4, host, port, port, False, datagram=False, text=text)
    if not text:
        raise ConfigError(f"'{keyword}' : missing address")
    prefix, sep, rest = text.partition("@")
    if sep:
        key = prefix.lower() + "@"
        if key == "unix@":
            return _unix(rest, text, keyword, rules)
        if key == "abns@":
            if not rules.unix or not rest:
                raise ConfigError(f"'{keyword}' : invalid abstract socket address '{text}'")
            return Address(Family.ABNS, host=rest, text=text)
        if key in ("fd@", "sockpair@"):
            if not rest.isdigit():
                raise ConfigError(f"'{keyword}' : '{text}' : expected a file descriptor number")
            family = Family.FD if key == "fd@" else Family.SOCKPAIR
            return Address(family, fd=int(rest), text=text)
        if key in _PREFIXES:
            family, datagram = _PREFIXES[key]
            if datagram and not rules.datagram:
                raise ConfigError(f"'{keyword}' : datagram address '{text}' is not allowed here")
            return _inet(rest, text, keyword, rules, family, datagram)
        raise ConfigError(f"'{keyword}' : unknown address family '{prefix}' in '{text}'")
    if text.startswith("/"):
        return _unix(text, text, keyword, rules)
    return _inet(text, text, keyword, rules, None, False)


def _unix(path: str, text: str, keyword: str, rules: AddressRules) -> Address:
    if not rules.unix:
        raise ConfigError(f"'{keyword}' : UNIX socket address '{text}' is not allowed here")
    if not path:
        raise ConfigError(f"'{keyword}' : missing UNIX socket path in '{text}'")
    if len(path.encode()) > 107:
        raise ConfigError(f"'{keyword}' : UNIX socket path '{path}' is too long (107 bytes max)")
    return Address(Family.UNIX, host=path, text=text)


def _split_host_port(body: str, text: str, keyword: str) -> tuple[str, str | None]:
    if body.startswith("["):
        close = body.find("]")
        if close < 0:
            raise ConfigError(f"'{keyword}' : missing ']' in IPv6 address '{text}'")
        host, after = body[1:close], body[close + 1 :]
        if after and not after.startswith(":"):
            raise ConfigError(f"'{keyword}' : unexpected '{after}' after ']' in '{text}'")
        return host, (after[1:] if after else None)
    if ":" not in body:
        return body, None
    host, _, port = body.rpartition(":")
    return host, port


def _inet(
    body: str,
    text: str,
    keyword: str,
    rules: AddressRules,
    forced: Family | None,
    datagram: bool,
) -> Address:
    host, port_text = _split_host_port(body, text, keyword)
    if host == "*":
        host = ""
    family = _family_of(host, text, keyword, rules, forced)
    port, port_last, offset = _parse_ports(port_text, text, keyword, rules)
    return Address(family, host, port, port_last, offset, datagram=datagram, text=text)


def _family_of(
    host: str, text: str, keyword: str, rules: AddressRules, forced: Family | None
) -> Family:
    if not host:
        return forced or Family.IPV4
    for family, af in ((Family.IPV4, socket.AF_INET), (Family.IPV6, socket.AF_INET6)):
        try:
            socket.inet_pton(af, host)
        except OSError:
            continue
        if forced is not None and forced != family:
            raise ConfigError(f"'{keyword}' : '{host}' is not an {forced.value} address")
        return family
    if not rules.hostnames or not _looks_like_hostname(host):
        raise ConfigError(f"'{keyword}' : invalid address '{host}' in '{text}'")
    return Family.HOSTNAME


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return False
    return True


def _looks_like_hostname(host: str) -> bool:
    if len(host) > 253 or host.endswith("-") or host.startswith("-"):
        return False
    return all(c.isascii() and (c.isalnum() or c in "-._") for c in host)


def _port_number(text: str, whole: str, keyword: str, low: int) -> int:
    if not text.isascii() or not text.isdigit():
        raise ConfigError(f"'{keyword}' : invalid port '{text}' in '{whole}'")
    value = int(text)
    if not low <= value <= 65535:
        raise ConfigError(f"'{keyword}' : invalid port '{text}'")
    return value


def _parse_ports(
    port_text: str | None, text: str, keyword: str, rules: AddressRules
) -> tuple[int, int, bool]:
    if port_text is None or port_text == "":
        if rules.port == "required":
            raise ConfigError(f"'{keyword}' : missing port number in '{text}'")
        return 0, 0, False
    if rules.port == "none":
        raise ConfigError(f"'{keyword}' : no port is expected in '{text}'")
    if port_text.isdigit() and port_text.isascii():  # the usual case, checked the short way
        value = int(port_text)
        if 1 <= value <= 65535 or (value == 0 and rules.port != "required"):
            return value, value, False
    if port_text[0] in "+-":
        if not rules.offsets:
            raise ConfigError(f"'{keyword}' : port offsets are not allowed in '{text}'")
        value = _port_number(port_text[1:], text, keyword, 0)
        return (value if port_text[0] == "+" else -value), 0, True
    first, dash, last = port_text.partition("-")
    if dash:
        if not rules.ranges:
            raise ConfigError(f"'{keyword}' : port ranges are not allowed in '{text}'")
        low = _port_number(first, text, keyword, 1)
        high = _port_number(last, text, keyword, 1)
        if high < low:
            raise ConfigError(f"'{keyword}' : invalid port range '{port_text}' in '{text}'")
        return low, high, False
    value = _port_number(first, text, keyword, 1 if rules.port == "required" else 0)
    return value, value, False
