"""The issue's proof, shortened for CI: reloads under HTTP load lose nothing.

100 clients (50 keep-alive, 50 opening a connection per request) run against the real
`haproxy-py -W` while the master reloads by USR2 and by the master CLI, alternating two
configurations (a server weight changes, a frontend comes and goes). Every request sent must
be answered 200, the old workers must be gone within `hard-stop-after`, and the master must
hold as many descriptors as before. bench/reload.py runs the full 30 s, 40-reload version.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import trio

from tests.e2e.mworker_tools import Master
from tests.e2e.reload_load import load_while, reload_under_load, serve_backend
from tests.helpers import free_port

HARD_STOP_AFTER = 5


def http_config(
    port: int,
    backend: int,
    weight: int,
    extra_port: int | None,
    hard_stop_after: int = HARD_STOP_AFTER,
) -> str:
    extra = ""
    if extra_port is not None:
        extra = f"frontend extra\n    bind 127.0.0.1:{extra_port}\n    default_backend be\n"
    return (
        f"global\n    nbthread 2\n    hard-stop-after {hard_stop_after}s\n"
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
        "    timeout server 10s\n    timeout http-request 5s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n{extra}"
        f"backend be\n    server s1 127.0.0.1:{backend} weight {weight}\n"
        f"    server s2 127.0.0.1:{backend} weight 10\n"
    )


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_reloads_under_load_lose_no_request(tmp_path: Path) -> None:
    port, extra = free_port(), free_port()
    mcli = tmp_path / "master.sock"
    outcome: dict[str, object] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            backend = await nursery.start(serve_backend)
            configs = (
                http_config(port, backend, 10, None),
                http_config(port, backend, 20, extra),
            )
            running = Master(tmp_path, configs[0], "-S", str(mcli))
            outcome["master"] = running
            try:
                await trio.to_thread.run_sync(running.wait_ready)
                idle = fds(running.pid)
                first_workers = set(running.workers())
                stats = await reload_under_load(
                    port=port,
                    master_pid=running.pid,
                    mcli_path=mcli,
                    config_path=running.path,
                    configs=configs,
                    duration=12,
                    reloads=6,
                    wait_ready=lambda n: running.wait_ready(successes=n),
                    keep_alive_clients=20,
                    new_connection_clients=20,
                )
                outcome["stats"] = stats
                began = time.monotonic()
                await trio.to_thread.run_sync(
                    lambda: running.wait_for(
                        lambda: len(running.workers()) == 2, timeout=HARD_STOP_AFTER + 5
                    )
                )
                outcome["gone_after"] = time.monotonic() - began
                outcome["fds"] = (idle, fds(running.pid))
                outcome["first_workers_left"] = first_workers & set(running.workers())
            finally:
                await trio.to_thread.run_sync(running.stop)
                nursery.cancel_scope.cancel()

    trio.run(main)
    stats = outcome["stats"]
    running = outcome["master"]
    assert stats.failures == [], stats.failures[:5]
    assert stats.sent == stats.answered > 500
    assert stats.reloads_by_signal == 3 and stats.reloads_by_cli == 3
    assert all(answer.startswith("Success=1") for answer in stats.cli_answers)
    assert running.count("Loading success.") == 7
    assert "Reload: frontend 'extra' added." in running.text()
    assert "Reload: frontend 'extra' removed." in running.text()
    assert outcome["gone_after"] <= HARD_STOP_AFTER + 5
    assert not outcome["first_workers_left"]
    idle, after = outcome["fds"]
    assert after == idle


def test_a_worker_killed_under_load_costs_only_its_own_connections(tmp_path: Path) -> None:
    """With `master-worker no-exit-on-failure`, SIGKILL of one worker of two: the requests it
    had in flight fail, the other worker serves on, and a new worker replaces the dead one."""
    port = free_port()
    outcome: dict[str, object] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            backend = await nursery.start(serve_backend)
            text = http_config(port, backend, 10, None).replace(
                "nbthread 2\n", "nbthread 2\n    master-worker no-exit-on-failure\n"
            )
            running = Master(tmp_path, text)
            try:
                await trio.to_thread.run_sync(running.wait_ready)
                victim = running.workers()[0]
                stats, sent_before = await load_while(
                    port, lambda: os.kill(victim, signal.SIGKILL), before=3, after=5
                )
                outcome.update(stats=stats, sent_before=sent_before, victim=victim)
                outcome["workers"] = running.workers()
                outcome["alive"] = running.process.poll() is None
            finally:
                await trio.to_thread.run_sync(running.stop)
                nursery.cancel_scope.cancel()

    trio.run(main)
    stats = outcome["stats"]
    assert outcome["alive"]
    assert len(stats.failures) <= 40, stats.failures[:5]  # at most one per client in flight
    assert stats.answered > outcome["sent_before"] + 100  # served on after the kill
    workers = outcome["workers"]
    assert len(workers) == 2 and outcome["victim"] not in workers
