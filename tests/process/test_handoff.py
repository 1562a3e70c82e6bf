"""The start message a worker is handed: a round trip, and refusals of bad hand-offs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from haproxy_py.config import load_configuration
from haproxy_py.process.handoff import HANDOFF_ENV, HandoffError, read_handoff, write_handoff
from haproxy_py.process.listeners import bind_all, listener_specs
from tests.helpers import free_port


def _config(tmp_path: Path, port: int):
    path = tmp_path / "t.cfg"
    path.write_text(
        "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n"
        f"    timeout connect 1s\nlisten app\n    bind 127.0.0.1:{port}\n"
        f"    bind unix@{tmp_path / 'app.sock'}\n    server s 127.0.0.1:1\n"
    )
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    return config


def test_round_trip_adopts_the_same_sockets(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, port)
    listeners = bind_all(listener_specs(config))
    fd = write_handoff(config, listeners, {"nosplice": True})
    assert os.get_inheritable(fd)
    assert all(listener.sock.get_inheritable() for listener in listeners)
    fds = [listener.sock.detach() for listener in listeners]  # the worker owns them now
    start, sockets = read_handoff({HANDOFF_ENV: str(fd)})
    try:
        assert start.config == config
        assert start.settings == {"nosplice": True}
        assert [sock.fileno() for sock in sockets] == fds
        assert sockets[0].getsockname() == ("127.0.0.1", port)
        assert not any(sock.get_inheritable() for sock in sockets)
        with pytest.raises(OSError):
            os.fstat(fd)  # the memory file was read and closed
    finally:
        for sock in sockets:
            sock.close()


def test_missing_environment_variable() -> None:
    with pytest.raises(HandoffError) as info:
        read_handoff({})
    assert HANDOFF_ENV in str(info.value)


def test_garbage_in_the_memory_file() -> None:
    fd = os.memfd_create("junk", 0)
    os.write(fd, b"not a pickle")
    os.lseek(fd, 0, os.SEEK_SET)
    with pytest.raises(HandoffError):
        read_handoff({HANDOFF_ENV: str(fd)})


def test_a_descriptor_that_is_not_listening_is_refused(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, port)
    listeners = bind_all(listener_specs(config))
    fd = write_handoff(config, listeners, {})
    # Swap the first listener for a connected-but-not-listening socket on the same number.
    number = listeners[0].sock.fileno()
    stranger = socket.socket()
    os.dup2(stranger.fileno(), number)
    stranger.close()
    with pytest.raises(HandoffError) as info:
        read_handoff({HANDOFF_ENV: str(fd)})
    assert "not listening" in str(info.value)
    os.fstat(number)  # refused descriptors are left open for their owner
    for listener in listeners:
        listener.sock.close()
