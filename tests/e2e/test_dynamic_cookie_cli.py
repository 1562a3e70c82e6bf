"""`set dynamic-cookie-key backend`, `enable|disable dynamic-cookie backend` on the stats
socket, on haproxy-py with two workers (-W, nbthread 2) and on HAProxy 2.6 (same scenario).

Every response says which process served it (`X-Pid: %pid`): after each change, responses
served by both workers carry the cookies the change gives (a hash of the new key, s1's and
s2's addresses and ports: haproxy_py/lb/dyncookie.py, checked against HAProxy's recorded
values in test_dynamic_cookie.py), s3 keeps its own `cookie c3`, and with dynamic cookies
off the servers without a cookie get HAProxy's expiring `SRV=;` instead. The error answers
are HAProxy's (the `needs_haproxy` run gives the same). Clients: socat for the CLI, Python
sockets for HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haproxy_py.lb.dyncookie import dynamic_cookie
from tests.e2e.cli_tools import ask_socat
from tests.e2e.cookie_tools import NamedBackend, fetch, stop, wait_port
from tests.helpers import (
    TRACEBACK,
    base_env,
    free_port,
    haproxy_command,
    haproxy_py_command,
    write_cfg,
)

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
S1, S2, S3 = 20361, 20362, 20363
ERRORS = {  # HAProxy 2.6.12's answers
    "set dynamic-cookie-key backend": "A backend name is expected.\n\n",
    "set dynamic-cookie-key backend nope k": "No such backend.\n\n",
    "set dynamic-cookie-key backend fe k": "No such backend.\n\n",
    "set dynamic-cookie-key backend b": "String value expected.\n\n",
    "enable dynamic-cookie backend": "A backend name is expected.\n\n",
    "disable dynamic-cookie backend nope": "No such backend.\n\n",
}


def config(port: int, sock: Path, workers: str) -> str:
    return (
        f"global\n    stats socket {sock} level admin\n{workers}"
        f"    stats socket {sock}.op level operator\n"
        "defaults\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend b\n"
        "    http-response set-header X-Pid %pid\n"
        "backend b\n    balance roundrobin\n"
        "    cookie SRV insert indirect nocache dynamic\n    dynamic-cookie-key secret\n"
        f"    server s1 127.0.0.1:{S1}\n    server s2 127.0.0.1:{S2}\n"
        f"    server s3 127.0.0.1:{S3} cookie c3\n"
        "backend plain\n    server p1 127.0.0.1:9\n"
    )


def served(port: int) -> tuple[str, tuple[str, str]]:
    """(the serving pid, (server, the SRV value set or "")) of one request."""
    head, _, body = fetch(port, "/").partition(b"\r\n\r\n")
    server = body.split()[0].decode().removeprefix("server=")
    pid, value = "", ""
    for line in head.decode().split("\r\n")[1:]:
        name, _, rest = line.partition(":")
        if name.lower() == "x-pid":
            pid = rest.strip()
        elif name.lower() == "set-cookie" and rest.strip().startswith("SRV="):
            value = rest.strip()[4:].split(";")[0]
    return pid, (server, value)


def cookies(port: int, processes: int) -> dict[str, set[tuple[str, str]]]:
    """Per serving pid, the (server, SRV value) pairs seen, in rounds of 8 concurrent
    requests until every process served at least 6 (the kernel picks the accepting one)."""
    seen: dict[str, list[tuple[str, str]]] = {}
    with ThreadPoolExecutor(8) as pool:
        for _ in range(40):
            for pid, pair in pool.map(served, [port] * 8):
                seen.setdefault(pid, []).append(pair)
            if len(seen) >= processes and all(len(p) >= 6 for p in seen.values()):
                break
    return {pid: set(pairs) for pid, pairs in seen.items()}


def expected(key: str | None) -> set[tuple[str, str]]:
    def value(port: int) -> str:
        return dynamic_cookie(key, "127.0.0.1", port).decode() if key else ""

    return {("s1", value(S1)), ("s2", value(S2)), ("s3", "c3")}


def scenario(tmp_path: Path, command: list[str], workers: str, processes: int) -> None:
    port = free_port()
    sock = tmp_path / "stats.sock"
    path = write_cfg(tmp_path, config(port, sock, workers))
    backends = [NamedBackend(name, p) for name, p in (("s1", S1), ("s2", S2), ("s3", S3))]
    process = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def everywhere(wanted: set[tuple[str, str]]) -> None:
        seen = cookies(port, processes)
        assert len(seen) == processes, seen  # every worker served some of them
        assert all(pairs <= wanted for pairs in seen.values()), (seen, wanted)
        assert set().union(*seen.values()) == wanted, (seen, wanted)

    try:
        wait_port(port, process)
        everywhere(expected("secret"))
        for asked, answer in ERRORS.items():
            assert ask_socat(sock, asked) == answer, asked
        assert ask_socat(sock, "enable dynamic-cookie").startswith("Unknown command")
        assert ask_socat(sock, "set dynamic-cookie-key backend b other") == "\n"
        everywhere(expected("other"))
        assert ask_socat(sock, "disable dynamic-cookie backend b") == "\n"
        everywhere(expected(None))
        # A new key while off is kept for later; nothing derives from it yet.
        assert ask_socat(sock, "set dynamic-cookie-key backend b third") == "\n"
        everywhere(expected(None))
        assert ask_socat(sock, "enable dynamic-cookie backend b") == "\n"
        everywhere(expected("third"))
        # A backend without a `cookie` line accepts the commands (nothing to derive).
        assert ask_socat(sock, "enable dynamic-cookie backend plain") == "\n"
        operator = sock.with_name(sock.name + ".op")
        assert ask_socat(operator, "enable dynamic-cookie backend b") == "Permission denied\n\n"
    finally:
        _, err = stop(process)
        for backend in backends:
            backend.close()
    assert TRACEBACK not in err


def test_dynamic_cookie_commands_in_every_worker(tmp_path: Path) -> None:
    command = [*haproxy_py_command(), "-W"]
    scenario(tmp_path, command, "    nbthread 2\n", processes=2)


@pytest.mark.needs_haproxy
def test_haproxy_answers_the_same(tmp_path: Path) -> None:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 is not installed")
    scenario(tmp_path, command, "", processes=1)
