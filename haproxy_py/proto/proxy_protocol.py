"""The PROXY protocol, versions 1 and 2, sans-IO: parse a header from bytes, build one.

`parse_header(data, final)` reads the first bytes a client sent on an `accept-proxy` listener
and answers NEED_MORE, a `ProxyHeader` (its length: the bytes that follow belong to the
session), or raises `ProxyProtocolError` whose message is HAProxy 2.6's log text for it.
`build_v1()`/`build_v2()` write what `send-proxy`/`send-proxy-v2` put first on a server
connection. Addresses are socket-address tuples as `accept()` returns them: (host, port) for
IPv4, (host, port, 0, 0) for IPv6; anything else (a UNIX peer) has no address to carry.

Rules of this file: what is accepted or refused, and with which message, follows what the
installed HAProxy 2.6 does with the same bytes (tests/unit/test_proxy_protocol.py holds the
corpus), including its lenient reading of v1 numbers (ports modulo 65536, IPv4 parts modulo
256, missing parts zero); a header split over several reads is waited for (HAProxy 2.6 refuses
it as truncated). No socket is opened here: `socket.inet_pton`/`inet_ntop` only convert.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

V1_MAX = 107  # the longest v1 line, CRLF included
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family, length

# TLV types (proxy-protocol.txt section 2.2)
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_TYPE_NETNS = 0x30
_TLV_MAX = {PP2_TYPE_AUTHORITY: 255, PP2_TYPE_UNIQUE_ID: 128}  # longer ones: invalid header

# HAProxy 2.6's connection error texts (what the frontend logs for a refused connection)
NOT_HEADER = "Received something which does not look like a PROXY protocol header"
TRUNCATED = "Truncated PROXY protocol header received"
EMPTY = "Connection closed while waiting for PROXY protocol header"
ABORTED = "Connection error while waiting for PROXY protocol header"
TIMEOUT = "Timeout while waiting for PROXY protocol header"
BAD_HEADER = "Received an invalid PROXY protocol header"
BAD_PROTOCOL = "Received an unhandled protocol in the PROXY protocol header"

# proxy-v2-options: what haproxy-py writes, and those refused (they describe a TLS session)
V2_OPTIONS = ("authority", "crc32c", "unique-id")
V2_TLS_OPTIONS = ("ssl", "cert-sig", "cert-key", "cert-cn", "ssl-cipher")

Address = tuple[Any, ...]


class ProxyProtocolError(Exception):
    """A header that is not one, or not a valid one; str() is HAProxy's log text. `source`:
    the client address a v2 header gave before its TLVs were found bad (HAProxy 2.6 has
    taken it by then, and logs the refusal with it)."""

    source: Address | None = None
    received = False  # a TIMEOUT: whether any byte came at all


class _NeedMore:
    def __repr__(self) -> str:
        return "NEED_MORE"


NEED_MORE: Final = _NeedMore()


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header. `source`/`destination` are None when the connection's own addresses
    stay (v1 UNKNOWN, v2 LOCAL)."""

    version: int
    length: int
    source: Address | None = None
    destination: Address | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, kind: int) -> bytes | None:
        for tlv_kind, value in self.tlvs:
            if tlv_kind == kind:
                return value
        return None

    @property
    def unique_id(self) -> bytes | None:
        return self.tlv(PP2_TYPE_UNIQUE_ID)

    @property
    def authority(self) -> bytes | None:
        return self.tlv(PP2_TYPE_AUTHORITY)


def parse_header(data: bytes, final: bool = False, limit: int = 16384) -> ProxyHeader | _NeedMore:
    """The header at the start of `data` (all the client sent so far). `final`: the client
    will send no more (it closed). `limit`: the largest header read (the buffer size)."""
    if not data:
        if final:
            raise ProxyProtocolError(EMPTY)
        return NEED_MORE
    head = data[:V2_FIXED]
    if b"PROXY "[: len(head)] == head[:6]:
        if len(data) < 6:
            return _wait(final)
        return _parse_v1(data, final)
    if V2_SIGNATURE[: len(head)] == head[:12]:
        if len(data) < V2_FIXED:
            return _wait(final)
        return _parse_v2(data, final, limit)
    # Neither signature: HAProxy reads 16 bytes before deciding; fewer is "truncated".
    raise ProxyProtocolError(NOT_HEADER if len(data) >= V2_FIXED else TRUNCATED)


