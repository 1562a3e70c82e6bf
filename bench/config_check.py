"""Benchmark: how long `-c` takes on a very large generated configuration.

Generates bench/out/backends-NxS.cfg: a defaults section with timeouts, one frontend with a
`use_backend beN if { hdr(host) -i hN.example.com }` rule per backend, and N backends of S
servers each (10,000 x 2 by default). Then times `haproxy-py -c -q -f FILE` and, when an
`haproxy` binary is on PATH, HAProxy on the same file, alternating the two in the same run,
and prints the minimum and the median of each with the machine they ran on.

haproxy-py runs with its bytecode cached, as an installed haproxy-py does after its first
run: the cache lives in bench/out/pycache (PYTHONPYCACHEPREFIX) and an untimed first run fills
it, so the result does not depend on PYTHONDONTWRITEBYTECODE or on stale __pycache__ dirs.

Run it with `make bench`. It measures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def generate(path: Path, backends: int, servers: int) -> None:
    """Write the configuration; servers get distinct private addresses (nothing resolves)."""
    lines = [
        "global",
        "    maxconn 100000",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "",
        "frontend fe_main",
        "    bind :8080",
    ]
    lines += [
        f"    use_backend be{n} if {{ hdr(host) -i h{n}.example.com }}" for n in range(backends)
    ]
    lines.append("    default_backend be0")
    for n in range(backends):
        lines += ["", f"backend be{n}", "    balance roundrobin"]
        for s in range(servers):
            host = f"10.{(n >> 8) & 255}.{n & 255}.{s + 1}"
            lines.append(f"    server s{s} {host}:8080 check weight 10 maxconn 100")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def haproxy_py_command() -> list[str]:
    """The venv's console script when there is one, else `python -m master` (same code)."""
    script = Path(sys.executable).parent / "haproxy-py"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "master"]


def run_once(command: list[str], env: dict[str, str] | None = None) -> float | str:
    """Wall-clock seconds of one run, or the reason it failed."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"exit {done.returncode}: {detail[-1] if detail else 'no output'}"
    return elapsed


def time_alternately(
    commands: list[tuple[str, list[str], dict[str, str] | None]], runs: int
) -> dict[str, list[float] | str]:
    """Run each command once per round, so that a change in machine load hits all alike."""
    results: dict[str, list[float] | str] = {label: [] for label, _, _ in commands}
    for _ in range(runs):
        for label, command, env in commands:
            times = results[label]
            if isinstance(times, str):
                continue
            outcome = run_once(command, env)
            if isinstance(outcome, str):
                results[label] = outcome
            else:
                times.append(outcome)
    return results


def cached_bytecode_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def haproxy_version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()[0] if done.stdout else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=10_000)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--haproxy", default="haproxy", help="HAProxy binary to compare with")
    args = parser.parse_args()

    path = OUT / f"backends-{args.backends}x{args.servers}.cfg"
    generate(path, args.backends, args.servers)
    size = path.stat().st_size
    print(f"config   : {path.relative_to(HERE.parent)} ({args.backends} backends x"
          f" {args.servers} servers, {size / 1e6:.1f} MB)")  # fmt: skip
    print(f"machine  : {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}),"
          f" {cpu_model()}")  # fmt: skip
    print(f"python   : {platform.python_implementation()} {platform.python_version()}"
          " (bytecode cached in bench/out/pycache)")  # fmt: skip
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load avg : {load} (other work on the machine makes times longer)")
    print(f"date     : {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"runs     : {args.runs} each, wall-clock time of the whole process")
    print()

    ours = [*haproxy_py_command(), "-c", "-q", "-f", str(path)]
    env = cached_bytecode_env()
    run_once(ours, env)  # fills the bytecode cache; not timed
    commands = [("haproxy-py -c", ours, env)]
    binary = shutil.which(args.haproxy)
    if binary:
        label = f"HAProxy {haproxy_version(binary)} -c"
        commands.append((label, [binary, "-c", "-q", "-f", str(path)], None))
    rows = list(time_alternately(commands, args.runs).items())
    if not binary:
        rows.append((f"{args.haproxy} -c", "not on PATH: skipped"))

    width = max(len(label) for label, _ in rows)
    print(f"{'command':<{width}}  {'min':>8}  {'median':>8}")
    for label, result in rows:
        if isinstance(result, str):
            print(f"{label:<{width}}  {result}")
        else:
            low, mid = min(result), statistics.median(result)
            print(f"{label:<{width}}  {low:>7.3f}s  {mid:>7.3f}s")
    return 0 if all(not isinstance(result, str) for _, result in rows[:1]) else 1


if __name__ == "__main__":
    sys.exit(main())
