"""BackendRuntime's one-server shortcut (worker/backend.py `_take_solo`): taken only when the
algorithm could not choose otherwise, with the same bookkeeping as a pick."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import trio

from haproxy_py.lb import servers_from_proxy
from haproxy_py.stats.layout import LBTOT
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


def _spy_picks(backend: BackendRuntime) -> list[object]:
    picks: list[object] = []
    pick = backend.algorithm.pick

    def counted(*args: object) -> object:
        picks.append(args)
        return pick(*args)  # type: ignore[arg-type]

    backend.algorithm.pick = counted  # type: ignore[method-assign]
    return picks


def _connect(backend: BackendRuntime, idle: socket.socket, key: bytes | None = None) -> object:
    async def run() -> object:
        return await backend.connect(key, idle, take_idle=lambda server: idle)

    return trio.run(run)


def test_one_server_with_a_free_slot_is_taken_without_a_pick(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "    server s1 127.0.0.1:1 maxconn 2\n")
    picks = _spy_picks(backend)
    with socket.socket() as idle:
        server, sock = _connect(backend, idle)  # type: ignore[misc]
        assert sock is idle and server.name == "s1" and picks == []
        lb = server.lb
        assert lb.cur_conns == 1 and server.counters.row[LBTOT] == 1
        _connect(backend, idle)
        assert lb.cur_conns == 2 and picks == []
        assert backend._take_solo() is None  # full (maxconn 2): the algorithm decides
        backend.release(server)
        assert backend._take_solo() is server and lb.cur_conns == 2
        lb.usable = False  # down or in maintenance: not taken
        backend.release(server)
        assert backend._take_solo() is None
        lb.usable = True
        _connect(backend, idle, key=b"k")  # a balancing key: always the algorithm
        assert len(picks) == 1


def test_a_lone_backup_is_taken_and_two_servers_are_balanced(tmp_path: Path) -> None:
    lone = _backend(tmp_path, "    server b 127.0.0.1:1 backup\n")
    assert lone._take_solo() is lone.servers[lone.farm.servers[0]]
    two = _backend(tmp_path, "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n")
    picks = _spy_picks(two)
    assert two._take_solo() is None
    with socket.socket() as idle:
        names = [_connect(two, idle)[0].name for _ in range(4)]  # type: ignore[index]
    assert names == ["s1", "s2", "s1", "s2"] and len(picks) == 4
