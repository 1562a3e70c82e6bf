"""Benchmark: what health checks cost a worker: N servers checked every `inter` (issue 8).

One run on 127.0.0.1: a small accept-and-close server stands for every server (they all point
at it, each a `server` line of its own with `check inter 2s`); haproxy-py (`-db`) and, when it
is installed, HAProxy 2.6 run the same configuration, and the CPU each proxy process uses over
`--duration` seconds is read with psutil once the first round of checks is spread out. Plain
TCP checks by default, `--http` for `option httpchk` (the server then answers 200; with
`--date` its answer carries a `Date:` header, as real servers' do, which changes every
second; it answers one connection at a time, so with `--http` its "checks/s seen" can fall
short of what a proxy attempts; a plain check reset before its accept counts as seen). It
measures; it asserts nothing. Target from the issue: 1,000 servers every 2 s
under 5% CPU.
A/B: `--tree [LABEL=]DIR` (repeatable) runs haproxy-py from a copy of the source tree (its
haproxy_py/, worker/, master/ put first on PYTHONPATH) besides the installed one, and
`--rounds N` alternates all of them N times, so that a busy machine weighs on each alike.

    .venv/bin/python bench/checks.py [--servers 1000] [--inter 2s] [--duration 20] [--http [--date]]
                                     [--tree base=/tmp/before]... [--trees-only] [--rounds 3]
                                     [--settle 3] [--no-haproxy]
"""

from __future__ import annotations

import argparse
import email.utils
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _answer(date: bool) -> bytes:
    if not date:
        return b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    now = email.utils.formatdate(usegmt=True)  # e.g. Sun, 22 Nov 2026 00:40:00 GMT
    return f"HTTP/1.0 200 OK\r\nDate: {now}\r\nContent-Length: 0\r\n\r\n".encode()


def start_server(http: bool, date: bool = False) -> tuple[socket.socket, list[int]]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    accepted = [0]

    def run() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError as error:
                if sock.fileno() == -1:
                    return  # closed: the bench is over
                if error.errno == errno.ECONNABORTED:  # a check's RST before the accept:
                    accepted[0] += 1  # a check all the same (HAProxy's nearly all are)
                continue
            accepted[0] += 1
            if http:
                try:
                    conn.settimeout(1)
                    conn.recv(4096)
                    conn.sendall(_answer(date))
                except OSError:
                    pass
            conn.close()

    threading.Thread(target=run, daemon=True).start()
    return sock, accepted


def config(servers: int, port: int, listen: int, inter: str, http: bool) -> str:
    lines = [
        "global\n  nbthread 1\n",
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n",
        f"listen be\n  bind 127.0.0.1:{listen}\n",
    ]
    if http:
        lines.append("  option httpchk GET /\n")
    lines += [f"  server s{i} 127.0.0.1:{port} check inter {inter}\n" for i in range(servers)]
    return "".join(lines)


def measure(
    command: list[str], cfg: Path, duration: float, settle: float, env: dict | None = None
) -> tuple[float, float, float]:
    """(user CPU %, system CPU %, RSS MiB) of the proxy over `duration` s after `settle`."""
    # Run from the configuration's directory: `python -m worker` puts its working directory
    # first on sys.path, which would pick the checkout's worker over a --tree's.
    process = subprocess.Popen(
        [*command, "-db", "-f", str(cfg)], stderr=subprocess.DEVNULL, env=env, cwd=cfg.parent
    )
    try:
        time.sleep(settle)
        proc = psutil.Process(process.pid)
        before = proc.cpu_times()
        start = time.monotonic()
        time.sleep(duration)
        after = proc.cpu_times()
        elapsed = time.monotonic() - start
        user = 100 * (after.user - before.user) / elapsed
        system = 100 * (after.system - before.system) / elapsed
        return user, system, proc.memory_info().rss / 2**20
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--inter", default="2s")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--http", action="store_true")
    parser.add_argument(
        "--date", action="store_true", help="with --http: a Date header, new every second"
    )
    parser.add_argument(
        "--tree", action="append", default=[], help="another source tree: [LABEL=]DIR"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--no-haproxy", action="store_true")
    parser.add_argument("--trees-only", action="store_true", help="not the installed one")
    args = parser.parse_args()
    server, accepted = start_server(args.http, args.date)
    port = server.getsockname()[1]
    probe = socket.create_server(("127.0.0.1", 0))
    listen = probe.getsockname()[1]
    probe.close()
    ours = [str(Path(sys.executable).parent / "haproxy-py")]
    targets: dict[str, tuple[list[str], dict | None]] = {}
    if not args.trees_only:
        targets["haproxy-py"] = (ours, None)
    for tree in args.tree:
        # `--tree LABEL=DIR` names it in the table (`--tree base=/tmp/base`), else its path.
        label, _, path = tree.rpartition("=") if "=" in tree else (tree, "", tree)
        env = {**os.environ, "PYTHONPATH": str(Path(path).resolve())}
        targets[f"haproxy-py ({label})"] = (ours, env)
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if os.access(haproxy, os.X_OK) and not args.no_haproxy:
        targets["haproxy 2.6"] = ([haproxy], None)
    kind = ("httpchk, Date header" if args.date else "httpchk") if args.http else "tcp connect"
    print(f"{args.servers} servers, {kind} checks every {args.inter}, {args.duration:.0f} s")
    print(f"load average before: {_loadavg()}")
    print("| proxy | CPU % (user + system) | RSS MiB | checks/s seen | load |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "checks.cfg"
        cfg.write_text(config(args.servers, port, listen, args.inter, args.http))
        for _ in range(args.rounds):
            for label, (command, env) in targets.items():
                seen = accepted[0]
                started = time.monotonic()
                user, system, rss = measure(command, cfg, args.duration, args.settle, env)
                rate = (accepted[0] - seen) / (time.monotonic() - started)
                print(
                    f"| {label} | {user + system:.2f} ({user:.2f} + {system:.2f}) | {rss:.1f}"
                    f" | {rate:.0f} | {_loadavg().split()[0]} |",
                    flush=True,
                )
    server.close()
    print(f"load average after: {_loadavg()}")


def _loadavg() -> str:
    """The machine's load (the figures mean little on a busy machine: say how busy)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
