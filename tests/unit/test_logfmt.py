"""Log-format compilation, HAProxy's predefined formats and syslog framing, byte by byte.

Expected lines were captured from HAProxy 2.6.12 (UDP datagrams) and the variable parts
(date, pid, ports) set to the values the records below carry. TZ is forced to UTC.
"""

from __future__ import annotations

import os
import time
from ipaddress import ip_address
from pathlib import Path

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
from haproxy_py.sample.context import SampleContext
from tests.helpers import alerts, load_text

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
    # HAProxy 2.6 writes only addresses, ports, %Ts, %ms, %rt and %pid in hexadecimal.
    assert compile_format("%{+Q}r %{+Q}b %{+X}ST")(r) == '"GET /foo?x=1 HTTP/1.1" "app" 200'


def test_request_line_is_escaped() -> None:
    r = http_record()
    r.uri = '/a"b#c\x01'
    assert compile_format("%r")(r) == "GET /a#22b#23c#01 HTTP/1.1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%[src", "missing ']'"),
        ("%[nope]", "unknown fetch method 'nope'"),
        ("%[req.hdr(host)]", "needs 'HTTP request headers' which is not available here"),
        ("%[res.hdr(x)]", "needs 'HTTP response headers' which is not available here"),
        ("%[hdr(x)]", "needs 'HTTP request headers,HTTP response headers'"),
        ("%[req.len]", "needs 'request buffer' which is not available here"),
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


# -- unique ids, +X, +E, %[sample], captured cookies, structured data (issue 9, second cut) ---


def test_unique_id_format_in_hex_as_haproxy() -> None:
    """HAProxy 2.6.12 wrote 7F000001:CAC0_7F000001:4C37_6B01E117_0000:257E for this."""
    r = http_record()
    r.accept_date = 1795285271.529
    r.client_port, r.frontend_ip, r.frontend_port = 51904, "127.0.0.1", 19511
    r.request_counter, r.pid = 0, 9598
    fmt = compile_format("%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid")
    assert fmt(r) == "7F000001:CAC0_7F000001:4C37_6B01E117_0000:257E"
    r.accept_date = 1795285271.010
    assert compile_format("%{+X}ms %{+X}B %{+X}Tt")(r) == "0A 60 -1"


def test_sd_escape_flag() -> None:
    r = http_record()
    r.uri = "/x?y=%22]\\"
    fmt = compile_format("[id@1 bytes=%{+Q,+E}B st=%{+E,+Q}ST uri=%{+Q,+E}HU]")
    assert fmt(r) == '[id@1 bytes=60 st=200 uri="/x?y=%22\\]\\\\"]'


def test_sample_expressions() -> None:
    """As HAProxy 2.6.12 wrote them: a missing sample is "-" (quoted: ""), +E escapes."""
    r = http_record()
    ctx = SampleContext(src=ip_address("127.0.0.1"))
    ctx.set_var("txn.x", "ab\\c")
    r.ctx = ctx
    fmt = compile_format(
        "s=%[src] q=%{+Q}[str(x)] e=%{+E,+Q}[var(txn.x)] n=%[var(txn.none)] "
        "nq=%{+Q}[var(txn.none)] u=%[str(abc),upper] fe=%[fe_name]"
    )
    assert fmt.samples
    r.ctx.frontend = "app"
    assert fmt(r) == 's=127.0.0.1 q="x" e="ab\\\\c" n=- nq="" u=ABC fe=app'
    r.ctx = None  # no context: every sample is absent
    assert fmt(r) == 's=- q="" e="" n=- nq="" u=- fe=-'
    assert not compile_format("%ci").samples


def test_captured_cookies() -> None:
    r = http_record()
    r.request_cookie, r.response_cookie = "SESSION=ab", "SESSxyz=se"
    assert compile_format("%CC %CS")(r) == "SESSION=ab SESSxyz=se"
    r.request_cookie = r.response_cookie = ""
    assert compile_format("%CC %CS %{+Q}CC")(r) == '- - ""'


def test_rfc5424_structured_data() -> None:
    framer = SyslogFramer("rfc5424", "local0", tag="haproxy", pid=9598)
    assert framer.frame(6, "m", NOW, '[id@1 a="b"]') == (
        b'<134>1 2026-11-21T16:57:17.846037+00:00 - haproxy 9598 - [id@1 a="b"] m\n'
    )


def test_header_captures_escape_their_separators() -> None:
    """HAProxy 2.6.12: `X-A: a{b|c}d"#e` is captured as {a#7Bb#7Cc#7Dd#22#23e}."""
    r = http_record()
    r.request_captures = ['a{b|c}d"#e']
    r.uri = "/p{|}"
    assert compile_format("%hr %r")(r) == "{a#7Bb#7Cc#7Dd#22#23e} GET /p{|} HTTP/1.1"
    assert compile_format("%hrl")(r) == "a#7Bb#7Cc#7Dd#22#23e"


# -- `-c` compiles the formats with each proxy's mode, as HAProxy 2.6.12 does ---------------

_PROXIES = (
    "    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    "frontend fe\n{fe}    bind 127.0.0.1:19599\n    default_backend be\n"
    "backend be\n{be}    server s1 127.0.0.1:19598\n"
)


@pytest.mark.parametrize(
    ("defaults", "fe", "line", "message"),
    [
        ("    mode tcp\n", '    log-format "%HM"\n', 7,
         "failed to parse log-format : format variable 'HM' is reserved for HTTP mode."),
        ('    mode tcp\n    log-format "%[nope]"\n', "", 3,
         "failed to parse log-format : failed to parse sample expression <nope> : unknown "
         "fetch method 'nope'."),
        ('    log-format "%HM"\n', "", 2,  # inherited by a TCP frontend: the defaults line
         "failed to parse log-format : format variable 'HM' is reserved for HTTP mode."),
        ("    mode http\n", '    unique-id-format "%[req.hdr(host)]%[res.hdr(x)]"\n', 7,
         "failed to parse unique-id : sample fetch <res.hdr(x)> may not be reliably"
         " used here because it needs 'HTTP response headers' which is not available here."),
    ],
)  # fmt: skip
def test_formats_are_checked_by_the_configuration(
    tmp_path: Path, defaults: str, fe: str, line: int, message: str
) -> None:
    text = "defaults\n" + defaults + _PROXIES.format(fe=fe, be="")
    result = load_text(tmp_path, text)
    assert [(d.where.line, d.message) for d in alerts(result)] == [(line, message)]


def test_inherited_http_format_is_fine_in_http_proxies(tmp_path: Path) -> None:
    text = 'defaults\n    log-format "%HM %ID"\n    log-format-sd "[a@1 b=%{+Q,+E}HU]"\n'
    text += _PROXIES.format(fe="    mode http\n", be="    mode http\n")
    assert alerts(load_text(tmp_path, text)) == []


def test_date_ms_cached_per_second_matches_localtime() -> None:
    from haproxy_py.logfmt.variables import date_ms

    def expected(seconds: float) -> str:
        t = time.localtime(seconds)
        return time.strftime("%d/%b/%Y:%H:%M:%S", t) + f".{int(seconds * 1000) % 1000:03d}"

    base = 1_700_000_000.0
    # Back and forth across second boundaries: the cached second must never leak.
    for seconds in (base + 0.999, base + 1.0, base + 1.5, base + 0.2, base + 86_400.001, base):
        assert date_ms(seconds) == expected(seconds)
