"""Cookie persistence on the wire: the real `haproxy-py` against HAProxy 2.6's recorded answers.

One configuration holds a backend per `cookie` flavour (insert indirect nocache, attributes and
postonly, rewrite, prefix, preserve with `option persist` and a server without a cookie, the
force-persist / ignore-persist / use-server rules, maxidle/maxlife stamps, `option persist`
with `option redispatch` when the persisted server cannot be reached). Each case is one
request on its own connection; what is compared is the status line, the Set-Cookie and
Cache-Control headers, the body (which server answered, which Cookie headers it received) and
the `%tsc` letters of the log line. `EXPECTED` (tests/data/cookie_persistence_haproxy.txt) was
recorded from HAProxy 2.6.12 running this same file; the `needs_haproxy` test runs the installed
haproxy on it again, so the recording cannot drift from the reference.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.cookie_tools import NamedBackend, fetch, stop, wait_port
from tests.helpers import (
    REPO,
    TRACEBACK,
    base_env,
    free_port,
    haproxy_command,
    haproxy_py_command,
    write_cfg,
)

DATA = REPO / "tests" / "data"


def h(name: str, value: str) -> str:
    return f"h={quote(name + ':' + value, safe='')}"


CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("/ind/x", (), "GET"),
    ("/ind/x", (), "GET"),
    ("/ind/x", ("Cookie: SRV=c1",), "GET"),
    ("/ind/x", ("Cookie: SRV=bad",), "GET"),
    ("/ind/x?" + h("cache-control", "max-age=60"), (), "GET"),
    ("/ind/x?" + h("cache-control", "public"), (), "GET"),
    ("/ind/x?" + h("cache-control", "max-age=60"), (), "POST"),
    ("/ind/x?s=302&" + h("cache-control", "max-age=60"), (), "GET"),
    ("/ind/x?" + h("set-cookie", "SRV=mine; path=/"), (), "GET"),
    ("/ind/x?" + h("set-cookie", "SRV=mine; path=/"), ("Cookie: SRV=c2",), "GET"),
    ("/ind/x", ("Cookie: a=1;  SRV=c2 , b = 2",), "GET"),
    ("/ind/x", ("Cookie: a=1", "Cookie: SRV=zz", "Cookie: b=2; SRV=c1"), "GET"),
    ("/ind/x", ("Cookie: SRV=c3",), "GET"),
    ("/attr/x", (), "GET"),
    ("/attr/x", (), "POST"),
    ("/attr/x", ("Cookie: SRV=c1",), "POST"),
    ("/rw/x?" + h("set-cookie", "SRV=fromserver; path=/app"), (), "GET"),
    ("/rw/x", ("Cookie: SRV=c2",), "GET"),
    ("/pfx/x?" + h("set-cookie", "SRV=orig; path=/app"), (), "GET"),
    ("/pfx/x", ("Cookie: a=1;SRV=c1~orig;b=2",), "GET"),
    ("/pfx/x", ("Cookie: SRV=zz~yy",), "GET"),
    ("/keep/x?" + h("set-cookie", "SRV=mine"), (), "GET"),
    ("/keep/x", (), "GET"),
    ("/keep/x", ("Cookie: SRV=c3",), "GET"),
    ("/rules/ign", ("Cookie: SRV=c1",), "GET"),
    ("/rules/force", ("Cookie: SRV=c3",), "GET"),
    ("/rules/use", ("Cookie: SRV=c1",), "GET"),
    ("/rules/x", ("Cookie: SRV=c3",), "GET"),
    ("/stamps/x", (), "GET"),
    ("/stamps/x", ("Cookie: SRV=c1|ABCDE|ABCDE",), "GET"),
    ("/stamps/x", ("Cookie: SRV=c1|zzzzz",), "GET"),
    ("/stamps/x", ("Cookie: SRV=c1",), "GET"),
    ("/redis/x", ("Cookie: SRV=c9",), "GET"),
    ("/redis/x", ("Cookie: SRV=c1",), "GET"),
]

# Recorded from HAProxy 2.6.12, one line per case (see the module docstring); stamps read
# "|STAMP".
EXPECTED = (DATA / "cookie_persistence_haproxy.txt").read_text().splitlines()


def config(port: int, s1: int, s2: int, s3: int, closed: int) -> str:
    servers = (
        f"    server s1 127.0.0.1:{s1} cookie c1\n"
        f"    server s2 127.0.0.1:{s2} cookie c2\n"
        f"    server s3 127.0.0.1:{s3} cookie c3 disabled\n"
    )
    return (
        "defaults\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"
        "    log stdout format raw local0\n"
        '    log-format "%b/%s %ST %tsc"\n'
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        + "".join(
            f"    use_backend {name} if {{ path_beg /{name}/ }}\n"
            for name in ("ind", "attr", "rw", "pfx", "keep", "rules", "stamps", "redis")
        )
        + "backend ind\n    cookie SRV insert indirect nocache\n"
        + servers
        + "backend attr\n    cookie SRV insert postonly httponly secure domain .example.com"
        " domain b.org attr SameSite=Lax\n"
        + servers
        + "backend rw\n    cookie SRV rewrite\n"
        + servers
        + "backend pfx\n    cookie SRV prefix\n"
        + servers
        + "backend keep\n    cookie SRV insert indirect preserve\n    option persist\n"
        f"    server s1 127.0.0.1:{s1} cookie c1\n"
        f"    server s2 127.0.0.1:{s2}\n"
        f"    server s3 127.0.0.1:{s3} cookie c3 disabled\n"
        "backend rules\n    cookie SRV insert indirect\n"
        "    ignore-persist if { path_beg /rules/ign }\n"
        "    force-persist if { path_beg /rules/force }\n"
        "    use-server s2 if { path_beg /rules/use }\n"
        + servers
        + "backend stamps\n    cookie SRV insert maxidle 30m maxlife 8h\n"
        + servers
        + "backend redis\n    cookie SRV insert indirect\n    option persist\n"
        "    option redispatch\n    retries 1\n"
        f"    server s1 127.0.0.1:{s1} cookie c1\n"
        f"    server s9 127.0.0.1:{closed} cookie c9 disabled\n"
    )


_KEPT = re.compile(rb"^(set-cookie|cache-control):", re.IGNORECASE)
_STAMP = re.compile(r"\|[A-Za-z0-9+/]{5}")


def summary(response: bytes) -> str:
    """Status line, Set-Cookie and Cache-Control lines (lower-case names), body."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept = [lines[0]] + [
        line.split(b":", 1)[0].lower() + b":" + line.split(b":", 1)[1]
        for line in lines[1:]
        if _KEPT.match(line)
    ]
    text = (b" | ".join(kept) + b" || " + body.strip()).decode("latin-1")
    return _STAMP.sub("|STAMP", text)


