"""BackendRuntime's per-request bookkeeping (worker/backend.py): the farm's count of the
backend's sessions follows the backend's scur, a one-server backend's slot is taken and
given back with the counts a pick gives, and qtime/ctime samples come from a kept
connection as from a pick."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import trio

from haproxy_py.lb import servers_from_proxy
from haproxy_py.stats.layout import LBTOT, QTIME_N, SCUR, STOT
from tests.helpers import TIMEOUTS, load_text
from worker.backend import BackendRuntime, Target
from worker.counters import Counters


def _backend(tmp_path: Path, servers: str) -> BackendRuntime:
    text = "defaults\n    mode http\n" + TIMEOUTS + "backend be\n" + servers
    proxy = load_text(tmp_path, text).config.backend("be")
    assert proxy is not None
    target = Target(socket.AF_INET, "127.0.0.1", 1)
    rows = [(lb, target, Counters(server=True)) for lb in servers_from_proxy(proxy)]
    return BackendRuntime(proxy, rows, Counters(timed=True), fullconn=10, rng=random.Random(1))


def test_backend_sessions_follow_scur(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "    server s1 127.0.0.1:1\n")
    backend.session_started()
    backend.session_started()
    assert backend.farm.backend_conns == 2 == backend.counters.row[SCUR]
    backend.session_ended()
    assert backend.farm.backend_conns == 1 == backend.counters.row[SCUR]
    backend.session_ended()
    backend.session_ended()  # one too many: scur stays at 0
    assert backend.farm.backend_conns == 0 == backend.counters.row[SCUR]
    assert backend.counters.row[STOT] == 2


def test_a_kept_connection_counts_as_a_pick_does(tmp_path: Path) -> None:
    solo = _backend(tmp_path, "    server s1 127.0.0.1:1\n")
    pair = _backend(tmp_path, "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n")

    async def once(backend: BackendRuntime, idle: socket.socket) -> object:
        return await backend.connect(None, idle, take_idle=lambda server: idle)

    with socket.socket() as idle:
        for backend in (solo, pair):
            server, sock = trio.run(once, backend, idle)  # type: ignore[misc]
            assert sock is idle and server.lb.cur_conns == 1
            row = server.counters.row
            assert (row[SCUR], row[STOT], row[LBTOT], row[QTIME_N]) == (1, 1, 1, 1)
            backend.release(server)
            assert server.lb.cur_conns == 0 and row[SCUR] == 0
