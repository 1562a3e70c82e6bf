"""Micro-benchmark of the per-request pure work of a plain keep-alive HTTP exchange (issue 4).

Times, in µs per call (best of several rounds: the machine is shared), the real functions the
fast path (worker/http_fast.py) calls once per request for wrk's request and nginx's response:
- plain.py `plain_request` / `plain_response` and the connection moves around them
  (`take_plain_request`, `sent_plain_request`, `pass_plain_response`, `start_next_cycle`);
- sizes.py `canonical_head_size` on the request and on the response head that plain.py gives;
- worker/counters.py `count_exchange`, `count_forwarded`, a frontend's `http_requests += 1`,
  `Counters.connected`, `session_opened` / `session_closed`, `CoarseClock.read`, on rows of a
  real shared table (memoryviews, as in a worker);
- worker/backend.py the server choice and give-back of a one-server backend (`session_started`,
  `_take_solo`, `_count_times`, `release`, `session_ended`) and the same through roundrobin
  with two servers (`_assign`'s pick, synchronously: `_take(algorithm.pick())`);
- "exchange, all of the above": the sum as the fast path calls them in one request.
Run: .venv/bin/python bench/http_micro.py [--rounds N]   It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The repository, not bench/ (whose logging.py would shadow the standard module).
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from haproxy_py.config import load_configuration
from haproxy_py.lb import servers_from_proxy
from haproxy_py.process.shm import create_table
from haproxy_py.proto.http1.connection import (
    BackendConnection,
    FrontendConnection,
    pass_plain_response,
)
from haproxy_py.proto.http1.head import DEFAULT_LIMITS
from haproxy_py.proto.http1.plain import plain_request, plain_response
from haproxy_py.proto.http1.sizes import canonical_head_size
from haproxy_py.stats.layout import layout_for
from worker.backend import BackendRuntime, Target
from worker.counters import CounterTable, count_exchange, count_forwarded

# What wrk -t1 -c50 http://127.0.0.1:PORT/small sends, and what nginx 1.22 answers.
REQUEST = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1:27182\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.22.1\r\n"
    b"Date: Sun, 22 Nov 2026 00:40:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Length: 100\r\n"
    b"Last-Modified: Sun, 22 Nov 2026 00:29:04 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b'ETag: "6930b2f0-64"\r\n'
    b"Accept-Ranges: bytes\r\n"
    b"\r\n" + b"x" * 99 + b"\n"
)
CONFIG = """global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen solo
    bind 127.0.0.1:27180
    server s1 127.0.0.1:27181
listen rr
    bind 127.0.0.1:27182
    balance roundrobin
    server s1 127.0.0.1:27181
    server s2 127.0.0.1:27183
"""


def best_us(loop: Callable[[int], None], n: int, rounds: int) -> float:
    """The best of `rounds` runs of `loop(n)`, in µs of CPU per iteration (CPU time: on a
    shared machine, the time this process waited for a core is left out)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time_ns()
        loop(n)
        best = min(best, (time.thread_time_ns() - started) / n / 1000)
    return best


def fresh(data: bytes) -> bytes:
    """A new bytes object equal to `data`, as each recv() gives (no identity shortcut)."""
    return bytes(bytearray(data))


