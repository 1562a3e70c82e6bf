"""worker/sessions_registry.py: registration, snapshots, and closing sessions by id or server
(on real socket pairs: a closed session's peer sees EOF)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from worker import sessions_registry as registry


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()
    registry.SESSIONS.clear()


def _pair(pairs: list) -> tuple[socket.socket, socket.socket]:
    pair = socket.socketpair()
    pairs.append(pair)
    return pair


def _eof(sock: socket.socket) -> bool:
    sock.settimeout(1)
    return sock.recv(10) == b""


def test_register_view_and_unregister(pairs: list) -> None:
    client, _peer = _pair(pairs)
    live = registry.register("GLOBAL", client, "")
    other = registry.register("GLOBAL", _pair(pairs)[0], "")
    assert live.id != other.id and live.id >> 32 == other.id >> 32  # the pid, then a serial
    (first, second) = registry.views()
    assert (first.id, first.frontend, first.proto, first.src) == (
        live.id,
        "GLOBAL",
        "unix_stream",
        "unix:1",
    )
    assert first.backend is None and first.server_fd == -1 and first.client_fd == client.fileno()
    registry.unregister(live)
    registry.unregister(live)  # twice is harmless
    assert [v.id for v in registry.views()] == [second.id]


def test_kill_by_id_shuts_both_sockets(pairs: list) -> None:
    client, client_peer = _pair(pairs)
    server_sock, server_peer = _pair(pairs)
    live = registry.register("GLOBAL", client, "")
    live.backend = SimpleNamespace(name="be")
    live.server = SimpleNamespace(name="s1", target=SimpleNamespace(host="10.0.0.1", port=80))
    live.server_sock = server_sock
    (view,) = registry.views()
    assert (view.backend, view.server, view.server_addr) == ("be", "s1", "10.0.0.1:80")
    assert registry.kill(live.id + 1) is False
    assert registry.kill(live.id) is True
    assert live.killed == "K"
    assert _eof(client_peer) and _eof(server_peer)


def test_kill_server_sessions_reads_http_sessions_lazily(pairs: list) -> None:
    target, spare = SimpleNamespace(name="a"), SimpleNamespace(name="b")
    on_target, peer1 = _pair(pairs)
    elsewhere, peer2 = _pair(pairs)
    http = registry.register("GLOBAL", on_target, "")
    http.http = SimpleNamespace(backend=SimpleNamespace(name="be"), last_server=None)
    tcp = registry.register("GLOBAL", elsewhere, "")
    tcp.server = spare
    http.http.last_server = target  # a later request went to `target`
    assert registry.kill_server_sessions([target], "D") == 1
    assert http.killed == "D" and not tcp.killed
    assert _eof(peer1)
    peer2.settimeout(0.1)
    with pytest.raises(TimeoutError):
        peer2.recv(10)
