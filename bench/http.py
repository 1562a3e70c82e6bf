"""Benchmark: `mode http` through haproxy-py, side by side with HAProxy 2.6 and with no proxy.

Issue 4's measurement, in one run on 127.0.0.1 only, built on bench/tcp.py's pieces (imported,
not copied: the nginx set-up, process handling, CPU pinning, wrk runs and their parsing, the
py-spy profile and the report tables are the same code):
- a local nginx (bench/out/http/nginx/, `daemon off`, one worker, access log off, keep-alive,
  error log and pid file in that directory) serves a 100-byte file;
- HAProxy (`haproxy -db`) and haproxy-py (`haproxy-py -db`) run the very same configuration
  file: one `listen` in `mode http` (default keep-alive on both sides, http-reuse safe) with
  nginx as its only server, `nbthread 1`;
- wrk -t1 -c50 keep-alive on the small file for `--duration` seconds, `--rounds` times per
  target: req/s, latency, CPU per process; then the ratio haproxy-py / HAProxy;
- `--close`: the same with `Connection: close` on every request (wrk -H), a new client
  connection per request (issue 4's close mode), then, when `ab` (apache2-utils) is
  installed, `ab -c50` for as long (HTTP/1.0 requests: bench/http_ab.py);
- `--latency RATE`: bench/http_latency.py's open-loop driver at RATE requests per second on 50
  keep-alive connections, per target: latency percentiles counted from when each request was
  due, and the proxy's CPU; then each proxy's p50/p99 overhead over direct;
- `--profile SECONDS` samples haproxy-py with py-spy under the same load (bench/out/http/).
CPU placement as bench/tcp.py: proxies on CPU 1, wrk and nginx on CPU 0 (`--no-pin` to
disable). Every process started is stopped before exit. It measures; it asserts nothing.

`--tree LABEL=DIR` adds haproxy-py run from another source tree (PYTHONPATH=DIR; e.g. a
`git archive` of a commit, to compare a change in the same run), `--skip NAME` drops a target.

`--log` adds a "+log" twin of every proxy target ("haproxy+log", "haproxy-py+log", ...): the
same configuration with `option httplog` and a UDP log target (a sink thread in this process
that reads and drops the lines); each twin is compared with "haproxy+log".

Run: .venv/bin/python bench/http.py [--duration 10] [--rounds 2] [--profile 10] [--no-pin]
     [--close] [--latency 2000 [--latency-seconds 10]] [--tree LABEL=DIR] [--skip NAME]
     [--log] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_ab  # bench/http_ab.py: ab runs for --close
import tcp  # bench/tcp.py, next to this file (found through sys.path above)

tcp.OUT = tcp.HERE / "out" / "http"  # every helper writes under this run's own directory


def http_proxy_config(listen_port: int, server_port: int, log_port: int = 0) -> str:
    logging = f"    log {tcp.HOST}:{log_port} local0\n    option httplog\n" if log_port else ""
    return f"""global
    maxconn 4000
    nbthread 1

defaults
    mode http
{logging}    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s

listen bench
    bind {tcp.HOST}:{listen_port}
    server nginx {tcp.HOST}:{server_port}
