"""ApacheBench (`ab -c50`) runs for bench/http.py's close mode, measured like its wrk runs.

Issue 4 names `ab -c50` for close mode: ab speaks HTTP/1.0 without keep-alive, so every
request is a new client connection and (HTTP/1.0 being outside the plain fast path's
`HTTP/1.1` form) goes through haproxy-py's general HTTP path, where wrk's
`Connection: close` requests take the fast one. `run_ab()` runs `ab -q -r -c50 -t SECONDS`
against one target and returns a bench/tcp.py `Load` (workload "small") with the same CPU
accounting as tcp.run_wrk(): the proxy's user+system CPU over the run, nginx's, the client's,
and the rest of the machine's, so tcp.table() and tcp.ratios() print it. It measures; it
asserts nothing. Without ab installed (apache2-utils), bench/http.py skips these runs.
"""

from __future__ import annotations

import re
import resource
import time

import tcp  # bench/tcp.py (bench/http.py puts this directory on sys.path)

AB_CONNECTIONS = 50


def parse_ab(text: str, load: tcp.Load) -> None:
    """Requests per second, transfer rate, median and 99th percentile, failures."""
    rps = re.search(r"Requests per second:\s+([\d.]+)", text)
    if rps is None:
        raise RuntimeError(f"cannot read ab's output:\n{text}")
    load.requests_per_s = float(rps.group(1))
    transfer = re.search(r"Transfer rate:\s+([\d.]+) \[Kbytes/sec\]", text)
    load.mb_per_s = float(transfer.group(1)) * 1024 / 1e6 if transfer else 0.0
    for percent, value in re.findall(r"(?m)^\s+(50|99)%\s+(\d+)", text):
        setattr(load, f"p{percent}_ms", float(value))
    problems = []
    failed = re.search(r"Failed requests:\s+(\d+)", text)
    if failed and failed.group(1) != "0":
        problems.append(f"failed {failed.group(1)}")
    bad = re.search(r"Non-2xx responses:\s+(\d+)", text)
    if bad:
        problems.append(f"non-2xx {bad.group(1)}")
    load.errors = "; ".join(problems)


def _children_cpu() -> float:
    # ab is the only child that ends (and is waited for) during a measurement.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ab(
    ab: str,
    target: tcp.Target,
    seconds: float,
    *,
    round_: int,
    nginx: tcp.psutil.Process,
    cpu: str | None,
) -> tcp.Load:
    url = f"http://{tcp.HOST}:{target.port}/small"
    # -t bounds the run by time (-n only caps the count); -r: a reset is counted, not fatal.
    argv = [ab, "-q", "-r", f"-c{AB_CONNECTIONS}", "-t", f"{seconds:g}", "-n", "10000000", url]
    proxy = tcp.psutil.Process(target.pid) if target.pid else None
    if round_:
        tcp.wait_quiet()
    started = time.monotonic()
    proxy0, nginx0 = tcp.cpu_seconds(proxy), tcp.cpu_seconds(nginx)
    client0, machine0 = _children_cpu(), tcp.machine_cpu()
    done = tcp.subprocess.run(
        tcp.pinned(cpu, [*argv]), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    elapsed = time.monotonic() - started
    proxy1, nginx1 = tcp.cpu_seconds(proxy), tcp.cpu_seconds(nginx)
    client1, machine1 = _children_cpu(), tcp.machine_cpu()
    if done.returncode != 0:
        raise RuntimeError(f"ab failed ({done.returncode}): {done.stderr or done.stdout}")
    load = tcp.Load(target.name, "small", round_, AB_CONNECTIONS, seconds)
    parse_ab(done.stdout, load)
    stem = target.config.stem if target.config else "direct"
    (tcp.OUT / f"ab-{stem}-{round_}.txt").write_text(done.stdout)

    def percent(before: float, after: float) -> float:
        return round(100 * (after - before) / elapsed, 1)

    ours = sum(proxy1) + sum(nginx1) + client1 - sum(proxy0) - sum(nginx0) - client0
    load.cpu = {
        "proxy": percent(sum(proxy0), sum(proxy1)),
        "proxy_user": percent(proxy0[0], proxy1[0]),
        "proxy_sys": percent(proxy0[1], proxy1[1]),
        "nginx": percent(sum(nginx0), sum(nginx1)),
        "wrk": percent(client0, client1),  # the client's column (ab here)
        "other": percent(ours, machine1[0] - machine0[0]),
        "steal": percent(machine0[1], machine1[1]),
    }
    return load


def ab_rounds(
    ab: str,
    targets: list[tcp.Target],
    rounds: int,
    seconds: float,
    *,
    nginx: tcp.psutil.Process,
    cpu: str | None,
) -> list[tcp.Load]:
    """ab against every target, `rounds` times, targets interleaved within a round."""
    return [
        run_ab(ab, target, seconds, round_=round_, nginx=nginx, cpu=cpu)
        for round_ in range(rounds)
        for target in targets
    ]
