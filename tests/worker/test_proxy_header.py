"""worker/proxy_header.py over real socket pairs: the header is peeked and only its bytes
consumed, a header in pieces is waited for, the client's end and `timeout client` give
HAProxy's reasons, and a ProxiedSocket answers the header's addresses; plus the headers
written for servers and checks from their options."""

from __future__ import annotations

import socket

import pytest
import trio

from haproxy_py.proto import proxy_protocol as pp
from worker.proxy_header import (
    ProxiedSocket,
    check_header,
    checks_send_proxy,
    read_header,
    server_header,
    with_addresses,
)

HEADER = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    accepted.setblocking(False)
    return client, accepted


async def test_only_the_header_is_consumed() -> None:
    client, accepted = tcp_pair()
    with client, accepted:
        client.sendall(HEADER + b"payload")
        header = await read_header(accepted, 1.0)
        assert header.source == ("1.2.3.4", 1111)
        assert accepted.recv(100) == b"payload"


async def test_a_header_in_pieces_is_waited_for() -> None:
    client, accepted = tcp_pair()
    with client, accepted:

        async def feed() -> None:
            for index in range(0, len(HEADER), 7):
                client.sendall(HEADER[index : index + 7])
                await trio.sleep(0.02)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            header = await read_header(accepted, 2.0)
        assert header.length == len(HEADER)


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (b"", pp.EMPTY),
        (b"PROXY TCP4 1.2", pp.TRUNCATED),
        (b"GET / HTTP/1.1\r\n\r\n", pp.NOT_HEADER),
    ],
)
async def test_refusals(sent: bytes, reason: str) -> None:
    client, accepted = tcp_pair()
    with client, accepted:
        client.sendall(sent)
        client.shutdown(socket.SHUT_WR)
        with pytest.raises(pp.ProxyProtocolError) as err:
            await read_header(accepted, 2.0)
        assert str(err.value) == reason


async def test_timeout_while_waiting() -> None:
    client, accepted = tcp_pair()
    with client, accepted:
        client.sendall(b"PROXY ")
        started = trio.current_time()
        with pytest.raises(pp.ProxyProtocolError, match="Timeout while waiting"):
            await read_header(accepted, 0.2)
        assert 0.15 < trio.current_time() - started < 1.0


async def test_reset_while_waiting() -> None:
    client, accepted = tcp_pair()
    with accepted:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        client.close()
        await trio.sleep(0.05)
        with pytest.raises(pp.ProxyProtocolError, match="Connection error while waiting"):
            await read_header(accepted, 1.0)


def test_proxied_socket_answers_the_header() -> None:
    client, accepted = tcp_pair()
    with client:
        proxied = with_addresses(accepted, pp.ProxyHeader(1, 0, ("1.2.3.4", 1), ("5.6.7.8", 2)))
        with proxied:
            assert isinstance(proxied, ProxiedSocket)
            assert proxied.getpeername() == ("1.2.3.4", 1)
            assert proxied.getsockname() == ("5.6.7.8", 2)
            assert not proxied.getblocking()
            proxied.sendall(b"same descriptor")
            assert client.recv(100) == b"same descriptor"
        local = pp.ProxyHeader(2, 0)  # LOCAL: the connection's own addresses stay
        other, accepted2 = tcp_pair()
        with other, accepted2:
            assert with_addresses(accepted2, local) is accepted2


def test_server_headers_from_options() -> None:
    client, accepted = tcp_pair()
    with client, accepted:
        proxied = with_addresses(accepted, pp.ProxyHeader(1, 0, ("1.2.3.4", 1), ("5.6.7.8", 2)))
        assert server_header({}, proxied) == b""
        assert server_header({"send-proxy": True}, proxied) == b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
        v2 = server_header(
            {"send-proxy-v2": True, "proxy-v2-options": ("unique-id", "crc32c")},
            proxied,
            lambda: "abc",
        )
        header = pp.parse_header(v2)  # the CRC is checked here
        assert isinstance(header, pp.ProxyHeader)
        assert header.unique_id == b"abc" and header.source == ("1.2.3.4", 1)
        proxied.close()


def test_check_headers() -> None:
    client, accepted = tcp_pair()
    with client, accepted:
        local, remote = client.getsockname(), client.getpeername()
        assert check_header({"check-send-proxy": True}, client) == (
            f"PROXY TCP4 127.0.0.1 127.0.0.1 {local[1]} {remote[1]}\r\n".encode()
        )
        assert check_header({"send-proxy-v2": True}, client) == pp.V2_SIGNATURE + b"\x20\0\0\0"
    assert checks_send_proxy({"check-send-proxy": True})
    assert checks_send_proxy({"send-proxy": True})
    assert not checks_send_proxy({"send-proxy": True, "port": 8080})  # checked elsewhere
    assert not checks_send_proxy({"send-proxy-v2": True, "addr": "10.0.0.1"})
    assert not checks_send_proxy({})
