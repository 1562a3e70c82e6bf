"""The rules engine in the real `haproxy-py -db`: content switching, deny/return/redirect,
header actions seen by a recording backend, tcp-request rules and use-server; and the
answers made by rules compared byte for byte with HAProxy 2.6's when it is installed."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.tcp_tools import ask, echo_servers
from tests.e2e.test_serve_http import TIMEOUTS, backend, exchange, read_response, status_of
from tests.e2e.test_serve_tcp import haproxy_py_command, serving, wait_listening
from tests.helpers import TRACEBACK, base_env, free_port, haproxy_command, write_cfg

ROOT = Path(__file__).resolve().parents[2]


def get(port: int, path: str, host: str = "example.com", extra: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
        return read_response(client)


def switching_config(port: int, a: int, b: int, c: int) -> str:
    return (
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        "    acl is_api path_beg /api/\n"
        "    acl is_static hdr(host) -i static.example.com\n"
        "    http-request set-header X-Set set-%[path]\n"
        "    http-request add-header X-Added one\n"
        "    http-request del-header X-Secret\n"
        "    use_backend api if is_api\n"
        "    use_backend static if is_static\n"
        "    default_backend web\n"
        f"backend api\n    server a 127.0.0.1:{a}\n"
        f"backend static\n    server s 127.0.0.1:{b}\n"
        "    http-response set-header X-From static\n"
        f"backend web\n    server w 127.0.0.1:{c}\n"
    )


def test_content_switching_and_header_actions(tmp_path: Path) -> None:
    port = free_port()
    with backend() as api, backend() as static, backend() as web:
        text = switching_config(port, api.port, static.port, web.port)
        with serving(tmp_path, text, port):
            assert status_of(get(port, "/api/users", extra="X-Secret: s\r\n")) == 200
            answer = get(port, "/img.png", host="STATIC.example.com")
            assert b"\r\nx-from: static\r\n" in answer  # added names: lower case (HAProxy)
            assert status_of(get(port, "/")) == 200
    assert b"GET /api/users" in api.received and b"GET /api/users" not in web.received
    assert b"x-set: set-/api/users" in api.received.lower()
    assert b"x-added: one" in api.received.lower()
    assert b"x-secret" not in api.received.lower()
    assert b"GET /img.png" in static.received
    assert b"GET / HTTP/1.1" in web.received


def test_deny_return_redirect(tmp_path: Path) -> None:
    port = free_port()
    with backend() as server:
        text = (
            f"defaults\n    mode http\n{TIMEOUTS}"
            f"frontend fe\n    bind 127.0.0.1:{port}\n"
            "    http-request deny deny_status 429 if { path_beg /limited }\n"
            "    http-request deny if { path_beg /admin }\n"
            '    http-request return status 200 content-type text/plain string "pong"'
            " hdr X-R %[path] if { path /ping }\n"
            "    http-request redirect location https://new.example.com%[path] code 301"
            " if { hdr(host) -i old.example.com }\n"
            "    http-request redirect prefix /v2 if { path_beg /v1 }\n"
            f"    default_backend be\nbackend be\n    server s 127.0.0.1:{server.port}\n"
        )
        with serving(tmp_path, text, port):
            assert status_of(get(port, "/limited")) == 429
            denied = get(port, "/admin")
            assert denied.startswith(b"HTTP/1.1 403 Forbidden\r\n")
            assert b"Request forbidden by administrative rules." in denied
            pong = get(port, "/ping")
            assert pong == (
                b"HTTP/1.1 200 OK\r\nx-r: /ping\r\ncontent-length: 4\r\n"
                b"content-type: text/plain\r\n\r\npong"
            )
            moved = get(port, "/a/b", host="old.example.com")
            assert moved.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
            assert b"\r\nlocation: https://new.example.com/a/b\r\n" in moved
            found = get(port, "/v1/x?q=1")
            assert b"\r\nlocation: /v2/v1/x?q=1\r\n" in found and status_of(found) == 302
            # A deny keeps the connection: two pipelined requests get two answers.
            both = exchange(port, b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n" * 2, timeout=1)
            assert both.count(b"403 Forbidden\r\n") == 2
    assert server.requests == 0


def test_http_response_rules(tmp_path: Path) -> None:
    port = free_port()
    with backend() as server:
        text = (
            f"defaults\n    mode http\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{port}\n"
            "    http-response set-status 299 if { path_beg /st }\n"
            "    http-response del-header Content-Type\n"
            "    http-response add-header X-Resp %[status]\n"
            "    http-response deny if { path_beg /hide }\n"
            "    http-after-response set-header X-After done\n"
            f"    server s 127.0.0.1:{server.port}\n"
        )
        with serving(tmp_path, text, port):
            answer = get(port, "/st")
            assert answer.startswith(b"HTTP/1.1 299 ")
            assert b"\r\nx-resp: 299\r\n" in answer and b"\r\nx-after: done\r\n" in answer
            assert status_of(get(port, "/hide")) == 502


def test_tcp_request_connection_reject_and_content_switching(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()
    with echo_servers(b"A:", b"B:") as (a, b):
        text = (
            f"defaults\n    mode tcp\n{TIMEOUTS}"
            f"frontend fe\n    bind 127.0.0.1:{port}\n"
            "    tcp-request inspect-delay 2s\n"
            "    tcp-request content accept if { req.payload(0,4) -m str PING }\n"
            "    tcp-request content reject if { req.payload(0,4) -m str DROP }\n"
            "    use_backend b if { req.payload(0,4) -m str PING }\n"
            "    default_backend a\n"
            f"backend a\n    server a 127.0.0.1:{a.port}\n"
            f"backend b\n    server b 127.0.0.1:{b.port}\n"
            f"frontend closed\n    bind 127.0.0.1:{closed}\n"
            "    tcp-request connection reject if { src 127.0.0.0/8 }\n"
            "    default_backend a\n"
        )
        with serving(tmp_path, text, port):
            assert ask(port, b"PING") == b"B:PING"
            assert ask(port, b"hello") == b"A:hello"
            assert ask(port, b"DROP") == b""
            assert ask(closed, b"hello") == b""


def test_use_server(tmp_path: Path) -> None:
    port = free_port()
    with backend() as one, backend() as two:
        text = (
            f"defaults\n    mode http\n{TIMEOUTS}"
            f"listen app\n    bind 127.0.0.1:{port}\n"
            "    use-server s2 if { path_beg /two }\n"
            f"    server s1 127.0.0.1:{one.port}\n    server s2 127.0.0.1:{two.port}\n"
        )
        with serving(tmp_path, text, port):
            for _ in range(4):
                assert status_of(get(port, "/two/x")) == 200
    assert two.received.count(b"GET /two/x") == 4
    assert b"GET /two" not in one.received


def test_unsupported_actions_are_refused_with_file_and_line(tmp_path: Path) -> None:
    port = free_port()
    text = (
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"listen app\n    bind 127.0.0.1:{port}\n"
        "    tcp-response content reject\n"
        "    server s 127.0.0.1:9\n"
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
    assert f"[{path}:8]" in done.stderr
    assert "'tcp-response content' rules in 'mode http' are not yet supported" in done.stderr
    assert TRACEBACK not in done.stderr
    checked = subprocess.run(  # `-c` refuses it too, with the same words
        [*haproxy_py_command(), "-c", "-f", str(path)],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode != 0 and f"[{path}:8]" in checked.stderr
    assert "'tcp-response content' rules in 'mode http' are not yet supported" in checked.stderr


def test_check_mode_fails_on_a_missing_pattern_file(tmp_path: Path) -> None:
    missing = tmp_path / "abusers.lst"
    text = (
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"frontend fe\n    bind 127.0.0.1:{free_port()}\n"
        '    http-request reject if { src -f "${ABUSERS}" }\n'
        "    default_backend be\nbackend be\n    server s 127.0.0.1:9\n"
    )
    path = write_cfg(tmp_path, text)
    command = [*haproxy_py_command(), "-c", "-f", str(path)]
    env = {**base_env(), "ABUSERS": str(missing)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert (
        f"[{path}:8] : error detected while parsing an 'http-request reject' condition :"
        f" failed to open pattern file <{missing}>." in done.stderr
    )
    missing.write_text("192.0.2.1\n")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "Configuration file is valid" in done.stdout


def test_example_l7_content_switching(tmp_path: Path) -> None:
    example = ROOT / "examples" / "l7-content-switching.cfg"
    checked = subprocess.run(
        [*haproxy_py_command(), "-c", "-f", str(example)],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    port = free_port()
    with backend() as api, backend() as web:
        text = example.read_text()
        text = text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        text = text.replace("127.0.0.1:9001", f"127.0.0.1:{api.port}")
        text = text.replace("127.0.0.1:9002", f"127.0.0.1:{web.port}")
        with serving(tmp_path, text, port):
            assert status_of(get(port, "/api/v1/items", host="www.example.com")) == 200
            assert status_of(get(port, "/", host="www.example.com")) == 200
            assert b"location: https://www.example.com/x" in get(port, "/x", host="example.com")
            assert get(port, "/healthz").endswith(b"ok\n")
    assert b"GET /api/v1/items" in api.received
    assert b"x-forwarded-proto: http" in api.received.lower()


# -- differential: the answers made by rules, byte for byte ---------------------------------

DIFF_PATHS = ["/deny", "/d429", "/dstr", "/ret/a", "/r204", "/rempty", "/red/x?q=1",
              "/pre/a?b", "/sch/a", "/dq?x=1", "/c303", "/c308", "/as/x", "/ck", "/auth",
              "/realm", "/tarpit", "/t429", "/kw/a?b=1", "/kwl", "/clr", "/drop",
              "/auth?ok", "/rej"]  # fmt: skip
CRYPT_PW = "$5$salt$Oo0nc86Ktkc05wTAggFOZIQJhfxhAZY1mlIogZJN.i."  # crypt(3) of "pw"


def _diff_config(port: int) -> str:
    return (
        "userlist ul\n    user bob insecure-password secret\n"
        f"    user alice password {CRYPT_PW}\n"
        f"defaults\n    mode http\n{TIMEOUTS}    timeout tarpit 300ms\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        "    http-request auth if { path_beg /auth } !{ http_auth(ul) }\n"
        '    http-request auth realm "Members only" if { path_beg /realm }\n'
        "    http-request tarpit if { path_beg /tarpit }\n"
        "    http-request tarpit deny_status 429 if { path_beg /t429 }\n"
        "    http-request silent-drop if { path_beg /drop }\n"
        "    http-request reject if { path_beg /rej }\n"
        "    http-request return status 200 if { path_beg /auth }\n"
        "    redirect prefix /new code 301 set-cookie K=v drop-query if { path_beg /kw }\n"
        "    redirect location /%[path] code 307 if { path_beg /kwl }\n"
        "    http-request redirect location /c clear-cookie SID if { path_beg /clr }\n"
        "    http-request deny if { path_beg /deny }\n"
        "    http-request deny deny_status 429 if { path_beg /d429 }\n"
        '    http-request deny status 404 content-type text/plain string "nope"'
        " if { path_beg /dstr }\n"
        '    http-request return status 200 content-type text/plain string "hello"'
        " hdr X-A b%[path] if { path_beg /ret }\n"
        "    http-request return status 204 if { path_beg /r204 }\n"
        "    http-request return if { path_beg /rempty }\n"
        "    http-request redirect location /new%[path] code 301 if { path_beg /red }\n"
        "    http-request redirect prefix /pfx if { path_beg /pre }\n"
        "    http-request redirect scheme https if { path_beg /sch }\n"
        "    http-request redirect location /x drop-query if { path_beg /dq }\n"
        "    http-request redirect location /a code 303 if { path_beg /c303 }\n"
        "    http-request redirect location /a code 308 if { path_beg /c308 }\n"
        "    http-request redirect prefix / append-slash if { path_beg /as }\n"
        "    http-request redirect location /a set-cookie X=1 if { path_beg /ck }\n"
        "    default_backend be\n"
        "backend be\n    server s1 127.0.0.1:9\n"
    )


def _get_or_reset(port: int, path: str, request: bytes) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(request)
            if path == "/drop":
                client.settimeout(1)
            return read_response(client)
    except ConnectionResetError:
        return b"<reset>"  # silent-drop without CAP_NET_ADMIN
    except TimeoutError:
        return b"<no answer>"  # silent-drop with TCP_REPAIR: the client sees nothing


def _answers(port: int, paths: list[str] = DIFF_PATHS) -> dict[str, bytes]:
    answers = {}
    for path in paths:
        request = f"GET {path} HTTP/1.1\r\nHost: ex.com\r\n\r\n".encode()
        answers[path] = _get_or_reset(port, path, request)
        if path.startswith("/auth"):  # then with credentials: bad, plain, crypt(3)
            for user in ("bob:bad", "bob:secret", "alice:pw"):
                token = base64.b64encode(user.encode()).decode()
                extra = f"Authorization: Basic {token}\r\n"
                answers[f"{path} {user}"] = get(port, path, host="ex.com", extra=extra)
        answers[path + " 1.0"] = _get_or_reset(port, path, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    return answers


@pytest.mark.needs_haproxy
def test_rule_answers_match_haproxy(tmp_path: Path) -> None:
    _differential(tmp_path, _diff_config, DIFF_PATHS)


AFTER_PATHS = ["/deny", "/red", "/ret", "/auth", "/hide"]


def _after_config(port: int, server_port: int) -> str:
    return (
        "userlist ul\n    user bob insecure-password secret\n"
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"frontend fe\n    bind 127.0.0.1:{port}\n"
        "    http-request deny if { path_beg /deny }\n"
        "    http-request redirect location /x code 301 if { path_beg /red }\n"
        '    http-request return status 200 content-type text/plain string "r" if { path /ret }\n'
        "    http-request auth if { path_beg /auth } !{ http_auth(ul) }\n"
        "    http-request return status 200 if { path_beg /auth }\n"
        "    http-request set-var(txn.hide) int(1) if { path /hide }\n"
        "    http-response deny if { var(txn.hide) -m found }\n"
        "    http-after-response set-header X-After done\n"
        "    http-after-response set-status 299 if { status 301 }\n"
        "    http-after-response del-header content-type if { status 403 }\n"
        "    default_backend be\n"
        f"backend be\n    server s1 127.0.0.1:{server_port}\n"
    )


@pytest.mark.needs_haproxy
def test_after_response_rules_on_our_own_answers_match_haproxy(tmp_path: Path) -> None:
    with backend() as server:
        _differential(tmp_path, lambda port: _after_config(port, server.port), AFTER_PATHS)
    assert server.requests == 4  # /hide reached it, twice per implementation


def _differential(tmp_path: Path, make_config: Any, paths: list[str]) -> None:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 is not installed: the differential part needs it")
    port = free_port()
    with serving(tmp_path, make_config(port), port):
        ours = _answers(port, paths)
    port = free_port()
    path = write_cfg(tmp_path, make_config(port), "haproxy.cfg")
    proc = subprocess.Popen(
        [*command, "-db", "-f", str(path)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, proc)  # type: ignore[arg-type]
        theirs = _answers(port, paths)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert ours == theirs


# -- tarpit, silent-drop, auth with curl, captures in the log ---------------------------------


def test_tarpit_holds_its_client_only_and_silent_drop_resets(tmp_path: Path) -> None:
    port = free_port()
    with backend() as server:
        text = (
            f"defaults\n    mode http\n{TIMEOUTS}    timeout tarpit 3s\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n"
            "    http-request tarpit if { path /slow }\n"
            "    http-request silent-drop if { path /drop }\n"
            f"    default_backend be\nbackend be\n    server s 127.0.0.1:{server.port}\n"
        )
        with serving(tmp_path, text, port):
            # The listener accepts before the worker serves: time nothing until it answers.
            assert status_of(get(port, "/warm")) == 200
            held: dict[str, object] = {}

            def tarpitted() -> None:
                started = time.monotonic()
                held["answer"] = get(port, "/slow")
                held["took"] = time.monotonic() - started

            thread = threading.Thread(target=tarpitted)
            thread.start()
            time.sleep(0.2)
            started = time.monotonic()
            assert status_of(get(port, "/fast")) == 200  # served while the other one waits
            assert time.monotonic() - started < 2.0  # not after the tarpit's 3s
            thread.join(10)
            assert held["took"] >= 2.9  # type: ignore[operator]
            assert held["answer"].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")  # type: ignore[attr-defined]
            with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
                client.sendall(b"GET /drop HTTP/1.1\r\nHost: a\r\n\r\n")
                # As root (CAP_NET_ADMIN) TCP_REPAIR silences the close; else an RST (TTL 1).
                silent = os.geteuid() == 0
                with pytest.raises(TimeoutError if silent else ConnectionResetError):
                    client.recv(100)
    assert server.requests == 2


def test_auth_with_curl_and_captures_in_httplog(tmp_path: Path) -> None:
    port = free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    with sink, backend() as server:
        text = (
            f"global\n    log 127.0.0.1:{sink.getsockname()[1]} local0\n"
            "userlist admins\n    user ops insecure-password s3cret\n"
            f"defaults\n    mode http\n    log global\n    option httplog\n{TIMEOUTS}"
            f"frontend fe\n    bind 127.0.0.1:{port}\n"
            "    declare capture request len 8\n    capture request header Host len 10\n"
            "    http-request capture req.hdr(x-a) len 5\n    http-request capture path id 0\n"
            "    declare capture response len 4\n    http-response capture status id 0\n"
            "    http-request auth realm Admins unless { http_auth(admins) }\n"
            f"    default_backend be\nbackend be\n    server s 127.0.0.1:{server.port}\n"
        )
        with serving(tmp_path, text, port):
            url = f"http://127.0.0.1:{port}/a/long/path"
            refused = subprocess.run(
                ["curl", "-s", "-i", url], capture_output=True, timeout=20, check=False
            ).stdout
            assert refused.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
            assert b'\r\nwww-authenticate: Basic realm="Admins"\r\n' in refused
            served = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "ops:s3cret",
                 "-H", "Host: averylonghost", "-H", "X-A: 1234567", url],
                capture_output=True, text=True, timeout=20, check=False,
            ).stdout  # fmt: skip
            assert served == "200"
            # wait_listening()'s probe connection is logged too (a 400 "<BADREQ>" CR line)
            lines: list[bytes] = []
            while len(lines) < 2:
                line = sink.recv(65536)
                if b"BADREQ" not in line:
                    lines.append(line)
    assert b" 401 " in lines[0] and b" LR-- " in lines[0]
    assert b"{/a/long/|averylongh|12345} {200}" in lines[1], lines[1]


# -- tcp-response content, use-server on stopped and full servers ------------------------------


def _tcp_response_config(port: int, server: int, sink: int, now: int) -> str:
    return (
        f"global\n    log 127.0.0.1:{sink} local0\n"
        f"defaults\n    mode tcp\n    log global\n    option dontlognull\n{TIMEOUTS}"
        f"listen app\n    bind 127.0.0.1:{port}\n"
        '    log-format "%ts %B %U var=%[var(sess.first)]"\n'
        "    tcp-response inspect-delay 2s\n"
        "    tcp-response content reject if { res.payload(0,6) -m str A:EVIL }\n"
        "    tcp-response content close if { res.payload(0,6) -m str A:CLOS }\n"
        "    tcp-response content set-var(sess.first) res.payload(2,2)\n"
        "    tcp-response content accept if { res.len gt 0 }\n"
        f"    server s1 127.0.0.1:{server}\n"
        # without inspect-delay the rules run once, at connect, before any response byte
        # (whether the request arrived before is a race: neither dontlognull nor %U here)
        f"listen now\n    bind 127.0.0.1:{now}\n    no option dontlognull\n"
        '    log-format "%ts %B"\n'
        "    tcp-response content reject if { src 127.0.0.1 }\n"
        f"    server s1 127.0.0.1:{server}\n"
    )


def _ask_closed_early(port: int, payload: bytes) -> bytes:
    """ask(), for a proxy that may close before the request is even sent."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        try:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            while chunk := client.recv(65536):
                chunks.append(chunk)
        except OSError:  # reset or no longer connected: nothing more to read
            pass
    return b"".join(chunks)


