"""Talking to a runtime-API or master CLI socket from a test: one command, answered, closed.

`ask_cli` uses a Python socket (always there); `ask_socat` runs the real `socat`, the client
operators use (callers skip when it is missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

SOCAT = shutil.which("socat")


def ask_cli(path: Path, command: str, timeout: float = 10) -> str:
    """`command` on the UNIX socket `path`; everything answered until the server closes."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        client.sendall(command.encode() + b"\n")
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def ask_socat(path: Path, command: str) -> str:
    """The same through `socat -t 5 - UNIX-CONNECT:path`, as an operator types it."""
    assert SOCAT is not None, "callers skip when socat is missing"
    done = subprocess.run(
        [SOCAT, "-t", "5", "-", f"UNIX-CONNECT:{path}"],
        input=command + "\n",
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return done.stdout