def _wait(final: bool) -> _NeedMore:
    if final:
        raise ProxyProtocolError(TRUNCATED)
    return NEED_MORE


# -- version 1 --------------------------------------------------------------------------------


def _parse_v1(data: bytes, final: bool) -> ProxyHeader | _NeedMore:
    end = data.find(b"\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyProtocolError(BAD_HEADER)
        return _wait(final)
    if data[end - 1 : end] != b"\r":
        raise ProxyProtocolError(BAD_HEADER)
    line = data[6 : end - 1]
    if line == b"UNKNOWN":
        return ProxyHeader(1, end + 1)
    kind = line[:5]
    if kind == b"TCP4 ":
        parse_ip: Any = _ipv4_v1
    elif kind == b"TCP6 ":
        parse_ip = _ipv6
    else:
        raise ProxyProtocolError(BAD_PROTOCOL)
    fields = line[5:].split(b" ")
    if len(fields) != 4:
        raise ProxyProtocolError(BAD_HEADER)
    src, dst = parse_ip(fields[0]), parse_ip(fields[1])
    sport, dport = _port_v1(fields[2]), _port_v1(fields[3])
    if kind == b"TCP4 ":
        return ProxyHeader(1, end + 1, (src, sport), (dst, dport))
    return ProxyHeader(1, end + 1, (src, sport, 0, 0), (dst, dport, 0, 0))


def _ipv4_v1(text: bytes) -> str:
    parts = text.split(b".")
    if len(parts) > 4 or not all(p.isdigit() and p.isascii() for p in parts):
        raise ProxyProtocolError(BAD_HEADER)
    numbers = [int(p) & 0xFF for p in parts] + [0] * (4 - len(parts))
    return ".".join(map(str, numbers))


def _ipv6(text: bytes) -> str:
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text.decode()))
    except (OSError, UnicodeDecodeError, ValueError):
        raise ProxyProtocolError(BAD_HEADER) from None


def _port_v1(text: bytes) -> int:
    if text and not (text.isdigit() and text.isascii()):
        raise ProxyProtocolError(BAD_HEADER)
    return int(text or b"0") & 0xFFFF


# -- version 2 --------------------------------------------------------------------------------


def _parse_v2(data: bytes, final: bool, limit: int) -> ProxyHeader | _NeedMore:
    ver_cmd, family, size = data[12], data[13], struct.unpack_from("!H", data, 14)[0]
    if ver_cmd & 0xF0 != 0x20:
        raise ProxyProtocolError(NOT_HEADER)
    total = V2_FIXED + size
    if total > limit:
        raise ProxyProtocolError(BAD_HEADER)
    if len(data) < total:
        return _wait(final)
    command = ver_cmd & 0x0F
    if command == 0:  # LOCAL: the connection's own addresses stay
        return ProxyHeader(2, total)
    if command != 1:
        raise ProxyProtocolError(BAD_HEADER)
    body = data[V2_FIXED:total]
    if family == 0x11 and size >= 12:
        src = socket.inet_ntop(socket.AF_INET, body[0:4])
        dst = socket.inet_ntop(socket.AF_INET, body[4:8])
        sport, dport = struct.unpack_from("!HH", body, 8)
        source, destination, offset = (src, sport), (dst, dport), 12
    elif family == 0x21 and size >= 36:
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
        sport, dport = struct.unpack_from("!HH", body, 32)
        source, destination, offset = (src, sport, 0, 0), (dst, dport, 0, 0), 36
    else:  # UNIX, UDP, UNSPEC with PROXY, or an address block too short
        raise ProxyProtocolError(BAD_HEADER)
    try:
        tlvs = _parse_tlvs(data[:total], V2_FIXED + offset)
    except ProxyProtocolError as exc:
        exc.source = source
        raise
    return ProxyHeader(2, total, source, destination, tlvs)


