"""Sessions across workers on a real `haproxy-py -W` with two workers: whichever worker
answers, `show sess` lists every worker's sessions, `show sess ID` and `shutdown session ID`
reach the worker holding the session, `shutdown sessions server` closes them in every worker.

The master CLI's `@1`/`@2` pick the answering worker; `@N _sessions show sess` (the form the
workers use among themselves) tells which worker really holds a session. Clients are real:
socat on the stats socket and the master CLI, Python sockets as the proxied clients.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_cli
from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.tcp_tools import echo_servers, wait_listening
from tests.e2e.test_sessions import LINE, closed_by_peer, sessions, wait_until
from tests.helpers import TIMEOUTS, free_port

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
ID = re.compile(r"^(0x[0-9a-f]+): .* fe=app ", re.MULTILINE)


def held_by(mcli: Path, worker: int) -> set[str]:
    """Ids of the proxied sessions worker @`worker` holds itself."""
    return set(ID.findall(socat(mcli, f"@{worker} _sessions show sess")))


def test_sessions_of_every_worker(tmp_path: Path) -> None:
    port = free_port()
    admin, mcli = tmp_path / "admin.sock", tmp_path / "m.sock"
    with echo_servers(b"1:") as (echo,):
        text = (
            f"global\n    nbthread 2\n    stats socket {admin} level admin\n"
            f"defaults\n    mode tcp\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{echo.port}\n"
        )
        with master(tmp_path, text, "-S", str(mcli)) as running:
            running.wait_ready()
            wait_listening(port, running.process)
            clients: list[socket.socket] = []
            try:
                # Connect until each worker holds at least one session (the kernel spreads
                # connections over the two workers' accept loops).
                for _ in range(60):
                    client = socket.create_connection(("127.0.0.1", port))
                    client.sendall(b"hi")
                    assert client.recv(100) == b"1:hi"
                    clients.append(client)
                    if len(clients) >= 4 and held_by(mcli, 1) and held_by(mcli, 2):
                        break
                first, second = held_by(mcli, 1), held_by(mcli, 2)
                assert first and second and not first & second
                everyone = first | second
                assert len(everyone) == len(clients)
                # Whichever worker answers, every session is listed, in HAProxy's line format.
                for asking in ("@1 show sess", "@2 show sess"):
                    listed = {s[0] for s in sessions_text(socat(mcli, asking)) if s[3] == "app"}
                    assert listed == everyone, asking
                for _ in range(4):  # the stats socket: any worker may accept it
                    assert {s[0] for s in sessions(admin) if s[3] == "app"} == everyone
                # One session of worker 2, detailed and shut down through worker 1.
                target = sorted(second)[0]
                detail = socat(mcli, f"@1 show sess {target}")
                assert detail.startswith(f"{target}: [") and "  server=s1 addr=127.0.0.1:" in detail
                assert socat(mcli, "@1 show sess all").count(": [") >= len(clients)
                assert socat(mcli, "@1 shutdown session 0x1").startswith(
                    "No such session (use 'show sess').\n"
                )
                victim = next(c for c in clients if _id_of(mcli, c) == target)
                assert socat(mcli, f"@1 shutdown session {target}").strip() == ""
                assert closed_by_peer(victim)
                wait_until(lambda: target not in held_by(mcli, 2))
                assert held_by(mcli, 1) | held_by(mcli, 2) == everyone - {target}
                # The user level may not use the peers' form.
                assert ask_cli(admin, "user -\n_sessions show sess").startswith("Unknown command")
                # shutdown sessions server: every worker closes its own.
                assert socat(admin, "shutdown sessions server app/s1") == "\n"
                wait_until(lambda: not held_by(mcli, 1) and not held_by(mcli, 2))
                for client in clients:
                    if client is not victim:
                        assert closed_by_peer(client)
            finally:
                for client in clients:
                    client.close()


def sessions_text(text: str) -> list[tuple[str, ...]]:
    """`sessions()` of an answer already read (the master CLI adds its own empty line)."""
    found = []
    for line in text.splitlines():
        if line:
            match = LINE.match(line)
            assert match is not None, line
            found.append(match.groups())
    return found


def _id_of(mcli: Path, client: socket.socket) -> str | None:
    """The session id of this client (None once it is gone)."""
    source = f"127.0.0.1:{client.getsockname()[1]}"
    for row in sessions_text(socat(mcli, "@1 show sess")):
        if row[2] == source:
            return row[0]
    return None
