"""Protocol health checks, sans-IO: `option redis-check`, `smtpchk`, `pgsql-check`,
`ldap-check` and `mysql-check`.

Each is a fixed dialogue with the server, run as a generator in the style of probe.py: it
yields `Connect`/`Send`/`Receive` and returns the `CheckResult`. The bytes sent and the replies
accepted are HAProxy 2.6's (checked against the real haproxy with a recording fake server),
and so are the words of every result. HAProxy builds these checks as hidden tcp-check rule
lists; the step numbers in "TCPCHK got an empty response at step N" are those rules'
positions, kept here as constants. Unlike `option tcp-check`, a protocol check's I/O errors
and timeouts carry no "at step N" text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from haproxy_py.checks import status as st
from haproxy_py.checks.status import CheckResult, Status
from haproxy_py.checks.wire import Connect, IoError, Receive, Send

REDIS, SMTP, PGSQL, LDAP, MYSQL = (
    "redis-check",
    "smtpchk",
    "pgsql-check",
    "ldap-check",
    "mysql-check",
)
KINDS = (REDIS, SMTP, PGSQL, LDAP, MYSQL)
MAX_BUFFER = 16 * 1024  # what HAProxy's check buffer holds: a full buffer ends the reading


@dataclass(frozen=True, slots=True)
class Params:
    """What a protocol check needs from its `option` line."""

    kind: str
    user: str = ""  # mysql-check, pgsql-check
    pre41: bool = False  # mysql-check's old client protocol
    hello: str = "HELO"  # smtpchk
    domain: str = "localhost"


def params_for(options: Any) -> Params | None:
    """The protocol check a proxy's options ask for (the last of them wins in HAProxy; a
    proxy sets one), or None."""
    for kind in KINDS:
        value = options.get(kind)
        if not value:
            continue
        extra = value if hasattr(value, "get") else {}
        return Params(
            kind,
            user=str(extra.get("user", "")),
            pre41=extra.get("protocol") == "pre-41",
            hello=str(extra.get("hello", "HELO")),
            domain=str(extra.get("domain", "localhost")),
        )
    return None


# -- the bytes sent -----------------------------------------------------------------------------

REDIS_PING = b"*1\r\n$4\r\nPING\r\n"
LDAP_BIND = bytes.fromhex("300c020101600702010304008000")  # anonymous simple bind, LDAPv3
MYSQL_QUIT = bytes.fromhex("0100000001")  # COM_QUIT, sequence 0


def smtp_hello(params: Params) -> bytes:
    return f"{params.hello} {params.domain}\r\n".encode()


def pgsql_startup(user: str) -> bytes:
    """A StartupMessage, protocol 3.0, with only the `user` parameter."""
    body = b"\x00\x03\x00\x00user\x00" + user.encode() + b"\x00\x00"
    return (len(body) + 4).to_bytes(4, "big") + body


def mysql_login(user: str, pre41: bool) -> bytes:
    """A login packet without password (sequence 1) and a COM_QUIT, sent in one go."""
    name = user.encode() + b"\x00"
    if pre41:
        payload = b"\x00\x80" + b"\x00\x00\x01" + name + b"\x00"
    else:
        payload = b"\x00\x82\x00\x00" + b"\x00\x80\x00\x01" + b"\x21" + bytes(23) + name + b"\x00"
    return len(payload).to_bytes(3, "little") + b"\x01" + payload + MYSQL_QUIT


# -- running ------------------------------------------------------------------------------------


def run_protocol(params: Params) -> Generator[Any, Any, CheckResult]:
    """The dialogue of `params.kind`; `Connect`/`Send`/`Receive` come from probe.py."""
    runner = _RUNNERS[params.kind]
    return (yield from runner(params))


def _text(data: bytes) -> str:
    """Bytes as HAProxy prints them in a check's info: up to the first NUL."""
    return data.split(b"\x00", 1)[0].decode("latin-1")


def _first_line(data: bytes) -> str:
    """`cut_crlf`: up to the first CR or LF."""
    return re.split(rb"[\r\n]", data, maxsplit=1)[0].split(b"\x00", 1)[0].decode("latin-1")


def _empty(status: Status, step: int) -> CheckResult:
    return CheckResult(status, info=f"TCPCHK got an empty response at step {step}")


Reader = Generator[Any, Any, "tuple[bool, CheckResult | None]"]


def _fill(buffer: bytearray, closed: bool, ready: Callable[[bytes], bool]) -> Reader:
    """Read until `ready(buffer)`, the server's end or a full buffer; (closed, error)."""
    while not closed and len(buffer) < MAX_BUFFER and not ready(bytes(buffer)):
        outcome = yield Receive()
        if isinstance(outcome, IoError):
            status = st.L7TOUT if outcome.timeout else st.SOCKERR
            return closed, CheckResult(status, info="" if outcome.timeout else outcome.text)
        if outcome:
            buffer += outcome
        else:
            closed = True
    return closed, None


