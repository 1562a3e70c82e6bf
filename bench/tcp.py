"""Benchmark: `mode tcp` through haproxy-py, side by side with HAProxy 2.6 and with no proxy.

Issue 3's measurement, in one run on 127.0.0.1 only:
- a local nginx (its own configuration in bench/out/tcp/nginx/, `daemon off`, one worker,
  access log off, keep-alive) serves a 100-byte file and a 10 MiB file;
- HAProxy (`haproxy -db`) and haproxy-py (`haproxy-py -db`) run the very same configuration
  file: one `listen` in `mode tcp` with nginx as its only server, `nbthread 1`, `maxconn 9000`,
  `maxpipes 500` and `option splice-auto` (haproxy-py splices always and ignores it); a third
  proxy is haproxy-py with global `nosplice`, to show what splicing costs or gains;
- wrk -t1 -c50 on the small file (keep-alive: the TCP proxies relay wrk's connections) and
  wrk -t1 -c10 on the 10 MiB file, `--duration` seconds each, `--rounds` times, for every
  target in turn: req/s, MB/s (10^6 bytes), latency p50/p99, and the CPU each process used
  (psutil; "other" is what the rest of the machine used meanwhile, "steal" the time the
  hypervisor gave to other guests: a run with much of either was disturbed);
- idle memory: a fresh proxy gets `--idle` connections (5,000) that stay open and silent, then
  carry one small request each and stay open again; the proxy's RSS (psutil) is read before,
  after opening, after the requests and after closing them all;
- optionally, under a small-request load: `--profile SECONDS` samples haproxy-py with py-spy
  (bench/out/tcp/profile-haproxy-py.svg, a flame graph; .txt, collapsed stacks; a summary by
  function, line and category), and `--syscalls SECONDS` counts every proxy's system calls per
  request with strace -c (strace slows the proxy down: only the counts mean something);
- `--tree LABEL=DIR` adds haproxy-py run from another source tree (PYTHONPATH=DIR), to measure
  a patch side by side with the installed code before it is committed.

CPU placement, when the machine has 2 CPUs or more: every proxy runs on CPU 1 (`taskset -c 1`),
wrk, nginx, py-spy and strace on CPU 0, so a proxy has one core to itself, like HAProxy's
single thread. Every process started here is stopped before exit, on errors and Ctrl-C too.
Results go to stdout (Markdown tables) and to bench/out/tcp/results.json. It measures; it
asserts nothing.

Run: .venv/bin/python bench/tcp.py [--duration 10] [--rounds 2] [--idle 5000] [--profile 10]
     [--syscalls 4] [--tree LABEL=DIR] [--skip NAME] [--no-nosplice] [--no-pin]
Needs wrk, nginx and haproxy on PATH (or --wrk/--nginx/--haproxy); py-spy (in the venv) only
for --profile, strace only for --syscalls.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "tcp"
HOST = "127.0.0.1"
SMALL_BYTES = 100
BULK_BYTES = 10 << 20
# The descriptor budget: HAProxy and haproxy-py both need 2 * maxconn + 2 * maxpipes + a few,
# which has to fit in the hard RLIMIT_NOFILE an unprivileged (or capability-less) run cannot
# raise; 9,000 connections and 500 pipes fit in 20,000 and leave room for 5,000 idle ones.
MAXCONN = 9000
MAXPIPES = 500
PROXY_CPU = "1"
CLIENT_CPU = "0"


# -- processes ----------------------------------------------------------------------------------


class Processes:
    """Every process this run starts, stopped in reverse order by `stop_all` (or one by one)."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes], list[psutil.Process]]] = []

    def start(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=OUT, env=env)
        self.running.append((name, proc, []))
        return proc

    def adopt_children(self, proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
        """Remember the children of a process we started (nginx's worker), to stop them too."""
        children = psutil.Process(proc.pid).children(recursive=True)
        for _, known, extra in self.running:
            if known is proc:
                extra.extend(children)
        return children

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        for entry in list(self.running):
            if entry[1] is proc:
                self._stop(*entry)
                self.running.remove(entry)

    def stop_all(self) -> None:
        while self.running:
            self._stop(*self.running.pop())

    @staticmethod
    def _stop(name: str, proc: subprocess.Popen[bytes], children: list[psutil.Process]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"# {name} (pid {proc.pid}) ignored SIGTERM: killing it", file=sys.stderr)
                proc.kill()
                proc.wait(timeout=10)
        for child in children:  # normally gone with their parent
            # psutil refuses (NoSuchProcess) if the pid now belongs to another process.
            with contextlib.suppress(psutil.Error):
                child.kill()
                child.wait(timeout=5)


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 5.0) -> bytes:
    """One HTTP/1.1 request on a fresh connection; the body (checked for a 200 status)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        return exchange(sock, path)


def exchange(sock: socket.socket, path: str) -> bytes:
    """One request/response on an open keep-alive connection; returns the body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"unexpected response: {head.splitlines()[0]!r}")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(min(1 << 20, length - len(body)))
        if not chunk:
            raise ConnectionError("connection closed in the body")
        body += chunk
    return body


