"""Hash functions of `hash-type` and the parsed `hash-type` setting.

The functions are the ones HAProxy names: sdbm, djb2, wt6, crc32 (the Ethernet/zlib CRC), and
"none" (the key is already a number); each maps bytes to an unsigned 32-bit integer.
`avalanche` is Bob Jenkins' published 32-bit integer mix, applied after the function when the
`avalanche` modifier is given (and by default for `consistent` without an explicit function).
Every function is a plain loop over the key: pure, no state. The results equal those of
HAProxy 2.6's converters of the same names (the tests hold values taken from it).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

MASK32 = 0xFFFFFFFF

HashFunction = Callable[[bytes], int]


def sdbm(data: bytes) -> int:
    """h = c + h * 65599, the multiplication written as shifts (h<<6 + h<<16 - h)."""
    h = 0
    for c in data:
        h = (c + (h << 6) + (h << 16) - h) & MASK32
    return h


def djb2(data: bytes) -> int:
    """h = h * 33 + c, starting from 5381."""
    h = 5381
    for c in data:
        h = (h * 33 + c) & MASK32
    return h


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & MASK32


def wt6(data: bytes) -> int:
    """HAProxy's wt6: two 32-bit lanes mixed by complement, rotation and data-driven steps."""
    h0, h1 = 0xA53C965A, 0x5CA6953A
    step0, step1 = 6, 18
    for c in data:
        h0 = ~(h0 ^ c) & MASK32
        h1 = ~(h1 + c) & MASK32
        h0, h1 = _rotl(h1, step0), _rotl(h0, step1)
        mixed = ((h0 >> 16) ^ h1) & 0xFFFF
        step0, step1 = mixed & 0x1F, mixed >> 11
    return h0 ^ h1


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & MASK32


def as_number(data: bytes) -> int:
    """The "none" function: a decimal key is its value, other keys are read big-endian and
    folded to 32 bits (e.g. an IPv4 address is its own hash)."""
    if data.isdigit():
        return int(data) & MASK32
    value = 0
    for start in range(0, len(data), 4):
        value ^= int.from_bytes(data[start : start + 4], "big")
    return value


def avalanche(h: int) -> int:
    """Bob Jenkins' 6-shift integer hash (every input bit affects every output bit), then,
    as HAProxy does, a multiplication by the prime 3221225473 to spread values further."""
    h = ((h + 0x7ED55D16) + (h << 12)) & MASK32
    h = ((h ^ 0xC761C23C) ^ (h >> 19)) & MASK32
    h = ((h + 0x165667B1) + (h << 5)) & MASK32
    h = ((h + 0xD3A2646C) ^ (h << 9)) & MASK32
    h = ((h + 0xFD7046C5) + (h << 3)) & MASK32
    h = (h ^ 0xB55A4F09) ^ (h >> 16)
    return (h * 3221225473) & MASK32


HASH_FUNCTIONS = MappingProxyType(
    {"sdbm": sdbm, "djb2": djb2, "wt6": wt6, "crc32": crc32, "none": as_number}
)
HASH_METHODS = ("map-based", "consistent")


@dataclass(frozen=True)
class HashType:
    """`hash-type <method> [<function>] [avalanche]`, defaults applied."""

    method: str = "map-based"
    function: str = "sdbm"
    avalanche: bool = False

    @classmethod
    def from_config(cls, words: tuple[str, ...] | list[str]) -> HashType:
        """From the config model's `Proxy.hash_type` (an empty tuple means the defaults)."""
        if not words:
            return cls()
        method, rest = words[0], tuple(words[1:])
        if method not in HASH_METHODS:
            raise ValueError(f"unknown hash method '{method}'")
        if not rest:
            # Without an explicit function, consistent hashing uses sdbm with avalanche.
            return cls(method, "sdbm", method == "consistent")
        if rest[0] not in HASH_FUNCTIONS:
            raise ValueError(f"unknown hash function '{rest[0]}'")
        if rest[1:] not in ((), ("avalanche",)):
            raise ValueError(f"unknown hash modifier '{' '.join(rest[1:])}'")
        return cls(method, rest[0], rest[1:] == ("avalanche",))

    @property
    def consistent(self) -> bool:
        return self.method == "consistent"

    def hasher(self) -> HashFunction:
        """bytes -> 32-bit hash, with the avalanche step when configured."""
        function = HASH_FUNCTIONS[self.function]
        if not self.avalanche:
            return function
        return lambda data: avalanche(function(data))
