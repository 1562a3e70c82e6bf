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

Run: .venv/bin/python bench/reload.py [--duration 30] [--reloads 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--reloads", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haproxy-py-reload-") as workdir:
        result = trio.run(run, args.duration, args.reloads, Path(workdir))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
