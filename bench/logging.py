"""Benchmark: what traffic logs cost haproxy-py, and that a dead log target costs no more.

Issue 9's measurement, built on bench/tcp.py's pieces (nginx set-up, process handling, CPU
pinning, wrk runs, report tables): a local nginx serves a 100-byte file through haproxy-py
(`mode http`, `option httplog`, `nbthread 1`) in four configurations run side by side:
- "no log": no `log` line at all (the sessions build no record);
- "live UDP": `log 127.0.0.1:PORT local0` to a receiver that drains and counts datagrams;
- "dead UDP": the same to a UDP port nothing listens on (the kernel answers ICMP
  unreachable; the datagrams are lost);
- "dead unix": `log unix@PATH` to a path with no socket (every send fails, counted dropped).
wrk -t1 -c50 keep-alive for `--duration` seconds, `--rounds` times each; the report gives
req/s and the ratios dead / live (issue 9's target: within 5%) and live / no log.
CPU placement as bench/tcp.py (`--no-pin` to disable). Every process started is stopped.
It measures; it asserts nothing. On a busy machine the figures are noise: run it idle.

Run: .venv/bin/python bench/logging.py [--duration 10] [--rounds 2] [--no-pin]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tcp  # bench/tcp.py, next to this file (found through sys.path above)

tcp.OUT = tcp.HERE / "out" / "logging"

RECEIVER = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sock.bind(("127.0.0.1", int(sys.argv[1])))
count = 0
while True:
    sock.recv(65536)
    count += 1
    if count % 10000 == 0:
        print(count, flush=True)
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((tcp.HOST, 0))
        return probe.getsockname()[1]


def logging_config(listen_port: int, server_port: int, log_line: str) -> str:
    return f"""global
    maxconn 4000
    nbthread 1
{log_line}
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s

listen bench
    bind {tcp.HOST}:{listen_port}
    server nginx {tcp.HOST}:{server_port}
"""


def make_target(name: str, server_port: int, log_line: str) -> tcp.Target:
    port = tcp.free_port()
    config = tcp.OUT / f"{name.replace(' ', '-')}.cfg"
    config.write_text(logging_config(port, server_port, log_line))
    return tcp.Target(name, port, [*tcp.haproxy_py_command(), "-db", "-f", str(config)], config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    wrk, nginx = (shutil.which(n) or f"/usr/sbin/{n}" for n in ("wrk", "nginx"))
    tcp.OUT.mkdir(parents=True, exist_ok=True)
    tcp.raise_nofile()
    pin = not args.no_pin and (tcp.os.cpu_count() or 1) >= 2
    proxy_cpu, client_cpu = (tcp.PROXY_CPU, tcp.CLIENT_CPU) if pin else (None, None)
    procs = tcp.Processes()
    loads: list[tcp.Load] = []
    receiver = None
    try:
        nginx_port = tcp.free_port()
        nginx_proc = tcp.start_nginx(procs, nginx, nginx_port, client_cpu)
        live, dead = free_udp_port(), free_udp_port()
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(live)], stdout=subprocess.PIPE, text=True
        )
        missing = tcp.OUT / "no-such-syslog.sock"
        missing.unlink(missing_ok=True)
        targets = [
            make_target("no log", nginx_port, ""),
            make_target("live UDP", nginx_port, f"    log 127.0.0.1:{live} local0"),
            make_target("dead UDP", nginx_port, f"    log 127.0.0.1:{dead} local0"),
            make_target("dead unix", nginx_port, f"    log unix@{missing} local0"),
        ]
        for target in targets:
            tcp.start_proxy(procs, target, proxy_cpu)
        loads += tcp.small_rounds(
            wrk, targets, args.rounds, args.duration, nginx=nginx_proc, cpu=client_cpu
        )
    finally:
        procs.stop_all()
        if receiver is not None:
            receiver.kill()
            receiver.wait()
    print("\n## Machine\n")
    for key, value in tcp.machine().items():
        print(f"- {key}: {value}")
    print("\n## wrk -t1 -c50, keep-alive, 100-byte responses, option httplog\n")
    for line in tcp.table(loads, "small"):
        print(line)
    print()
    for numerator, denominator in (
        ("dead UDP", "live UDP"),
        ("dead unix", "live UDP"),
        ("live UDP", "no log"),
    ):
        for line in tcp.ratios(loads, numerator, denominator):
            print(line)
    results = {"loads": [asdict(load) for load in loads]}
    (tcp.OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
