"""Protocol checks (redis, smtp, pgsql, ldap, mysql): the bytes sent and the verdicts.

Every expected byte string and result below was recorded from HAProxy 2.6 (`haproxy -db`,
`check inter 400`, a fake server per protocol that logged what haproxy sent and answered
with the reply shown; the verdict read from `show stat` check_status/check_code/last_chk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from haproxy_py.checks import status as st
from haproxy_py.checks.probe import Connect, IoError, Plan, Receive, Send, plan_for_proxy, run
from haproxy_py.checks.protocols import ldap_verdict, mysql_login, pgsql_startup
from haproxy_py.checks.status import CheckResult
from haproxy_py.config import load_configuration

HEAD = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"


def plan(tmp_path: Path, option: str) -> Plan:
    path = tmp_path / "c.cfg"
    path.write_text(f"{HEAD}backend be\n  {option}\n  server s 127.0.0.1:1 check\n")
    result = load_configuration([str(path)])
    assert result.config is not None, result
    return plan_for_proxy(result.config.backend("be"))


def dialogue(p: Plan, replies: list[bytes]) -> tuple[list[bytes], CheckResult]:
    """Run a check against a scripted server: every Receive takes the next reply (b"" when
    they are all used: the server closed). Returns what was sent and the result."""
    sent: list[bytes] = []
    replies = list(replies)
    probe = run(p)
    outcome: Any = None
    try:
        action = probe.send(None)
        while True:
            if isinstance(action, Connect):
                outcome = None
            elif isinstance(action, Send):
                sent.append(action.data)
                outcome = None
            else:
                assert isinstance(action, Receive)
                outcome = replies.pop(0) if replies else b""
            action = probe.send(outcome)
    except StopIteration as done:
        return sent, done.value


def verdict(result: CheckResult) -> tuple[str, int, str]:
    return result.status.name, result.code, result.info


# -- redis ----------------------------------------------------------------------------------------


def test_redis_ping_and_pong(tmp_path: Path) -> None:
    sent, result = dialogue(plan(tmp_path, "option redis-check"), [b"+PONG\r\n"])
    assert sent == [b"*1\r\n$4\r\nPING\r\n"]
    assert verdict(result) == ("L7OK", 0, "Redis server is ok")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"-ERR wrong pass\r\nmore", ("L7STS", 0, "-ERR wrong pass")),
        (b"+PON", ("L7STS", 0, "+PON")),
        (b"+PONGX", ("L7STS", 0, "+PONGX")),
        (b"", ("L7STS", 0, "TCPCHK got an empty response at step 2")),
        (b"+PONG\r\n-ERR", ("L7OK", 0, "Redis server is ok")),
    ],
)
def test_redis_replies(tmp_path: Path, reply: bytes, expected: tuple[str, int, str]) -> None:
    _, result = dialogue(plan(tmp_path, "option redis-check"), [reply] if reply else [])
    assert verdict(result) == expected


def test_redis_waits_for_the_pong(tmp_path: Path) -> None:
    # A reply in pieces is read on; one that never matches waits for the server's end.
    _, result = dialogue(plan(tmp_path, "option redis-check"), [b"+PO", b"NG\r", b"\n"])
    assert verdict(result) == ("L7OK", 0, "Redis server is ok")
    probe = run(plan(tmp_path, "option redis-check"))
    next(probe)
    probe.send(None)  # connected
    probe.send(None)  # sent
    assert isinstance(probe.send(b"-ERR no\r\n"), Receive)  # not conclusive: read on
    with pytest.raises(StopIteration) as done:
        probe.send(IoError(timeout=True))
    assert verdict(done.value.value) == ("L7TOUT", 0, "")


# -- smtp -----------------------------------------------------------------------------------------


def test_smtp_dialogue(tmp_path: Path) -> None:
    replies = [b"220 mx ESMTP\r\n", b"250 hello there\r\n", b"221 bye now\r\n"]
    sent, result = dialogue(plan(tmp_path, "option smtpchk"), replies)
    assert sent == [b"HELO localhost\r\n", b"QUIT\r\n"]
    assert verdict(result) == ("L7OK", 221, "bye now")
    replies[1] = b"250-hello there\r\n250 8BITMIME\r\n"
    sent, result = dialogue(plan(tmp_path, "option smtpchk EHLO example.org"), replies)
    assert sent == [b"EHLO example.org\r\n", b"QUIT\r\n"]
    assert result.passed


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        ([b"554 go away\r\n"], ("L7STS", 554, "go away")),
        ([b"hello\r\n"], ("L7RSP", 0, "hello")),
        ([b"22"], ("L7RSP", 0, "22")),
        ([b"220-multi\r\n"], ("L7RSP", 0, "220-multi")),
        ([], ("L7RSP", 0, "TCPCHK got an empty response at step 2")),
        ([b"220 hi\r\n"], ("L7STS", 0, "TCPCHK got an empty response at step 5")),
        ([b"220 hi\r\n", b"501 bad helo\r\n"], ("L7STS", 501, "bad helo")),
        ([b"220 hi\r\n", b"hello\r\n"], ("L7STS", 0, "o")),
        ([b"220 hi\r\n", b"250 ok\r\n"], ("L7STS", 0, "TCPCHK got an empty response at step 7")),
        ([b"220 hi\r\n", b"250 ok\r\n", b"500 no quit\r\n"], ("L7STS", 500, "no quit")),
        ([b"220 hi\r\n", b"250 ok\r\n", b"2"], ("L7STS", 0, "")),
        ([b"220\r\n", b"250 ok\r\n", b"221\r\n"], ("L7OK", 221, "")),
    ],
)
def test_smtp_replies(tmp_path: Path, replies: list[bytes], expected: tuple[str, int, str]) -> None:
    _, result = dialogue(plan(tmp_path, "option smtpchk"), replies)
    assert verdict(result) == expected


# -- postgresql -----------------------------------------------------------------------------------


def test_pgsql_startup_bytes() -> None:
    assert pgsql_startup("bob") == bytes.fromhex("00000012000300007573657200626f620000")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("520000000800000000", ("L7OK", 0, "PostgreSQL server is ok")),
        ("520000000800000003", ("L7OK", 0, "PostgreSQL server is ok")),
        ("520000000c00000005aabbccdd", ("L7OK", 0, "PostgreSQL server is ok")),
        ("52000000170000000a534352414d2d5348412d32353600", ("L7OK", 0, "PostgreSQL server is ok")),
        ("520000000800000002", ("L7OK", 0, "PostgreSQL server is ok")),
        ("52000000ff0000000a", ("L7OK", 0, "PostgreSQL server is ok")),
        ("520000000800000008", ("L7STS", 0, "PostgreSQL unknown error")),
        ("520000000800000001", ("L7STS", 0, "PostgreSQL unknown error")),
        ("520000000801000000", ("L7STS", 0, "PostgreSQL unknown error")),
        ("5200000008000000", ("L7STS", 0, "PostgreSQL unknown error")),
        ("4e0000000800000000", ("L7STS", 0, "PostgreSQL unknown error")),
        ("4500000060534641", ("L7RSP", 0, "FA")),
        (
            "450000006053464154414c00433238303030004d6e6f2070675f68626120656e74727900",
            ("L7RSP", 0, "FATAL"),
        ),
        ("45", ("L7RSP", 0, "")),
        ("", ("L7RSP", 0, "TCPCHK got an empty response at step 3")),
    ],
)
def test_pgsql_replies(tmp_path: Path, reply: str, expected: tuple[str, int, str]) -> None:
    data = bytes.fromhex(reply)
    sent, result = dialogue(plan(tmp_path, "option pgsql-check user bob"), [data] if data else [])
    assert sent == [pgsql_startup("bob")]
    assert verdict(result) == expected


# -- ldap -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("300c02010161070a010004000400", ("L7OK", 0, "")),
        ("30840000000c0201016184000000070a010004000400", ("L7OK", 0, "")),
        (
            "300c02010161070a013104000400",
            ("L7STS", 49, "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"),
        ),
        ("310c02010161070a010004000400", ("L7RSP", 0, "Not LDAPv3 protocol")),
        ("300c02010261070a010004000400", ("L7RSP", 0, "Not LDAPv3 protocol")),
        ("300c02010161070b010004000400", ("L7RSP", 0, "Not LDAPv3 protocol")),
        ("31", ("L7RSP", 0, "Not LDAPv3 protocol")),
        ("300c020101", ("L7RSP", 0, "")),
        ("", ("L7RSP", 0, "TCPCHK got an empty response at step 2")),
    ],
)
def test_ldap_replies(tmp_path: Path, reply: str, expected: tuple[str, int, str]) -> None:
    data = bytes.fromhex(reply)
    sent, result = dialogue(plan(tmp_path, "option ldap-check"), [data] if data else [])
    assert sent == [bytes.fromhex("300c020101600702010304008000")]
    assert verdict(result) == expected


def test_ldap_reply_in_pieces(tmp_path: Path) -> None:
    data = bytes.fromhex("30840000000c0201016184000000070a010004000400")
    _, result = dialogue(plan(tmp_path, "option ldap-check"), [data[:14], data[14:]])
    assert verdict(result) == ("L7OK", 0, "")
    assert ldap_verdict(data[:14]) is None  # the long-form lengths push the result code out


# -- mysql ----------------------------------------------------------------------------------------

GREETING = bytes.fromhex("0c0000000a352e372e33332d6c6f6700")
OK_PACKET = bytes.fromhex("0700000200000002000000")


def test_mysql_login_bytes() -> None:
    assert mysql_login("haproxy", False) == bytes.fromhex(
        "290000010082000000800001210000000000000000000000000000000000000000000000"
        "686170726f787900000100000001"
    )
    assert mysql_login("haproxy", True) == bytes.fromhex(
        "0e0000010080000001686170726f787900000100000001"
    )


@pytest.mark.parametrize(
    ("option", "replies", "expected"),
    [
        ("option mysql-check", [GREETING], ("L7OK", 0, "")),
        ("option mysql-check", [GREETING + b"\xaa\xbb"], ("L7OK", 0, "")),
        (
            "option mysql-check",
            [bytes.fromhex("13000000ffe9034e6f7420616c6c6f7765642068657265")],
            ("L7STS", 1001, "Not allowed here"),
        ),
        ("option mysql-check", [bytes.fromhex("4a0000000a352e37")], ("L7RSP", 0, "")),
        ("option mysql-check", [], ("L7RSP", 0, "TCPCHK got an empty response at step 2")),
        ("option mysql-check user haproxy", [GREETING + OK_PACKET], ("L7OK", 0, "")),
        ("option mysql-check user haproxy", [GREETING, OK_PACKET], ("L7OK", 0, "")),
        ("option mysql-check user haproxy", [GREETING], ("L7RSP", 0, "")),
        ("option mysql-check user haproxy", [GREETING + b"\x01\x00"], ("L7RSP", 0, "")),
        (
            "option mysql-check user haproxy",
            [GREETING + bytes.fromhex("16000002ff15042332383030304163636573732064656e696564")],
            ("L7STS", 1045, "#28000Access denied"),
        ),
        (
            "option mysql-check user haproxy",
            [],
            ("L7RSP", 0, "TCPCHK got an empty response at step 3"),
        ),
    ],
)
def test_mysql_replies(
    tmp_path: Path, option: str, replies: list[bytes], expected: tuple[str, int, str]
) -> None:
    sent, result = dialogue(plan(tmp_path, option), replies)
    assert sent == ([mysql_login("haproxy", False)] if "user" in option else [])
    assert verdict(result) == expected


def test_mysql_pre41_sends_the_old_login(tmp_path: Path) -> None:
    sent, _ = dialogue(plan(tmp_path, "option mysql-check user haproxy pre-41"), [GREETING])
    assert sent == [mysql_login("haproxy", True)]


# -- failures of the connection -----------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    ["option redis-check", "option smtpchk", "option pgsql-check user u", "option ldap-check"],
)
def test_io_failures_carry_no_step(tmp_path: Path, option: str) -> None:
    probe = run(plan(tmp_path, option))
    assert next(probe) == Connect()
    with pytest.raises(StopIteration) as done:
        probe.send(IoError(text="Connection refused"))
    assert verdict(done.value.value) == ("L4CON", 0, "Connection refused")
    probe = run(plan(tmp_path, option))
    next(probe)
    action = probe.send(None)
    with pytest.raises(StopIteration) as done:
        while True:  # a timeout at the first wait for the server
            action = probe.send(IoError(timeout=True) if isinstance(action, Receive) else None)
    assert done.value.value.status is st.L7TOUT
    assert done.value.value.info == ""
