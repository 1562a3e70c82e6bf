"""The header names haproxy-py adds reach the server in lower case, as haproxy 2.6 sends them.

A raw server records the request head's bytes; the same configuration runs on haproxy-py
and, when installed, on haproxy: the lines haproxy-py adds must be byte-equal.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.tcp_tools import wait_listening
from tests.helpers import (
    TIMEOUTS,
    base_env,
    free_port,
    haproxy_command,
    haproxy_py_command,
    write_cfg,
)

pytestmark = pytest.mark.e2e

ADDED = (b"x-set-me", b"x-add-me", b"x-forwarded-for", b"x-client", b"x-original-to")


class HeadRecorder:
    """Accepts connections, keeps each request head, answers 200."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                    data += chunk
                self.heads.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


def _added_lines(command: list[str], tmp_path: Path, recorder: HeadRecorder) -> list[bytes]:
    port = free_port()
    text = (
        f"defaults\n    mode http\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:{port}\n"
        "    option forwardfor header X-Client\n    option originalto\n"
        "    http-request set-header X-Set-Me one\n    http-request add-header X-Add-Me two\n"
        "    default_backend b\nbackend b\n    option forwardfor\n"
        f"    server s1 127.0.0.1:{recorder.port}\n"
    )
    path = write_cfg(tmp_path, text, f"{command[0].rsplit('/', 1)[-1]}.cfg")
    process = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, process)  # type: ignore[arg-type]
        count = len(recorder.heads)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while client.recv(4096):
                pass
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    head = recorder.heads[count]
    return [line for line in head.split(b"\r\n") if line.lower().startswith(ADDED)]


def test_added_header_names_are_lower_case(tmp_path: Path) -> None:
    recorder = HeadRecorder()
    try:
        ours = _added_lines(haproxy_py_command(), tmp_path, recorder)
        assert ours == [
            b"x-set-me: one",
            b"x-add-me: two",
            b"x-forwarded-for: 127.0.0.1",
            b"x-original-to: 127.0.0.1",
        ]
        reference = haproxy_command()
        if reference is None:
            pytest.skip("haproxy 2.6 is not installed")
        assert ours == _added_lines(reference, tmp_path, recorder)
    finally:
        recorder.close()