def _at_least(count: int) -> Callable[[bytes], bool]:
    return lambda data: len(data) >= count


def _connect_and_send(data: bytes | None) -> Generator[Any, Any, CheckResult | None]:
    outcome = yield Connect()
    if isinstance(outcome, IoError):
        if outcome.timeout:
            return CheckResult(st.L4TOUT)
        return CheckResult(st.L4CON, info=outcome.text)
    if data is not None:
        outcome = yield Send(data)
        if isinstance(outcome, IoError):
            return _send_failed(outcome)
    return None


def _send_failed(outcome: Any) -> CheckResult:
    if outcome.timeout:
        return CheckResult(st.L7TOUT)
    return CheckResult(st.SOCKERR, info=outcome.text)


# -- redis --------------------------------------------------------------------------------------


def _redis(params: Params) -> Generator[Any, Any, CheckResult]:
    failed = yield from _connect_and_send(REDIS_PING)
    if failed:
        return failed
    buffer = bytearray()
    # No minimum to read: a reply that does not match yet is waited on until the end.
    _closed, failed = yield from _fill(buffer, False, lambda data: b"+PONG\r\n" in data)
    if failed:
        return failed
    if b"+PONG\r\n" in buffer:
        return CheckResult(st.L7OK, 0, "Redis server is ok")
    if not buffer:
        return _empty(st.L7STS, 2)
    return CheckResult(st.L7STS, 0, _first_line(bytes(buffer)))


# -- smtp ---------------------------------------------------------------------------------------

_SMTP_ANY = re.compile(rb"[0-9]{3}[ \r]")
_SMTP_BANNER_OK = re.compile(rb"2[0-9]{2}[ \r]")
_SMTP_OK = re.compile(rb"2[0-9]{2}[- \r]")


def _smtp_code(data: bytes) -> int:
    head = data[:3]
    digits = re.match(rb"\d*", head).group() if len(head) == 3 else b""  # type: ignore[union-attr]
    return int(digits) if digits else 0


def _smtp_reply(data: bytes) -> str:
    return _first_line(data[4:].lstrip(b" "))


def _smtp_expect(
    buffer: bytearray, step: int, pattern: re.Pattern[bytes], status: Status, coded: bool
) -> Generator[Any, Any, CheckResult | None]:
    """One `expect rstring ... min-recv 4` of HAProxy's smtpchk rules: None when it matched."""
    _closed, failed = yield from _fill(buffer, False, _at_least(4))
    if failed:
        return failed
    data = bytes(buffer)
    if not data:
        return _empty(status, step)
    if pattern.match(data):
        return None
    if coded:
        return CheckResult(status, _smtp_code(data), _smtp_reply(data))
    return CheckResult(status, 0, _first_line(data))


def _smtp(params: Params) -> Generator[Any, Any, CheckResult]:
    failed = yield from _connect_and_send(None)
    if failed:
        return failed
    buffer = bytearray()
    # The banner: any SMTP reply (else L7RSP), then a 2xx one (else L7STS with its code).
    failed = yield from _smtp_expect(buffer, 2, _SMTP_ANY, st.L7RSP, False)
    if failed:
        return failed
    failed = yield from _smtp_expect(buffer, 3, _SMTP_BANNER_OK, st.L7STS, True)
    if failed:
        return failed
    for data, step in ((smtp_hello(params), 5), (b"QUIT\r\n", 7)):
        outcome = yield Send(data)
        if isinstance(outcome, IoError):
            return _send_failed(outcome)
        buffer.clear()
        failed = yield from _smtp_expect(buffer, step, _SMTP_OK, st.L7STS, True)
        if failed:
            return failed
    data = bytes(buffer)
    return CheckResult(st.L7OK, _smtp_code(data), _smtp_reply(data))


# -- postgresql ---------------------------------------------------------------------------------

# An Authentication reply HAProxy takes as a live server: ok, cleartext, md5, ... SASL.
_PGSQL_AUTH = re.compile(r"52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)")


def _pgsql(params: Params) -> Generator[Any, Any, CheckResult]:
    failed = yield from _connect_and_send(pgsql_startup(params.user))
    if failed:
        return failed
    buffer = bytearray()
    _closed, failed = yield from _fill(buffer, False, _at_least(5))
    if failed:
        return failed
    if not buffer:
        return _empty(st.L7RSP, 3)
    if buffer.startswith(b"E"):  # an ErrorResponse: its fields from the severity's text on
        return CheckResult(st.L7RSP, 0, _text(bytes(buffer[6:])))
    _closed, failed = yield from _fill(buffer, False, _at_least(9))
    if failed:
        return failed
    if _PGSQL_AUTH.match(bytes(buffer).hex().upper()):
        return CheckResult(st.L7OK, 0, "PostgreSQL server is ok")
    return CheckResult(st.L7STS, 0, "PostgreSQL unknown error")


