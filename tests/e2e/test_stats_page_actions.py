"""The stats page's health, agent, drain and session actions on the real `haproxy-py -W` with
two workers, posted with curl and with Python's urllib, seen through `show stat` of each worker
(master CLI @1 and @2) and the master's log.

The result codes are HAProxy 2.6's, as the installed haproxy answers the same forms: DONE,
NONE when no server named can take the action (a tracking server for hrunn, a server without
check for dhlth, without agent for eagent, a stop on a server already draining), ERRP for an
unknown server, PART when good and unknown servers are mixed.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_cli as cli
from tests.e2e.mworker_tools import Master, master
from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_serve_http import backend
from tests.e2e.test_shared_state import stat_rows
from tests.e2e.test_stats_page import curl, header
from tests.helpers import free_port

TIMEOUTS = "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"


def actions_config(sock: Path, port: int, app: int, agent: int) -> str:
    return (
        f"global\n    nbthread 2\n    stats socket {sock} level admin\n"
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"listen stats\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /stats\n"
        "    stats admin if TRUE\n"
        f"backend be\n    server s1 127.0.0.1:{app} check inter 60s agent-check"
        f" agent-port {agent} agent-inter 60s\n"
        f"    server s2 127.0.0.1:{app}\n"
        "    server t1 127.0.0.1:1 track be/s1\n"
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Master, int, Path]]:
    tmp_path = tmp_path_factory.mktemp("actions")
    port, agent = free_port(), free_port()  # nothing listens on the agent's port
    sock = tmp_path / "stats.sock"
    with backend() as app:
        text = actions_config(sock, port, app.port, agent)
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as started:
            started.wait_ready()
            started.wait_for(lambda: len(started.workers()) == 2)
            wait_listening(port, started.process)
            yield started, port, tmp_path


def post(port: int, form: str) -> str:
    """The `st=` code of the redirect after posting `form` with curl."""
    head, _ = curl("-d", form, f"http://127.0.0.1:{port}/stats")
    location = header(head, "location") or ""
    return location.rpartition("st=")[2]


def post_python(port: int, fields: list[tuple[str, str]]) -> str:
    """The same with urllib (which does not follow a 303 of a POST with a body here: the
    redirect is read from the error)."""
    data = urllib.parse.urlencode(fields).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"http://127.0.0.1:{port}/stats", data=data, timeout=10)
    except urllib.error.HTTPError as answer:
        assert answer.code == 303
        return answer.headers["location"].rpartition("st=")[2]
    raise AssertionError("no redirect")


def rows_of_both(tmp_path: Path) -> list[dict[tuple[str, str], dict[str, str]]]:
    return [stat_rows(cli(tmp_path / "m.sock", f"@{n} show stat")) for n in (1, 2)]


def status(tmp_path: Path, server: str) -> str:
    """The server's status, the same in both workers' `show stat`."""
    found = {rows[("be", server)]["status"] for rows in rows_of_both(tmp_path)}
    assert len(found) == 1, found
    return found.pop()


def wait_status(running: Master, tmp_path: Path, server: str, wanted: str) -> None:
    running.wait_for(lambda: status(tmp_path, server) == wanted, timeout=10)


def test_health_actions(running) -> None:
    started, port, tmp_path = running
    wait_status(started, tmp_path, "s1", "UP")
    assert post(port, "s=s1&action=hdown&b=be") == "DONE"
    wait_status(started, tmp_path, "s1", "DOWN")
    started.wait_for(lambda: "Server be/s1 is DOWN, changed from " in started.text())
    assert status(tmp_path, "t1") == "DOWN"  # its tracker follows
    assert post_python(port, [("s", "s1"), ("action", "hnolb"), ("b", "be")]) == "DONE"
    wait_status(started, tmp_path, "s1", "NOLB")
    assert post(port, "s=s1&action=hrunn&b=be") == "DONE"
    wait_status(started, tmp_path, "s1", "UP")
    # A tracking server's health is its tracked server's: not counted (HAProxy: NONE).
    assert post(port, "s=t1&action=hdown&b=be") == "NONE"
    assert status(tmp_path, "t1") == "UP"
    # A server without check can be forced too (HAProxy 2.6 does so).
    assert post(port, "s=s2&action=hdown&b=be") == "DONE"
    wait_status(started, tmp_path, "s2", "DOWN")
    assert post(port, "s=s2&action=hrunn&b=be") == "DONE"
    wait_status(started, tmp_path, "s2", "no check")


def test_check_and_agent_switches(running) -> None:
    started, port, tmp_path = running
    assert post(port, "s=s1&action=dhlth&b=be") == "DONE"
    started.wait_for(
        lambda: all(rows[("be", "s1")]["check_status"] == "" for rows in rows_of_both(tmp_path))
    )
    assert post(port, "s=s2&action=dhlth&b=be") == "NONE"  # no check configured
    assert post(port, "s=s1&s=s2&action=ehlth&b=be") == "DONE"  # s2 is not counted
    started.wait_for(
        lambda: all(rows[("be", "s1")]["check_status"] for rows in rows_of_both(tmp_path))
    )
    assert post(port, "s=s2&action=eagent&b=be") == "NONE"  # no agent configured
    assert post(port, "s=s1&action=dagent&b=be") == "DONE"
    assert post(port, "s=s1&action=adown&b=be") == "NONE"  # its agent is off
    assert post(port, "s=s1&action=eagent&b=be") == "DONE"
    assert post(port, "s=s1&action=adown&b=be") == "DONE"
    wait_status(started, tmp_path, "s1", "DOWN (agent)")
    assert post(port, "s=s1&action=arunn&b=be") == "DONE"
    wait_status(started, tmp_path, "s1", "UP")


def test_drain_bit_sessions_and_mixed_forms(running) -> None:
    started, port, tmp_path = running
    assert post(port, "s=s2&action=stop&b=be") == "DONE"
    wait_status(started, tmp_path, "s2", "DRAIN")
    assert post(port, "s=s2&action=stop&b=be") == "NONE"  # already draining: not counted
    assert post(port, "s=s2&action=start&b=be") == "DONE"
    wait_status(started, tmp_path, "s2", "no check")
    # ready, drain and maint count even when nothing changes (HAProxy: DONE)
    assert post(port, "s=s2&action=ready&b=be") == "DONE"
    assert post(port, "s=s2&s=nope&action=ready&b=be") == "PART"
    assert post(port, "s=nope&action=hrunn&b=be") == "ERRP"
    assert post(port, "s=s2&action=hrunn&b=nobe") == "ERRP"
    assert post(port, "s=s2&action=shutdown&b=be") == "DONE"
    assert post(port, "s=s2&action=bogus&b=be") == "ERRP"


def test_dynamic_server_addr_in_every_worker(running) -> None:
    """`add server` on the stats socket: both workers' `show stat` give its address."""
    _, _, tmp_path = running
    sock = tmp_path / "stats.sock"
    assert cli(sock, "add server be/d1 127.0.0.9:8080") == "New server registered.\n\n"
    assert cli(sock, "add server be/d6 ::1:9090") == "New server registered.\n\n"
    for rows in rows_of_both(tmp_path):
        assert rows[("be", "d1")]["addr"] == "127.0.0.9:8080"
        assert rows[("be", "d6")]["addr"] == "[::1]:9090"