def wait_serving(port: int, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    """Until the small file comes back through `port`, at most 20 s."""
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if len(http_get(port, "/small", timeout=2)) == SMALL_BYTES:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} does not answer on port {port}: see {log}")
        time.sleep(0.1)


# -- nginx and the proxies ----------------------------------------------------------------------


def nginx_config(prefix: Path, port: int) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # the files below belong to root
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 19000;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections 16000;
    use epoll;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_header_timeout 300s;
{temp}
    default_type application/octet-stream;
    server {{
        listen {HOST}:{port} backlog=4096;
        root {prefix / "www"};
    }}
}}
"""


def start_nginx(procs: Processes, nginx: str, port: int, cpu: str | None) -> psutil.Process:
    prefix = OUT / "nginx"
    www = prefix / "www"
    www.mkdir(parents=True, exist_ok=True)
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    (www / "small").write_bytes(b"x" * (SMALL_BYTES - 1) + b"\n")
    (www / "bulk").write_bytes(os.urandom(1 << 20) * (BULK_BYTES >> 20))
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port))
    argv = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    log = prefix / "stdout.log"
    proc = procs.start("nginx", pinned(cpu, argv), log)
    wait_serving(port, proc, "nginx", log)
    workers = procs.adopt_children(proc)
    if len(http_get(port, "/bulk", timeout=10)) != BULK_BYTES:
        raise RuntimeError("nginx serves a short 10 MiB file")
    return workers[0] if workers else psutil.Process(proc.pid)


def proxy_config(listen_port: int, server_port: int, *, nosplice: bool = False) -> str:
    extra = "    nosplice\n" if nosplice else ""
    return f"""global
    maxconn {MAXCONN}
    maxpipes {MAXPIPES}
    nbthread 1
{extra}
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

listen bench
    bind {HOST}:{listen_port}
    option splice-auto
    server nginx {HOST}:{server_port}
