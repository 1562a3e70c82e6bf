"""Parse and serialise costs of the HTTP/1 core, per case, against recorded figures and httptools.

Cases (µs per unit, lower is better; MB/s for the bodies, higher is better):
- request head / response head: parse_request_head / parse_response_head of a 357-byte GET
  with 8 headers and a 10-header 200 response, alone (the framing checks are measured apart);
  the "strict path" column is the line-by-line parser the fast path falls back to, which is
  the pre-2026-11-21 algorithm;
- request / response framing: request_framing / response_framing on those heads;
- serialise request / response head: what a proxy sends on, keep-alive decided;
- GET cycle: a new FrontendConnection fed one GET, the request read, an empty 200 sent, the
  cycle restarted (what bench numbers before 2026-11-21 called "req/s", inverted);
- GET pipelined x100: the same with 100 GETs in one receive_data, per request;
- proxy exchange: a GET through a FrontendConnection and a BackendConnection and the response
  with a 512-byte body back, everything but the syscalls;
- 1 MB chunked / 1 MB Content-Length body, fed in 64 KiB reads.
The "before" column holds this bench's figures for the code before the fast path (git HEAD of
2026-11-21, same machine, same run conditions: best of many short rounds, which filters out the
noise of a shared 2-core VM). httptools is its bare parser with the minimum callbacks, none of
our checks. Run:
    .venv/bin/python bench/http1_parse.py [--seconds N]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from haproxy_py.proto.http1 import (
    NEED_DATA,
    PAUSED,
    BackendConnection,
    EndOfMessage,
    FrontendConnection,
    Response,
)
from haproxy_py.proto.http1 import head as head_module
from haproxy_py.proto.http1.framing import request_framing, response_framing
from haproxy_py.proto.http1.headers import serialize_request_head, serialize_response_head

try:
    import httptools
except ImportError:  # the bench still runs the own parser
    httptools = None

GET = (
    b"GET /static/images/logo-large.png?v=1234 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: image/avif,image/webp,*/*\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Cookie: session=abcdef0123456789\r\n"
    b"\r\n"
)
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Date: Sat, 21 Nov 2026 10:00:00 GMT\r\n"
    b"Server: nginx/1.24.0\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-Length: 512\r\n"
    b"Last-Modified: Fri, 20 Nov 2026 10:00:00 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b'ETag: "6560f1a0-200"\r\n'
    b"Cache-Control: max-age=3600\r\n"
    b"Accept-Ranges: bytes\r\n"
    b"X-Frame-Options: SAMEORIGIN\r\n"
    b"\r\n"
)
RESPONSE_WIRE = RESPONSE_HEAD + b"x" * 512
BATCH = 100
CHUNK = 16384
BODY_SIZE = 1 << 20
READ = 65536
CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n" for _ in range(BODY_SIZE // CHUNK))
    + b"0\r\n\r\n"
)
LENGTH = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % BODY_SIZE + (
    b"x" * BODY_SIZE
)
RESPONSE = Response(200, b"OK", headers=[(b"Content-Length", b"0")])

# This bench run on the code before the fast path (git HEAD, 2026-11-21, this VM; the VM is
# shared and loaded, figures move by 10-20 % between runs).
BEFORE: dict[str, float] = {
    "request head (us)": 13.5,
    "response head (us)": 15.0,
    "request framing (us)": 1.9,
    "response framing (us)": 2.0,
    "serialise request head (us)": 3.0,
    "serialise response head (us)": 3.6,
    "GET cycle (us/req)": 32.0,
    "GET pipelined x100 (us/req)": 29.3,
    "proxy exchange (us)": 80.0,
    "1 MB chunked (MB/s)": 1470.0,
    "1 MB Content-Length (MB/s)": 3960.0,
}


def own_messages(payload: bytes, count: int) -> int:
    """Feed `payload` (holding `count` requests) to a FrontendConnection, answer each one."""
    conn = FrontendConnection()
    conn.receive_data(payload)
    seen = 0
    while seen < count:
        event = conn.next_event()
        if event is PAUSED:
            conn.send(RESPONSE)
            conn.send(EndOfMessage())
            conn.start_next_cycle()
            seen += 1
        elif event is NEED_DATA:
            raise RuntimeError("incomplete")
    return seen


def own_body(payload: bytes) -> int:
    conn = FrontendConnection()
    total = 0
    for start in range(0, len(payload), READ):
        conn.receive_data(payload[start : start + READ])
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            data = getattr(event, "data", None)
            if data is not None:
                total += len(data)
    return total


def proxy_exchange() -> Callable[[], int]:
    """One GET in through a frontend, out through a backend, and its response back."""
    front, back = FrontendConnection(), BackendConnection()

    def run() -> int:
        sent = 0
        front.receive_data(GET)
        sent += len(back.send(front.next_event()))
        while (event := front.next_event()) is not PAUSED:
            sent += len(back.send(event))
        back.receive_data(RESPONSE_WIRE)
        sent += len(front.send(back.next_event()))
        while (event := back.next_event()) is not PAUSED:
            sent += len(front.send(event))
        front.start_next_cycle()
        back.start_next_cycle()
        return sent

    return run


class _Collector:
    """The callbacks an httptools-based core needs at least."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""
        self.done = 0
        self.body = 0

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += len(body)

    def on_message_complete(self) -> None:
        self.done += 1
        self.headers = []


