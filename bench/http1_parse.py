"""Parse throughput of the HTTP/1 core against httptools (llhttp), side by side in one run.

Measures requests/s for a typical 300-byte GET with 8 headers, fed one message per
receive_data call and as a pipelined batch of 100, and MB/s for a 1 MB chunked body (16 KiB
chunks, fed in 64 KiB reads). The httptools column is the parser alone with the minimum
callbacks needed to build the same (method, target, headers) result, and none of our checks:
it is a lower bound of what an httptools-based core would cost. Run:
    .venv/bin/python bench/http1_parse.py [--seconds N]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from haproxy_py.proto.http1 import NEED_DATA, PAUSED, EndOfMessage, FrontendConnection, Response

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
BATCH = 100
CHUNK = 16384
BODY_SIZE = 1 << 20
CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n" for _ in range(BODY_SIZE // CHUNK))
    + b"0\r\n\r\n"
)
RESPONSE = Response(200, b"OK", headers=[(b"Content-Length", b"0")])


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


def own_chunked(payload: bytes) -> int:
    conn = FrontendConnection()
    total = 0
    for start in range(0, len(payload), 65536):
        conn.receive_data(payload[start : start + 65536])
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            data = getattr(event, "data", None)
            if data is not None:
                total += len(data)
    return total


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


def httptools_messages(payload: bytes, count: int) -> int:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    parser.feed_data(payload)
    return collector.done


def httptools_chunked(payload: bytes) -> int:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    for start in range(0, len(payload), 65536):
        parser.feed_data(payload[start : start + 65536])
    return collector.body


def rate(run: Callable[[], int], units: float, seconds: float) -> float:
    """Units per second of `run`, best of a few rounds of about `seconds` / 3 each."""
    best = 0.0
    for _ in range(3):
        rounds, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            run()
            rounds += 1
        best = max(best, rounds * units / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5)
    seconds = parser.parse_args().seconds
    batch = GET * BATCH
    cases = [
        (
            "GET one by one (req/s)",
            lambda: own_messages(GET, 1),
            lambda: httptools_messages(GET, 1),
            1,
        ),
        (
            "GET pipelined x100 (req/s)",
            lambda: own_messages(batch, BATCH),
            lambda: httptools_messages(batch, BATCH),
            BATCH,
        ),
        (
            "1 MB chunked (MB/s)",
            lambda: own_chunked(CHUNKED),
            lambda: httptools_chunked(CHUNKED),
            1,
        ),
    ]
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.machine()}"
        f" Python {platform.python_version()}, GET = {len(GET)} bytes"
    )
    print(f"{'case':30} {'haproxy_py.proto.http1':>24} {'httptools (parser only)':>24}")
    for name, own, other, units in cases:
        mine = rate(own, units, seconds)
        theirs = rate(other, units, seconds) if httptools else float("nan")
        print(f"{name:30} {mine:>24,.0f} {theirs:>24,.0f}")


if __name__ == "__main__":
    main()
