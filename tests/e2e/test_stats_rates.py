"""show stat's rates, time averages and lastsess on a real `haproxy-py -W` with two workers:
HTTP requests with curl through a server that answers after 200 ms, then `show stat` with
socat on the stats socket (and in Python over the same socket): non-zero rate, req_rate and
conn_rate, a ttime near the server's delay, a backend without servers UP, HAProxy's proxy ids.
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cli_tools import ask_socat as socat
from tests.e2e.mworker_tools import master
from tests.e2e.tcp_tools import ThreadedServer, wait_listening
from tests.helpers import free_port

SOCAT = shutil.which("socat")
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(SOCAT is None or CURL is None, reason="needs socat and curl")
DELAY = 0.2


class SlowHttpServer(ThreadedServer):
    """Answers each HTTP/1.1 request with a small 200 after DELAY seconds (keep-alive)."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, buffer = buffer.split(b"\r\n\r\n", 1)
                time.sleep(DELAY)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


def rows_of(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line for line in text.splitlines() if line]
    header = lines[0][2:].split(",")
    return {
        (row[0], row[1]): dict(zip(header, row, strict=True))
        for row in csv.reader(io.StringIO("\n".join(lines[1:])))
    }


def python_client(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode()


def test_rates_and_times_after_traffic(tmp_path: Path) -> None:
    port = free_port()
    server = SlowHttpServer()
    stats = tmp_path / "stats.sock"
    text = (
        f"global\n    nbthread 2\n    stats socket {stats} level admin\n"
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    maxconn 500\n    default_backend be\n"
        f"backend be\n    server s1 127.0.0.1:{server.port} maxconn 20 maxqueue 7\n"
        "backend empty\n"
    )
    try:
        with master(tmp_path, text) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_listening(port, running.process)
            before = rows_of(socat(stats, "show stat"))
            assert before[("be", "s1")]["lastsess"] == "-1"
            urls = [
                arg for i in range(6) for arg in ("-o", "/dev/null", f"http://127.0.0.1:{port}/{i}")
            ]
            started = time.monotonic()
            done = subprocess.run(
                [CURL, "-s", "-H", "Connection: close", "-w", "%{http_code}\n", *urls],  # type: ignore[list-item]
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert done.stdout.split() == ["200"] * 6
            # Within the next second the requests still count in the per-second rates.
            assert time.monotonic() - started < 5
            rows = rows_of(socat(stats, "show stat"))
            fe, s1 = rows[("fe", "FRONTEND")], rows[("be", "s1")]
            be, empty = rows[("be", "BACKEND")], rows[("empty", "BACKEND")]
            assert fe["req_tot"] == "6" and s1["stot"] == "6"
            assert int(fe["req_rate"]) > 0 and int(fe["req_rate_max"]) >= int(fe["req_rate"])
            assert int(fe["rate"]) > 0 and int(fe["conn_rate"]) > 0
            assert int(s1["rate"]) > 0 and int(be["rate"]) > 0
            assert int(s1["rate_max"]) >= 1
            # Each request took the server's 200 ms (plus a little): the averages say so.
            for row in (s1, be):
                assert 180 <= int(row["ttime"]) <= 2000, row["ttime"]
                assert int(row["ttime_max"]) >= int(row["ttime"])
                assert 0 <= int(row["ctime"]) < 1000 and row["qtime"] == "0"
            assert s1["lastsess"] in ("0", "1", "2", "3", "4", "5")
            assert (s1["slim"], s1["qlimit"], fe["slim"]) == ("20", "7", "500")
            assert (empty["status"], empty["act"]) == ("UP", "0")
            # A stats socket takes id 1 for HAProxy's CLI proxy: ours are numbered from 2.
            assert (fe["iid"], be["iid"], empty["iid"]) == ("2", "3", "4")
            info = dict(
                line.split(": ", 1) for line in socat(stats, "show info").splitlines() if line
            )
            assert int(info["MaxSessRate"]) >= 1 and int(info["MaxConnRate"]) >= 1
            assert info["SessRate"] == info["ConnRate"]
            # The same table through a Python client, on either worker.
            again = rows_of(python_client(stats, "show stat"))
            assert again[("fe", "FRONTEND")]["req_tot"] == "6"
            time.sleep(2.2)  # two silent seconds: the rates fall to 0, their peaks stay
            later = rows_of(socat(stats, "show stat"))[("fe", "FRONTEND")]
            assert (later["rate"], later["req_rate"]) == ("0", "0")
            assert int(later["req_rate_max"]) >= 1
    finally:
        server.close()