def build() -> tuple[CounterTable, dict[str, BackendRuntime]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "micro.cfg"
        path.write_text(CONFIG)
        config = load_configuration([str(path)], env={}).config
    table = CounterTable(create_table(layout_for(config, 1)), 0)
    table.clock.tick()
    table.clock.live = True  # as in a worker once the fast path runs
    backends = {}
    for name in ("solo", "rr"):
        proxy = config.backend(name)
        assert proxy is not None
        target = Target(socket.AF_INET, "127.0.0.1", 27181)
        rows = [(lb, target, table.server(name, lb.name)) for lb in servers_from_proxy(proxy)]
        backends[name] = BackendRuntime(
            proxy, rows, table.backend(name), fullconn=100, rng=random.Random(1)
        )
    return table, backends


def cases(table: CounterTable, backends: dict[str, BackendRuntime]) -> dict[str, Callable]:
    front_c = table.frontend("solo")
    solo = backends["solo"]
    back_c = solo.counters
    server = solo.servers[solo.farm.servers[0]]
    server_c = server.counters
    clock = table.clock
    rr = backends["rr"]
    requests = [fresh(REQUEST) for _ in range(64)]
    responses = [fresh(RESPONSE) for _ in range(64)]
    limits = DEFAULT_LIMITS
    front, back = FrontendConnection(), BackendConnection()

    def loop_plain_request(n: int) -> None:
        for i in range(n):
            plain_request(requests[i & 63], limits)

    def loop_plain_response(n: int) -> None:
        for i in range(n):
            plain_response(responses[i & 63], b"GET", limits, b"")

    def loop_connection_moves(n: int) -> None:
        for i in range(n):
            front.receive_data(requests[i & 63])
            front.take_plain_request()
            back.sent_plain_request(b"GET")
            back.receive_data(responses[i & 63])
            pass_plain_response(back, front)
            if front.keep_alive and back.keep_alive:
                back.start_next_cycle()
                front.start_next_cycle()

    # What the fast path measures: the bytes plain.py gives to forward.
    wire_in = plain_request(requests[0], limits)[1]  # type: ignore[index]
    wire_out = plain_response(responses[0], b"GET", limits, b"")[0]  # type: ignore[index]

    def loop_sizes(n: int) -> None:
        for _ in range(n):
            canonical_head_size(wire_in)
            end = wire_out.find(b"\r\n\r\n") + 4
            canonical_head_size(wire_out, end)

    def loop_counting(n: int) -> None:
        for _ in range(n):
            front_c.http_requests += 1
            count_forwarded(back_c, server_c)
            count_exchange(front_c, back_c, server_c, 200, 51, 350, 0)

    def loop_sessions(n: int) -> None:
        for _ in range(n):
            server_c.session_opened()
            server_c.connected(0, 0)
            server_c.session_closed()

    def loop_clock(n: int) -> None:
        read = clock.read
        for _ in range(n):
            read()

    def loop_solo(n: int) -> None:
        for _ in range(n):
            solo.session_started()
            began = clock.read()
            taken = solo._take_solo()
            queued = clock.read()
            solo._count_times(taken, began, queued, queued)  # type: ignore[arg-type]
            solo.release(taken)  # type: ignore[arg-type]
            solo.session_ended()

    def loop_roundrobin(n: int) -> None:
        for _ in range(n):
            rr.session_started()
            lb = rr.algorithm.pick(None, ())
            rr._take(lb)  # type: ignore[arg-type]
            taken = rr.servers[lb]  # type: ignore[index]
            rr._count_times(taken, 0.0, 0.0, 0.0)
            rr.release(taken)
            rr.session_ended()

    def loop_all(n: int) -> None:
        for i in range(n):
            front.receive_data(requests[i & 63])
            _, wire = front.take_plain_request()  # type: ignore[misc]
            req_size = canonical_head_size(wire)
            front_c.http_requests += 1
            solo.session_started()
            began = clock.read()
            taken = solo._take_solo()
            queued = clock.read()
            solo._count_times(taken, began, queued, queued)  # type: ignore[arg-type]
            count_forwarded(back_c, server_c)
            back.sent_plain_request(b"GET")
            back.receive_data(responses[i & 63])
            out, status = pass_plain_response(back, front)  # type: ignore[misc]
            end = out.find(b"\r\n\r\n") + 4
            size = canonical_head_size(out, end) + len(out) - end
            count_exchange(front_c, back_c, server_c, status, req_size, size, 0)
            back.start_next_cycle()
            front.start_next_cycle()
            solo.release(taken)  # type: ignore[arg-type]
            solo.session_ended()

    return {
        "plain_request": loop_plain_request,
        "plain_response": loop_plain_response,
        "connection moves (take/sent/pass/next x2)": loop_connection_moves,
        "canonical_head_size x2": loop_sizes,
        "http_requests+count_forwarded+count_exchange": loop_counting,
        "server session_opened+connected+closed": loop_sessions,
        "CoarseClock.read": loop_clock,
        "solo: started+take+times+release+ended": loop_solo,
        "roundrobin x2: same with a pick": loop_roundrobin,
        "exchange, all of the above": loop_all,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    table, backends = build()
    for name, loop in cases(table, backends).items():
        loop(1000)  # warm
        print(f"{name:48} {best_us(loop, args.n, args.rounds):7.3f} µs", flush=True)


if __name__ == "__main__":
    main()
