"""Sample types, the casts between them, and the compile-time error of the rules engine.

A sample's type is known statically where HAProxy knows it (a fetch's output, a converter's
output), and checked when a rule is compiled. At run time a sample is a plain Python value
whose class tells its type, so no wrapper is allocated per sample:

    bool -> bool    int -> sint    bytes -> str/bin/meth    IPv4Address/IPv6Address -> ipv4/ipv6

Strings are bytes because HTTP is bytes and HAProxy's case folding is ASCII-only
(`bytes.lower()` is too). `None` means "no sample" (the fetch or converter failed).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

# Static types, by HAProxy's names. "addr" is "ipv4 or ipv6"; "any" is unknown until run
# time (var()).
BOOL, SINT, ADDR, IPV4, IPV6, STR, BIN, METH, ANY = (
    "bool", "sint", "addr", "ipv4", "ipv6", "str", "bin", "meth", "any"
)  # fmt: skip

Sample = bool | int | bytes | IPv4Address | IPv6Address


class SampleError(ValueError):
    """A sample expression, ACL or condition that cannot be compiled; the text says why."""


# Which static type may become which (HAProxy's cast matrix, what the engine needs of it).
_CASTS: dict[str, frozenset[str]] = {
    BOOL: frozenset({BOOL, SINT, STR, BIN}),
    SINT: frozenset({BOOL, SINT, ADDR, IPV4, IPV6, STR, BIN}),
    ADDR: frozenset({ADDR, IPV4, IPV6, STR, BIN, SINT}),
    IPV4: frozenset({ADDR, IPV4, IPV6, STR, BIN, SINT}),
    IPV6: frozenset({ADDR, IPV4, IPV6, STR, BIN}),
    STR: frozenset({BOOL, SINT, ADDR, IPV4, IPV6, STR, BIN, METH}),
    BIN: frozenset({STR, BIN}),
    METH: frozenset({STR, BIN, METH}),
}


def can_cast(source: str, target: str) -> bool:
    if source == ANY or target == ANY:
        return True
    return target in _CASTS[source]


def sample_type(value: Any) -> str:
    """The type of a run-time sample (bytes are reported as str)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return SINT
    if isinstance(value, bytes):
        return STR
    if isinstance(value, IPv4Address):
        return IPV4
    return IPV6


def parse_int(text: bytes) -> int | None:
    """HAProxy's string to integer cast: optional sign, digits, nothing else."""
    body = text[1:] if text[:1] in (b"-", b"+") else text
    if not body or not body.isdigit():
        return None
    return int(text)


def to_int(value: Any) -> int | None:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, bytes):
        return parse_int(value)
    if isinstance(value, IPv4Address):
        return int(value)
    return None


def to_bool(value: Any) -> bool | None:
    number = to_int(value)
    return None if number is None else number != 0


def to_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value).encode()
    return None


def to_addr(value: Any) -> IPv4Address | IPv6Address | None:
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    if isinstance(value, bytes):
        try:
            return ip_address(value.decode("ascii"))
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return IPv4Address(value)
    return None


def to_ipv4(value: Any) -> IPv4Address | None:
    address = to_addr(value)
    if isinstance(address, IPv6Address):
        return address.ipv4_mapped
    return address


def to_ipv6(value: Any) -> IPv6Address | None:
    address = to_addr(value)
    if isinstance(address, IPv4Address):
        return IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    return address


# Run-time casts by target type: value -> value or None.
CAST_TO: dict[str, Callable[[Any], Any]] = {
    BOOL: to_bool,
    SINT: to_int,
    ADDR: to_addr,
    IPV4: to_ipv4,
    IPV6: to_ipv6,
    STR: to_bytes,
    BIN: to_bytes,
    METH: to_bytes,
    ANY: lambda value: value,
}


def text_bytes(text: str) -> bytes:
    """Configuration text as bytes (the loader keeps undecodable bytes as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")
