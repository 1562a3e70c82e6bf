"""XXH64 in pure Python (dynamic server cookies), with the xxhash module used when present.

Written from the public XXH64 specification: four 64-bit lanes over 32-byte stripes for
inputs of 32 bytes or more, then 8-, 4- and 1-byte tails and the final avalanche. Checked in
tests against the xxhash module and against cookie values recorded from HAProxy 2.6.
"""

from __future__ import annotations

import struct

from haproxy_py.sample.xxh3 import M64, P64_1, P64_2, P64_3, P64_4, P64_5

_u64 = struct.Struct("<Q").unpack_from
_u32 = struct.Struct("<I").unpack_from


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & M64


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * P64_2) & M64
    return (_rotl(acc, 31) * P64_1) & M64


def _merge(h: int, acc: int) -> int:
    h ^= _round(0, acc)
    return (h * P64_1 + P64_4) & M64


def xxh64_python(data: bytes, seed: int = 0) -> int:
    """XXH64 of `data` as an unsigned 64-bit integer, computed here."""
    seed &= M64
    size = len(data)
    offset = 0
    if size >= 32:
        v1 = (seed + P64_1 + P64_2) & M64
        v2 = (seed + P64_2) & M64
        v3 = seed
        v4 = (seed - P64_1) & M64
        last_stripe = size - 32
        while offset <= last_stripe:
            v1 = _round(v1, _u64(data, offset)[0])
            v2 = _round(v2, _u64(data, offset + 8)[0])
            v3 = _round(v3, _u64(data, offset + 16)[0])
            v4 = _round(v4, _u64(data, offset + 24)[0])
            offset += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M64
        for acc in (v1, v2, v3, v4):
            h = _merge(h, acc)
    else:
        h = (seed + P64_5) & M64
    h = (h + size) & M64
    while offset + 8 <= size:
        h ^= _round(0, _u64(data, offset)[0])
        h = (_rotl(h, 27) * P64_1 + P64_4) & M64
        offset += 8
    if offset + 4 <= size:
        h ^= (_u32(data, offset)[0] * P64_1) & M64
        h = (_rotl(h, 23) * P64_2 + P64_3) & M64
        offset += 4
    while offset < size:
        h ^= (data[offset] * P64_5) & M64
        h = (_rotl(h, 11) * P64_1) & M64
        offset += 1
    h ^= h >> 33
    h = (h * P64_2) & M64
    h ^= h >> 29
    h = (h * P64_3) & M64
    return h ^ (h >> 32)


try:  # the C implementation, when installed, is faster; the result is the same
    from xxhash import xxh64_intdigest as _native
except ImportError:  # the pure implementation then serves
    _native = None


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of `data` as an unsigned 64-bit integer."""
    if _native is not None:
        return _native(data, seed & M64)
    return xxh64_python(data, seed)
