"""Probe plans and the sans-IO interpreter: request bytes, tcp-check steps, result words.

Expected bytes and texts were recorded from HAProxy 2.6.12 (`haproxy -db` against small test
servers); the configurations are the ones that produced them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haproxy_py.checks import status as st
from haproxy_py.checks.http import ResponseReader, build_request
from haproxy_py.checks.probe import Connect, IoError, Plan, Receive, Send, plan_for_proxy, run
from haproxy_py.checks.status import CheckResult
from haproxy_py.config import load_configuration

HEAD = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"


def plan(tmp_path: Path, body: str) -> Plan:
    path = tmp_path / "c.cfg"
    path.write_text(HEAD + "backend be\n" + body + "  server s 127.0.0.1:1 check\n")
    result = load_configuration([str(path)])
    assert result.config is not None, result
    return plan_for_proxy(result.config.backend("be"))


def drive(p: Plan, replies: list[Any]) -> tuple[list[Any], CheckResult]:
    """Run a plan with scripted outcomes; returns the I/O asked for and the result."""
    asked: list[Any] = []
    probe = run(p)
    replies = list(replies)
    try:
        action = next(probe)
        while True:
            asked.append(action)
            action = probe.send(replies.pop(0))
    except StopIteration as done:
        return asked, done.value


# -- HTTP request bytes (as HAProxy 2.6 sent them) -------------------------------------------


def test_httpchk_default_request(tmp_path: Path) -> None:
    asked, _ = drive(plan(tmp_path, "  option httpchk\n"), [None, None, b""])
    assert asked[1] == Send(b"OPTIONS / HTTP/1.0\r\n\r\n")


def test_httpchk_lone_uri(tmp_path: Path) -> None:
    asked, _ = drive(plan(tmp_path, "  option httpchk /only\n"), [None, None, b""])
    assert asked[1] == Send(b"OPTIONS /only HTTP/1.0\r\n\r\n")


def test_httpchk_send_headers(tmp_path: Path) -> None:
    body = (
        "  option httpchk GET /health HTTP/1.1\n"
        "  http-check send hdr Host www.example.com hdr X-A b\n"
    )
    asked, _ = drive(plan(tmp_path, body), [None, None, b""])
    assert asked[1] == Send(
        b"GET /health HTTP/1.1\r\nhost: www.example.com\r\nx-a: b\r\nconnection: close\r\n\r\n"
    )


def test_httpchk_send_body_and_version() -> None:
    assert build_request("POST", "/x", "HTTP/1.1", (("host", "h"),), "hello") == (
        b"POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
    )


# -- HTTP results ---------------------------------------------------------------------------


def http(tmp_path: Path, extra: str, response: bytes) -> CheckResult:
    _, result = drive(
        plan(tmp_path, "  option httpchk GET /health\n" + extra), [None, None, response, b""]
    )
    return result


def test_http_2xx_3xx_pass_by_default(tmp_path: Path) -> None:
    assert http(tmp_path, "", b"HTTP/1.0 200 OK\r\n\r\n") == CheckResult(st.L7OK, 200)
    assert http(tmp_path, "", b"HTTP/1.0 302 Found\r\n\r\n") == CheckResult(st.L7OK, 302)
    result = http(tmp_path, "", b"HTTP/1.1 503 Service Unavailable\r\n\r\ndown")
    assert result == CheckResult(st.L7STS, 503, "Service Unavailable")


def test_http_expect_status(tmp_path: Path) -> None:
    result = http(tmp_path, "  http-check expect status 200\n", b"HTTP/1.0 404 Not Found\r\n\r\n")
    assert (
        result.reason() == 'Layer7 wrong status, code: 404, info: "Not Found", check duration: 0ms'
    )
    negated = http(tmp_path, "  http-check expect ! status 200\n", b"HTTP/1.0 200 OK\r\n\r\n")
    assert negated == CheckResult(st.L7STS, 200, "OK")
    rstatus = http(tmp_path, "  http-check expect rstatus ^2\n", b"HTTP/1.0 404 Not Found\r\n\r\n")
    assert rstatus == CheckResult(st.L7STS, 404, "Not Found")


def test_http_expect_strings(tmp_path: Path) -> None:
    ok = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert http(tmp_path, "  http-check expect string foo\n", ok) == CheckResult(
        st.L7RSP, 0, "HTTP content check did not match"
    )
    assert http(tmp_path, "  http-check expect rstring ^foo\n", ok) == CheckResult(
        st.L7RSP, 0, "HTTP content check did not match"
    )
    assert http(tmp_path, "  http-check expect ! string ok\n", ok) == CheckResult(
        st.L7RSP, 0, "HTTP check matched unwanted content"
    )
    assert http(tmp_path, "  http-check expect string ok\n", ok) == CheckResult(st.L7OK, 200)


def test_http_invalid_response_and_errors(tmp_path: Path) -> None:
    assert http(tmp_path, "", b"hello there\r\n\r\n") == CheckResult(st.L7RSP)
    p = plan(tmp_path, "  option httpchk\n")
    assert drive(p, [IoError(text="Connection refused")])[1] == CheckResult(
        st.L4CON, 0, "Connection refused"
    )
    assert drive(p, [IoError(timeout=True)])[1] == CheckResult(st.L4TOUT)
    assert drive(p, [None, None, IoError(timeout=True)])[1] == CheckResult(st.L7TOUT)
    reset = drive(p, [None, None, IoError(text="Connection reset by peer")])[1]
    assert reset == CheckResult(st.SOCKERR, 0, "Connection reset by peer")


def test_response_reader_byte_at_a_time() -> None:
    reader = ResponseReader()
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA":
        reader.receive_data(bytes([byte]))
    assert reader.complete and not reader.invalid
    assert (reader.status, reader.reason, reader.body) == (200, "OK", b"abc")


# -- plain and tcp-check ---------------------------------------------------------------------


def test_plain_connect(tmp_path: Path) -> None:
    p = plan(tmp_path, "")
    assert drive(p, [None]) == ([Connect()], CheckResult(st.L4OK))
    assert drive(p, [IoError(text="Connection refused")])[1] == CheckResult(
        st.L4CON, 0, "Connection refused"
    )


TCP = "  option tcp-check\n"


def test_tcp_check_banner_send_expect(tmp_path: Path) -> None:
    p = plan(
        tmp_path,
        TCP + "  tcp-check expect string 220\n  tcp-check send QUIT\\r\\n\n"
        "  tcp-check expect string 221\n",
    )
    asked, result = drive(p, [None, b"22", b"0 hello\r\n", None, b"221 bye\r\n"])
    assert asked == [Connect(), Receive(), Receive(), Send(b"QUIT\r\n"), Receive()]
    assert result == CheckResult(st.L7OK, 0, "(tcp-check)")
    _, timeout = drive(p, [None, b"220 hello\r\n", None, IoError(timeout=True)])
    assert timeout == CheckResult(st.L7TOUT, 0, " at step 3 of tcp-check (expect string '221')")


def test_tcp_check_failures_words(tmp_path: Path) -> None:
    banner = b"220 hello\r\n"
    cases = {
        "  tcp-check expect ! string 220\n": (
            [None, banner],
            "TCPCHK matched unwanted content '220' at step 1",
        ),
        "  tcp-check expect binary 3233\n": (
            [None, banner, b""],
            "TCPCHK did not match content (binary) at step 1",
        ),
        "  tcp-check expect rstring ^5\n": (
            [None, banner, b""],
            "TCPCHK did not match content (regex) at step 1",
        ),
        "  tcp-check expect string 5\n": (
            [None, banner, b""],
            "TCPCHK did not match content '5' at step 1",
        ),
        "  tcp-check expect ! rstring ^2\n": (
            [None, banner],
            "TCPCHK matched unwanted content (regex) at step 1",
        ),
        "  tcp-check expect ! binary 32\n": (
            [None, banner],
            "TCPCHK matched unwanted content (binary) at step 1",
        ),
        "  tcp-check send hi comment greet\n  tcp-check expect comment banner string 9\n": (
            [None, None, banner, b""],
            "TCPCHK did not match content '9' at step 2 comment: banner",
        ),
        "  tcp-check expect string 220\n  tcp-check expect string x\n": (
            [None, b""],
            "TCPCHK got an empty response at step 1",
        ),
    }
    for rules, (replies, info) in cases.items():
        _, result = drive(plan(tmp_path, TCP + rules), replies)
        assert result == CheckResult(st.L7RSP, 0, info), rules


def test_tcp_check_connect_failures(tmp_path: Path) -> None:
    refused = IoError(text="Connection refused")
    _, implicit = drive(plan(tmp_path, TCP + "  tcp-check expect string 220\n"), [refused])
    assert implicit == CheckResult(
        st.L4CON, 0, "Connection refused at initial connection step of tcp-check"
    )
    _, first = drive(plan(tmp_path, TCP + "  tcp-check connect port 18019\n"), [refused])
    assert first == CheckResult(
        st.L4CON, 0, "Connection refused at step 1 of tcp-check (connect port 18019)"
    )
    rules = TCP + "  tcp-check connect\n  tcp-check send hello\n  tcp-check connect port 18019\n"
    asked, third = drive(plan(tmp_path, rules), [None, None, refused])
    # connect rules say whether they send a PROXY header (the implicit one: None, the server's)
    assert asked == [
        Connect(send_proxy=False),
        Send(b"hello"),
        Connect(port=18019, send_proxy=False),
    ]
    assert third.info == "Connection refused at step 3 of tcp-check (connect port 18019)"
    _, reset = drive(
        plan(tmp_path, TCP + "  tcp-check send hello\\n\n  tcp-check expect string x\n"),
        [None, None, IoError(text="Connection reset by peer")],
    )
    assert reset == CheckResult(
        st.SOCKERR, 0, "Connection reset by peer at step 2 of tcp-check (expect string 'x')"
    )


def test_tcp_check_send_binary(tmp_path: Path) -> None:
    p = plan(tmp_path, TCP + "  tcp-check send-binary 6869\n  tcp-check expect binary 39\n")
    asked, result = drive(p, [None, None, b"x9"])
    assert asked[1] == Send(b"hi")
    assert result == CheckResult(st.L7OK, 0, "(tcp-check)")


def test_connect_rules_send_proxy(tmp_path: Path) -> None:
    rules = TCP + "  tcp-check connect send-proxy\n  tcp-check connect port 18019\n"
    asked, _ = drive(plan(tmp_path, rules), [None, None])
    assert asked == [Connect(send_proxy=True), Connect(port=18019, send_proxy=False)]
    implicit, _ = drive(plan(tmp_path, TCP + "  tcp-check send x\n"), [None, None])
    assert implicit[0] == Connect(send_proxy=None)  # the server's check-send-proxy decides
