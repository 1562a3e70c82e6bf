"""An open-loop HTTP load driver: requests at a fixed rate, latency from when each was due.

Used by bench/http.py (`--latency RATE`) for issue 4's "p99 latency at a fixed 2,000 req/s":
request i is due at start + i / rate whatever happened before (open loop, as wrk2 does, so a
stall is counted against every request that should have gone out during it instead of
silently lowering the rate); it goes out on an idle keep-alive connection of a fixed pool
(`--connections`), or waits for one; its latency runs from when it was due to when the whole
response (head and Content-Length body) was read. One thread, non-blocking sockets and
`selectors`; the Python driver is good for a few thousand requests per second, which is the
point: the rate is fixed and low, the proxy is not saturated, and what is measured is the
delay it adds. Prints one JSON object: sent, done, errors, achieved rate, latency percentiles.

Run: .venv/bin/python bench/http_latency.py --port P [--rate 2000] [--seconds 10]
     [--connections 50] [--path /small]
"""

from __future__ import annotations

import argparse
import collections
import json
import selectors
import socket
import sys
import time

RECV = 65536


class Conn:
    __slots__ = ("buffer", "due", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.due = 0.0  # when the request in flight was due (0: idle)


def _complete(buffer: bytes) -> int:
    """Length of the whole response at the start of `buffer`, or -1 if more is needed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return -1
    head = buffer[:end].lower()
    at = head.find(b"content-length:")
    length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
    total = end + 4 + length
    return total if len(buffer) >= total else -1


def open_loop(port: int, rate: float, seconds: float, connections: int, path: str) -> dict:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    idle: collections.deque[Conn] = collections.deque()
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Conn(sock)
        selector.register(sock, selectors.EVENT_READ, conn)
        idle.append(conn)
    latencies: list[float] = []
    waiting: collections.deque[float] = collections.deque()  # due times without a connection
    errors = 0
    start = time.monotonic() + 0.05
    total = int(rate * seconds)
    sent = 0
    end = start + seconds + 5.0  # a grace period for the last answers
    while (sent < total or len(latencies) + errors < total) and time.monotonic() < end:
        now = time.monotonic()
        while sent < total and start + sent / rate <= now:
            waiting.append(start + sent / rate)
            sent += 1
        while waiting and idle:
            conn = idle.popleft()
            conn.due = waiting.popleft()
            try:
                conn.sock.send(request)
            except OSError:
                errors += 1
                conn.due = 0.0
        next_due = start + sent / rate if sent < total else now + 0.05
        for key, _ in selector.select(max(0.0, next_due - time.monotonic())):
            conn = key.data
            try:
                data = conn.sock.recv(RECV)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn.sock)
                conn.sock.close()
                if conn.due:
                    errors += 1
                continue
            conn.buffer += data
            size = _complete(conn.buffer)
            if size >= 0:
                latencies.append(time.monotonic() - conn.due)
                conn.buffer = conn.buffer[size:]
                conn.due = 0.0
                idle.append(conn)
    elapsed = time.monotonic() - start
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    latencies.sort()

    def percentile(p: float) -> float:
        if not latencies:
            return 0.0
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3)

    return {
        "rate": rate,
        "sent": sent,
        "done": len(latencies),
        "errors": errors,
        "achieved_rate": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "p999_ms": percentile(0.999),
        "max_ms": percentile(1.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--path", default="/small")
    args = parser.parse_args()
    result = open_loop(args.port, args.rate, args.seconds, args.connections, args.path)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
