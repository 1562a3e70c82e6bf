"""The PROXY protocol core (haproxy_py/proto/proxy_protocol.py): a corpus of v1 and v2 headers
with the verdict the installed HAProxy 2.6 gives each (accepted addresses, or its log text),
fed whole, byte at a time and followed by payload; and the headers built for servers, compared
with bytes HAProxy 2.6 sent for the same connections."""

from __future__ import annotations

import struct

import pytest

from haproxy_py.proto.proxy_protocol import (
    BAD_HEADER,
    BAD_PROTOCOL,
    EMPTY,
    NEED_MORE,
    NOT_HEADER,
    PP2_TYPE_UNIQUE_ID,
    TRUNCATED,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    build_v1,
    build_v2,
    crc32c,
    parse_header,
)

A4 = bytes([1, 2, 3, 4, 5, 6, 7, 8]) + struct.pack("!HH", 1111, 2222)


def v2(command: int, family: int, body: bytes, version: int = 0x20) -> bytes:
    return V2_SIGNATURE + bytes((version | command, family)) + struct.pack("!H", len(body)) + body


def with_crc(header: bytes, at: int) -> bytes:
    value = struct.pack("!I", crc32c(header))
    return header[:at] + value + header[at + 4 :]


CRC_BODY = A4 + b"\x03\x00\x04\0\0\0\0"
GOOD_CRC = with_crc(v2(1, 0x11, CRC_BODY), 16 + 12 + 3)
IPV4 = (("1.2.3.4", 1111), ("5.6.7.8", 2222))