def _parse_tlvs(header: bytes, offset: int) -> tuple[tuple[int, bytes], ...]:
    tlvs = []
    total = len(header)
    while offset < total:
        if offset + 3 > total:
            raise ProxyProtocolError(BAD_HEADER)
        kind, size = header[offset], struct.unpack_from("!H", header, offset + 1)[0]
        start = offset + 3
        if start + size > total or size > _TLV_MAX.get(kind, size):
            raise ProxyProtocolError(BAD_HEADER)
        value = header[start : start + size]
        if kind == PP2_TYPE_CRC32C:
            zeroed = header[:start] + b"\0\0\0\0" + header[start + 4 :]
            if size != 4 or struct.unpack("!I", value)[0] != crc32c(zeroed):
                raise ProxyProtocolError(BAD_HEADER)
        tlvs.append((kind, value))
        offset = start + size
    return tuple(tlvs)


# -- building ---------------------------------------------------------------------------------


def _family(address: Address | None) -> int:
    """AF_INET, AF_INET6, or 0: no address the PROXY protocol can carry."""
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str):
        return 0
    return socket.AF_INET6 if len(address) == 4 or ":" in address[0] else socket.AF_INET


def _mapped(host: str) -> str:
    return "::ffff:" + host


def _same_family(source: Address | None, destination: Address | None) -> tuple[int, str, str]:
    """The family both addresses are written in (an IPv4 one beside an IPv6 one is written
    v4-mapped), or 0 when either is not an IP address."""
    sfam, dfam = _family(source), _family(destination)
    if not sfam or not dfam:
        return 0, "", ""
    src, dst = source[0].partition("%")[0], destination[0].partition("%")[0]  # type: ignore[index]
    if sfam == dfam:
        return sfam, src, dst
    return (
        socket.AF_INET6,
        (_mapped(src) if sfam == socket.AF_INET else src),
        (_mapped(dst) if dfam == socket.AF_INET else dst),
    )


def build_v1(source: Address | None, destination: Address | None) -> bytes:
    """`send-proxy`: "PROXY TCP4|TCP6 src dst sport dport\\r\\n", or "PROXY UNKNOWN\\r\\n"."""
    family, src, dst = _same_family(source, destination)
    if not family:
        return b"PROXY UNKNOWN\r\n"
    kind = "TCP4" if family == socket.AF_INET else "TCP6"
    if family == socket.AF_INET6:  # written as inet_ntop writes it
        src, dst = _ipv6(src.encode()), _ipv6(dst.encode())
    sport, dport = source[1], destination[1]  # type: ignore[index]
    return f"PROXY {kind} {src} {dst} {sport} {dport}\r\n".encode()


def build_v2(
    source: Address | None,
    destination: Address | None,
    tlvs: Iterable[tuple[int, bytes]] = (),
    crc: bool = False,
) -> bytes:
    """`send-proxy-v2`: the PROXY command with the addresses, or LOCAL when they are not IP
    addresses; then `tlvs` in order, after a CRC32C TLV if `crc` (its value computed last)."""
    family, src, dst = _same_family(source, destination)
    if family == socket.AF_INET:
        body = socket.inet_aton(src) + socket.inet_aton(dst)
        body += struct.pack("!HH", source[1], destination[1])  # type: ignore[index]
        ver_cmd, fam = 0x21, 0x11
    elif family == socket.AF_INET6:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        body += struct.pack("!HH", source[1], destination[1])  # type: ignore[index]
        ver_cmd, fam = 0x21, 0x21
    else:
        body, ver_cmd, fam = b"", 0x20, 0x00
    crc_at = -1
    if crc:
        crc_at = V2_FIXED + len(body) + 3
        body += b"\x03\x00\x04\0\0\0\0"
    for kind, value in tlvs:
        body += struct.pack("!BH", kind, len(value)) + value
    header = bytearray(V2_SIGNATURE + bytes((ver_cmd, fam)) + struct.pack("!H", len(body)) + body)
    if crc_at >= 0:
        header[crc_at : crc_at + 4] = struct.pack("!I", crc32c(bytes(header)))
    return bytes(header)


# -- CRC32C (Castagnoli), only for headers that carry the TLV ---------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