"""


def make_http_proxy(
    name: str, command: list[str], server_port: int, log_port: int = 0
) -> tcp.Target:
    port = tcp.free_port()
    config = tcp.OUT / f"{name.replace(' ', '-')}.cfg"
    config.write_text(http_proxy_config(port, server_port, log_port))
    return tcp.Target(name, port, [*command, "-db", "-f", str(config)], config)


class LogSink:
    """A UDP syslog target that reads and drops every datagram (a thread of this process, so
    the proxies' sends succeed as they would to a real syslog daemon); counts them."""

    def __init__(self) -> None:
        self.sock = tcp.socket.socket(tcp.socket.AF_INET, tcp.socket.SOCK_DGRAM)
        self.sock.bind((tcp.HOST, 0))
        self.sock.setsockopt(tcp.socket.SOL_SOCKET, tcp.socket.SO_RCVBUF, 4 << 20)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv(65536)
            except OSError:
                return
            self.received += 1

    def close(self) -> None:
        self.sock.close()


def make_close_wrk(wrk: str) -> str:
    """A wrk that sends `Connection: close` (a script in the output directory)."""
    script = tcp.OUT / "wrk-close.sh"
    script.write_text(f'#!/bin/sh\nexec {wrk} -H "Connection: close" "$@"\n')
    script.chmod(0o755)
    return str(script)


def run_open_loop(
    target: tcp.Target, rate: float, seconds: float, cpu: str | None
) -> dict[str, object]:
    """bench/http_latency.py against `target`, with the proxy's CPU over the run."""
    proxy = tcp.psutil.Process(target.pid) if target.pid else None
    tcp.wait_quiet()
    before = tcp.cpu_seconds(proxy)
    started = tcp.time.monotonic()
    driver = [sys.executable, str(tcp.HERE / "http_latency.py"), "--port", str(target.port)]
    driver += ["--rate", f"{rate:g}", "--seconds", f"{seconds:g}"]
    done = tcp.subprocess.run(
        tcp.pinned(cpu, driver), capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    elapsed = tcp.time.monotonic() - started
    after = tcp.cpu_seconds(proxy)
    result: dict[str, object] = {"target": target.name, **json.loads(done.stdout)}
    result["proxy_cpu"] = round(100 * (sum(after) - sum(before)) / elapsed, 1) if proxy else None
    return result


def latency_table(results: list[dict[str, object]]) -> list[str]:
    lines = [
        "| target | round | achieved req/s | p50 | p90 | p99 | p99.9 | max | errors | proxy CPU %"
        " | p50 / p99 over direct |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    direct = {r["round"]: r for r in results if r["target"] == "direct"}
    for r in results:
        base = direct.get(r["round"])
        over = "-"
        if base is not None and r is not base:
            p50 = float(r["p50_ms"]) - float(base["p50_ms"])  # type: ignore[arg-type]
            p99 = float(r["p99_ms"]) - float(base["p99_ms"])  # type: ignore[arg-type]
            over = f"{p50:+.2f} / {p99:+.2f} ms"
        lines.append(
            f"| {r['target']} | {r['round']} | {r['achieved_rate']:,} | {r['p50_ms']} ms"
            f" | {r['p90_ms']} ms | {r['p99_ms']} ms | {r['p999_ms']} ms | {r['max_ms']} ms"
            f" | {r['errors']} | {r['proxy_cpu'] if r['proxy_cpu'] is not None else '-'}"
            f" | {over} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds (0: none)")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--close", action="store_true", help="also wrk with Connection: close")
    parser.add_argument("--latency", type=float, default=0, help="open-loop req/s (0: none)")
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME")
    parser.add_argument("--log", action="store_true", help="also both proxies with httplog")
    parser.add_argument(
        "--out", type=Path, default=tcp.OUT, help="output directory (one per concurrent run)"
    )
    parser.add_argument(
        "--profile-target", default="haproxy-py", help="the target py-spy samples (a --tree label)"
    )
    args = parser.parse_args()
    tcp.OUT = args.out.resolve()
    wrk, nginx, haproxy = (shutil.which(n) or f"/usr/sbin/{n}" for n in ("wrk", "nginx", "haproxy"))
    tcp.OUT.mkdir(parents=True, exist_ok=True)
    tcp.raise_nofile()
    pin = not args.no_pin and (tcp.os.cpu_count() or 1) >= 2
    proxy_cpu, client_cpu = (tcp.PROXY_CPU, tcp.CLIENT_CPU) if pin else (None, None)
    procs = tcp.Processes()
    loads: list[tcp.Load] = []
    closed: list[tcp.Load] = []
    abbed: list[tcp.Load] = []  # ab -c50 (--close, when ab is installed)
    latencies: list[dict[str, object]] = []
    profile = None
    sink = LogSink() if args.log else None
    try:
        nginx_port = tcp.free_port()
        nginx_proc = tcp.start_nginx(procs, nginx, nginx_port, client_cpu)
        targets = [
            tcp.Target("direct", nginx_port),
            make_http_proxy("haproxy", [haproxy], nginx_port),
            make_http_proxy("haproxy-py", tcp.haproxy_py_command(), nginx_port),
        ]
        for tree in args.tree:
            label, _, directory = tree.partition("=")
            variant = make_http_proxy(label, [sys.executable, "-m", "master"], nginx_port)
            variant.env = dict(tcp.os.environ, PYTHONPATH=str(Path(directory).resolve()))
            targets.append(variant)
        if sink is not None:  # each proxy twice: as is, and logging every request
            for target in [t for t in targets if t.argv is not None]:
                logged = make_http_proxy(
                    target.name + "+log", target.argv[:-3], nginx_port, sink.port
                )
                logged.env = target.env
                targets.append(logged)
        targets = [t for t in targets if t.name not in args.skip]
        for target in targets:
            if target.argv is not None:
                tcp.start_proxy(procs, target, proxy_cpu)
        loads += tcp.small_rounds(
            wrk, targets, args.rounds, args.duration, nginx=nginx_proc, cpu=client_cpu
        )
        if args.close:
            closing = make_close_wrk(wrk)
            closed += tcp.small_rounds(
                closing, targets, args.rounds, args.duration, nginx=nginx_proc, cpu=client_cpu
            )
            ab = shutil.which("ab")
            if ab is not None:
                abbed += http_ab.ab_rounds(
                    ab, targets, args.rounds, args.duration, nginx=nginx_proc, cpu=client_cpu
                )
        if args.latency:
            for round_ in range(args.rounds):
                for target in targets:
                    latencies.append(
                        run_open_loop(target, args.latency, args.latency_seconds, client_cpu)
                    )
                    latencies[-1]["round"] = round_
        if args.profile:
            py_spy = str(Path(sys.executable).parent / "py-spy")
            profiled = next(t for t in targets if t.name == args.profile_target)
            profile = tcp.profile(py_spy, wrk, profiled, args.profile, client_cpu)
    finally:
        procs.stop_all()
        if sink is not None:
            sink.close()
    print("\n## Machine\n")
    for key, value in tcp.machine().items():
        print(f"- {key}: {value}")
    print("\n## wrk -t1 -c50, keep-alive, 100-byte responses\n")
    for line in tcp.table(loads, "small"):
        print(line)
    print()
    for target in targets:
        if target.argv is None or target.name in ("haproxy", "haproxy+log"):
            continue
        reference = "haproxy+log" if target.name.endswith("+log") else "haproxy"
        for line in tcp.ratios(loads, target.name, reference):
            print(line)
    if sink is not None:
        print(f"\n(log lines received: {sink.received:,})")
    if closed:
        print(
            "\n## wrk -t1 -c50, Connection: close (a connection per request), 100-byte responses\n"
        )
        for line in tcp.table(closed, "small"):
            print(line)
        print()
        for target in targets:
            if target.argv is not None and target.name != "haproxy":
                for line in tcp.ratios(closed, target.name, "haproxy"):
                    print(line)
    if abbed:
        print("\n## ab -c50 (HTTP/1.0, a connection per request), 100-byte responses\n")
        for line in tcp.table(abbed, "small"):
            print(line)
        print()
        for target in targets:
            if target.argv is not None and target.name != "haproxy":
                for line in tcp.ratios(abbed, target.name, "haproxy"):
                    print(line)
    if latencies:
        print(f"\n## Open loop at {args.latency:g} req/s, 50 keep-alive connections\n")
        for line in latency_table(latencies):
            print(line)
    if profile is not None:
        print("\n## Profile (py-spy, haproxy-py under the same load)\n")
        print(json.dumps(profile.get("stacks"), indent=1)[:4000])
    results = {
        "loads": [asdict(load) for load in loads],
        "close": [asdict(load) for load in closed],
        "ab": [asdict(load) for load in abbed],
        "latency": latencies,
        "profile": profile,
    }
    (tcp.OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
