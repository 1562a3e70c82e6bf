"""Benchmark (issue 6's proof): 40 reloads under HTTP load, counted request by request.

A Python load generator (50 keep-alive clients and 50 clients opening a connection per
request, one trio loop) runs for `--duration` seconds against `haproxy-py -W` (two workers,
`mode http`, `hard-stop-after 10s`, a master CLI) while the master gets `--reloads` reloads,
every other one by SIGUSR2 and by the master CLI's `reload`, alternating two configurations
(a server weight changes; a frontend is added, then removed again). The same machinery as
the end-to-end test tests/e2e/test_reload_under_load.py (imported, not copied).

It prints and writes to bench/out/reload/results.json: requests sent and answered, failures
(anything but a complete 200), connections opened, reloads done and how long the last old
workers took to leave, the master's descriptors before and after. It asserts nothing.

With `--idle N` it measures instead how long one reload takes on an otherwise idle
instance, N times, split in phases seen on the master's stderr: the re-exec of the master
(SIGUSR2 until "Reloading HAProxy"), reading the configuration (until the first "New
worker"), and the new workers' start-up (until "Loading success."); results go to
bench/out/reload/idle.json.

Run: .venv/bin/python bench/reload.py [--duration 30] [--reloads 40] | [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The script's directory would come first on sys.path, and bench/logging.py would then
# shadow the standard library's logging (which trio imports): the repository instead.
sys.path[0] = str(REPO)

import trio  # noqa: E402

from tests.e2e.mworker_tools import Master  # noqa: E402
from tests.e2e.reload_load import reload_under_load, serve_backend  # noqa: E402
from tests.e2e.test_reload_under_load import http_config  # noqa: E402
from tests.helpers import free_port  # noqa: E402

OUT = REPO / "bench" / "out" / "reload"


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def run(duration: float, reloads: int, workdir: Path) -> dict[str, object]:
    port, extra = free_port(), free_port()
    mcli = workdir / "master.sock"
    result: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        backend = await nursery.start(serve_backend)
        configs = (
            http_config(port, backend, 10, None, hard_stop_after=10),
            http_config(port, backend, 20, extra, hard_stop_after=10),
        )
        master = Master(workdir, configs[0], "-S", str(mcli))
        try:
            await trio.to_thread.run_sync(master.wait_ready)
            idle = fds(master.pid)
            began = time.monotonic()
            stats = await reload_under_load(
                port=port,
                master_pid=master.pid,
                mcli_path=mcli,
                config_path=master.path,
                configs=configs,
                duration=duration,
                reloads=reloads,
                wait_ready=lambda n: master.wait_ready(successes=n),
            )
            loaded = time.monotonic() - began
            settle = time.monotonic()
            await trio.to_thread.run_sync(
                lambda: master.wait_for(lambda: len(master.workers()) == 2, timeout=30)
            )
            result = {
                "duration_s": round(loaded, 1),
                "requests_sent": stats.sent,
                "requests_answered_200": stats.answered,
                "requests_per_s": round(stats.sent / loaded),
                "failures": len(stats.failures),
                "failure_samples": stats.failures[:10],
                "connections_opened": stats.connections,
                "reloads_by_usr2": stats.reloads_by_signal,
                "reloads_by_cli": stats.reloads_by_cli,
                "cli_answers_success": sum(a.startswith("Success=1") for a in stats.cli_answers),
                "loading_success_lines": master.count("Loading success."),
                "old_workers_gone_after_s": round(time.monotonic() - settle, 1),
                "master_fds_idle_before": idle,
                "master_fds_idle_after": fds(master.pid),
            }
        finally:
            await trio.to_thread.run_sync(master.stop)
            nursery.cancel_scope.cancel()
    return result


def _when(master: Master, needle: str, count: int, began: float) -> float:
    while master.count(needle) < count:
        time.sleep(0.002)
    return time.monotonic() - began


def idle_reloads(times: int, workdir: Path) -> dict[str, object]:
    """Reload phases on an idle instance (two workers, HTTP), in seconds."""
    port = free_port()
    config = http_config(port, free_port(), 10, None, hard_stop_after=10)
    master = Master(workdir, config)
    phases: dict[str, list[float]] = {"reexec": [], "config": [], "workers": [], "total": []}
    try:
        master.wait_ready()
        for number in range(1, times + 1):
            time.sleep(0.5)
            began = time.monotonic()
            master.process.send_signal(signal.SIGUSR2)
            reexec = _when(master, "Reloading HAProxy", number, began)
            config = _when(master, "New worker (", 2 * (number + 1) - 1, began)
            total = _when(master, "Loading success.", number + 1, began)
            phases["reexec"].append(reexec)
            phases["config"].append(config - reexec)
            phases["workers"].append(total - config)
            phases["total"].append(total)
    finally:
        master.stop()
    return {
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        **{
            f"{name}_s": {
                "median": round(statistics.median(values), 3),
                "min": round(min(values), 3),
            }
            for name, values in phases.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--reloads", type=int, default=40)
    parser.add_argument("--idle", type=int, default=0, help="measure N idle reloads instead")
    args = parser.parse_args()
    if args.idle:
        with tempfile.TemporaryDirectory(prefix="haproxy-py-reload-") as workdir:
            result = idle_reloads(args.idle, Path(workdir))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "idle.json").write_text(json.dumps(result, indent=2) + "\n")
        for key, value in result.items():
            print(f"{key:28} {value}")
        return 0
    with tempfile.TemporaryDirectory(prefix="haproxy-py-reload-") as workdir:
        result = trio.run(run, args.duration, args.reloads, Path(workdir))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
