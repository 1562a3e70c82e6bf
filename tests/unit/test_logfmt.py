"""Log-format compilation, HAProxy's predefined formats and syslog framing, byte by byte.

Expected lines were captured from HAProxy 2.6.12 (UDP datagrams) and the variable parts
(date, pid, ports) set to the values the records below carry. TZ is forced to UTC.
"""

from __future__ import annotations

import os
import time

import pytest

from haproxy_py.logfmt import (
    CLF_FORMAT,
    HTTP_FORMAT,
    TCP_FORMAT,
    LogFormatError,
    LogRecord,
    compile_format,
    connect_line,
    proxy_format,
    termination_state,
)
from haproxy_py.proto.syslog import SyslogFramer

NOW = 1795280237.846037  # 21/Nov/2026:16:57:17.846 UTC


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def http_record() -> LogRecord:
    r = LogRecord(NOW)
    r.request_date = NOW
    r.client_ip, r.client_port = "127.0.0.1", 57020
    r.frontend, r.backend, r.server = "app", "app", "s1"
    r.t_request, r.t_queue, r.t_connect, r.t_response, r.t_active = 0, 0, 0, 2, 2
    r.status, r.bytes_out = 200, 60
    r.termination = "--"
    r.actconn = r.feconn = 1
    r.method, r.uri, r.version = "GET", "/foo?x=1", "HTTP/1.1"
    r.request_captures = ["127.0.0.1:18555"]
    r.response_captures = ["abc"]
    return r


def test_httplog_line() -> None:
    line = compile_format(HTTP_FORMAT)(http_record())
    assert line == (
        "127.0.0.1:57020 [21/Nov/2026:16:57:17.846] app app/s1 0/0/0/2/2 200 60 - - ---- "
        '1/1/0/0/0 0/0 {127.0.0.1:18555} {abc} "GET /foo?x=1 HTTP/1.1"'
    )


def test_httplog_without_captures_keeps_one_space() -> None:
    r = http_record()
    r.request_captures = r.response_captures = None
    line = compile_format(HTTP_FORMAT)(r)
    assert line.endswith('1/1/0/0/0 0/0 "GET /foo?x=1 HTTP/1.1"')


def test_clf_line_as_haproxy() -> None:
    line = compile_format(CLF_FORMAT)(http_record())
    assert line == (
        '127.0.0.1 - - [21/Nov/2026:16:57:17 +0000] "GET /foo?x=1 HTTP/1.1" 200 60 "" "" '
        '57020 846 "app" "app" "s1" 0 0 0 2 2 ---- 1 1 0 0 0 0 0 "" "" "127.0.0.1:18555" "abc"'
    )


def test_clf_without_captures_ends_with_a_space() -> None:
    r = http_record()
    r.request_captures = r.response_captures = None
    assert compile_format(CLF_FORMAT)(r).endswith('0 0 0 "" "" ')


def test_tcplog_nosrv() -> None:
    r = LogRecord(NOW)
    r.client_ip, r.client_port = "127.0.0.1", 46960
    r.frontend = r.backend = "nosrv"
    r.t_total, r.status, r.termination = 0, 0, "SC"
    r.actconn, r.feconn = 2, 1
    line = compile_format(TCP_FORMAT, "tcp")(r)
    assert line == (
        "127.0.0.1:46960 [21/Nov/2026:16:57:17.846] nosrv nosrv/<NOSRV> -1/-1/0 0 SC 2/1/0/0/0 0/0"
    )


def test_custom_format_variables() -> None:
    r = http_record()
    r.bytes_in, r.t_total, r.hostname = 3, 52, "vm"
    fmt = compile_format("%ci %b %s %B %ts %ST %U %Tt %Th %ID %H %HM %HU %HP %HQ %HV %%", "http")
    assert fmt(r) == "127.0.0.1 app s1 60 -- 200 3 52 0 - vm GET /foo?x=1 /foo ?x=1 HTTP/1.1 %"
    assert compile_format("%{+Q}r %{+Q}b %{+X}ST")(r) == '"GET /foo?x=1 HTTP/1.1" "app" 000000C8'


