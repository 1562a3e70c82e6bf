"""Traffic logs from the real `haproxy-py -db`: syslog datagrams received on a UDP socket by
the test, `log stdout format raw`, halog reading the lines, and the same traffic through the
installed HAProxy 2.6 giving the same lines once the variable parts are masked.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.mworker_tools import master
from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_serve_http import backend
from tests.e2e.test_serve_tcp import serving
from tests.helpers import base_env, free_port, haproxy_command, haproxy_py_command, write_cfg

TIMEOUTS = "    timeout client 5s\n    timeout server 3s\n    timeout connect 2s\n"
HALOG = shutil.which("halog") or ("/usr/bin/halog" if Path("/usr/bin/halog").exists() else None)


@contextmanager
def syslog_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    try:
        yield sock
    finally:
        sock.close()


def receive(sock: socket.socket, count: int, wait: float = 3.0) -> list[bytes]:
    lines: list[bytes] = []
    deadline = time.monotonic() + wait
    while len(lines) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            lines.append(sock.recv(65536))
        except TimeoutError:
            break
    return lines


def curl(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args, url],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def http_cfg(port: int, log_port: int, servers: list[int], extra: str = "") -> str:
    lines = "".join(f"    server s{i} 127.0.0.1:{p}\n" for i, p in enumerate(servers, 1))
    return (
        f"global\n    log 127.0.0.1:{log_port} local0\n"
        f"defaults\n    mode http\n    log global\n    option httplog\n    option dontlognull\n"
        f"{TIMEOUTS}listen app\n    bind 127.0.0.1:{port}\n{extra}{lines}"
    )


HTTPLOG = re.compile(
    r"<134>\w{3} [ \d]\d \d\d:\d\d:\d\d haproxy-py\[(\d+)\]: 127\.0\.0\.1:\d+ "
    r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] app app/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/"
    r"(-?\d+) (\d+) (\d+) - - (\S{4}) \d+/\d+/\d+/\d+/\d+ \d+/\d+ (.*)\n"
)


def test_httplog_over_udp_with_halog(tmp_path: Path) -> None:
    port = free_port()
    with syslog_socket() as sink, backend() as b1, backend() as b2:
        cfg = http_cfg(port, sink.getsockname()[1], [b1.port, b2.port])
        with serving(tmp_path, cfg, port) as process:
            codes = [curl(f"http://127.0.0.1:{port}/page{i % 3}?q=1").stdout for i in range(9)]
            codes.append(curl(f"http://127.0.0.1:{port}/x", "-X", "POST", "-d", "a=1").stdout)
            lines = receive(sink, 10)
            pid = process.pid
    assert codes == ["200"] * 10
    assert len(lines) == 10
    parsed = [HTTPLOG.fullmatch(line.decode()) for line in lines]
    assert all(parsed), lines
    for match in parsed:
        assert int(match.group(1)) == pid  # the worker's pid (-db: the same process)
        assert match.group(2) in ("s1", "s2")
        timers = [int(match.group(i)) for i in range(3, 8)]
        assert all(0 <= t < 2000 for t in timers), timers
        assert match.group(8) == "200"
        assert int(match.group(9)) > 0
        assert match.group(10) == "----"
    requests = [m.group(11) for m in parsed]
    assert requests.count('"GET /page0?q=1 HTTP/1.1"') == 3
    assert requests[-1] == '"POST /x HTTP/1.1"'
    if HALOG is None:
        pytest.skip("halog is not installed")
    text = b"".join(_as_syslog_file(line) for line in lines)
    status = _halog(text, "-st")
    assert re.search(r"^200\s+10$", status, re.M), status
    servers = _halog(text, "-srv")
    served = {row.split()[0]: int(row.split()[7]) for row in servers.splitlines()[1:] if row}
    assert sum(served.values()) == 10 and set(served) <= {"app/s1", "app/s2"}, servers
    urls = _halog(text, "-u")
    counts = {row.split()[-1]: int(row.split()[0]) for row in urls.splitlines()[1:] if row}
    assert counts["/page0"] == counts["/page1"] == counts["/page2"] == 3, urls
    assert counts["/x"] == 1


def _as_syslog_file(datagram: bytes) -> bytes:
    """What syslogd writes to a file from a datagram: no <PRI>, the host after the date."""
    body = datagram.split(b">", 1)[1]
    return body[:15] + b" localhost" + body[15:]


def _halog(text: bytes, *args: str) -> str:
    assert HALOG is not None
    done = subprocess.run([HALOG, *args], input=text, capture_output=True, timeout=10)
    return done.stdout.decode()


def test_tcp_refused_server_logs_sc_and_retries(tmp_path: Path) -> None:
    port, port2, dead = free_port(), free_port(), free_port()
    with syslog_socket() as sink:
        cfg = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} local0\n"
            "defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n"
            f"{TIMEOUTS}"
            f"listen refused\n    bind 127.0.0.1:{port} defer-accept\n    retries 1\n"
            f"    server s1 127.0.0.1:{dead}\n"
            # defer-accept: the session starts with "hi" already there, so dontlognull never
            # hides a line because the proxy gave up before the client's bytes arrived.
            f"listen nosrv\n    bind 127.0.0.1:{port2} defer-accept\n"
        )
        with serving(tmp_path, cfg, port):
            for target in (port, port2):
                with socket.create_connection(("127.0.0.1", target)) as client:
                    client.sendall(b"hi")
                    client.settimeout(5)
                    assert client.recv(10) == b""
            lines = sorted(line.decode() for line in receive(sink, 2))
    assert len(lines) == 2
    nosrv, refused = sorted(lines, key=lambda line: "refused" in line)
    assert re.search(r"\] nosrv nosrv/<NOSRV> -1/-1/\d+ 0 SC \d+/\d+/0/0/0 0/0\n$", nosrv)
    # bc/sc may count the start-up probe's own session (also retrying against the dead
    # server when this line is written): only the retry count is this session's alone.
    assert re.search(r"\] refused refused/s1 \d+/-1/\d+ 0 SC \d+/\d+/\d+/\d+/1 0/0\n$", refused)


def test_server_timeout_in_tcp(tmp_path: Path) -> None:
    port = free_port()
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    with syslog_socket() as sink:
        cfg = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} local0\n"
            f"defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n"
            f"    timeout client 5s\n    timeout server 500ms\n    timeout connect 2s\n"
            f"listen t\n    bind 127.0.0.1:{port}\n"
            f"    server s1 127.0.0.1:{silent.getsockname()[1]}\n"
        )
        with serving(tmp_path, cfg, port):
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(b"x")
                client.settimeout(5)
                assert client.recv(10) == b""  # the server timeout closes us
            lines = [line.decode() for line in receive(sink, 1)]
    silent.close()
    assert [line.split()[-3] for line in lines] == ["sD"], lines


def test_stdout_raw_and_http_errors(tmp_path: Path) -> None:
    port = free_port()
    cfg = (
        "global\n    log stdout format raw local0\n"
        # dontlognull: wait_listening()'s probe connection is logged otherwise (as HAProxy does)
        f"defaults\n    mode http\n    log global\n    option httplog\n    option dontlognull\n"
        f"{TIMEOUTS}listen app\n    bind 127.0.0.1:{port}\n"
        "    capture request header User-Agent len 4\n"
        f"    server s1 127.0.0.1:{free_port()}\n"
    )
    path = write_cfg(tmp_path, cfg)
    process = subprocess.Popen(
        [*haproxy_py_command(), "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, process)
        assert curl(f"http://127.0.0.1:{port}/down", "-A", "tester").stdout == "503"
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
    line = out.splitlines()[0]
    assert re.fullmatch(
        r"127\.0\.0\.1:\d+ \[[^]]+\] app app/s1 \d+/\d+/-1/-1/\d+ 503 \d+ - - SC-- "
        r'1/1/0/0/\d+ 0/0 \{test\} "GET /down HTTP/1\.1"',
        line,
    ), line


def test_dead_udp_target_does_not_slow_traffic(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed at once: nothing listens there
    with backend() as b1:
        cfg = http_cfg(port, dead, [b1.port]).replace(
            "local0\n", f"local0\n    log unix@{tmp_path}/nosuch.sock local1\n", 1
        )
        with serving(tmp_path, cfg, port):
            started = time.monotonic()
            codes = [curl(f"http://127.0.0.1:{port}/").stdout for _ in range(20)]
            elapsed = time.monotonic() - started
    assert codes == ["200"] * 20
    assert elapsed < 10  # functional only; the 5% comparison is bench/logging.py's


# -- differential: the installed HAProxy on the same config and requests --------------------

MASKS = [
    (
        re.compile(rb"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d [\w.-]+\[\d+\]: "),
        rb"<\1>DATE TAG[PID]: ",
    ),
    (re.compile(rb"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]"), rb"[DATE]"),
    (re.compile(rb"127\.0\.0\.1:\d+ "), rb"127.0.0.1:PORT "),
    (re.compile(rb"(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+) (\d{3}) \d+ "), rb"T/T/T/T/T \6 B "),
    (re.compile(rb"(-?\d+)/(-?\d+)/(\d+) \d+ "), rb"\1/\2/T B "),
    (re.compile(rb"/\d+/\d+/\d+/\d+/(\d+) "), rb"/AC/\1 "),
]


def _masked(line: bytes) -> bytes:
    for pattern, replacement in MASKS:
        line = pattern.sub(replacement, line)
    return line


def _run_and_collect(command: list[str], cfg: str, tmp_path: Path, port: int, sink, actions):
    path = write_cfg(tmp_path, cfg, name=f"diff-{command[0].rsplit('/', 1)[-1]}.cfg")
    process = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, process)
        for action in actions:
            action()
        return sorted(_masked(line) for line in receive(sink, len(actions), wait=8))
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


@pytest.mark.skipif(haproxy_command() is None, reason="HAProxy 2.6 is not installed")
def test_lines_match_haproxy(tmp_path: Path) -> None:
    port, port2, dead = free_port(), free_port(), free_port()
    with syslog_socket() as sink, backend() as b1:
        cfg = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} local0\n"
            f"defaults\n    mode http\n    log global\n    option httplog\n"
            f"    option dontlognull\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{port}\n"
            "    capture request header User-Agent len 6\n"
            f"    server s1 127.0.0.1:{b1.port}\n"
            f"listen down\n    bind 127.0.0.1:{port2}\n    retries 0\n"
            f"    server s1 127.0.0.1:{dead}\n"
        )
        actions = [
            lambda: curl(f"http://127.0.0.1:{port}/a?b=c", "-A", "agent/1"),
            lambda: curl(f"http://127.0.0.1:{port}/x", "-X", "DELETE", "-A", "z"),
            lambda: curl(f"http://127.0.0.1:{port2}/"),
        ]
        ours = _run_and_collect(haproxy_py_command(), cfg, tmp_path, port, sink, actions)
        theirs = _run_and_collect(haproxy_command(), cfg, tmp_path, port, sink, actions)
    assert len(ours) == 3
    assert ours == theirs


# -- issue 9, second cut: structured data, unique ids, %[sample], set-log-level, cookies,
# admin lines and the master's events on syslog ------------------------------------------

RFC5424 = re.compile(
    rb"<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d - haproxy-py (\d+) - "
    rb"(\[.*?[^\\]\]|-) (.*)\n"
)
UNIQUE_ID = re.compile(
    r"[0-9A-F]{8}:[0-9A-F]{4}_[0-9A-F]{8}:[0-9A-F]{4}_[0-9A-F]{8}_\d{4}:[0-9A-F]{4}"
)


def test_sd_unique_id_samples_and_log_levels(tmp_path: Path) -> None:
    port = free_port()
    with syslog_socket() as sink, backend() as b1:
        cfg = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} format rfc5424 local0\n"
            f"defaults\n    mode http\n    option dontlognull\n{TIMEOUTS}"  # not the probe
            f"frontend fe\n    bind 127.0.0.1:{port}\n    log global\n"
            '    log-format "%ci %b/%s %ST id=%ID src=%[src] v=%{+Q}[var(txn.v)] rt=%rt"\n'
            '    log-format-sd "[req@1\\ st=%{+Q}ST\\ uri=%{+Q,+E}HU]"\n'
            "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n"
            "    unique-id-header X-Unique-ID\n"
            "    http-request set-var(txn.v) str(hello)\n"
            "    http-request set-header X-Copy %[unique-id]\n"
            "    http-request set-log-level silent if { path /quiet }\n"
            "    http-request set-log-level err if { path /loud }\n"
            f"    default_backend be\nbackend be\n    server s1 127.0.0.1:{b1.port}\n"
        )
        with serving(tmp_path, cfg, port) as process:
            codes = [
                curl(f"http://127.0.0.1:{port}/a?x=%22]", "-g"),
                curl(f"http://127.0.0.1:{port}/quiet"),
                curl(f"http://127.0.0.1:{port}/loud"),
            ]
            lines = receive(sink, 3, wait=4)
            pid = process.pid
        sent = b1.received.decode("latin-1")
    assert [c.stdout for c in codes] == ["200"] * 3
    assert len(lines) == 2, lines  # /quiet was silenced
    parsed = [RFC5424.fullmatch(line) for line in lines]
    assert all(parsed), lines
    first, loud = parsed
    assert int(first.group(1)) == 134 and int(loud.group(1)) == 131  # info, then err
    assert int(first.group(2)) == pid
    assert first.group(3) == b'[req@1 st=200 uri="/a?x=%22\\]"]'
    message = first.group(4).decode()
    found = re.fullmatch(
        r"127\.0\.0\.1 be/s1 200 id=(\S+) src=127\.0\.0\.1 v=\"hello\" rt=0", message
    )
    assert found, message
    unique = found.group(1)
    assert UNIQUE_ID.fullmatch(unique), unique
    assert unique.endswith(f"_0000:{pid:04X}")
    # The header the server got carries the same id as the log line.
    ids = re.findall(r"X-Unique-ID: (\S+)\r\n", sent)
    assert ids[0] == unique and len(ids) == 3
    assert re.findall(r"x-copy: (\S+)\r\n", sent) == ids  # the unique-id fetch (set-header)
    assert loud.group(4).decode().endswith(f'id={ids[2]} src=127.0.0.1 v="hello" rt=2')


SET_COOKIE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nSet-Cookie: SESSxyz=servervalue123; path=/\r\nContent-Length: 2\r\n\r\nok"
)


def test_capture_cookie_in_httplog_read_by_halog(tmp_path: Path) -> None:
    port = free_port()
    with syslog_socket() as sink, backend(response=SET_COOKIE_RESPONSE) as b1:
        cfg = http_cfg(port, sink.getsockname()[1], [b1.port], "    capture cookie SESS len 10\n")
        with serving(tmp_path, cfg, port):
            codes = [
                curl(f"http://127.0.0.1:{port}/c{i % 2}", "-H", "Cookie: a=1; SESSION=abcdefghij")
                for i in range(4)
            ]
            codes.append(curl(f"http://127.0.0.1:{port}/none"))
            lines = receive(sink, 5)
    assert [c.stdout for c in codes] == ["200"] * 5
    assert len(lines) == 5
    # The status, the bytes, then %CC %CS %tsc: "NAME=value" cut to 10 bytes.
    fields = [re.search(r" 200 \d+ (\S+) (\S+) (\S{4}) ", line.decode()).groups() for line in lines]
    assert fields[:4] == [("SESSION=ab", "SESSxyz=se", "----")] * 4, lines
    assert fields[4] == ("-", "SESSxyz=se", "----")
    if HALOG is None:
        pytest.skip("halog is not installed")
    text = b"".join(_as_syslog_file(line) for line in lines)
    assert re.search(r"^200\s+5$", _halog(text, "-st"), re.M)
    urls = _halog(text, "-u")
    counts = {row.split()[-1]: int(row.split()[0]) for row in urls.splitlines()[1:] if row}
    assert counts == {"/c0": 2, "/c1": 2, "/none": 1}, urls
    servers = _halog(text, "-srv")
    assert [row.split()[0] for row in servers.splitlines()[1:] if row] == ["app/s1"], servers


def test_admin_lines_go_to_the_backend_targets(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    with syslog_socket() as sink, syslog_socket() as other:
        cfg = (
            f"global\n    log 127.0.0.1:{other.getsockname()[1]} local0\n"
            f"defaults\n    mode http\n{TIMEOUTS}"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            f"backend be\n    log 127.0.0.1:{sink.getsockname()[1]} local2\n"
            "    option log-health-checks\n"
            f"    server s1 127.0.0.1:{dead} check inter 200 fall 1 rise 1\n"
            f"backend quiet\n    server s1 127.0.0.1:{dead} check inter 200 fall 1 rise 1\n"
        )
        with serving(tmp_path, cfg, port):
            lines = receive(sink, 3, wait=6)
            elsewhere = receive(other, 1, wait=0.5)
    text = [line.decode() for line in lines]
    assert len(text) == 3, text
    # local2 (18): notice 149 for the check, alert 145 for DOWN, emerg 144 for no server.
    assert re.fullmatch(
        r"<149>.* haproxy-py\[\d+\]: Health check for server be/s1 failed, reason: Layer4 "
        r"connection problem, info: \"Connection refused\", check duration: \d+ms, "
        r"status: 0/1 DOWN\.\n",
        text[0],
    ), text
    assert re.fullmatch(
        r"<145>.*: Server be/s1 is DOWN\. 0 active and 0 backup servers left\. 0 sessions "
        r"active, 0 requeued, 0 remaining in queue\.\n",
        text[1],
    ), text
    assert re.fullmatch(r"<144>.*: backend be has no server available!\n", text[2]), text
    assert elsewhere == []  # backend quiet has no log line: HAProxy logs its changes nowhere


def test_master_events_on_the_global_target(tmp_path: Path) -> None:
    port = free_port()
    with syslog_socket() as sink, backend() as b1:
        cfg = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} local0\n    nbthread 1\n"
            f"defaults\n    mode http\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{b1.port}\n"
        )
        with master(tmp_path, cfg) as running:
            running.wait_ready()
            first = receive(sink, 2)
            worker = running.workers()[0]
            running.process.send_signal(signal.SIGUSR2)
            running.wait_ready(2)
            reload = receive(sink, 4)
            mpid = running.pid
        stopped = receive(sink, 8, wait=3)
    head = rf"<133>\w{{3}} [ \d]\d \d\d:\d\d:\d\d haproxy-py\[{mpid}\]: "
    assert len(first) == 2, first
    assert re.fullmatch(head + rf"New worker \({worker}\) forked\n", first[0].decode())
    assert re.fullmatch(head + r"Loading success\.\n", first[1].decode())
    events = [line.decode().split(": ", 1)[1] for line in reload]
    assert events[0] == "Reloading HAProxy\n", events
    assert events[1].startswith("New worker (") and "Loading success.\n" in events
    assert any(
        line.startswith(b"<132>") and f"Former worker ({worker}) exited with code".encode() in line
        for line in reload + stopped
    ), reload + stopped
    assert any(b": Exiting Master process...\n" in line for line in stopped), stopped
