"""Socket plumbing for the worker tests: a client and a server application around a relay.

A `Link` is four real sockets: the client application's end, the relay's two ends (`front`, which
the client is connected to, and `back`, connected to the server) and the server application's
end. The applications are trio streams the test drives; the relay's ends are plain sockets.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
from dataclasses import dataclass

import trio

LINGER_RESET = struct.pack("ii", 1, 0)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """(connecting end, accepted end) of a real TCP connection on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        outer = socket.create_connection(listener.getsockname())
        inner, _ = listener.accept()
    return outer, inner


@dataclass
class Link:
    client: trio.SocketStream
    front: socket.socket
    back: socket.socket
    server: trio.SocketStream

    def close(self) -> None:
        for stream in (self.client, self.server):
            stream.socket.close()
        self.front.close()
        self.back.close()


def open_link(kind: str = "tcp") -> Link:
    """TCP on loopback (`tcp`, splice works) or AF_UNIX socketpairs (`unix`, copy tests)."""
    if kind == "tcp":
        client, front = tcp_pair()
        back, server = tcp_pair()
    else:
        client, front = socket.socketpair()
        back, server = socket.socketpair()
    return Link(_stream(client), front, back, _stream(server))


def _stream(sock: socket.socket) -> trio.SocketStream:
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


def reset(stream: trio.SocketStream) -> None:
    """Close with SO_LINGER {1,0}: the peer gets an RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    stream.socket.close()


async def read_all(stream: trio.SocketStream) -> tuple[int, str]:
    """(byte count, sha256) of everything received until EOF."""
    digest = hashlib.sha256()
    total = 0
    while data := await stream.receive_some(1 << 16):
        digest.update(data)
        total += len(data)
    return total, digest.hexdigest()


async def send_then_eof(stream: trio.SocketStream, data: bytes) -> None:
    await stream.send_all(data)
    await stream.send_eof()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