def httptools_messages(payload: bytes) -> int:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    parser.feed_data(payload)
    return collector.done


def httptools_response(payload: bytes) -> int:
    collector = _Collector()
    parser = httptools.HttpResponseParser(collector)
    parser.feed_data(payload)
    return len(collector.headers)


def httptools_body(payload: bytes) -> int:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    for start in range(0, len(payload), READ):
        parser.feed_data(payload[start : start + READ])
    return collector.body


def best_seconds(run: Callable[[], object], seconds: float) -> float:
    """Seconds per call of `run`: the best of many short rounds within about `seconds`."""
    number = 1
    while True:  # rounds of about 2 ms
        start = time.perf_counter()
        for _ in range(number):
            run()
        if time.perf_counter() - start > 0.002:
            break
        number *= 2
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(number):
            run()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def cases() -> list[tuple[str, Callable[[], object], Callable[[], object] | None, object, float]]:
    """(name, ours, strict path or None, httptools or None, unit) per case.

    The figure is seconds per call divided by `unit`: 1e-6 / n for µs per n things, or
    the negative of MB per call for a MB/s rate.
    """
    strict_request = getattr(head_module, "parse_request_head_strict", None)
    strict_response = getattr(head_module, "parse_response_head_strict", None)
    request, request_info = head_module.parse_request_head(GET)
    response, response_info = head_module.parse_response_head(RESPONSE_HEAD)
    batch = GET * BATCH
    have = httptools is not None
    return [
        (
            "request head (us)",
            lambda: head_module.parse_request_head(GET),
            strict_request and (lambda: strict_request(GET)),
            have and (lambda: httptools_messages(GET)),
            1e-6,
        ),
        (
            "response head (us)",
            lambda: head_module.parse_response_head(RESPONSE_HEAD),
            strict_response and (lambda: strict_response(RESPONSE_HEAD)),
            have and (lambda: httptools_response(RESPONSE_HEAD)),
            1e-6,
        ),
        ("request framing (us)", lambda: request_framing(request, request_info), None, None, 1e-6),
        (
            "response framing (us)",
            lambda: response_framing(response, response_info, b"GET"),
            None,
            None,
            1e-6,
        ),
        (
            "serialise request head (us)",
            lambda: serialize_request_head(request, True),
            None,
            None,
            1e-6,
        ),
        (
            "serialise response head (us)",
            lambda: serialize_response_head(response, True),
            None,
            None,
            1e-6,
        ),
        ("GET cycle (us/req)", lambda: own_messages(GET, 1), None, None, 1e-6),
        (
            "GET pipelined x100 (us/req)",
            lambda: own_messages(batch, BATCH),
            None,
            have and (lambda: httptools_messages(batch)),
            1e-6 * BATCH,
        ),
        ("proxy exchange (us)", proxy_exchange(), None, None, 1e-6),
        (
            "1 MB chunked (MB/s)",
            lambda: own_body(CHUNKED),
            None,
            have and (lambda: httptools_body(CHUNKED)),
            -BODY_SIZE / 1e6,
        ),
        (
            "1 MB Content-Length (MB/s)",
            lambda: own_body(LENGTH),
            None,
            have and (lambda: httptools_body(LENGTH)),
            -BODY_SIZE / 1e6,
        ),
    ]


def figure(run: Callable[[], object], unit: float, seconds: float) -> float:
    per_call = best_seconds(run, seconds)
    return -unit / per_call if unit < 0 else per_call / unit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="per case and column")
    seconds = parser.parse_args().seconds
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.machine()}"
        f" Python {platform.python_version()}, GET = {len(GET)} bytes,"
        f" response head = {len(RESPONSE_HEAD)} bytes"
    )
    print(f"{'case':30} {'before':>9} {'now':>9} {'speed-up':>9} {'strict':>9} {'httptools':>10}")
    for name, ours, strict, other, unit in cases():
        now = figure(ours, unit, seconds)
        before = BEFORE.get(name, float("nan"))
        gain = now / before if unit < 0 else before / now
        slow = figure(strict, unit, seconds) if strict else float("nan")
        theirs = figure(other, unit, seconds) if other else float("nan")
        print(f"{name:30} {before:9.1f} {now:9.1f} {gain:8.2f}x {slow:9.1f} {theirs:10.1f}")


if __name__ == "__main__":
    main()