# -- ldap ---------------------------------------------------------------------------------------

_NOT_LDAP = "Not LDAPv3 protocol"


def _ber_extra(byte: int) -> int:
    """The bytes a BER length's long form adds after its first byte."""
    return byte & 0x7F if byte & 0x80 else 0


def ldap_verdict(data: bytes) -> CheckResult | None:
    """HAProxy's reading of a bindResponse (at least 14 bytes): None when more is needed."""
    extra = _ber_extra(data[1])
    if len(data) < extra + 7:
        return None
    if data[2 + extra : 6 + extra] != b"\x02\x01\x01\x61":  # messageID 1, bindResponse
        return CheckResult(st.L7RSP, info=_NOT_LDAP)
    extra += _ber_extra(data[extra + 6])
    if len(data) < extra + 10:
        return None
    if data[7 + extra : 9 + extra] != b"\x0a\x01":  # resultCode: ENUMERATED, 1 byte
        return CheckResult(st.L7RSP, info=_NOT_LDAP)
    code = data[9 + extra]
    if code:
        return CheckResult(
            st.L7STS, code, "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"
        )
    return CheckResult(st.L7OK, 0)


def _ldap(params: Params) -> Generator[Any, Any, CheckResult]:
    failed = yield from _connect_and_send(LDAP_BIND)
    if failed:
        return failed
    buffer = bytearray()
    closed, failed = yield from _fill(buffer, False, _at_least(14))
    if failed:
        return failed
    if not buffer:
        return _empty(st.L7RSP, 2)
    if not buffer.startswith(b"\x30"):  # not a BER SEQUENCE: not an LDAPMessage
        return CheckResult(st.L7RSP, info=_NOT_LDAP)
    while True:
        verdict = ldap_verdict(bytes(buffer)) if len(buffer) >= 14 else None
        if verdict is not None:
            return verdict
        if closed or len(buffer) >= MAX_BUFFER:
            return CheckResult(st.L7RSP)  # too short to be a bindResponse
        size = len(buffer)
        closed, failed = yield from _fill(buffer, closed, _at_least(size + 1))
        if failed:
            return failed


# -- mysql --------------------------------------------------------------------------------------


def mysql_packet(data: bytes, offset: int, last: bool, closed: bool) -> CheckResult | None:
    """HAProxy's reading of the MySQL packet at `offset`: a failure, L7OK when it is the
    `last` packet expected and fine, None to go on (`closed`: no more data is coming, so a
    short packet is a failure instead of a reason to wait)."""
    if len(data) < offset + 4:
        return CheckResult(st.L7RSP) if closed else _MORE
    length = int.from_bytes(data[offset : offset + 3], "little")
    if len(data) < offset + length + 4:
        return CheckResult(st.L7RSP) if closed else _MORE
    if data[offset + 4] == 0xFF:  # an ERR packet: error number, then its message
        code = int.from_bytes(data[offset + 5 : offset + 7], "little")
        return CheckResult(st.L7STS, code, _text(data[offset + 7 :]))
    return CheckResult(st.L7OK, 0) if last else None


_MORE = CheckResult(st.UNK, info="more")  # mysql_packet's "wait for more data"


def _mysql(params: Params) -> Generator[Any, Any, CheckResult]:
    login = mysql_login(params.user, params.pre41) if params.user else None
    failed = yield from _connect_and_send(login)
    if failed:
        return failed
    step = 3 if login else 2
    buffer = bytearray()
    closed = False
    offset = 0
    for last in (False, True) if login else (True,):
        while True:
            data = bytes(buffer)
            if not data and closed:
                return _empty(st.L7RSP, step)
            verdict = mysql_packet(data, offset, last, closed or len(data) >= MAX_BUFFER)
            if verdict is not _MORE:
                break
            size = len(buffer)
            closed, failed = yield from _fill(buffer, closed, _at_least(size + 1))
            if failed:
                return failed
        if verdict is not None:
            return verdict
        # The next packet (the login's answer) follows the server's greeting.
        offset = 4 + int.from_bytes(buffer[:3], "little")
    raise AssertionError("unreachable: the last packet always gives a verdict")


_RUNNERS: dict[str, Callable[[Params], Generator[Any, Any, CheckResult]]] = {
    REDIS: _redis,
    SMTP: _smtp,
    PGSQL: _pgsql,
    LDAP: _ldap,
    MYSQL: _mysql,
}
