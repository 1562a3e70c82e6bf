"""The PROXY protocol end to end: `accept-proxy` listeners behind clients that send v1 (curl
--haproxy-protocol, Python) and v2 (Python), `send-proxy`/`send-proxy-v2` towards servers that
record every byte, `check-send-proxy` on health checks, and the refusals.

The differential part runs the installed HAProxy 2.6 and haproxy-py on the same configuration
(each with its own recording servers) and compares, case by case, what the server received,
the log line (date, timers and real client ports masked) and how the client saw the end.
"""

from __future__ import annotations

import queue
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from haproxy_py.proto.proxy_protocol import V2_SIGNATURE, ProxyHeader, crc32c, parse_header
from tests.e2e.tcp_tools import ThreadedServer
from tests.helpers import base_env, haproxy_command, haproxy_py_command, write_cfg

pytestmark = [pytest.mark.e2e]

# Ports 20700-20799 belong to this test: HAProxy gets the first block, haproxy-py the second.
THEIRS_BASE, OURS_BASE = 20770, 20785
TIMEOUT_CLIENT = 1.5  # seconds: `timeout client`, also the wait for a header


class Recorder(ThreadedServer):
    """Keeps every connection's bytes (`conns`, in accept order); answers each HTTP request
    head it sees with a 200 (so keep-alive works), and closes when the peer does."""

    def __init__(self) -> None:
        self.conns: list[bytearray] = []
        self.lock = threading.Lock()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        data = bytearray()
        with self.lock:
            self.conns.append(data)
        answered = 0
        with conn:
            conn.settimeout(10)
            with suppress(OSError):
                while chunk := conn.recv(65536):
                    data += chunk
                    heads = bytes(data).count(b"\r\n\r\n")
                    while answered < heads and b"HTTP/1.1" in data:
                        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        answered += 1

    def count(self) -> int:
        with self.lock:
            return len(self.conns)

    def wait_for(self, index: int, limit: float = 5.0) -> bytes:
        """Connection `index`'s bytes once some arrived and none came for a moment."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self.lock:
                if len(self.conns) > index and self.conns[index]:
                    break
            time.sleep(0.02)
        else:
            return b""
        last = -1
        while time.monotonic() < end and last != len(self.conns[index]):
            last = len(self.conns[index])
            time.sleep(0.1)
        return bytes(self.conns[index])


def config(base: int, servers: list[Recorder]) -> str:
    v1, v2, http, checked_v1, checked_v2, rule, no_rule = (server.port for server in servers)
    return (
        "global\n    log stdout format raw local0\n"
        "defaults\n    mode tcp\n    log global\n    option tcplog\n"
        f"    timeout client {int(TIMEOUT_CLIENT * 1000)}ms\n"
        "    timeout server 5s\n    timeout connect 2s\n"
        f"frontend fe_v1\n    bind 127.0.0.1:{base} accept-proxy\n    default_backend be_v1\n"
        f"frontend fe_v2\n    bind 127.0.0.1:{base + 1} accept-proxy\n"
        "    default_backend be_v2\n"
        f"frontend fe_plain\n    bind 127.0.0.1:{base + 2}\n    default_backend be_v2\n"
        "frontend fe_http\n    mode http\n    option httplog\n    option forwardfor\n"
        "    unique-id-format id-%ci-%fi:%fp\n"
        f"    bind 127.0.0.1:{base + 3} accept-proxy name web\n"
        "    http-request set-header x-src %[src]:%[src_port]-%[dst]:%[dst_port]\n"
        "    default_backend be_http\n"
        f"frontend fe_expect\n    bind 127.0.0.1:{base + 4}\n    bind 127.0.0.1:{base + 5}\n"
        f"    tcp-request connection expect-proxy layer4 if {{ dst_port {base + 4} }}\n"
        "    default_backend be_v1\n"
        f"frontend fe_rules\n    bind 127.0.0.1:{base + 7} accept-proxy\n"
        "    tcp-request connection reject if { src 1.2.3.4 }\n"  # the real address: no
        "    use_backend be_v2 if { src 9.9.9.9 }\n"  # the header's: yes
        "    default_backend be_v1\n"
        "frontend fe_quiet\n    option dontlognull\n"
        f"    bind 127.0.0.1:{base + 6} accept-proxy\n    default_backend be_v1\n"
        f"backend be_v1\n    server s1 127.0.0.1:{v1} send-proxy\n"
        f"backend be_v2\n    server s1 127.0.0.1:{v2} send-proxy-v2"
        " proxy-v2-options crc32c,unique-id\n"
        "backend be_http\n    mode http\n    http-reuse always\n"
        f"    server s1 127.0.0.1:{http} send-proxy-v2 proxy-v2-options unique-id\n"
        "backend be_checked\n"
        f"    server c1 127.0.0.1:{checked_v1} check-send-proxy check inter 300ms\n"
        f"    server c2 127.0.0.1:{checked_v2} send-proxy-v2 check inter 300ms\n"
        "backend be_rule\n    option tcp-check\n    tcp-check connect send-proxy\n"
        f"    tcp-check send hello\\r\\n\n    server t1 127.0.0.1:{rule} check inter 300ms\n"
        "backend be_no_rule\n    option tcp-check\n    tcp-check connect\n"
        "    tcp-check send hi\\r\\n\n"
        f"    server t2 127.0.0.1:{no_rule} check inter 300ms check-send-proxy\n"
    )


def _listening(port: int) -> bool:
    want = f":{port:04X} "
    with open("/proc/net/tcp") as table:
        return any(want in line and line.split()[3] == "0A" for line in table)


class Proxy:
    """One running proxy with its recording servers and its log lines (stdout) in a queue."""

    def __init__(self, command: list[str], directory: Path, base: int) -> None:
        self.base = base
        self.servers = [Recorder() for _ in range(7)]
        cfg = write_cfg(directory, config(base, self.servers), f"pp{base}.cfg")
        self.process = subprocess.Popen(
            [*command, "-db", "-f", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=base_env(),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + 15
        while not all(_listening(base + i) for i in range(8)):
            assert self.process.poll() is None, "the proxy exited early"
            assert time.monotonic() < end, "the proxy did not start listening"
            time.sleep(0.05)
        time.sleep(0.5)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, limit: float = 5.0) -> str:
        try:
            return self.lines.get(timeout=limit)
        except queue.Empty:
            return "<no log line>"

    def stop(self) -> None:
        self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for server in self.servers:
            server.close()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    proxy = Proxy(haproxy_py_command(), tmp_path_factory.mktemp("ours"), OURS_BASE)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def theirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 not installed: differential test")
    proxy = Proxy(command, tmp_path_factory.mktemp("theirs"), THEIRS_BASE)
    yield proxy
    proxy.stop()


# -- clients -------------------------------------------------------------------------------------


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes((0x20 | command, family)) + struct.pack("!H", len(body)) + body


A4 = bytes([1, 2, 3, 4, 5, 6, 7, 8]) + struct.pack("!HH", 1111, 2222)
A6 = bytes(15) + b"\1" + bytes.fromhex("20010db8") + bytes(11) + b"\1" + struct.pack("!HH", 7, 8)
_CRC = v2(1, 0x11, A4 + b"\x03\x00\x04\0\0\0\0")
GOOD_CRC = _CRC[:31] + struct.pack("!I", crc32c(_CRC)) + _CRC[35:]


def send_case(port: int, data: bytes) -> str:
    """Send `data`, end our side, and say how the proxy ended: "eof", "reset" or "data"."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return "reset"
        sock.settimeout(5)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            return "reset"
        return "data" if got else "eof"
    finally:
        sock.close()


