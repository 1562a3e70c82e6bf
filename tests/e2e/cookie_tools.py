"""HTTP backends and clients for the cookie-persistence end-to-end tests.

`NamedBackend` is a small threaded HTTP/1.1 server (keep-alive, Content-Length bodies) that
answers every request with `server=NAME cookie=[...]`: its own name and every Cookie header it
received, so a test sees where a request went and what the persistence rewrote. The query
string shapes the answer: `s=CODE` sets the status, each `h=Name:Value` adds a header,
`d=SECONDS` delays it.
`/healthCheck.html` answers 200 (the L7 guide's health check).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from tests.e2e.tcp_tools import ThreadedServer

REASONS = {200: b"OK", 204: b"No Content", 302: b"Found", 404: b"Not Found", 500: b"Oops"}


class NamedBackend(ThreadedServer):
    def __init__(self, name: str, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.name = name
        self.requests: list[tuple[bytes, list[bytes]]] = []  # (request line, Cookie values)
        self._lock = threading.Lock()
        if port is None:
            super().__init__()
            return
        self.sock = socket.create_server((host, port))
        self.port = port
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def close(self) -> None:
        # shutdown() wakes the accept() of the serving thread: a bare close() would leave the
        # port listening until the next connection, and the next test could not bind it.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def cookies_seen(self) -> list[list[bytes]]:
        with self._lock:
            return [cookies for line, cookies in self.requests if b"healthCheck" not in line]

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    lines = head.split(b"\r\n")
                    length = 0
                    cookies = []
                    for line in lines[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                        elif name.strip().lower() == b"cookie":
                            cookies.append(value.strip())
                    while len(buffer) < length:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    buffer = buffer[length:]
                    with self._lock:
                        self.requests.append((lines[0], cookies))
                    conn.sendall(self._answer(lines[0], cookies))
            except OSError:
                return

    def _answer(self, line: bytes, cookies: list[bytes]) -> bytes:
        target = line.split(b" ")[1].decode("latin-1") if line.count(b" ") >= 2 else "/"
        status = 200
        headers = []
        for key, value in parse_qsl(urlsplit(target).query):
            if key == "s":
                status = int(value)
            elif key == "d":
                time.sleep(float(value))
            elif key == "h":
                name, _, text = value.partition(":")
                headers.append(b"%s: %s\r\n" % (name.encode(), text.encode()))
        body = b"server=%s cookie=%s\n" % (self.name.encode(), repr(cookies).encode())
        reason = REASONS.get(status, b"Other")
        return b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\n\r\n%s" % (
            status,
            reason,
            b"".join(headers),
            len(body),
            body,
        )


def fetch(port: int, path: str, *headers: str, method: str = "GET") -> bytes:
    """One request on its own connection; the whole response (until the server closes)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers, "Connection: close"]
    if method == "POST":
        lines.append("Content-Length: 3")
    payload = ("\r\n".join(lines) + "\r\n\r\n" + ("a=1" if method == "POST" else "")).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(payload)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then everything the process wrote."""
    if process.poll() is None:
        process.terminate()
    return process.communicate(timeout=15)


def wait_port(port: int, process: subprocess.Popen[str] | None, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the proxy exited early: {process.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")
