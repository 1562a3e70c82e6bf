"""`haproxy-py -c` and a start agree with the workers (haproxy_py/config/serving.py).

Compared with the installed haproxy 2.6 when it is there: server names that do not resolve
(`init-addr` variants, `-dr`), and `errorloc*` pages, served for real and fetched with curl.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.tcp_tools import wait_listening
from tests.helpers import (
    TIMEOUTS,
    TRACEBACK,
    base_env,
    free_port,
    haproxy_command,
    haproxy_py_command,
    run_cli,
    write_cfg,
)

pytestmark = pytest.mark.e2e

UNRESOLVED = (
    f"defaults\n    mode http\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:21420\n"
    "    default_backend b\nbackend b\n"
    "    server s1 nosuchhost.invalid:80 init-addr last,libc,none\n"
    "    server s2 nosuchhost.invalid:80 init-addr last\n"
    "    server s3 nosuchhost.invalid:80 init-addr libc,127.0.0.2\n"
)
PLAIN_UNRESOLVED = (
    f"defaults\n    mode tcp\n{TIMEOUTS}listen app\n    bind 127.0.0.1:21421\n"
    "    server s1 nosuchhost.invalid:80\n"
)


def lines(stderr: str) -> list[str]:
    """ALERT and WARNING lines without the pid, as both programs print them."""
    found = []
    for line in stderr.splitlines():
        match = re.match(r"\[(ALERT|WARNING)\]\s+\(\d+\) : (.*)", line)
        if match:
            found.append(f"{match[1]} {match[2]}")
    return found


@pytest.mark.parametrize("text,flags", [(UNRESOLVED, ()), (PLAIN_UNRESOLVED, ("-dr",))])
def test_check_resolves_servers_as_haproxy_does(
    tmp_path: Path, text: str, flags: tuple[str, ...]
) -> None:
    path = write_cfg(tmp_path, text)
    ours = run_cli("-c", *flags, "-f", str(path))
    assert TRACEBACK not in ours.stderr
    reference = haproxy_command()
    if reference is None:
        pytest.skip("haproxy 2.6 is not installed")
    theirs = run_cli("-c", *flags, "-f", str(path), command=reference)
    assert lines(ours.stderr) == lines(theirs.stderr)
    assert lines(ours.stderr)  # each case prints something
    assert ours.returncode == theirs.returncode


MISSING_PAGE = (
    f"defaults\n    mode http\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:21422\n"
    "    errorfile 503 /nonexistent/503.http\n"
)
BAD_ADMIN = (
    f"defaults\n    mode http\n{TIMEOUTS}listen st\n    bind 127.0.0.1:21423\n"
    "    stats enable\n    stats admin if { nosuchfetch -m found }\n"
)


@pytest.mark.parametrize("text", [MISSING_PAGE, BAD_ADMIN])
def test_check_refuses_what_haproxy_refuses_while_parsing(tmp_path: Path, text: str) -> None:
    path = write_cfg(tmp_path, text)
    ours = run_cli("-c", "-f", str(path))
    assert ours.returncode == 1, ours.stderr
    assert TRACEBACK not in ours.stderr
    reference = haproxy_command()
    if reference is None:
        pytest.skip("haproxy 2.6 is not installed")
    theirs = run_cli("-c", "-f", str(path), command=reference)
    assert theirs.returncode == 1
    if text is MISSING_PAGE:  # the same words
        assert lines(ours.stderr)[0] == lines(theirs.stderr)[0]


def test_a_start_refuses_what_check_refuses(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, PLAIN_UNRESOLVED)
    started = run_cli("-db", "-f", str(path), timeout=30)
    assert started.returncode == 1
    assert TRACEBACK not in started.stderr
    assert "'server app/s1' : could not resolve address 'nosuchhost.invalid'." in started.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_errorloc_pages_are_served(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    text = (
        f"defaults\n    mode http\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:{port}\n"
        "    errorloc 503 http://example.com/down\n    errorloc303 403 /denied\n"
        "    http-request deny if { path /d }\n    default_backend b\n"
        f"backend b\n    server s1 127.0.0.1:{dead}\n"
    )
    path = write_cfg(tmp_path, text)
    assert run_cli("-c", "-f", str(path)).returncode == 0
    proc = subprocess.Popen(
        [*haproxy_py_command(), "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, proc)  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{port}"
        down = subprocess.run(
            ["curl", "-s", "-i", "--max-time", "10", f"{url}/"],
            capture_output=True,
            check=False,
        ).stdout
        denied = subprocess.run(
            ["curl", "-s", "-i", "--max-time", "10", f"{url}/d"],
            capture_output=True,
            check=False,
        ).stdout
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert TRACEBACK not in stderr
    assert down.startswith(b"HTTP/1.1 302 Found\r\n"), down
    assert b"\r\nlocation: http://example.com/down\r\n" in down
    assert denied.startswith(b"HTTP/1.1 303 See Other\r\n"), denied
    assert b"\r\nlocation: /denied\r\n" in denied