def masked_line(line: str) -> str:
    line = re.sub(r"^127\.0\.0\.1:\d+ ", "127.0.0.1:PORT ", line)
    line = re.sub(r"\[\d\d/\w+/\d{4}:[\d:.]+\]", "[DATE]", line)
    line = re.sub(r" \d+/\d+/\d+ ", " TW/TC/TT ", line)  # tcplog timers
    return re.sub(r"fe_\w+/\d+: ", "FE/N: ", line) if ": " in line else line


def masked_header(data: bytes, base: int) -> object:
    """What a server got first, with the real client's port and our listener ports masked
    (headers carrying a client-given address are compared byte for byte)."""
    header = parse_header(data)
    if not isinstance(header, ProxyHeader):
        return data
    src, dst = header.source, header.destination
    if src is not None and src[0] == "127.0.0.1" and dst is not None and dst[0] == "127.0.0.1":
        # the CRC covers the port too; parse_header() checked it
        tlvs = [(kind, b"CRC" if kind == 3 else value) for kind, value in header.tlvs]
        return (header.version, "PORT", dst[1] - base, tlvs, data[header.length :])
    return data


CASES = [
    ("tcp4", 0, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello"),
    ("tcp6", 0, b"PROXY TCP6 ::1 2001:db8::1 1111 2222\r\nhello"),
    ("unknown", 0, b"PROXY UNKNOWN\r\nhello"),
    ("port modulo", 0, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 99999\r\nhello"),
    ("three parts", 0, b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\nhello"),
    ("v2 tcp4 to v1", 0, v2(1, 0x11, A4) + b"hello"),
    ("v2 tcp4", 1, v2(1, 0x11, A4) + b"hello"),
    ("v2 tcp6", 1, v2(1, 0x21, A6) + b"hello"),
    ("v2 local", 1, v2(0, 0x00, b"") + b"hello"),
    ("v2 crc32c", 1, GOOD_CRC + b"hello"),
    ("v1 to v2", 1, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello"),
    ("http request", 0, b"GET / HTTP/1.0\r\n\r\nxxxxxxxx"),
    ("short garbage", 0, b"GARBAGE\r\n"),
    ("unknown with addresses", 0, b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\nhello"),
    ("trailing space", 0, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\nhello"),
    ("over 107 bytes", 0, b"PROXY TCP4 " + b"1" * 120 + b"\r\n"),
    ("v2 unix", 1, v2(1, 0x31, bytes(216)) + b"hello"),
    ("v2 version 1", 1, V2_SIGNATURE + b"\x11\x11\x00\x0c" + A4 + b"hello"),
    ("v2 tlv overflow", 1, v2(1, 0x11, A4 + b"\x04\x00\x09ab") + b"hello"),
    ("v2 bad crc32c", 1, v2(1, 0x11, A4 + b"\x03\x00\x04abcd") + b"hello"),
    ("truncated at close", 1, v2(1, 0x11, A4)[:20]),
    ("nothing", 0, b""),
    ("expect-proxy", 4, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello"),
    ("expect-proxy refusal", 4, b"GET / HTTP/1.0\r\n\r\nxxxxxxxx"),
    ("no expect-proxy", 5, b"hello"),
    ("dontlognull nothing", 6, b""),
    ("dontlognull garbage", 6, b"GET / HTTP/1.0\r\n\r\nxxxxxxxx"),
    ("connection rules see the real address", 7, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhi"),
    ("use_backend sees the header's", 7, b"PROXY TCP4 9.9.9.9 5.6.7.8 1 2\r\nhi"),
]


def run_case(proxy: Proxy, listener: int, data: bytes) -> tuple[str, str, list[object]]:
    """How the client saw the end, the log line, and what each of the send-proxy (v1) and
    send-proxy-v2 servers received (None: no connection)."""
    servers = proxy.servers[:2]
    before = [server.count() for server in servers]
    ending = send_case(proxy.base + listener, data)
    line = masked_line(proxy.next_line())
    sent = [
        masked_header(server.wait_for(count, 1.0), proxy.base) if server.count() > count else None
        for server, count in zip(servers, before, strict=True)
    ]
    return ending, line, sent


@pytest.mark.needs_haproxy
@pytest.mark.parametrize(("name", "listener", "data"), CASES, ids=[c[0] for c in CASES])
def test_same_as_haproxy(ours: Proxy, theirs: Proxy, name: str, listener: int, data: bytes) -> None:
    assert run_case(ours, listener, data) == run_case(theirs, listener, data)


# -- haproxy-py on its own ---------------------------------------------------------------------


def test_addresses_from_the_header(ours: Proxy) -> None:
    server = ours.servers[0]
    before = server.count()
    assert send_case(ours.base, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello") == "eof"
    assert ours.next_line().startswith("1.2.3.4:1111 [")
    assert server.wait_for(before) == b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello"


def test_expect_proxy(ours: Proxy) -> None:
    server = ours.servers[0]
    before = server.count()
    header = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"
    assert send_case(ours.base + 4, header + b"hello") == "eof"
    assert ours.next_line().startswith("1.2.3.4:1111 [")
    assert server.wait_for(before) == header + b"hello"
    assert send_case(ours.base + 5, header + b"hello") == "eof"  # no rule: bytes as they are
    assert ours.next_line().startswith("127.0.0.1:")
    got = server.wait_for(before + 1)
    assert got.startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ") and got.endswith(header + b"hello")


def test_v2_to_v2_with_tlvs(ours: Proxy) -> None:
    server = ours.servers[1]
    before = server.count()
    assert send_case(ours.base + 1, v2(1, 0x21, A6) + b"hello") == "eof"
    assert ours.next_line().startswith("::1:7 [")
    got = server.wait_for(before)
    header = parse_header(got)
    assert isinstance(header, ProxyHeader)
    assert (header.source, header.destination) == (("::1", 7, 0, 0), ("2001:db8::1", 8, 0, 0))
    assert [kind for kind, _ in header.tlvs] == [0x03, 0x05]  # crc32c (checked), unique-id
    assert got[header.length :] == b"hello"


def test_plain_listener_sends_real_addresses(ours: Proxy) -> None:
    server = ours.servers[1]
    before = server.count()
    with socket.create_connection(("127.0.0.1", ours.base + 2)) as sock:
        local = sock.getsockname()
        sock.sendall(b"hi")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        assert sock.recv(10) == b""
    ours.next_line()
    header = parse_header(server.wait_for(before))
    assert isinstance(header, ProxyHeader)
    assert header.source == local and header.destination == ("127.0.0.1", ours.base + 2)


def _http(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: example.com\r\n\r\n".encode())
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_http_forwardfor_unique_id_and_private_connections(ours: Proxy) -> None:
    server = ours.servers[2]
    before = server.count()
    with socket.create_connection(("127.0.0.1", ours.base + 3), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 80\r\n")
        assert _http(sock, "/a").startswith(b"HTTP/1.1 200")
        assert _http(sock, "/b").startswith(b"HTTP/1.1 200")
    first_lines = [ours.next_line(), ours.next_line()]
    assert all(line.startswith("1.2.3.4:1111 [") for line in first_lines), first_lines
    with socket.create_connection(("127.0.0.1", ours.base + 3), timeout=5) as sock:
        sock.sendall(v2(1, 0x11, bytes([9, 9, 9, 9, 5, 6, 7, 8]) + struct.pack("!HH", 9, 80)))
        assert _http(sock, "/c").startswith(b"HTTP/1.1 200")
    assert ours.next_line().startswith("9.9.9.9:9 [")
    # The first client's two requests share its server connection; the second client, with
    # `http-reuse always`, still gets a connection of its own with its own header.
    first, second = server.wait_for(before), server.wait_for(before + 1)
    assert server.count() == before + 2
    one, two = parse_header(first), parse_header(second)
    assert isinstance(one, ProxyHeader) and isinstance(two, ProxyHeader)
    assert one.source == ("1.2.3.4", 1111) and one.destination == ("5.6.7.8", 80)
    assert one.unique_id == b"id-1.2.3.4-5.6.7.8:80"
    assert first.count(b"\r\nx-src: 1.2.3.4:1111-5.6.7.8:80\r\n") == 2
    assert first.lower().count(b"\r\nx-forwarded-for: 1.2.3.4\r\n") == 2
    assert first.count(b"GET /") == 2
    assert two.source == ("9.9.9.9", 9) and two.unique_id == b"id-9.9.9.9-5.6.7.8:80"
    assert b"\r\nx-forwarded-for: 9.9.9.9\r\n" in second.lower()


def test_curl_haproxy_protocol(ours: Proxy) -> None:
    server = ours.servers[2]
    before = server.count()
    done = subprocess.run(
        ["curl", "-sS", "--haproxy-protocol", f"http://127.0.0.1:{ours.base + 3}/curl"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == b"ok", done
    line = ours.next_line()
    assert line.startswith("127.0.0.1:") and '"GET /curl HTTP/1.1"' in line, line
    header = parse_header(server.wait_for(before))
    assert isinstance(header, ProxyHeader)
    assert header.destination == ("127.0.0.1", ours.base + 3)  # what curl wrote


def test_header_waited_for_then_timeout(ours: Proxy) -> None:
    server = ours.servers[0]
    before = server.count()
    with socket.create_connection(("127.0.0.1", ours.base), timeout=5) as sock:
        for part in (b"PROXY TCP4 1.2.", b"3.4 5.6.7.8 11", b"11 2222\r\nhello"):
            sock.sendall(part)  # a header over three segments is waited for
            time.sleep(0.05)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b""
    assert ours.next_line().startswith("1.2.3.4:1111 [")
    assert server.wait_for(before).startswith(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", ours.base), timeout=5) as sock:
        assert sock.recv(10) == b""  # closed (FIN) once `timeout client` is over
    waited = time.monotonic() - started
    assert TIMEOUT_CLIENT - 0.1 < waited < TIMEOUT_CLIENT + 2
    line = masked_line(ours.next_line())
    assert line == "127.0.0.1:PORT [DATE] FE/N: Timeout while waiting for PROXY protocol header"


def test_listener_name_in_refusal(ours: Proxy) -> None:
    assert send_case(ours.base + 3, b"GET / HTTP/1.1\r\n\r\n") == "reset"
    line = ours.next_line()
    assert line.endswith("] fe_http/web: Received something which does not look like a PROXY"
                         " protocol header"), line  # fmt: skip


def test_checks_send_proxy(ours: Proxy) -> None:
    checked_v1, checked_v2 = ours.servers[3], ours.servers[4]
    first_v1, first_v2 = checked_v1.wait_for(0), checked_v2.wait_for(0)
    # As HAProxy 2.6: v1 with the check connection's own addresses; v2 LOCAL, no address.
    assert re.fullmatch(
        rb"PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ %d\r\n" % checked_v1.port, first_v1
    ), first_v1
    assert first_v2 == V2_SIGNATURE + b"\x20\x00\x00\x00"


def _http_case(proxy: Proxy) -> tuple[bytes, bytes]:
    server = proxy.servers[2]
    before = server.count()
    with socket.create_connection(("127.0.0.1", proxy.base + 3), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 80\r\n")
        assert _http(sock, "/diff").startswith(b"HTTP/1.1 200")
    proxy.next_line()
    got = server.wait_for(before)
    header = parse_header(got)
    assert isinstance(header, ProxyHeader)
    added = re.findall(rb"(?im)^(?:x-forwarded-for|x-src): .*$", got)
    return got[: header.length], b"|".join(sorted(line.lower() for line in added))


@pytest.mark.needs_haproxy
def test_http_same_as_haproxy(ours: Proxy, theirs: Proxy) -> None:
    assert _http_case(ours) == _http_case(theirs)


@pytest.mark.needs_haproxy
def test_checks_same_as_haproxy(ours: Proxy, theirs: Proxy) -> None:
    def first(proxy: Proxy, index: int) -> bytes:
        server = proxy.servers[index]
        return re.sub(rb" \d+ \d+\r\n", b" PORT SERVER\r\n", server.wait_for(0))

    for index in (3, 4, 5, 6):
        assert first(ours, index) == first(theirs, index), index


def test_dontlognull_keeps_quiet_about_silent_clients_only(ours: Proxy) -> None:
    with socket.create_connection(("127.0.0.1", ours.base + 6), timeout=5) as sock:
        assert sock.recv(10) == b""  # sent nothing: closed after `timeout client`, no line
    with socket.create_connection(("127.0.0.1", ours.base + 6), timeout=5) as sock:
        sock.sendall(b"PROXY ")  # sent part of a header: the timeout is logged
        with suppress(ConnectionResetError):
            assert sock.recv(10) == b""
    line = masked_line(ours.next_line())
    assert line == "127.0.0.1:PORT [DATE] FE/N: Timeout while waiting for PROXY protocol header"


def test_check_connect_rules(ours: Proxy) -> None:
    rule, no_rule = ours.servers[5], ours.servers[6]
    # `tcp-check connect send-proxy`: a header; an explicit connect without it sends none,
    # even on a check-send-proxy server (the server's setting is for the implicit connect).
    assert re.fullmatch(
        rb"PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ %d\r\nhello\r\n" % rule.port,
        rule.wait_for(0),
    )
    assert no_rule.wait_for(0) == b"hi\r\n"