def _tcp_response_run(command: list[str], tmp_path: Path, server: int) -> list[tuple]:
    """(answer, log line) per payload, from `command` serving _tcp_response_config."""
    port = free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    now = free_port()
    path = write_cfg(tmp_path, _tcp_response_config(port, server, sink.getsockname()[1], now))
    proc = subprocess.Popen(
        [*command, "-db", "-f", str(path)], env=base_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = []
    try:
        wait_listening(port, proc)  # type: ignore[arg-type]
        for payload in (b"GOOD", b"EVIL", b"CLOS"):
            answer = ask(port, payload)
            line = sink.recv(65536).decode().rstrip("\n")
            seen.append((answer, line[line.index(">") + 1 :].split(": ", 1)[-1]))
        answer = _ask_closed_early(now, b"hello")
        line = sink.recv(65536).decode().rstrip("\n")
        seen.append((answer, line[line.index(">") + 1 :].split(": ", 1)[-1]))
    finally:
        sink.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert TRACEBACK not in err
    return seen


def test_tcp_response_content_rules_match_haproxy(tmp_path: Path) -> None:
    with echo_servers(b"A:") as (server,):
        ours = _tcp_response_run(haproxy_py_command(), tmp_path, server.port)
        assert ours == [
            (b"A:GOOD", "-- 6 4 var=GO"),  # accepted: relayed, set-var saw the payload
            (b"", "PD 6 4 var=-"),  # reject: nothing reaches the client, logged PD
            (b"A:CLOS", "-- 6 4 var=-"),  # close: what was read, then both sides close
            (b"", "PD 0"),  # rejected at connect: nothing from the server, nothing sent
        ]
        command = haproxy_command()
        if command is None:
            pytest.skip("HAProxy 2.6 is not installed: the differential part needs it")
        assert _tcp_response_run(command, tmp_path, server.port) == ours


def _tcp_request_config(port: int, server: int, sink: int) -> str:
    return (
        f"global\n    log 127.0.0.1:{sink} local0\n"
        f"defaults\n    mode tcp\n    log global\n    option dontlognull\n{TIMEOUTS}"
        f"listen app\n    bind 127.0.0.1:{port}\n"
        '    log-format "%hr var=%[var(sess.word)]"\n'
        "    declare capture request len 3\n"
        "    tcp-request inspect-delay 2s\n"
        # waits for its sample ("yields"), then the rules go on from there
        "    tcp-request content capture req.payload(0,5) len 3\n"
        "    tcp-request content set-var(sess.word) req.payload(0,2)\n"
        "    tcp-request content silent-drop if { req.payload(0,4) -m str DROP }\n"
        "    tcp-response inspect-delay 2s\n"
        "    tcp-response content silent-drop if { res.payload(0,6) -m str A:GONE }\n"
        f"    server s1 127.0.0.1:{server}\n"
    )


def _tcp_request_run(command: list[str], tmp_path: Path, server: int) -> tuple[bytes, str]:
    port = free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    path = write_cfg(tmp_path, _tcp_request_config(port, server, sink.getsockname()[1]))
    proc = subprocess.Popen(
        [*command, "-db", "-f", str(path)], env=base_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc)  # type: ignore[arg-type]
        ask(port, b"hello")  # the first request may find the worker still warming up
        sink.recv(65536)
        started = time.monotonic()
        answer = ask(port, b"hello")
        took = time.monotonic() - started
        line = sink.recv(65536).decode().rstrip("\n")
        silent = os.geteuid() == 0  # TCP_REPAIR silences the close; else an RST (TTL 1)
        for payload in (b"DROP", b"GONE"):
            with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
                client.sendall(payload)
                with pytest.raises(TimeoutError if silent else ConnectionResetError):
                    client.recv(100)
    finally:
        sink.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert TRACEBACK not in err
    assert took < 1.8  # the rules ran out without waiting: the 2 s inspect-delay not spent
    return answer, line[line.index(">") + 1 :].split(": ", 1)[-1]


def test_tcp_request_set_var_capture_silent_drop_match_haproxy(tmp_path: Path) -> None:
    with echo_servers(b"A:") as (server,):
        ours = _tcp_request_run(haproxy_py_command(), tmp_path, server.port)
        assert ours == (b"A:hello", "{|hel} var=he")
        command = haproxy_command()
        if command is None:
            pytest.skip("HAProxy 2.6 is not installed: the differential part needs it")
        assert _tcp_request_run(command, tmp_path, server.port) == ours


def _use_server_config(port: int, down: int, two: int, three: int, sink: int) -> str:
    return (
        f"global\n    log 127.0.0.1:{sink} local0\n"
        f"defaults\n    mode http\n    log global\n    option dontlognull\n{TIMEOUTS}"
        "    timeout queue 5s\n"
        f"listen app\n    bind 127.0.0.1:{port}\n"
        '    log-format "%s %ST %ts"\n'
        "    force-persist if { path_beg /force }\n"
        "    use-server s1 if { path_beg /one } || { path_beg /force }\n"
        "    use-server s2 if { path_beg /one }\n"
        "    use-server s2 if { path_beg /q }\n"
        f"    server s1 127.0.0.1:{down} disabled\n"
        f"    server s2 127.0.0.1:{two} maxconn 1 maxqueue 1\n"
        f"    server s3 127.0.0.1:{three}\n"
    )


def _use_server_run(command: list[str], tmp_path: Path, ports: tuple[int, int, int]) -> list:
    port = free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(8)
    path = write_cfg(tmp_path, _use_server_config(port, *ports, sink.getsockname()[1]))
    proc = subprocess.Popen(
        [*command, "-db", "-f", str(path)], env=base_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc)  # type: ignore[arg-type]
        lines = []
        for path_ in ("/one", "/one", "/force"):
            status_of(get(port, path_))
            lines.append(sink.recv(65536).split()[-3:])
        # s2 takes one request and queues one (maxconn 1, maxqueue 1): a third is refused
        threads = [threading.Thread(target=get, args=(port, "/q/slow")) for _ in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.2)
        queued = sorted(sink.recv(65536).split()[-3:] for _ in threads)
        for thread in threads:
            thread.join(10)
    finally:
        sink.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert TRACEBACK not in err
    return [*lines, *queued]


def test_use_server_skips_stopped_servers_and_queues_on_its_own(tmp_path: Path) -> None:
    closed = free_port()
    with backend(delay=1.0) as two, backend() as three:
        ports = (closed, two.port, three.port)
        ours = _use_server_run(haproxy_py_command(), tmp_path, ports)
        assert ours == [
            [b"s2", b"200", b"--"],  # s1 is in maintenance: its rule is skipped, not s3
            [b"s2", b"200", b"--"],
            [b"s1", b"503", b"SC"],  # force-persist: s1 is used anyway, and cannot answer
            [b"s2", b"200", b"--"],
            [b"s2", b"200", b"--"],
            [b"s2", b"503", b"SQ"],  # s2's queue is full: no load balancing to s3
        ]
        assert b"GET /q" not in three.received
        command = haproxy_command()
        if command is None:
            pytest.skip("HAProxy 2.6 is not installed: the differential part needs it")
        assert _use_server_run(command, tmp_path, ports) == ours
