"""Small TCP tools for end-to-end tests: threaded echo servers, configs, clients.

Shared by the tests that start the real haproxy-py (one process, or master-worker).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers import TIMEOUTS


class ThreadedServer:
    """A loopback TCP server serving each connection in a thread; subclasses write
    `_serve(conn)`. `accepted` counts connections; close() stops accepting."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


def read_head(conn: socket.socket, chunk_size: int = 65536) -> bytes | None:
    """What a test server reads of a request: up to the blank line ending its head (with any
    bytes after it in the same reads); None when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(chunk_size)
        if not chunk:
            return None
        data += chunk
    return data


class EchoServer(ThreadedServer):
    """Answers every chunk with TAG + the chunk."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # a client may reset: nothing to answer then
            while data := conn.recv(65536):
                conn.sendall(self.tag + data)


@contextmanager
def echo_servers(*tags: bytes) -> Iterator[list[EchoServer]]:
    servers = [EchoServer(tag) for tag in tags]
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


def tcp_config(port: int, servers: list[EchoServer], extra: str = "") -> str:
    lines = "".join(
        f"    server s{i} 127.0.0.1:{server.port}\n" for i, server in enumerate(servers, 1)
    )
    return (
        f"defaults\n    mode tcp\n{TIMEOUTS}listen app\n    bind 127.0.0.1:{port}\n"
        f"    balance roundrobin\n{extra}{lines}"
    )


def wait_listening(port: int, process: subprocess.Popen[str], deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"haproxy-py exited early: {process.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("haproxy-py did not start listening")


def ask(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
