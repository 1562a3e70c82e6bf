"""Log-format `%` tags in a header value, haproxy-py against HAProxy 2.6 on the same file.

`http-request set-header X-T "%ci|..."` (frontend rules: no backend, server or response yet)
and `http-response set-header` (after both): the recording backend shows what the request
header became, the client what the response header became. Ports and times are replaced by
placeholders before comparing; everything else must be byte for byte the same."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_serve_http import backend, exchange
from tests.e2e.test_serve_tcp import serving, wait_listening
from tests.helpers import base_env, free_port, haproxy_command, write_cfg

TAGS = "%ci|%cp|%fi|%fp|%f|%ft|%b|%s|%HM|%HU|%HP|%HQ|%HV|%{+Q}ci|%ST|%r|%{+X}ci|%{+Q}HM|%Ts"


def _config(port: int, server: int) -> str:
    return (
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 2s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        f'    http-request set-header X-T "{TAGS}"\n'
        '    http-response set-header X-R "%b/%s %ST %HM"\n'
        "    default_backend be\n"
        f"backend be\n    server s1 127.0.0.1:{server}\n"
    )


def _normalised(text: str, port: int) -> str:
    text = re.sub(r"\|\d{10}$", "|TS", text)  # %Ts: now, in seconds
    text = text.replace(f"|{port}|", "|FP|").replace(f"{port:04X}", "FPX")
    return re.sub(r"^127\.0\.0\.1\|\d+\|", "127.0.0.1|CP|", text)


def _run(port: int, server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    before = len(server.received)
    reply = exchange(port, b"GET /p/a?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    sent = server.received[before:].decode("latin-1")
    request_value = re.search(r"(?im)^x-t: (.*)\r$", sent)
    response_value = re.search(r"(?im)^x-r: (.*)\r$", reply.decode("latin-1"))
    assert request_value and response_value, (sent, reply)
    return _normalised(request_value.group(1), port), response_value.group(1)


def test_tags_in_header_values(tmp_path: Path) -> None:
    port = free_port()
    with backend() as server, serving(tmp_path, _config(port, server.port), port):
        ours = _run(port, server)
    assert ours == (
        '127.0.0.1|CP|127.0.0.1|FP|fe|fe|fe|<NOSRV>|GET|/p/a?x=1|/p/a|?x=1|HTTP/1.1|"127.0.0.1"'
        '|-1|GET /p/a?x=1 HTTP/1.1|7F000001|"GET"|TS',
        "be/s1 200 GET",
    )
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 is not installed: the differential half needs it")
    port = free_port()
    with backend() as server:
        path = write_cfg(tmp_path, _config(port, server.port), "haproxy.cfg")
        process = subprocess.Popen(
            [*command, "-db", "-f", str(path)], env=base_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_listening(port, process)  # type: ignore[arg-type]
            theirs = _run(port, server)
        finally:
            process.terminate()
            process.communicate(timeout=10)
    assert theirs == ours
