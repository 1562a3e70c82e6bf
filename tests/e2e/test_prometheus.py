"""`http-request use-service prometheus-exporter` on the real `haproxy-py -W` (two workers).

curl fetches /metrics; prometheus_client's parser reads the page; the numbers must be the
whole process's (both workers' counters summed) and move with the traffic; an admin change
made on the stats socket shows in the server's state label. When HAProxy 2.6 is installed,
it runs the same configuration and every metric family we print must exist in its page
with the same type and label names.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import both_running, needs_haproxy
from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_serve_http import backend
from tests.helpers import free_port

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def config(port: int, server_port: int, stats: Path, extra_global: str = "") -> str:
    return (
        f"global\n    nbthread 2\n    stats socket {stats} level admin\n{extra_global}"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        f"frontend web\n    bind 127.0.0.1:{port}\n"
        "    http-request use-service prometheus-exporter if { path /metrics }\n"
        "    default_backend app\n"
        f"backend app\n    server s1 127.0.0.1:{server_port}\n"
        f"    server s2 127.0.0.1:{server_port} backup\n"
    )


def curl(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CURL, "-s", "--max-time", "10", *flags, url],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        check=True,
    )


def metrics(port: int, query: str = "") -> dict[str, dict[tuple, float]]:
    """Family name -> {sorted labels: value}, as prometheus_client reads the page."""
    page = curl(f"http://127.0.0.1:{port}/metrics{query}").stdout
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(page)
    }


def test_exporter_counts_both_workers_and_follows_the_state(tmp_path: Path) -> None:
    port = free_port()
    stats = tmp_path / "stats.sock"
    with backend() as server, master(tmp_path, config(port, server.port, stats)) as running:
        running.wait_ready()
        running.wait_for(lambda: len(running.workers()) == 2)
        wait_listening(port, running.process)
        head = curl(f"http://127.0.0.1:{port}/metrics", "-D", "-", "-o", "/dev/null").stdout
        assert head.startswith("HTTP/1.1 200 OK\n")  # text mode: CRLF read as LF
        assert "content-type: text/plain; version=0.0.4\n" in head
        before = metrics(port)
        web = (("proxy", "web"),)
        assert before["haproxy_frontend_http_requests"][web] >= 1
        for _ in range(30):  # new connections: the kernel spreads them over both workers
            assert curl(f"http://127.0.0.1:{port}/").stdout == "ok"
        after = metrics(port)
        # 30 requests plus this /metrics request, whichever worker served them
        grew = (
            after["haproxy_frontend_http_requests"][web]
            - before["haproxy_frontend_http_requests"][web]
        )
        assert grew == 31
        ok = (("code", "2xx"), ("proxy", "app"))
        grew_2xx = (
            after["haproxy_backend_http_responses"][ok]
            - before["haproxy_backend_http_responses"][ok]
        )
        assert grew_2xx == 30
        s1 = (("proxy", "app"), ("server", "s1"))
        assert after["haproxy_server_sessions"][s1] == server.requests == 30
        assert after["haproxy_frontend_intercepted_requests"][web] >= 2
        assert after["haproxy_server_status"][(*s1, ("state", "UP"))] == 1
        assert after["haproxy_backend_active_servers"][(("proxy", "app"),)] == 1
        assert after["haproxy_backend_backup_servers"][(("proxy", "app"),)] == 1
        assert after["haproxy_process_nbthread"][()] == 1

        assert cli(stats, "disable server app/s1") == "\n"
        changed = metrics(port, "?scope=server")
        assert changed["haproxy_server_status"][(*s1, ("state", "MAINT"))] == 1
        assert changed["haproxy_server_status"][(*s1, ("state", "UP"))] == 0
        assert {name.split("_")[1] for name in changed} == {"server"}
        kept = metrics(port, "?scope=server&no-maint")
        assert {dict(labels)["server"] for labels in kept["haproxy_server_status"]} == {"s2"}

        bad = curl(
            f"http://127.0.0.1:{port}/metrics?scope=nope", "-o", "/dev/null", "-w", "%{http_code}"
        )
        assert bad.stdout == "400"


def families(page: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Family name -> (type, label names of its samples)."""
    found = {}
    for family in text_string_to_metric_families(page):
        names = frozenset(label for s in family.samples for label in s.labels)
        found[family.name] = (family.type, names)
    return found


@needs_haproxy
def test_every_family_is_one_haproxy_has(tmp_path: Path) -> None:
    with (
        backend() as server,
        both_running(tmp_path, lambda side: config(side.port, server.port, side.sock)) as sides,
    ):
        pages = []
        for side in sides:
            curl(f"http://127.0.0.1:{side.port}/")
            pages.append(families(curl(f"http://127.0.0.1:{side.port}/metrics").stdout))
    theirs, ours = pages
    assert len(ours) >= 130
    for name, (kind, labels) in ours.items():
        assert name in theirs, name
        assert theirs[name] == (kind, labels), name
    # every server and backend family HAProxy shows for this configuration is there too
    missing = {name for name in theirs if name.startswith(("haproxy_server_", "haproxy_backend_"))}
    assert missing - set(ours) <= {"haproxy_backend_limit_sessions"}
