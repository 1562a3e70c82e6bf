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
  connection per request (issue 4's close mode; `ab` is not needed);
- `--latency RATE`: bench/http_latency.py's open-loop driver at RATE requests per second on 50
  keep-alive connections, per target: latency percentiles counted from when each request was
  due, and the proxy's CPU; then each proxy's p50/p99 overhead over direct;
- `--profile SECONDS` samples haproxy-py with py-spy under the same load (bench/out/http/).
CPU placement as bench/tcp.py: proxies on CPU 1, wrk and nginx on CPU 0 (`--no-pin` to
disable). Every process started is stopped before exit. It measures; it asserts nothing.

`--tree LABEL=DIR` adds haproxy-py run from another source tree (PYTHONPATH=DIR; e.g. a
`git archive` of a commit, to compare a change in the same run), `--skip NAME` drops a target.

Run: .venv/bin/python bench/http.py [--duration 10] [--rounds 2] [--profile 10] [--no-pin]
     [--close] [--latency 2000 [--latency-seconds 10]] [--tree LABEL=DIR] [--skip NAME]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tcp  # bench/tcp.py, next to this file (found through sys.path above)

tcp.OUT = tcp.HERE / "out" / "http"  # every helper writes under this run's own directory


def http_proxy_config(listen_port: int, server_port: int) -> str:
    return f"""global
    maxconn 4000
    nbthread 1

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s

listen bench
    bind {tcp.HOST}:{listen_port}
    server nginx {tcp.HOST}:{server_port}
"""


def make_http_proxy(name: str, command: list[str], server_port: int) -> tcp.Target:
    port = tcp.free_port()
    config = tcp.OUT / f"{name.replace(' ', '-')}.cfg"
    config.write_text(http_proxy_config(port, server_port))
    return tcp.Target(name, port, [*command, "-db", "-f", str(config)], config)


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
    parser.add_argument(
        "--profile-target", default="haproxy-py", help="the target py-spy samples (a --tree label)"
    )
    args = parser.parse_args()
    wrk, nginx, haproxy = (shutil.which(n) or f"/usr/sbin/{n}" for n in ("wrk", "nginx", "haproxy"))
    tcp.OUT.mkdir(parents=True, exist_ok=True)
    tcp.raise_nofile()
    pin = not args.no_pin and (tcp.os.cpu_count() or 1) >= 2
    proxy_cpu, client_cpu = (tcp.PROXY_CPU, tcp.CLIENT_CPU) if pin else (None, None)
    procs = tcp.Processes()
    loads: list[tcp.Load] = []
    closed: list[tcp.Load] = []
    latencies: list[dict[str, object]] = []
    profile = None
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
        targets = [t for t in targets if t.name not in args.skip]
        for target in targets:
            if target.argv is not None:
                tcp.start_proxy(procs, target, proxy_cpu)
        for round_ in range(args.rounds):
            for target in targets:
                loads.append(
                    tcp.run_wrk(
                        wrk,
                        target,
                        "small",
                        50,
                        args.duration,
                        round_=round_,
                        nginx=nginx_proc,
                        cpu=client_cpu,
                    )
                )
        if args.close:
            closing = make_close_wrk(wrk)
            for round_ in range(args.rounds):
                for target in targets:
                    closed.append(
                        tcp.run_wrk(
                            closing, target, "small", 50, args.duration,
                            round_=round_, nginx=nginx_proc, cpu=client_cpu,
                        )
                    )  # fmt: skip
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
    print("\n## Machine\n")
    for key, value in tcp.machine().items():
        print(f"- {key}: {value}")
    print("\n## wrk -t1 -c50, keep-alive, 100-byte responses\n")
    for line in tcp.table(loads, "small"):
        print(line)
    print()
    for target in targets:
        if target.argv is not None and target.name != "haproxy":
            for line in tcp.ratios(loads, target.name, "haproxy"):
                print(line)
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
        "latency": latencies,
        "profile": profile,
    }
    (tcp.OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
