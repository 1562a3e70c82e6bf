"""`cookie SRV insert dynamic` + `dynamic-cookie-key` on the wire, against HAProxy 2.6's values.

The servers listen on fixed loopback addresses and ports (the cookie is a hash of the key,
the address and the port, so the values only hold for these): s1 127.0.0.1:19961 and s2
127.0.0.2:19962 get dynamic cookies, s3 keeps its own `cookie c3`. The cookie values below
were recorded from HAProxy 2.6.12 on this same configuration (curl -v, Set-Cookie); the
`needs_haproxy` test runs the installed haproxy through the same scenario so the recording
cannot drift. The scenario: round robin hands out the three cookies, a client presenting
s2's cookie sticks to s2 (Python client and curl), then `set server b/s2 addr 127.0.0.3 port
19964` gives s2 a new cookie: the old one no longer designates it, the new one does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cookie_tools import NamedBackend, fetch, stop, wait_port
from tests.helpers import (
    TRACEBACK,
    base_env,
    free_port,
    haproxy_command,
    haproxy_py_command,
    write_cfg,
)

# Recorded from HAProxy 2.6.12 with `dynamic-cookie-key secret`.
S1_COOKIE = "9360063689eabfd7"  # 127.0.0.1:19961
S2_COOKIE = "270ed317ffc6daf6"  # 127.0.0.2:19962
S2_MOVED_COOKIE = "ea857998680c26ff"  # 127.0.0.3:19964, after `set server ... addr`


def config(port: int, sock: Path) -> str:
    return (
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"
        f"listen b\n    bind 127.0.0.1:{port}\n    balance roundrobin\n"
        "    cookie SRV insert indirect nocache dynamic\n    dynamic-cookie-key secret\n"
        "    server s1 127.0.0.1:19961\n"
        "    server s2 127.0.0.2:19962\n"
        "    server s3 127.0.0.1:19963 cookie c3\n"
    )


def cli(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(command.encode() + b"\n")
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def answer(response: bytes) -> tuple[str, str | None]:
    """(the server that answered, the SRV value the response sets or None)."""
    head, _, body = response.partition(b"\r\n\r\n")
    server = body.split()[0].decode().removeprefix("server=")
    value = None
    for line in head.split(b"\r\n")[1:]:
        name, _, rest = line.partition(b":")
        if name.strip().lower() == b"set-cookie" and rest.strip().startswith(b"SRV="):
            value = rest.strip()[4:].split(b";")[0].decode()
    return server, value


def scenario(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    sock = tmp_path / "stats.sock"
    path = write_cfg(tmp_path, config(port, sock))
    backends = [
        NamedBackend("s1", 19961, "127.0.0.1"),
        NamedBackend("s2", 19962, "127.0.0.2"),
        NamedBackend("s3", 19963, "127.0.0.1"),
        NamedBackend("s2", 19964, "127.0.0.3"),  # where s2 moves
    ]
    process = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, process)
        first = {answer(fetch(port, "/")) for _ in range(3)}
        assert first == {("s1", S1_COOKIE), ("s2", S2_COOKIE), ("s3", "c3")}
        # Sticky: s2's cookie always leads to s2, and no new cookie is set.
        sticky = {answer(fetch(port, "/", f"Cookie: SRV={S2_COOKIE}")) for _ in range(4)}
        assert sticky == {("s2", None)}
        # `insert indirect`: the server never sees the persistence cookie.
        assert backends[1].cookies_seen()[-1] == []
        if shutil.which("curl"):
            done = subprocess.run(
                ["curl", "-sv", "-b", f"SRV={S1_COOKIE}", f"http://127.0.0.1:{port}/"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert done.stdout.startswith("server=s1 "), done
            assert "Set-Cookie" not in done.stderr and "set-cookie" not in done.stderr
        moved = cli(sock, "set server b/s2 addr 127.0.0.3 port 19964")
        assert "IP changed from '127.0.0.2' to '127.0.0.3'" in moved, moved
        # The old value designates nobody any more: load balancing picks, and sets a cookie.
        _, value = answer(fetch(port, "/", f"Cookie: SRV={S2_COOKIE}"))
        assert value is not None and value != S2_COOKIE
        assert {answer(fetch(port, "/"))[1] for _ in range(3)} == {
            S1_COOKIE,
            S2_MOVED_COOKIE,
            "c3",
        }
        sticky = {answer(fetch(port, "/", f"Cookie: SRV={S2_MOVED_COOKIE}")) for _ in range(3)}
        assert sticky == {("s2", None)}
        assert backends[3].cookies_seen()  # the moved s2 really served
    finally:
        _, err = stop(process)
        for backend in backends:
            backend.close()
    assert TRACEBACK not in err


def test_dynamic_cookies_match_haproxy(tmp_path: Path) -> None:
    scenario(tmp_path, haproxy_py_command())


@pytest.mark.needs_haproxy
def test_haproxy_gives_the_recorded_dynamic_cookies(tmp_path: Path) -> None:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 is not installed")
    scenario(tmp_path, command)