def test_request_line_is_escaped() -> None:
    r = http_record()
    r.uri = '/a"b#c\x01'
    assert compile_format("%r")(r) == "GET /a#22b#23c#01 HTTP/1.1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%[src]", "not supported yet"),
        ("%bogus", "no such format variable 'bogus'"),
        ("%{+Z}r", "unknown option"),
        ("%{+Q", "missing '}'"),
    ],
)
def test_compile_errors(text: str, message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        compile_format(text)


@pytest.mark.parametrize("name", ["HM", "TR", "tr", "r", "CC", "tsc", "Ta"])
def test_http_variables_refused_in_tcp_mode(name: str) -> None:
    with pytest.raises(LogFormatError, match=f"'{name}' is reserved for HTTP mode"):
        compile_format(f"%{name}", "tcp")


def test_proxy_format_choice() -> None:
    assert proxy_format({"httplog": True}, {}, "http") == HTTP_FORMAT
    assert proxy_format({"httplog": {"clf": True}}, {}, "http") == CLF_FORMAT
    assert proxy_format({"httplog": True}, {}, "tcp") == TCP_FORMAT
    assert proxy_format({"tcplog": True}, {}, "tcp") == TCP_FORMAT
    assert proxy_format({"tcplog": True}, {"log-format": "%ci"}, "tcp") == "%ci"
    assert proxy_format({}, {}, "tcp") is None


def test_connect_line() -> None:
    r = LogRecord(NOW)
    r.client_ip, r.client_port, r.frontend_ip, r.frontend_port = "127.0.0.1", 1, "127.0.0.1", 2
    r.frontend, r.mode = "plain", "TCP"
    assert connect_line(r) == "Connect from 127.0.0.1:1 to 127.0.0.1:2 (plain/TCP)"


def test_termination_states() -> None:
    assert termination_state("S", "C") == "SC"
    assert termination_state("c", "D") == "cD"
    assert termination_state("-", "-") == "--"
    with pytest.raises(ValueError):
        termination_state("X", "D")


def test_record_error_classification() -> None:
    r = http_record()
    assert not r.is_error
    r.termination = "SC"
    assert r.is_error
    r = http_record()
    r.status = 503
    assert r.is_error


# -- syslog framing (captured from HAProxy 2.6.12) --------------------------------------------

MSG = '127.0.0.1 - - [21/Nov/2026:16:57:17 +0000] "GET /foo?x=1 HTTP/1.1" 200 60 "" ""'


def test_rfc3164_hostname_tag_and_len() -> None:
    framer = SyslogFramer("rfc3164", "local0", length=90, tag="mytag", pid=3245, hostname="myhost")
    assert framer.frame(6, MSG, NOW) == (
        b"<134>Nov 21 16:57:17 myhost mytag[3245]: 127.0.0.1 - - [21/Nov/2026:16:57:17 +0000] "
        b'"GET /\n'
    )


def test_rfc3164_default() -> None:
    framer = SyslogFramer("rfc3164", "local0", tag="haproxy", pid=3072)
    assert framer.frame(6, "x y", NOW) == b"<134>Nov 21 16:57:17 haproxy[3072]: x y\n"


def test_rfc3164_day_is_space_padded() -> None:
    framer = SyslogFramer("rfc3164", "local0", tag="haproxy", pid=1)
    assert framer.frame(6, "m", NOW - 20 * 86400).startswith(b"<134>Nov  1 16:57:17 ")


def test_rfc5424() -> None:
    framer = SyslogFramer("rfc5424", "local1", length=120, tag="mytag", pid=3245, hostname="myhost")
    assert framer.frame(6, MSG, NOW) == (
        b"<142>1 2026-11-21T16:57:17.846037+00:00 myhost mytag 3245 - - 127.0.0.1 - - "
        b'[21/Nov/2026:16:57:17 +0000] "GET /foo?x=1 H\n'
    )
    plain = SyslogFramer("rfc5424", "local1", tag="haproxy", pid=6085)
    assert plain.frame(6, "m", NOW) == (
        b"<142>1 2026-11-21T16:57:17.846037+00:00 - haproxy 6085 - - m\n"
    )


@pytest.mark.parametrize(
    ("fmt", "facility", "expected"),
    [
        ("short", "local2", b"<6>m\n"),
        ("raw", "local3", b"m\n"),
        ("iso", "local4", b"2026-11-21T16:57:17.846037+00:00 m\n"),
        ("timed", "local5", b"<6>2026-11-21T16:57:17.846037+00:00 m\n"),
        ("priority", "local6", b"<182>m\n"),
        ("local", "local7", b"<190>Nov 21 16:57:17 haproxy[7]: m\n"),
    ],
)
def test_other_formats(fmt: str, facility: str, expected: bytes) -> None:
    framer = SyslogFramer(fmt, facility, tag="haproxy", pid=7, hostname="ignored-by-local")
    assert framer.frame(6, "m", NOW) == expected


def test_levels_and_minlevel() -> None:
    notice_only = SyslogFramer("raw", "local0", "notice")
    assert notice_only.frame(6, "info", NOW) is None
    assert notice_only.frame(3, "err", NOW) == b"err\n"
    capped = SyslogFramer("short", "local0", "debug", "err")
    assert capped.frame(0, "emerg", NOW) == b"<3>emerg\n"
    assert capped.frame(6, "info", NOW) == b"<6>info\n"


def test_tz_is_utc_in_these_tests() -> None:
    assert os.environ["TZ"] == "UTC"
