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
- `--profile SECONDS` samples haproxy-py with py-spy under the same load (bench/out/http/).
CPU placement as bench/tcp.py: proxies on CPU 1, wrk and nginx on CPU 0 (`--no-pin` to
disable). Every process started is stopped before exit. It measures; it asserts nothing.

Run: .venv/bin/python bench/http.py [--duration 10] [--rounds 2] [--profile 10] [--no-pin]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds (0: none)")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    wrk, nginx, haproxy = (shutil.which(n) or f"/usr/sbin/{n}" for n in ("wrk", "nginx", "haproxy"))
    tcp.OUT.mkdir(parents=True, exist_ok=True)
    tcp.raise_nofile()
    pin = not args.no_pin and (tcp.os.cpu_count() or 1) >= 2
    proxy_cpu, client_cpu = (tcp.PROXY_CPU, tcp.CLIENT_CPU) if pin else (None, None)
    procs = tcp.Processes()
    loads: list[tcp.Load] = []
    profile = None
    try:
        nginx_port = tcp.free_port()
        nginx_proc = tcp.start_nginx(procs, nginx, nginx_port, client_cpu)
        targets = [
            tcp.Target("direct", nginx_port),
            make_http_proxy("haproxy", [haproxy], nginx_port),
            make_http_proxy("haproxy-py", tcp.haproxy_py_command(), nginx_port),
        ]
        for target in targets[1:]:
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
        if args.profile:
            py_spy = str(Path(sys.executable).parent / "py-spy")
            profile = tcp.profile(py_spy, wrk, targets[2], args.profile, client_cpu)
    finally:
        procs.stop_all()
    print("\n## Machine\n")
    for key, value in tcp.machine().items():
        print(f"- {key}: {value}")
    print("\n## wrk -t1 -c50, keep-alive, 100-byte responses\n")
    for line in tcp.table(loads, "small"):
        print(line)
    print()
    for line in tcp.ratios(loads, "haproxy-py", "haproxy"):
        print(line)
    if profile is not None:
        print("\n## Profile (py-spy, haproxy-py under the same load)\n")
        print(json.dumps(profile.get("stacks"), indent=1)[:4000])
    results = {"loads": [asdict(load) for load in loads], "profile": profile}
    (tcp.OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