# (name, header bytes, expected (source, destination) or None for "keep the connection's")
ACCEPTED = [
    ("tcp4", b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", IPV4),
    ("tcp6", b"PROXY TCP6 ::1 2001:db8::1 1111 2222\r\n",
     (("::1", 1111, 0, 0), ("2001:db8::1", 2222, 0, 0))),
    ("unknown", b"PROXY UNKNOWN\r\n", None),
    ("port 0", b"PROXY TCP4 1.2.3.4 5.6.7.8 0 2222\r\n", (("1.2.3.4", 0), ("5.6.7.8", 2222))),
    ("port modulo", b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 99999\r\n",
     (("1.2.3.4", 1111), ("5.6.7.8", 34463))),
    ("empty port", b"PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n", (("1.2.3.4", 0), ("5.6.7.8", 2))),
    ("leading zeros", b"PROXY TCP4 01.2.3.4 5.6.7.8 01111 2222\r\n", IPV4),
    ("three parts", b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", (("1.2.3.0", 1), ("5.6.7.8", 2))),
    ("part over 255", b"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", (("0.2.3.4", 1), ("5.6.7.8", 2))),
    ("mapped v6", b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
     (("::ffff:1.2.3.4", 1, 0, 0), ("::1", 2, 0, 0))),
    ("longest v1",
     b"PROXY TCP6 " + b"ffff:" * 7 + b"ffff " + b"ffff:" * 7 + b"ffff 65535 65535\r\n",
     (("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 0, 0),
      ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 0, 0))),
    ("v2 tcp4", v2(1, 0x11, A4), IPV4),
    ("v2 tcp6", v2(1, 0x21, bytes(15) + b"\1" + bytes(15) + b"\2" + struct.pack("!HH", 1, 2)),
     (("::1", 1, 0, 0), ("::2", 2, 0, 0))),
    ("v2 local", v2(0, 0x00, b""), None),
    ("v2 local with addresses", v2(0, 0x11, A4), None),
    ("v2 noop tlv", v2(1, 0x11, A4 + b"\x04\x00\x02ab"), IPV4),
    ("v2 large tlv", v2(1, 0x11, A4 + b"\x04" + struct.pack("!H", 3000) + bytes(3000)), IPV4),
    ("v2 crc32c", GOOD_CRC, IPV4),
]  # fmt: skip

REFUSED = [
    ("http request", b"GET / HTTP/1.0\r\n\r\nxxxxxxx", NOT_HEADER),
    ("bad v1 signature", b"PROXX TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", NOT_HEADER),
    ("bad v2 signature", V2_SIGNATURE[:10] + b"XX\x21\x11\x00\x0c" + A4, NOT_HEADER),
    ("unknown with addresses", b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", BAD_PROTOCOL),
    ("lower case unknown", b"PROXY unknown\r\n", BAD_PROTOCOL),
    ("tcp5", b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", BAD_PROTOCOL),
    ("trailing space", b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\n", BAD_HEADER),
    ("two spaces", b"PROXY TCP4  1.2.3.4 5.6.7.8 1111 2222\r\n", BAD_HEADER),
    ("tab", b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", BAD_HEADER),
    ("lf only", b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\nhello", BAD_HEADER),
    ("over 107 bytes", b"PROXY TCP4 " + b"1" * 120 + b"\r\n", BAD_HEADER),
    ("v4 in tcp6", b"PROXY TCP6 1.2.3.4 5.6.7.8 1111 2222\r\n", BAD_HEADER),
    ("bad v6", b"PROXY TCP6 ::1::2 ::1 1 2\r\n", BAD_HEADER),
    ("signed port", b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", BAD_HEADER),
    ("v2 version 1", v2(1, 0x11, A4, version=0x10), NOT_HEADER),
    ("v2 command 2", v2(2, 0x11, A4), BAD_HEADER),
    ("v2 unix", v2(1, 0x31, bytes(216)), BAD_HEADER),
    ("v2 udp4", v2(1, 0x12, A4), BAD_HEADER),
    ("v2 unspec proxy", v2(1, 0x00, b""), BAD_HEADER),
    ("v2 short tcp4", v2(1, 0x11, A4[:4]), BAD_HEADER),
    ("v2 short tcp6", v2(1, 0x21, bytes(30)), BAD_HEADER),
    ("v2 tlv overflow", v2(1, 0x11, A4 + b"\x04\x00\x09ab"), BAD_HEADER),
    ("v2 partial tlv", v2(1, 0x11, A4 + b"\x04\x00"), BAD_HEADER),
    ("v2 bad crc32c", v2(1, 0x11, A4 + b"\x03\x00\x04abcd"), BAD_HEADER),
    ("v2 unique id over 128", v2(1, 0x11, A4 + b"\x05\x00\x81" + bytes(129)), BAD_HEADER),
    ("v2 over the buffer", v2(1, 0x11, A4 + b"\x04" + struct.pack("!H", 20000) + bytes(20000)),
     BAD_HEADER),
]  # fmt: skip


def addresses(header: ProxyHeader) -> object:
    if header.source is None:
        return None
    return header.source, header.destination


@pytest.mark.parametrize(("name", "data", "expected"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_whole(name: str, data: bytes, expected: object) -> None:
    header = parse_header(data + b"hello")
    assert isinstance(header, ProxyHeader)
    assert header.length == len(data)
    assert addresses(header) == expected


@pytest.mark.parametrize(("name", "data", "expected"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_byte_at_a_time(name: str, data: bytes, expected: object) -> None:
    for size in range(len(data)):
        assert parse_header(data[:size]) is NEED_MORE, size
        with pytest.raises(ProxyProtocolError) as err:
            parse_header(data[:size], final=True)
        assert str(err.value) == (EMPTY if size == 0 else TRUNCATED)
    header = parse_header(data, final=True)
    assert isinstance(header, ProxyHeader) and addresses(header) == expected


@pytest.mark.parametrize(("name", "data", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ProxyProtocolError) as err:
        parse_header(data + b"hello")
    assert str(err.value) == message


def test_short_garbage_is_truncated_and_long_garbage_not_a_header() -> None:
    for data in (b"GARBAGE\r\n", b"X"):
        with pytest.raises(ProxyProtocolError, match="Truncated"):
            parse_header(data)
    with pytest.raises(ProxyProtocolError, match="does not look like"):
        parse_header(b"GET / HTTP/1.1\r\nHost: x\r\n")


def test_v1_without_end_waits_until_107_bytes() -> None:
    assert parse_header(b"PROXY TCP4 " + b"1" * 95) is NEED_MORE  # 106 bytes
    with pytest.raises(ProxyProtocolError, match="invalid"):
        parse_header(b"PROXY TCP4 " + b"1" * 96)


def test_tlvs_read() -> None:
    data = v2(1, 0x11, A4 + b"\x02\x00\x03a.b" + b"\x05\x00\x02id")
    header = parse_header(data)
    assert isinstance(header, ProxyHeader)
    assert header.authority == b"a.b" and header.unique_id == b"id"
    assert header.tlv(0x30) is None


# -- building: bytes HAProxy 2.6 sent for the same connections ---------------------------------


def test_build_v1_as_haproxy() -> None:
    assert build_v1(("1.2.3.4", 1111), ("5.6.7.8", 2222)) == (
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"
    )
    assert build_v1(("::1", 1, 0, 0), ("2001:db8::1", 2, 0, 0)) == (
        b"PROXY TCP6 ::1 2001:db8::1 1 2\r\n"
    )
    assert build_v1(("1.2.3.4", 1), ("::1", 2, 0, 0)) == b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"
    assert build_v1("", ("1.2.3.4", 1)) == b"PROXY UNKNOWN\r\n"


def test_build_v2_as_haproxy() -> None:
    # send-proxy-v2 proxy-v2-options crc32c,unique-id,authority for 1.2.3.4:1 -> 5.6.7.8:2
    sent = bytes.fromhex(
        "0d0a0d0a000d0a515549540a2111001601020304050607080001000203000415f8a6ce050000"
    )
    assert build_v2(("1.2.3.4", 1), ("5.6.7.8", 2), [(PP2_TYPE_UNIQUE_ID, b"")], crc=True) == sent
    # a TCP6 connection with unique-id
    sent6 = bytes.fromhex(
        "0d0a0d0a000d0a515549540a21210027" + "00" * 15 + "01" + "20010db8" + "00" * 11 + "01"
        "045708ae050000"
    )
    got = build_v2(("::1", 1111, 0, 0), ("2001:db8::1", 2222, 0, 0), [(PP2_TYPE_UNIQUE_ID, b"")])
    assert got == sent6
    # health checks with check-send-proxy and send-proxy-v2: LOCAL, no address
    assert build_v2(None, None) == V2_SIGNATURE + b"\x20\x00\x00\x00"


def test_built_headers_parse_back() -> None:
    for source, destination in (IPV4, (("::1", 5, 0, 0), ("::2", 6, 0, 0))):
        for built in (
            build_v1(source, destination),
            build_v2(source, destination, [(PP2_TYPE_UNIQUE_ID, b"abc")], crc=True),
        ):
            header = parse_header(built)
            assert isinstance(header, ProxyHeader)
            assert (header.source, header.destination) == (source, destination)
            assert header.length == len(built)


def test_bad_tlvs_keep_the_address_already_read() -> None:
    with pytest.raises(ProxyProtocolError) as err:
        parse_header(v2(1, 0x11, A4 + b"\x04\x00\x09ab"))
    assert err.value.source == ("1.2.3.4", 1111)  # HAProxy 2.6 logs the refusal with it