def run(tmp_path: Path, command: list[str], name: str) -> list[str]:
    """Every case through `command` (haproxy-py or haproxy): summaries + log letters."""
    s1, s2, s3 = NamedBackend("s1"), NamedBackend("s2"), NamedBackend("s3")
    port = free_port()
    closed = free_port()  # nothing listens there: connecting to s9 fails
    path = write_cfg(tmp_path, config(port, s1.port, s2.port, s3.port, closed), name)
    process = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, process)
        answers = [
            summary(fetch(port, target, *headers, method=method))
            for target, headers, method in CASES
        ]
        time.sleep(0.3)  # the last log line
    finally:
        out, err = stop(process)
        for server in (s1, s2, s3):
            server.close()
    assert TRACEBACK not in err
    # (HAProxy also logs the readiness probe: a connection without a request, "fe/<NOSRV>")
    logs = [line for line in out.splitlines() if line.count(" ") == 2 and "<NOSRV>" not in line]
    assert len(logs) == len(CASES), out
    return [f"{answer} || {log}" for answer, log in zip(answers, logs, strict=True)]


def test_cookie_persistence_matches_haproxy_recording(tmp_path: Path) -> None:
    ours = run(tmp_path, haproxy_py_command(), "ours.cfg")
    for case, got, want in zip(CASES, ours, EXPECTED, strict=True):
        assert got == want, case


@pytest.mark.needs_haproxy
def test_haproxy_still_gives_the_recorded_answers(tmp_path: Path) -> None:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 is not installed")
    theirs = run(tmp_path, command, "haproxy.cfg")
    for case, got, want in zip(CASES, theirs, EXPECTED, strict=True):
        assert got == want, case