"""


@dataclass
class Target:
    name: str
    port: int
    argv: list[str] | None = None  # None: nginx itself (direct)
    config: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # --tree: PYTHONPATH pointing at another source tree

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def haproxy_py_command() -> list[str]:
    script = Path(sys.executable).parent / "haproxy-py"
    return [str(script)] if script.exists() else [sys.executable, "-m", "master"]


def make_proxy(name: str, command: list[str], server_port: int, **options: bool) -> Target:
    port = free_port()
    config = OUT / f"{name.replace(' ', '-').replace('(', '').replace(')', '')}.cfg"
    config.write_text(proxy_config(port, server_port, **options))
    return Target(name, port, [*command, "-db", "-f", str(config)], config)


def start_proxy(procs: Processes, target: Target, cpu: str | None) -> None:
    assert target.argv is not None and target.config is not None
    log = target.config.with_suffix(".log")
    target.proc = procs.start(target.name, pinned(cpu, target.argv), log, target.env)
    wait_serving(target.port, target.proc, target.name, log)


# -- wrk ----------------------------------------------------------------------------------------

_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_TIMES = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class Load:
    target: str
    workload: str
    round: int
    connections: int
    seconds: float
    requests_per_s: float = 0.0
    mb_per_s: float = 0.0  # 10^6 bytes per second
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # percent of one CPU, per process


def parse_wrk(text: str, load: Load) -> None:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?B)", text)
    if rps is None or transfer is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    load.requests_per_s = float(rps.group(1))
    load.mb_per_s = float(transfer.group(1)) * _UNITS[transfer.group(2)] / 1e6
    for percent, value, unit in re.findall(r"(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text):
        setattr(load, f"p{percent}_ms", float(value) * _TIMES[unit])
    problems = []
    socket_errors = re.search(r"Socket errors: (.*)", text)
    if socket_errors:
        problems.append(socket_errors.group(1).strip())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        problems.append(f"non-2xx {bad.group(1)}")
    load.errors = "; ".join(problems)


def cpu_seconds(process: psutil.Process | None) -> tuple[float, float]:
    """(user, system) CPU seconds of a running process."""
    if process is None:
        return 0.0, 0.0
    times = process.cpu_times()
    return times.user, times.system


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine, all CPUs added up."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + t.irq + t.softirq  # guest time is inside user/nice
    return busy, getattr(t, "steal", 0.0)


def wait_quiet(limit: float = 15.0, seconds: float = 30.0) -> float:
    """Wait (at most `seconds`) until the whole machine is under `limit` % busy for 1 s."""
    deadline = time.monotonic() + seconds
    while True:
        busy = psutil.cpu_percent(interval=1.0)
        if busy < limit or time.monotonic() > deadline:
            return busy


def small_rounds(
    wrk: str,
    targets: list[Target],
    rounds: int,
    seconds: float,
    *,
    nginx: psutil.Process,
    cpu: str | None,
) -> list[Load]:
    """wrk -c50 on the small file against every target, `rounds` times, targets interleaved
    within a round (so a disturbance hits them alike)."""
    return [
        run_wrk(wrk, target, "small", 50, seconds, round_=round_, nginx=nginx, cpu=cpu)
        for round_ in range(rounds)
        for target in targets
    ]


def run_wrk(
    wrk: str,
    target: Target,
    workload: str,
    connections: int,
    seconds: float,
    *,
    round_: int,
    nginx: psutil.Process,
    cpu: str | None,
) -> Load:
    url = f"http://{HOST}:{target.port}/{workload}"
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    proxy = psutil.Process(target.pid) if target.pid else None
    if round_:
        wait_quiet()
    started = time.monotonic()
    proxy0, nginx0, wrk0, machine0 = (
        cpu_seconds(proxy),
        cpu_seconds(nginx),
        _wrk_cpu(),
        machine_cpu(),
    )
    done = subprocess.run(
        pinned(cpu, [*argv, url]), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    elapsed = time.monotonic() - started
    proxy1, nginx1, wrk1, machine1 = (
        cpu_seconds(proxy),
        cpu_seconds(nginx),
        _wrk_cpu(),
        machine_cpu(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    load = Load(target.name, workload, round_, connections, seconds)
    parse_wrk(done.stdout, load)
    stem = target.config.stem if target.config else "direct"
    (OUT / f"wrk-{stem}-{workload}-{round_}.txt").write_text(done.stdout)

    def percent(before: float, after: float) -> float:
        return round(100 * (after - before) / elapsed, 1)

    ours = sum(proxy1) + sum(nginx1) + wrk1 - sum(proxy0) - sum(nginx0) - wrk0
    load.cpu = {
        "proxy": percent(sum(proxy0), sum(proxy1)),
        "proxy_user": percent(proxy0[0], proxy1[0]),
        "proxy_sys": percent(proxy0[1], proxy1[1]),
        "nginx": percent(sum(nginx0), sum(nginx1)),
        "wrk": percent(wrk0, wrk1),
        # everything else the machine ran meanwhile (the kernel's softirq work for loopback
        # traffic included), and the time the hypervisor gave to other guests
        "other": percent(ours, machine1[0] - machine0[0]),
        "steal": percent(machine0[1], machine1[1]),
    }
    return load


def _wrk_cpu() -> float:
    # wrk is the only child that ends (and is waited for) during a measurement.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- idle connections ---------------------------------------------------------------------------


@dataclass
class IdleMemory:
    target: str
    connections: int
    nofile_limit: int
    rss_before_kib: float
    rss_open_kib: float
    rss_used_kib: float
    rss_closed_kib: float
    fds_before: int
    fds_open: int

    @property
    def per_open_kib(self) -> float:
        return (self.rss_open_kib - self.rss_before_kib) / self.connections

    @property
    def per_used_kib(self) -> float:
        return (self.rss_used_kib - self.rss_before_kib) / self.connections


def wait_fds(process: psutil.Process, predicate: Callable[[int], bool], seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while True:
        count = process.num_fds()
        if predicate(count) or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def measure_idle(procs: Processes, target: Target, count: int, cpu: str | None) -> IdleMemory:
    """A fresh proxy; RSS before, with `count` silent connections, after one request each."""
    start_proxy(procs, target, cpu)
    assert target.proc is not None
    proxy = psutil.Process(target.pid)
    try:
        for _ in range(200):  # warm: every code path of a small exchange has run
            http_get(target.port, "/small")
        time.sleep(1.0)
        fds_before = proxy.num_fds()
        rss_before = proxy.memory_info().rss
        sockets: list[socket.socket] = []
        try:
            deadline = time.monotonic() + 120
            for _ in range(count):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"opening {count} connections took more than 120 s")
                sockets.append(socket.create_connection((HOST, target.port), timeout=10))
            # Both sockets of every connection (client side accepted, server side connected).
            fds_open = wait_fds(proxy, lambda n: n >= fds_before + 2 * count)
            time.sleep(1.0)
            rss_open = proxy.memory_info().rss
            for sock in sockets:
                if exchange(sock, "/small") != b"x" * (SMALL_BYTES - 1) + b"\n":
                    raise RuntimeError("wrong body through an idle connection")
            time.sleep(1.0)
            rss_used = proxy.memory_info().rss
        finally:
            for sock in sockets:
                sock.close()
        wait_fds(proxy, lambda n: n <= fds_before + 8)
        time.sleep(1.0)
        rss_closed = proxy.memory_info().rss
        limit = proxy.rlimit(psutil.RLIMIT_NOFILE)[0]
    finally:
        procs.stop(target.proc)
    return IdleMemory(
        target.name, count, limit, rss_before / 1024, rss_open / 1024, rss_used / 1024,
        rss_closed / 1024, fds_before, fds_open,
    )  # fmt: skip


# -- profile ------------------------------------------------------------------------------------


def profile(
    py_spy: str, wrk: str, target: Target, seconds: int, cpu: str | None
) -> dict[str, object]:
    """py-spy on haproxy-py under the small-request load: a flame graph, then raw stacks."""
    results: dict[str, object] = {"target": target.name}
    stem = target.config.stem if target.config else "direct"
    for fmt, name in (("flamegraph", f"profile-{stem}.svg"), ("raw", f"profile-{stem}.txt")):
        output = OUT / name
        argv = [py_spy, "record", "--pid", str(target.pid), "--duration", str(seconds)]
        argv += ["--rate", "250", "--format", fmt, "-o", str(output)]
        log = (OUT / f"py-spy-{fmt}.log").open("wb")
        with log:
            spy = subprocess.Popen(pinned(cpu, argv), stdout=log, stderr=subprocess.STDOUT)
            try:
                time.sleep(1.0)  # py-spy attached
                wrk_argv = [
                    wrk,
                    "-t1",
                    "-c50",
                    f"-d{seconds}s",
                    f"http://{HOST}:{target.port}/small",
                ]
                subprocess.run(
                    pinned(cpu, wrk_argv), capture_output=True, timeout=seconds + 60, check=True
                )
                spy.wait(timeout=seconds + 60)
            finally:
                if spy.poll() is None:
                    spy.terminate()
                    spy.wait(timeout=10)
    results["stacks"] = summarise_stacks(OUT / f"profile-{stem}.txt")
    return results


def syscall_census(
    strace: str, wrk: str, target: Target, seconds: int, cpu: str | None
) -> dict[str, object]:
    """strace -c on a proxy during a small-request wrk run: system calls per request.

    strace slows the proxy down a lot; only the calls per request mean something here.
    """
    output = OUT / f"strace-{target.config.stem if target.config else 'direct'}.txt"
    argv = [strace, "-c", "-f", "-p", str(target.pid), "-o", str(output)]
    log = (OUT / "strace.log").open("wb")
    with log:
        tracer = subprocess.Popen(pinned(cpu, argv), stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1.0)  # attached
            url = f"http://{HOST}:{target.port}/small"
            done = subprocess.run(
                pinned(cpu, [wrk, "-t1", "-c50", f"-d{seconds}s", url]),
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=True,
            )
        finally:
            tracer.send_signal(signal.SIGINT)  # detach and write the summary
            try:
                tracer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait(timeout=10)
    total = re.search(r"(\d+) requests in", done.stdout)
    requests = int(total.group(1)) if total else 0
    calls: dict[str, list[float]] = {}
    for line in output.read_text().splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(fields) >= 5 and fields[-1].isidentifier() and fields[3].isdigit():
            errors = int(fields[4]) if len(fields) == 6 else 0
            calls[fields[-1]] = [int(fields[3]), errors]
    return {
        "target": target.name,
        "requests": requests,
        "per_request": {
            name: [round(n / requests, 2), round(e / requests, 2)]
            for name, (n, e) in sorted(calls.items(), key=lambda item: -item[1][0])
            if requests
        },
    }


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")


def _frame_key(frame: str) -> tuple[str, str, str]:
    """(function, short file, line) of one collapsed frame `func (path:line)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "", ""
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.split(str(HERE.parent) + "/", 1)[-1]
    return match.group("func"), path, match.group("line") or ""


def category(file: str, func: str) -> str:
    if "trio/_core/_io_epoll" in file:
        return "trio epoll I/O manager (register/modify fds, poll, wake tasks)"
    if "trio/_core/_run" in file or "trio/_core/_ki" in file or "outcome" in file:
        return "trio scheduler (run loop, task switches, cancel scopes, checkpoints)"
    if file.startswith("trio") or "trio/" in file:
        return "other trio code"
    if file.startswith("worker/relay"):
        return "relay bursts (worker/relay.py, syscalls included)"
    if file.startswith("worker/pipes"):
        return "pipe pool (worker/pipes.py)"
    if file.startswith("worker/"):
        return "accept, session, backend (worker/*.py)"
    if file.startswith(".") or "socket.py" in file or "selectors" in file:
        return "stdlib"
    return f"other ({file or func})"


def summarise_stacks(path: Path) -> dict[str, object]:
    """Sample shares: self time per function, per line of haproxy-py's own code, per category,
    and inclusive time per function of haproxy-py or trio (the stacks are complete: py-spy
    pauses the process for each sample)."""
    self_samples: collections.Counter[str] = collections.Counter()
    self_lines: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_key(frame) for frame in stack.split(";")]
        frames = [f for f in frames if not f[0].startswith(("process ", "thread ", "0x"))]
        if not frames:
            continue
        total += count
        func, file, lineno = frames[-1]
        self_samples[f"{func} ({file})"] += count
        categories[category(file, func)] += count
        if file.startswith(("worker/", "haproxy_py/")):
            self_lines[f"{file}:{lineno} {func}"] += count
        for name in {f"{f} ({p})" for f, p, _ in frames if p.startswith(("worker/", "trio/"))}:
            inclusive[name] += count

    def share(counter: collections.Counter[str], top: int) -> list[list[object]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "categories": share(categories, 20),
        "self": share(self_samples, 20),
        "self_lines": share(self_lines, 15),
        "inclusive": share(inclusive, 20),
    }


# -- the run ------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "not found"
        return (done.stdout or done.stderr).strip().splitlines()[0]

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "haproxy": version(["haproxy", "-v"]),
        "nginx": version(["nginx", "-v"]),
        "wrk": version(["wrk", "-v"]),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def table(loads: list[Load], workload: str) -> Iterator[str]:
    yield (
        "| target | round | req/s | MB/s | p50 | p99 | proxy CPU % (user+sys)"
        f" | {'req/s' if workload == 'small' else 'MB/s'} per proxy CPU"
        " | CPU % nginx / wrk / other / steal | errors |"
    )
    yield "|---|---|---|---|---|---|---|---|---|---|"
    for load in loads:
        if load.workload != workload:
            continue
        cpu = load.cpu
        proxy, per_cpu = "-", "-"
        if cpu.get("proxy"):
            proxy = f"{cpu['proxy']:.0f} ({cpu['proxy_user']:.0f}+{cpu['proxy_sys']:.0f})"
            value = load.requests_per_s if workload == "small" else load.mb_per_s
            per_cpu = f"{100 * value / cpu['proxy']:,.0f}"
        yield (
            f"| {load.target} | {load.round} | {load.requests_per_s:,.0f} | {load.mb_per_s:,.1f}"
            f" | {load.p50_ms:.2f} ms | {load.p99_ms:.2f} ms | {proxy} | {per_cpu}"
            f" | {cpu['nginx']:.0f} / {cpu['wrk']:.0f} / {cpu['other']:.0f} / {cpu['steal']:.0f}"
            f" | {load.errors or '-'} |"
        )


def ratios(loads: list[Load], numerator: str, denominator: str) -> Iterator[str]:
    """Per round: throughput ratio, and the ratio of throughput per proxy CPU second."""
    by_key = {(x.target, x.workload, x.round): x for x in loads}
    for workload, metric in (("small", "requests_per_s"), ("bulk", "mb_per_s")):
        raw, per_cpu = [], []
        for round_ in sorted({x.round for x in loads}):
            top = by_key.get((numerator, workload, round_))
            bottom = by_key.get((denominator, workload, round_))
            if not (top and bottom and getattr(bottom, metric)):
                continue
            raw.append(f"{getattr(top, metric) / getattr(bottom, metric):.2f}")
            if top.cpu.get("proxy") and bottom.cpu.get("proxy"):
                a = getattr(top, metric) / top.cpu["proxy"]
                b = getattr(bottom, metric) / bottom.cpu["proxy"]
                per_cpu.append(f"{a / b:.2f}")
        if raw:
            line = f"- {workload} ({metric}): {numerator} / {denominator} = {', '.join(raw)}"
            if per_cpu:
                line += f"; per proxy CPU second: {', '.join(per_cpu)}"
            yield line


def report(info: dict[str, str], loads: list[Load], idle: list[IdleMemory], pin: bool) -> None:
    print("\n## Machine\n")
    for key, value in info.items():
        print(f"- {key}: {value}")
    print(f"- placement: {'proxies on CPU 1, wrk/nginx on CPU 0' if pin else 'not pinned'}")
    for workload, what in (("small", f"{SMALL_BYTES} B"), ("bulk", f"{BULK_BYTES >> 20} MiB")):
        print(f"\n## {workload} ({what})\n")
        print("\n".join(table(loads, workload)))
    print("\n## ratios\n")
    names = list(dict.fromkeys(load.target for load in loads))
    for name in names:
        if name not in ("HAProxy", "direct"):
            print("\n".join(ratios(loads, name, "HAProxy")))
    print("\n".join(ratios(loads, "HAProxy", "direct")))
    if idle:
        print("\n## idle connections (RSS, KiB)\n")
        print(
            "| proxy | conns | NOFILE | before | open | after 1 req | closed | KiB/conn open"
            " | KiB/conn after req |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for m in idle:
            print(
                f"| {m.target} | {m.connections} | {m.nofile_limit} | {m.rss_before_kib:,.0f}"
                f" | {m.rss_open_kib:,.0f} | {m.rss_used_kib:,.0f} | {m.rss_closed_kib:,.0f}"
                f" | {m.per_open_kib:.1f} | {m.per_used_kib:.1f} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every case")
    parser.add_argument("--idle", type=int, default=5000, help="idle connections (0: skip)")
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds (0: skip)")
    parser.add_argument(
        "--profile-target",
        action="append",
        help="whom --profile samples (repeatable; default haproxy-py)",
    )
    parser.add_argument("--syscalls", type=int, default=0, help="strace seconds (0: skip)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also run haproxy-py from another source tree (a patch to compare), as 'LABEL'",
    )
    parser.add_argument("--skip", action="append", default=[], help="a target not to run")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--no-nosplice", action="store_true", help="skip haproxy-py nosplice")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    parser.add_argument("--py-spy", default=str(Path(sys.executable).parent / "py-spy"))
    args = parser.parse_args()
    args.profile_target = args.profile_target or ["haproxy-py"]

    missing = [tool for tool in (args.wrk, args.nginx, args.haproxy) if not shutil.which(tool)]
    if missing:
        print(
            f"bench/tcp.py needs {', '.join(missing)}: apt-get install -y wrk nginx haproxy",
            file=sys.stderr,
        )
        return 2
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    proxy_cpu = PROXY_CPU if pin else None
    client_cpu = CLIENT_CPU if pin else None
    OUT.mkdir(parents=True, exist_ok=True)
    nofile = raise_nofile()
    if args.idle and nofile < args.idle + 100:
        print(f"# RLIMIT_NOFILE is {nofile}: idle test with {nofile - 100}", file=sys.stderr)
        args.idle = max(0, nofile - 100)
    # SIGTERM stops the run as Ctrl-C does: through the finally block below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    info = machine()
    procs = Processes()
    loads: list[Load] = []
    idle: list[IdleMemory] = []
    extra: dict[str, object] = {}
    try:
        nginx_port = free_port()
        nginx = start_nginx(procs, args.nginx, nginx_port, client_cpu)
        haproxy_py = haproxy_py_command()
        targets = [
            Target("direct", nginx_port),
            make_proxy("HAProxy", [args.haproxy], nginx_port),
            make_proxy("haproxy-py", haproxy_py, nginx_port),
        ]
        if not args.no_nosplice:
            targets.append(
                make_proxy("haproxy-py (nosplice)", haproxy_py, nginx_port, nosplice=True)
            )
        for tree in args.tree:
            label, _, directory = tree.partition("=")
            variant = make_proxy(label, [sys.executable, "-m", "master"], nginx_port)
            variant.env = dict(os.environ, PYTHONPATH=str(Path(directory).resolve()))
            targets.append(variant)
        targets = [t for t in targets if t.name not in args.skip]
        for target in targets:
            if target.argv is not None:
                start_proxy(procs, target, proxy_cpu)
        for target in targets:  # warm-up, not measured
            run_wrk(args.wrk, target, "small", 50, 2, round_=0, nginx=nginx, cpu=client_cpu)
        for round_ in range(1, args.rounds + 1):
            for target in targets:
                for workload, conns in (("small", 50), ("bulk", 10)):
                    load = run_wrk(
                        args.wrk, target, workload, conns, args.duration,
                        round_=round_, nginx=nginx, cpu=client_cpu,
                    )  # fmt: skip
                    loads.append(load)
                    print(
                        f"# {target.name:<22} {workload:<5} round {round_}:"
                        f" {load.requests_per_s:>9,.0f} req/s {load.mb_per_s:>8,.1f} MB/s"
                        f" p50 {load.p50_ms:.2f} ms p99 {load.p99_ms:.2f} ms cpu {load.cpu}",
                        file=sys.stderr,
                        flush=True,
                    )
        proxies = [target for target in targets if target.argv is not None]
        named = {target.name: target for target in proxies}
        if args.profile:
            if Path(args.py_spy).exists():
                extra["profile"] = [
                    profile(args.py_spy, args.wrk, named[name], args.profile, client_cpu)
                    for name in args.profile_target
                    if name in named
                ]
            else:
                print(f"# no py-spy at {args.py_spy}: profile skipped", file=sys.stderr)
        if args.syscalls:
            if shutil.which("strace"):
                extra["syscalls"] = [
                    syscall_census("strace", args.wrk, target, args.syscalls, client_cpu)
                    for target in proxies
                ]
            else:
                print("# no strace: system call census skipped", file=sys.stderr)
        for target in proxies:
            assert target.proc is not None
            procs.stop(target.proc)
            target.proc = None
        if args.idle:
            for target in [named[name] for name in ("HAProxy", "haproxy-py") if name in named]:
                idle.append(measure_idle(procs, target, args.idle, proxy_cpu))
                print(f"# idle {target.name}: {idle[-1]}", file=sys.stderr, flush=True)
        info["loadavg after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        procs.stop_all()

    report(info, loads, idle, pin)
    for run in extra.get("profile", []):  # type: ignore[union-attr]
        stacks = run["stacks"]
        print(f"\n## profile of {run['target']}, small requests ({stacks['samples']} samples)\n")
        for title in ("categories", "self", "self_lines", "inclusive"):
            print(f"{title}:")
            for name, percent in stacks[title]:
                print(f"  {percent:5.1f} %  {name}")
    for census in extra.get("syscalls", []):  # type: ignore[union-attr]
        print(f"\n## system calls per small request, {census['target']} (strace -c)\n")
        for name, (calls, errors) in census["per_request"].items():
            if calls >= 0.01:
                print(f"  {calls:6.2f}  {name}" + (f" ({errors:.2f} failed)" if errors else ""))
    results = {
        "machine": info,
        "pinned": pin,
        "loads": [asdict(load) for load in loads],
        "idle": [asdict(m) | {"per_open_kib": m.per_open_kib, "per_used_kib": m.per_used_kib}
                 for m in idle],
        **extra,
    }  # fmt: skip
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n# written: {OUT / 'results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
