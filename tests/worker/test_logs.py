"""The worker's loggers (worker/logs.py, worker/log_capture.py) on real UDP sockets:
set-log-level, error-log-format, log-format-sd only to rfc5424 targets, unique ids, %rt,
`capture cookie` and the admin logger, each checked on the datagrams received.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from haproxy_py.logfmt import LogRecord
from haproxy_py.logfmt.record import SILENT
from haproxy_py.sample.context import SampleContext
from haproxy_py.sample.expr import compile_expression
from tests.helpers import load_text
from worker.log_capture import add_unique_id, find_cookie, on_end, on_request, on_response
from worker.logs import LogCounters, LogSetupError, build_loggers


@pytest.fixture
def sink() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    yield sock
    sock.close()


def _loggers(tmp_path: Path, port: int, frontend: str, backend: str = "") -> tuple:
    text = (
        f"global\n    log 127.0.0.1:{port} local0\n"
        f"    log 127.0.0.1:{port} format rfc5424 local1\n"
        "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
        "    timeout connect 1s\n"
        f"frontend fe\n    bind 127.0.0.1:19599\n{frontend}    default_backend be\n"
        f"backend be\n{backend}    server s1 127.0.0.1:1\n"
    )
    result = load_text(tmp_path, text)
    assert result.config is not None, [d.render(0) for d in result.diagnostics]
    config = result.config
    counters = LogCounters()
    fronts = [p for p in config.proxies if p.is_frontend]
    loggers, sockets = build_loggers(config, fronts, counters)
    return loggers, sockets, counters


def _record(method: str = "GET") -> LogRecord:
    record = LogRecord(1795280237.5)
    record.frontend, record.backend, record.server, record.mode = "fe", "be", "s1", "HTTP"
    record.method, record.uri, record.version = method, "/x", "HTTP/1.1" if method else ""
    record.status = 200 if method else 400
    record.termination = "--" if method else "PR"
    record.t_connect = 0
    return record


def _received(sink: socket.socket) -> list[bytes]:
    got = []
    try:
        while True:
            got.append(sink.recv(4096))
    except TimeoutError:
        return got


def test_levels_error_format_and_sd(tmp_path: Path, sink: socket.socket) -> None:
    port = sink.getsockname()[1]
    loggers, sockets, _ = _loggers(
        tmp_path,
        port,
        '    log global\n    log-format "NORMAL %ST"\n    error-log-format "ERROR %ST"\n'
        '    log-format-sd "[id@1 st=%ST]"\n',
    )
    logger = loggers["fe"]
    logger.log(_record())
    normal = _received(sink)
    assert [d.split(b" ", 1)[0][:5] for d in normal] == [b"<134>", b"<142>"]
    assert normal[0].endswith(b": NORMAL 200\n")  # rfc3164: no structured data
    assert b" - [id@1 st=200] NORMAL 200\n" in normal[1]  # rfc5424 carries it
    record = _record()
    record.level = 3  # set-log-level err
    logger.log(record)
    assert [d[:5] for d in _received(sink)] == [b"<131>", b"<139>"]
    record = _record()
    record.level = SILENT
    logger.log(record)
    assert _received(sink) == []
    logger.log(_record(method=""))  # a request that could not be parsed
    bad = _received(sink)
    assert bad[0].endswith(b": ERROR 400\n")
    sockets.close()


def test_unique_id_and_request_counter(tmp_path: Path, sink: socket.socket) -> None:
    port = sink.getsockname()[1]
    loggers, sockets, counters = _loggers(
        tmp_path,
        port,
        "    unique-id-format %rt-%{+Q}b\n    unique-id-header X-Req-Id\n"
        '    log global\n    log-format "id=%ID rt=%rt"\n',
    )
    logger = loggers["fe"]
    first, second = _record(), _record()
    session = SimpleNamespace(logger=logger)
    headers: list[tuple[bytes, bytes]] = [(b"host", b"h")]
    add_unique_id(session, first, headers)
    assert headers[-1] == (b"X-Req-Id", b'0-"be"')
    logger.log(second)  # never forwarded: its id is made at log time
    logger.log(first)
    assert [d.rsplit(b": ", 1)[1] for d in _received(sink)[::2]] == [
        b'id=1-"be" rt=1\n',
        b'id=0-"be" rt=0\n',
    ]
    assert counters.requests == 2
    sockets.close()


def test_frontend_with_only_a_unique_id_has_a_silent_logger(tmp_path: Path) -> None:
    text = (
        "defaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:19599\n"
        "    unique-id-format %ci\n    unique-id-header X-ID\n"
    )
    config = load_text(tmp_path, text).config
    assert config is not None
    loggers, sockets = build_loggers(config, config.proxies, LogCounters())
    assert loggers["fe"].targets == () and not loggers["fe"].at_accept
    sockets.close()


def test_bad_formats_are_reported(tmp_path: Path) -> None:
    """What `-c` accepted but the worker cannot build (a map file gone since) is listed."""
    mapped = tmp_path / "ips.map"
    mapped.write_text("127.0.0.1 local\n")
    text = (
        "global\n    log 127.0.0.1:9 local0\ndefaults\n    mode http\n"
        "frontend fe\n    bind 127.0.0.1:19599\n    log global\n"
        f'    log-format "%[src,map_ip({mapped})]"\n'
        f"    unique-id-format %[src,map_ip({mapped})]\n"
    )
    config = load_text(tmp_path, text).config
    assert config is not None
    mapped.unlink()
    with pytest.raises(LogSetupError) as caught:
        build_loggers(config, config.proxies, LogCounters())
    messages = caught.value.messages
    assert len(messages) == 2
    assert (
        "proxy 'fe': failed to parse log-format: failed to parse sample expression" in (messages[0])
    )
    assert "failed to parse unique-id-format:" in messages[1]


@pytest.mark.parametrize(
    ("headers", "header", "expected"),
    [
        ([(b"Cookie", b"a=1; SESSION=abcdefghijklmnop; b=2")], b"cookie", "SESSION=ab"),
        ([(b"cookie", b"a=1"), (b"Cookie", b"SESS=1")], b"cookie", "SESS=1"),
        ([(b"Cookie", b"a=1; b=SESS")], b"cookie", ""),
        ([(b"Set-Cookie", b"SESSxyz=servervalue123; path=/")], b"set-cookie", "SESSxyz=se"),
        ([(b"Set-Cookie", b"x=1; SESS=2")], b"set-cookie", ""),  # attributes are not cookies
    ],
)
def test_find_cookie(headers: list, header: bytes, expected: str) -> None:
    assert find_cookie(headers, header, b"SESS", 10) == expected


def test_capture_and_log_level_hooks(tmp_path: Path) -> None:
    loggers, sockets, _ = _loggers(
        tmp_path, 9, '    log global\n    capture cookie SESS len 8\n    log-format "%[src]"\n'
    )
    logger = loggers["fe"]
    assert logger.samples and logger.cookie_capture == ("SESS", 8)
    client = socket.socket()
    session = SimpleNamespace(logger=logger, ctx=None, client=client, peer=("127.0.0.1", 5))
    record = _record()
    on_request(session, record, [(b"cookie", b"SESSION=12345678")])
    on_response(session, record, 200, [(b"set-cookie", b"SESSX=abc")])
    assert (record.request_cookie, record.response_cookie) == ("SESSION=", "SESSX=ab")
    assert record.ctx is session.ctx and session.ctx.response.status == 200
    assert str(session.ctx.src) == "127.0.0.1"
    session.ctx.log_level = 2
    on_end(session, record)
    assert record.level == 2 and session.ctx.log_level == -1  # the next request starts over
    client.close()
    sockets.close()


def test_tcp_content_log_level_read_from_the_context(tmp_path: Path, sink: socket.socket) -> None:
    """`tcp-request content set-log-level` leaves the level on the session's context."""
    port = sink.getsockname()[1]
    loggers, sockets, _ = _loggers(tmp_path, port, '    log global\n    log-format "L %ST"\n')
    record = _record()
    record.ctx = SampleContext(log_level=3)
    loggers["fe"].log(record)
    assert [d[:5] for d in _received(sink)] == [b"<131>", b"<139>"]
    record = _record()
    record.ctx = SampleContext(log_level=SILENT)
    loggers["fe"].log(record)
    assert _received(sink) == []
    sockets.close()


def test_unique_id_fetch_makes_the_id_once(tmp_path: Path) -> None:
    loggers, sockets, _ = _loggers(tmp_path, 9, "    unique-id-format %rt-%ci\n")
    logger = loggers["fe"]
    client = socket.socket()
    session = SimpleNamespace(
        logger=logger, ctx=None, client=client, peer=("127.0.0.1", 5), rules=object()
    )
    record = _record()
    record.client_ip = "10.0.0.1"
    on_request(session, record, [])
    fetch = compile_expression("unique-id").get
    assert fetch(session.ctx) == "0-10.0.0.1"
    assert fetch(session.ctx) == "0-10.0.0.1" and record.unique_id == "0-10.0.0.1"
    assert fetch(SampleContext()) is None  # no unique-id-format: nothing
    client.close()
    sockets.close()