def test_checkcache_is_refused_clearly(tmp_path: Path) -> None:
    port = free_port()
    text = (
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        f"listen app\n    bind 127.0.0.1:{port}\n    cookie SRV insert dynamic\n"
        "    dynamic-cookie-key secret\n    server s1 127.0.0.1:9\n"  # accepted (dynamic)
        "backend cache\n    option checkcache\n    server s1 127.0.0.1:9\n"
    )
    path = write_cfg(tmp_path, text)
    done = subprocess.run(
        [*haproxy_py_command(), "-db", "-f", str(path)],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert f"[{path}:6]" not in done.stderr  # dynamic cookies: tests/e2e/test_dynamic_cookie.py
    assert f"[{path}:11] : proxy 'cache': 'option checkcache'" in done.stderr
    assert TRACEBACK not in done.stderr


def test_a_draining_server_keeps_its_persistent_clients(tmp_path: Path) -> None:
    """`set server be/s1 state drain`: new clients go elsewhere, cookie holders stay (as the
    management guide says of DRAIN); maintenance sends them elsewhere too."""
    s1, s2 = NamedBackend("s1"), NamedBackend("s2")
    port = free_port()
    sock = tmp_path / "admin.sock"
    text = (
        f"global\n    stats socket {sock} level admin\n"
        "defaults\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"
        f"listen be\n    bind 127.0.0.1:{port}\n    cookie SRV insert indirect\n"
        f"    server s1 127.0.0.1:{s1.port} cookie c1\n"
        f"    server s2 127.0.0.1:{s2.port} cookie c2\n"
    )
    process = subprocess.Popen(
        [*haproxy_py_command(), "-db", "-f", str(write_cfg(tmp_path, text))],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, process)

        def admin(command: str) -> None:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(sock))
                client.sendall(command.encode() + b"\n")
                while client.recv(4096):
                    pass

        admin("set server be/s1 state drain")
        for _ in range(3):
            assert b"server=s2" in fetch(port, "/", "Cookie: a=1")
            assert b"server=s1" in fetch(port, "/", "Cookie: SRV=c1")
        admin("set server be/s1 state maint")
        answer = fetch(port, "/", "Cookie: SRV=c1")
        assert b"server=s2" in answer and b"set-cookie: SRV=c2; path=/" in answer
    finally:
        _, err = stop(process)
        s1.close()
        s2.close()
    assert TRACEBACK not in err


def test_a_valid_cookie_waits_for_its_full_server(tmp_path: Path) -> None:
    """s1 (maxconn 1) busy: a cookie holder for s1 queues on it; a new client goes to s2."""
    s1, s2 = NamedBackend("s1"), NamedBackend("s2")
    port = free_port()
    text = (
        "defaults\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"
        "    timeout queue 10s\n"
        f"listen be\n    bind 127.0.0.1:{port}\n    cookie SRV insert indirect\n"
        f"    server s1 127.0.0.1:{s1.port} cookie c1 maxconn 1\n"
        f"    server s2 127.0.0.1:{s2.port} cookie c2\n"
    )
    process = subprocess.Popen(
        [*haproxy_py_command(), "-db", "-f", str(write_cfg(tmp_path, text))],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers: dict[str, bytes] = {}

    def ask(key: str, path: str, *headers: str) -> None:
        answers[key] = fetch(port, path, *headers)

    try:
        wait_port(port, process)
        busy = threading.Thread(target=ask, args=("busy", "/a?d=2", "Cookie: SRV=c1"))
        busy.start()
        deadline = time.monotonic() + 5
        while not s1.requests and time.monotonic() < deadline:
            time.sleep(0.02)  # until s1's only slot is taken
        ask("fresh", "/b")
        ask("loyal", "/c", "Cookie: SRV=c1")
        loyal_done = time.monotonic()
        busy.join()
        busy_done = time.monotonic()
    finally:
        _, err = stop(process)
        s1.close()
        s2.close()
    assert TRACEBACK not in err
    assert b"server=s1" in answers["busy"]
    assert b"server=s2" in answers["fresh"] and b"set-cookie: SRV=c2" in answers["fresh"]
    assert b"server=s1" in answers["loyal"] and b"set-cookie" not in answers["loyal"]
    assert busy_done - loyal_done < 0.3  # it was served once the busy request was done
