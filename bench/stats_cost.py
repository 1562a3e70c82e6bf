"""What counting costs the data path (issue 7: under 3 %), and what a stats reader costs it.

1. Micro: the counter updates one proxied HTTP request makes (frontend, backend and server
   rows: sessions with their per-second rates and lastsess, requests with their rate, the
   queue/connect/total time samples, the response class), in ns per request, against the
   CPU time one request costs haproxy-py (REQUEST_US, from docs/PERFORMANCE.md).
2. Macro: haproxy-py (`nbthread 1`, `mode http`, a stats socket) in front of a local nginx
   (bench/tcp.py's set-up, imported), wrk -t1 -c50 on a 100-byte file for --duration seconds,
   alternately without and with a reader asking `show stat` on the stats socket every 100 ms
   (a thread of this process), --rounds times each: req/s and the difference; the reader's
   answer times too. Every process started is stopped before exit. It measures; it asserts
   nothing. Run: .venv/bin/python bench/stats_cost.py [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tcp  # bench/tcp.py, next to this file

from worker.counters import Counters, FrontendCounters, count_exchange, count_forwarded

tcp.OUT = tcp.HERE / "out" / "stats_cost"
REQUEST_US = 150.0  # CPU of one small keep-alive request through haproxy-py (PERFORMANCE.md:
# 6,000-7,800 requests per CPU second on the HTTP fast path)


def counting_ns(n: int = 200_000) -> float:
    """ns of counter work per proxied keep-alive HTTP request on the fast path (best of 5):
    the calls worker/http_fast.py and worker/backend.py make for one request on an attached
    server connection (the session's own opening and closing are spread over its requests)."""
    front, back, srv = FrontendCounters(), Counters(), Counters(server=True)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(n):
            front.http_requests += 1
            srv.session_opened()  # the server picked (lbtot, rate, lastsess)
            srv.connected(0, 0)  # qtime/ctime samples
            count_forwarded(back, srv)
            srv.reuses += 1
            count_exchange(front, back, srv, 200, 100, 1000, 0)
            srv.session_closed()  # released: the ttime sample
        best = min(best, (time.perf_counter_ns() - started) / n)
    return best


def config(port: int, server_port: int, sock: Path) -> str:
    return f"""global
    maxconn 4000
    nbthread 1
    stats socket {sock} level admin

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s

listen bench
    bind {tcp.HOST}:{port}
    server nginx {tcp.HOST}:{server_port}
"""


class Poller:
    """Asks `show stat` every 100 ms until stopped; keeps each answer's time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(10)
                sock.connect(str(self.path))
                sock.sendall(b"show stat\n")
                while sock.recv(65536):
                    pass
            self.times.append(time.monotonic() - started)
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))

    def finish(self) -> list[float]:
        self.stop.set()
        self.thread.join(timeout=15)
        return self.times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    with open("/proc/loadavg") as file:
        print(f"# {time.strftime('%Y-%m-%d %H:%M')} loadavg {' '.join(file.read().split()[:3])}")
    ns = counting_ns()
    print(
        f"counting per proxied request: {ns:.0f} ns"
        f" = {ns / 10 / REQUEST_US:.2f} % of {REQUEST_US:.0f} us"
    )
    nginx, wrk = shutil.which("nginx"), shutil.which("wrk")
    if nginx is None or wrk is None:
        print("# nginx or wrk missing: no end-to-end measure")
        return 0
    tcp.OUT.mkdir(parents=True, exist_ok=True)
    procs = tcp.Processes()
    proxy_cpu, load_cpu = (None, None) if args.no_pin else ("1", "0")
    try:
        server_port = tcp.free_port()
        nginx_process = tcp.start_nginx(procs, nginx, server_port, load_cpu)
        port = tcp.free_port()
        path = tcp.OUT / "haproxy-py.cfg"
        stats = tcp.OUT / "stats.sock"
        path.write_text(config(port, server_port, stats))
        target = tcp.Target(
            "haproxy-py", port, [*tcp.haproxy_py_command(), "-db", "-f", str(path)], path
        )
        tcp.start_proxy(procs, target, proxy_cpu)
        results: dict[str, list[float]] = {"no reader": [], "reader every 100 ms": []}
        answers: list[float] = []
        for round_ in range(args.rounds):
            for name in results:
                poller = Poller(stats) if name != "no reader" else None
                load = tcp.run_wrk(
                    wrk, target, "small", 50, args.duration, round_=round_ + 1,
                    nginx=nginx_process, cpu=load_cpu,
                )  # fmt: skip
                if poller is not None:
                    answers += poller.finish()
                results[name].append(load.requests_per_s)
                print(f"round {round_ + 1} {name:22} {load.requests_per_s:10.0f} req/s")
        base = statistics.mean(results["no reader"])
        polled = statistics.mean(results["reader every 100 ms"])
        print(f"mean without reader {base:.0f} req/s, with {polled:.0f} req/s: "
              f"{100 * (base - polled) / base:+.1f} % slower with the reader")  # fmt: skip
        if answers:
            median = 1000 * statistics.median(answers)
            print(f"show stat answers: {len(answers)}, median {median:.1f} ms")
    finally:
        procs.stop_all()
    with open("/proc/loadavg") as file:
        print(f"# loadavg after {' '.join(file.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
