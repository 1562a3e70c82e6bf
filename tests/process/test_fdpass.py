"""Passing descriptors over socketpairs: sockets that still work, no leaks, truncation."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from haproxy_py.process.fdpass import (
    MAX_FDS_PER_MESSAGE,
    FdPassError,
    check_socket,
    recv_fds,
    send_fds,
    try_recv_fds,
    try_send_fds,
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield left, right
    left.close()
    right.close()


def listening_tcp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_listeners_still_accept_on_the_receiving_side(pair, tmp_path: Path) -> None:
    left, right = pair
    sent = [listening_tcp() for _ in range(3)]
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "l.sock"))
    unix.listen(8)
    sent.append(unix)
    addresses = [sock.getsockname() for sock in sent]
    send_fds(left, b"four listeners", [sock.fileno() for sock in sent])
    for sock in sent:
        sock.close()  # only the receiver holds them now

    data, fds = recv_fds(right, 1024, 8)
    assert data == b"four listeners"
    assert len(fds) == 4
    assert not any(os.get_inheritable(fd) for fd in fds)  # MSG_CMSG_CLOEXEC
    received = [
        check_socket(fd, listening=True, address=address)
        for fd, address in zip(fds, addresses, strict=True)
    ]
    try:
        for sock, address in zip(received, addresses, strict=True):
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as client:
                client.connect(address)
                conn, _ = sock.accept()
                with conn:
                    client.sendall(b"ping")
                    assert conn.recv(4) == b"ping"
    finally:
        for sock in received:
            sock.close()


def test_no_descriptor_leaks(pair) -> None:
    left, right = pair
    before = open_fds()
    for _ in range(50):
        with listening_tcp() as sock:
            send_fds(left, b"x", [sock.fileno(), sock.fileno()])
        _, fds = recv_fds(right, 16, 4)
        assert len(fds) == 2
        check_socket(fds[0], listening=True).close()
        check_socket(fds[1], listening=True).close()
    assert open_fds() == before


def test_truncated_control_data_is_an_error_and_closes_what_arrived(pair) -> None:
    left, right = pair
    before = open_fds()
    socks = [listening_tcp() for _ in range(3)]
    send_fds(left, b"three", [sock.fileno() for sock in socks])
    for sock in socks:
        sock.close()
    with pytest.raises(FdPassError, match="truncated"):
        recv_fds(right, 16, 1)
    assert open_fds() == before
    # Descriptors nobody asked for are truncated too (maxfds=0) and never leak.
    with listening_tcp() as sock:
        send_fds(left, b"surprise", [sock.fileno()])
    with pytest.raises(FdPassError):
        try_recv_fds(right, 16, 0)
    assert open_fds() == before


def test_payload_without_descriptors_and_eof(pair) -> None:
    left, right = pair
    send_fds(left, b"just data")
    assert recv_fds(right, 64, 4) == (b"just data", [])
    left.shutdown(socket.SHUT_WR)
    assert recv_fds(right, 64, 4) == (b"", [])
    with pytest.raises(FdPassError):
        send_fds(left, b"", [0])


def test_non_blocking_calls_raise_blocking_io_error(pair) -> None:
    left, right = pair
    with pytest.raises(BlockingIOError):
        try_recv_fds(right, 64, 1)
    with pytest.raises(BlockingIOError):  # fill the buffer: MSG_DONTWAIT, blocking socket
        while True:
            try_send_fds(left, b"z" * 65536)


def test_big_payload_is_sent_whole(pair) -> None:
    left, right = pair
    payload = os.urandom(3 * 1024 * 1024)
    received = bytearray()
    fds: list[int] = []

    def reader() -> None:
        while len(received) < len(payload):
            data, got = recv_fds(right, 1 << 16, 1)
            received.extend(data)
            fds.extend(got)

    thread = threading.Thread(target=reader)
    thread.start()
    with listening_tcp() as sock:
        send_fds(left, payload, [sock.fileno()])
    thread.join(10)
    assert bytes(received) == payload
    assert len(fds) == 1
    os.close(fds[0])


def test_too_many_descriptors_for_one_message(pair) -> None:
    left, _ = pair
    with pytest.raises(FdPassError, match="at most"):
        send_fds(left, b"x", [0] * (MAX_FDS_PER_MESSAGE + 1))


def test_check_socket_refusals(tmp_path: Path) -> None:
    before = open_fds()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(FdPassError, match="type"):
        check_socket(udp.detach())
    idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(FdPassError, match="not listening"):
        check_socket(idle.detach(), listening=True)
    listening = listening_tcp()
    with pytest.raises(FdPassError, match="bound to"):
        check_socket(listening.detach(), address=("127.0.0.1", 1))
    v4 = listening_tcp()
    with pytest.raises(FdPassError, match="family"):
        check_socket(v4.detach(), family=socket.AF_INET6)
    read_end, write_end = os.pipe()
    with pytest.raises(FdPassError, match="not a socket"):
        check_socket(read_end)
    os.close(write_end)
    assert open_fds() == before  # every refused descriptor was closed


async def test_trio_caller_waits_then_tries(pair) -> None:
    left, right = pair
    right.setblocking(False)

    async def receive() -> tuple[bytes, list[int]]:
        while True:
            try:
                return try_recv_fds(right, 64, 1)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(right)

    async with trio.open_nursery() as nursery:
        result: list[tuple[bytes, list[int]]] = []
        nursery.start_soon(lambda: _store(result, receive()))
        await trio.sleep(0.05)
        with listening_tcp() as sock:
            send_fds(left, b"late", [sock.fileno()])
    data, fds = result[0]
    assert data == b"late"
    check_socket(fds[0], listening=True).close()


async def _store(result: list, coroutine) -> None:
    result.append(await coroutine)
