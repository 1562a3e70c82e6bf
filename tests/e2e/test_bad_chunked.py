"""A server response with a valid head and a bad chunked body, haproxy-py against HAProxy 2.6.

A raw backend answers each path with scripted bytes: the bad chunk in the same segment as the
head (HAProxy parses the whole buffer first: 502 page, logged 502 `PH`), or 100 ms after the
head (the head already went out: the client is cut, logged 200 `SD`). Both proxies run the same
configuration (worker/http_session.py's `relay_response`, haproxy_py/proto/http1/failure.py);
the client's bytes (header names lower-cased: haproxy-py forwards them in the server's case,
docs/MIGRATING.md), the log lines (through a UDP log socket each) and the `show stat` counters
are compared. Skipped when haproxy is not installed (it is in CI).
"""

from __future__ import annotations

import re
import socket
import time
from contextlib import suppress
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_cli
from tests.e2e.side_by_side import Side, both_running, needs_haproxy
from tests.e2e.tcp_tools import ThreadedServer, read_head
from tests.helpers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.needs_haproxy, needs_haproxy]

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BAD = b"ZZ\r\nhello\r\n0\r\n\r\n"
# path -> (first segment, second segment sent 100 ms later or b"")
SCRIPTS: dict[bytes, tuple[bytes, bytes]] = {
    b"/zz": (HEAD + BAD, b""),
    b"/huge": (HEAD + b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n", b""),
    b"/good-then-bad": (HEAD + b"5\r\nhello\r\n" + BAD, b""),
    b"/no-line-end": (HEAD + b"5\r\nhelloXX0\r\n\r\n", b""),
    b"/mid": (HEAD + b"1f40\r\n" + b"x" * 8000 + b"\r\n" + BAD, b""),
    b"/interim": (b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + BAD, b""),
    b"/bad-head": (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", b""),
    b"/late": (HEAD, BAD),
    b"/late-after-data": (HEAD + b"5\r\nhello\r\n", BAD),
    b"/errorfile": (HEAD + BAD, b""),
    b"/ok": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b""),
}
ANSWERED = ("/zz", "/huge", "/good-then-bad", "/no-line-end", "/mid", "/interim", "/bad-head")
CUT = ("/late", "/late-after-data")
PAGE_502 = b"HTTP/1.1 502 Bad Gateway\r\n"
OWN_PAGE = (
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n"
    b"cache-control: no-cache\r\n\r\nbad chunk"
)


class ScriptedServer(ThreadedServer):
    """Reads a request head, answers its path's script, then holds the connection a moment
    (the proxy is the one to close)."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with suppress(OSError):
                data = read_head(conn)
                if data is None:
                    return
                first, second = SCRIPTS.get(data.split(b" ", 2)[1], SCRIPTS[b"/ok"])
                conn.sendall(first)
                if second:
                    time.sleep(0.1)
                    conn.sendall(second)
                time.sleep(0.5)


def config(side: Side, server: int, log_port: int) -> str:
    (side.directory / "502.http").write_bytes(OWN_PAGE)
    return (
        f"global\n    stats socket {side.sock} level admin\n"
        "defaults\n    mode http\n    option httplog\n"
        f"    log 127.0.0.1:{log_port} format raw local0\n"
        "    timeout client 5s\n    timeout server 2s\n    timeout connect 1s\n"
        f"frontend fe\n    bind 127.0.0.1:{side.port}\n"
        "    use_backend be_ef if { path /errorfile }\n    default_backend be\n"
        f"backend be\n    server s1 127.0.0.1:{server}\n"
        f"backend be_ef\n    errorfile 502 502.http\n    server s1 127.0.0.1:{server}\n"
    )


def get(port: int, path: str, *, close: bool = True) -> bytes:
    """Everything the proxy sends for one request until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        extra = "connection: close\r\n" if close else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n".encode())
        return _until_closed(sock)


def keep_alive_after_502(port: int) -> bytes:
    """A 502 for an invalid response keeps the client connection: the next request is
    served on it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /zz HTTP/1.1\r\nhost: x\r\n\r\n")
        first = b""
        while not re.search(rb"\r\n\r\n.*</html>\n", first, re.S):
            chunk = sock.recv(65536)
            if not chunk:
                return first + b"|closed"
            first += chunk
        sock.sendall(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        return first + b"|" + _until_closed(sock)


def _until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(3)
    data = b""
    with suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _lower_heads(data: bytes) -> bytes:
    """Header names lower-cased in every head (the known case difference), bodies kept."""
    return re.sub(
        rb"(?m)^([!#$%&'*+.^_`|~0-9A-Za-z-]+):", lambda m: m.group(1).lower() + b":", data
    )


LOG = re.compile(
    r"\S+ \[[^]]+\] (?P<fe>\S+) (?P<be>\S+) (?P<timers>\S+) (?P<status>-?\d+) (?P<bytes>\d+) "
    r"\S+ \S+ (?P<term>\S{4}) \S+ \S+ \"GET (?P<path>\S+) "
)


def _log_fields(line: str) -> dict[str, object]:
    match = LOG.search(line)
    assert match, line
    found: dict[str, object] = match.groupdict()
    tr = int(str(found.pop("timers")).split("/")[3])
    found["Tr"] = "-1" if tr < 0 else "set"  # the server's head was, or was not, taken
    found["bytes"] = int(str(found["bytes"]))
    return found


def _logged(receiver: socket.socket, count: int) -> dict[str, dict[str, object]]:
    lines: dict[str, dict[str, object]] = {}
    end = time.monotonic() + 10
    while len(lines) < count and time.monotonic() < end:
        with suppress(TimeoutError):
            line = receiver.recv(65536).decode("latin-1").strip()
            fields = _log_fields(line)
            lines[str(fields["path"])] = fields
    return lines


COUNTERS = ("eresp", "hrsp_2xx", "hrsp_5xx", "bout", "stot")


def _counters(side: Side) -> dict[str, dict[str, str]]:
    rows = ask_cli(side.sock, "show stat").splitlines()
    names = rows[0].lstrip("# ").split(",")
    found = {}
    for row in rows[1:]:
        values = dict(zip(names, row.split(","), strict=False))
        if values.get("pxname") in ("fe", "be", "be_ef"):
            key = f"{values['pxname']}/{values['svname']}"
            found[key] = {name: values[name] for name in COUNTERS}
    return found


def test_bad_chunked_responses_match_haproxy(tmp_path: Path) -> None:
    server = ScriptedServer()
    receivers = {}
    for name in ("haproxy", "haproxy-py"):
        receivers[name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receivers[name].bind(("127.0.0.1", free_port()))
        receivers[name].settimeout(0.5)
    paths = (*ANSWERED, *CUT, "/errorfile")
    got: dict[str, dict[str, object]] = {}
    try:
        with both_running(
            tmp_path,
            lambda side: config(side, server.port, receivers[side.name].getsockname()[1]),
        ) as sides:
            for side in sides:
                answers = {path: _lower_heads(get(side.port, path)) for path in paths}
                answers["keep-alive"] = _lower_heads(keep_alive_after_502(side.port))
                logs = _logged(receivers[side.name], len(paths) + 1)
                got[side.name] = {"answers": answers, "logs": logs, "stats": _counters(side)}
    finally:
        server.close()
        for receiver in receivers.values():
            receiver.close()
    theirs, ours = got["haproxy"], got["haproxy-py"]
    # What HAProxy does, so that this test fails if the reference changes under it.
    for path in ANSWERED:
        assert theirs["answers"][path].startswith(PAGE_502), (path, theirs["answers"][path])
    ef = theirs["answers"]["/errorfile"]
    assert ef.startswith(OWN_PAGE.partition(b"\r\n\r\n")[0]) and ef.endswith(b"bad chunk"), ef
    for path in CUT:
        assert theirs["answers"][path].startswith(b"HTTP/1.1 200 OK\r\n"), path
    assert ours["answers"] == theirs["answers"]
    assert set(ours["logs"]) == set(theirs["logs"]) == {*paths, "/ok"}
    for path, fields in theirs["logs"].items():
        mine = dict(ours["logs"][path])
        # %B: HAProxy counts its internal form of a response (docs/MIGRATING.md).
        assert abs(int(mine.pop("bytes")) - int(fields["bytes"])) <= 16, (path, mine, fields)
        assert mine == {k: v for k, v in fields.items() if k != "bytes"}, path
    for path in ANSWERED:
        assert (theirs["logs"][path]["status"], theirs["logs"][path]["term"]) == ("502", "PH--")
    for path in CUT:
        assert (theirs["logs"][path]["status"], theirs["logs"][path]["term"]) == ("200", "SD--")
    assert ours["stats"] == theirs["stats"]
