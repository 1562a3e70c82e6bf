"""XXH3-64 (the xxh3 converter), in pure Python, for when the xxhash module is absent.

Follows the public XXH3 specification: the 1-3, 4-8, 9-16, 17-128 and 129-240 byte paths
and the striped long-input path with the 192-byte default secret; a seed other than 0
derives a custom secret for long inputs. Checked in tests against vectors produced by the
reference implementation. `xxh3_64` uses the xxhash module when it is installed.
"""

from __future__ import annotations

import struct

M64 = (1 << 64) - 1
P32_1, P32_2, P32_3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D
P64_1, P64_2, P64_3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P64_4, P64_5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
PRIME_MX1, PRIME_MX2 = 0x165667919E3779F9, 0x9FB21C651E98DF25

SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)

_u64 = struct.Struct("<Q").unpack_from
_u32 = struct.Struct("<I").unpack_from


def _r64(data: bytes, offset: int) -> int:
    return _u64(data, offset)[0]


def _r32(data: bytes, offset: int) -> int:
    return _u32(data, offset)[0]


def _fold(a: int, b: int) -> int:
    product = a * b
    return (product ^ (product >> 64)) & M64


def _avalanche(h: int) -> int:
    h ^= h >> 37
    h = (h * PRIME_MX1) & M64
    return h ^ (h >> 32)


def _xxh64_avalanche(h: int) -> int:
    h ^= h >> 33
    h = (h * P64_2) & M64
    h ^= h >> 29
    h = (h * P64_3) & M64
    return h ^ (h >> 32)


def _rotl(h: int, r: int) -> int:
    return ((h << r) | (h >> (64 - r))) & M64


def _mix16(data: bytes, offset: int, secret: bytes, s_offset: int, seed: int) -> int:
    return _fold(
        _r64(data, offset) ^ ((_r64(secret, s_offset) + seed) & M64),
        _r64(data, offset + 8) ^ ((_r64(secret, s_offset + 8) - seed) & M64),
    )


def _short(data: bytes, seed: int) -> int:
    size = len(data)
    if size > 8:
        flip1 = ((_r64(SECRET, 24) ^ _r64(SECRET, 32)) + seed) & M64
        flip2 = ((_r64(SECRET, 40) ^ _r64(SECRET, 48)) - seed) & M64
        low = _r64(data, 0) ^ flip1
        high = _r64(data, size - 8) ^ flip2
        swapped = int.from_bytes(low.to_bytes(8, "little"), "big")
        return _avalanche((size + swapped + high + _fold(low, high)) & M64)
    if size >= 4:
        seed ^= int.from_bytes((seed & 0xFFFFFFFF).to_bytes(4, "little"), "big") << 32
        flip = ((_r64(SECRET, 8) ^ _r64(SECRET, 16)) - seed) & M64
        h = ((_r32(data, size - 4) + (_r32(data, 0) << 32)) & M64) ^ flip
        h ^= _rotl(h, 49) ^ _rotl(h, 24)
        h = (h * PRIME_MX2) & M64
        h ^= (h >> 35) + size
        h = (h * PRIME_MX2) & M64
        return h ^ (h >> 28)
    if size:
        combined = (data[0] << 16) | (data[size >> 1] << 24) | data[size - 1] | (size << 8)
        flip = ((_r32(SECRET, 0) ^ _r32(SECRET, 4)) + seed) & M64
        return _xxh64_avalanche(combined ^ flip)
    return _xxh64_avalanche(seed ^ _r64(SECRET, 56) ^ _r64(SECRET, 64))


def _medium(data: bytes, seed: int) -> int:
    size = len(data)
    acc = (size * P64_1) & M64
    if size <= 128:
        pairs = [(0, 0)]
        if size > 32:
            pairs.append((16, 32))
            if size > 64:
                pairs.append((32, 64))
                if size > 96:
                    pairs.append((48, 96))
        for start, s_offset in pairs:
            acc += _mix16(data, start, SECRET, s_offset, seed)
            acc += _mix16(data, size - 16 - start, SECRET, s_offset + 16, seed)
        return _avalanche(acc & M64)
    for index in range(8):
        acc += _mix16(data, 16 * index, SECRET, 16 * index, seed)
    acc = _avalanche(acc & M64)
    for index in range(8, size // 16):
        acc += _mix16(data, 16 * index, SECRET, 16 * (index - 8) + 3, seed)
    acc += _mix16(data, size - 16, SECRET, 136 - 17, seed)
    return _avalanche(acc & M64)


def _accumulate(acc: list[int], data: bytes, offset: int, secret: bytes, s_offset: int) -> None:
    for lane in range(8):
        value = _r64(data, offset + 8 * lane)
        key = value ^ _r64(secret, s_offset + 8 * lane)
        acc[lane ^ 1] = (acc[lane ^ 1] + value) & M64
        acc[lane] = (acc[lane] + (key & 0xFFFFFFFF) * (key >> 32)) & M64


def _long(data: bytes, seed: int) -> int:
    secret = SECRET
    if seed:
        secret = b"".join(
            struct.pack("<QQ", (_r64(SECRET, i) + seed) & M64, (_r64(SECRET, i + 8) - seed) & M64)
            for i in range(0, 192, 16)
        )
    acc = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1]
    size = len(data)
    stripes_per_block = (len(secret) - 64) // 8
    block = 64 * stripes_per_block
    blocks = (size - 1) // block
    for number in range(blocks):
        for stripe in range(stripes_per_block):
            _accumulate(acc, data, number * block + stripe * 64, secret, stripe * 8)
        for lane in range(8):
            value = acc[lane]
            value ^= value >> 47
            value ^= _r64(secret, len(secret) - 64 + 8 * lane)
            acc[lane] = (value * P32_1) & M64
    for stripe in range(((size - 1) - block * blocks) // 64):
        _accumulate(acc, data, blocks * block + stripe * 64, secret, stripe * 8)
    _accumulate(acc, data, size - 64, secret, len(secret) - 64 - 7)
    result = (size * P64_1) & M64
    for pair in range(4):
        result += _fold(
            acc[2 * pair] ^ _r64(secret, 11 + 16 * pair),
            acc[2 * pair + 1] ^ _r64(secret, 11 + 16 * pair + 8),
        )
    return _avalanche(result & M64)


def xxh3_64_python(data: bytes, seed: int = 0) -> int:
    seed &= M64
    if len(data) <= 16:
        return _short(data, seed)
    if len(data) <= 240:
        return _medium(data, seed)
    return _long(data, seed)


try:
    from xxhash import xxh3_64_intdigest as _native
except ImportError:  # the pure implementation then serves
    _native = None


def xxh3_64(data: bytes, seed: int = 0) -> int:
    """XXH3-64 of `data` as an unsigned 64-bit integer."""
    if _native is not None:
        return _native(data, seed & M64)
    return xxh3_64_python(data, seed)
