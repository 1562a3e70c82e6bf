"""`show stat` of checked servers through maintenance, drain and `disable health`, side by
side with the installed HAProxy 2.6 (both real processes, real sockets, the same
configuration).

Checked: in maintenance the check's own columns are empty (its counters stay); leaving it,
a server UP or DOWN before comes back `UP 1/<fall>` at `rise`, until the check that was due
anyway on its `inter` schedule confirms it (UP) or fails it (DOWN); `drain` and
`disable health` leave the check columns as HAProxy does; `hanafail` is 0 for a server that
has `observe` but no `check`, configured or added at run time.
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from pathlib import Path

from tests.e2e.side_by_side import Side, both_running, needs_haproxy
from tests.e2e.tcp_tools import ThreadedServer
from tests.helpers import free_port

pytestmark = needs_haproxy

# The columns both must agree on (lastchg only as "just reset" or not: the clocks differ).
COLUMNS = ("status", "check_status", "check_desc", "check_health", "check_rise", "check_fall",
           "check_code", "last_chk", "chkfail", "chkdown", "hanafail", "weight", "act")  # fmt: skip
STATE = ("status", "check_status", "check_health")


class Closer(ThreadedServer):
    """Accepts and closes: a layer-4 check passes."""

    def _serve(self, conn: socket.socket) -> None:
        conn.close()


def config(side: Side, live: int, dead: int) -> str:
    # inter 10s: the check after leaving maintenance comes up to 10 s later, which leaves
    # the transitional state on show long enough to be seen on both sides.
    return (
        f"global\n    stats socket {side.sock} level admin\n"
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n"
        f"frontend fe\n    bind 127.0.0.1:{side.port}\n    default_backend be\n"
        "backend be\n"
        f"    server up 127.0.0.1:{live} check inter 10s rise 3 fall 3\n"
        f"    server down 127.0.0.1:{dead} check inter 10s rise 2 fall 2\n"
        f"    server obs 127.0.0.1:{live} observe layer4 error-limit 5\n"
    )


def ask(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def servers(path: Path) -> dict[str, dict[str, str]]:
    """The server rows of backend `be`, by name, as {column: value}."""
    lines = [line for line in ask(path, "show stat").splitlines() if line]
    header = lines[0].removeprefix("# ").split(",")
    rows = {}
    for values in csv.reader(lines[1:]):
        row = dict(zip(header, values, strict=False))
        if row["pxname"] == "be" and row["svname"] not in ("FRONTEND", "BACKEND"):
            rows[row["svname"]] = row
    return rows


def picked(rows: dict[str, dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> dict:
    return {name: {c: row[c] for c in columns} for name, row in rows.items()}


def wait_settled(path: Path, timeout: float = 25) -> None:
    """`up` fully UP (confirmed) and `down` DOWN."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = servers(path)
        if (rows["up"]["status"], rows["down"]["status"]) == ("UP", "DOWN"):
            return
        time.sleep(0.1)
    raise AssertionError(f"not settled: {picked(servers(path), STATE)}")


def both(sides: tuple[Side, Side], command: str) -> None:
    for side in sides:
        answer = ask(side.sock, command)
        assert answer.strip() == "", (side.name, command, answer)


def watch(path: Path, seconds: float, seen: dict[str, list[tuple[str, ...]]]) -> None:
    """The distinct states (STATE columns) each server went through, polled every 20 ms.
    HAProxy's check_status starts with "* " while a check is in progress, its other columns
    then half updated (`UP -1/2`): such passing states are not kept."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, row in servers(path).items():
            state = tuple(row[c] for c in STATE)
            if state[1].startswith("* "):
                continue
            states = seen.setdefault(name, [])
            if not states or states[-1] != state:
                states.append(state)
        time.sleep(0.02)


def test_maintenance_drain_and_disable_health_show_as_haproxy(tmp_path: Path) -> None:
    live = Closer()
    dead = free_port()
    try:
        with both_running(tmp_path, lambda side: config(side, live.port, dead)) as sides:
            theirs, ours = sides
            for side in sides:
                wait_settled(side.sock)
            time.sleep(2.0)  # lastchg of the DOWN server grows past what a reset would show
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])
            assert rows[0]["obs"]["hanafail"] == "0"  # observe without check

            # into maintenance: the check's columns empty, its counters kept
            both(sides, "set server be/up state maint")
            both(sides, "set server be/down state maint")
            time.sleep(1.0)
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])
            assert rows[0]["up"]["check_status"] == ""
            assert rows[0]["up"]["chkdown"] == "1"  # an UP server going down counts
            for row in (rows[0], rows[1]):
                assert int(row["up"]["lastchg"]) <= 2  # restarted with maintenance
                assert int(row["down"]["lastchg"]) >= 3  # already DOWN: goes on

            # out of it: UP at `rise`, until the check due on the inter schedule decides
            seen: list[dict[str, list[tuple[str, ...]]]] = [{}, {}]
            threads = [
                threading.Thread(target=watch, args=(side.sock, 12.0, found))
                for side, found in zip(sides, seen, strict=True)
            ]
            both(sides, "set server be/up state ready")
            both(sides, "set server be/down state ready")
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert seen[0]["up"] == [("UP 1/3", "L4OK", "3"), ("UP", "L4OK", "5")]
            assert seen[0]["down"] == [("UP 1/2", "L4CON", "2"), ("DOWN", "L4CON", "0")]
            assert seen[1]["up"] == seen[0]["up"]
            # haproxy-py's owner worker sees the server leave within 0.25 s: until then a
            # server that was DOWN before maintenance may still show DOWN (docs/MIGRATING.md)
            down = seen[1]["down"]
            if down[0][0] == "DOWN" and len(down) == 3:
                down = down[1:]
            assert down == seen[0]["down"]
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])

            # drain and back: the check columns stay
            both(sides, "set server be/up state drain")
            time.sleep(0.5)
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])
            assert rows[0]["up"]["status"] == "DRAIN"
            both(sides, "set server be/up state ready")
            time.sleep(0.5)
            assert picked(servers(ours.sock)) == picked(servers(theirs.sock))

            # disable health: no check columns but hanafail; enable health: as before
            both(sides, "disable health be/up")
            both(sides, "disable health be/down")
            time.sleep(0.5)
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])
            assert (rows[0]["up"]["status"], rows[0]["down"]["status"]) == ("no check", "DOWN")
            both(sides, "enable health be/up")
            both(sides, "enable health be/down")
            time.sleep(0.5)
            assert picked(servers(ours.sock)) == picked(servers(theirs.sock))

            # a server added at run time with observe and no check: hanafail 0 too
            for side in sides:
                answer = ask(side.sock, f"add server be/dyn 127.0.0.1:{live.port} observe layer4")
                assert "New server registered." in answer, (side.name, answer)
            rows = [servers(side.sock) for side in sides]
            assert picked(rows[1]) == picked(rows[0])
            assert rows[0]["dyn"]["hanafail"] == "0"
    finally:
        live.close()
