"""The stats page of the real `haproxy-py -W` (two workers), with curl, Python and Chromium.

Checked: 401 with the realm (byte for byte as HAProxy 2.6 answers, when it is installed),
the page with credentials, `;csv` equal to `show stat` on the stats socket, `;json`, `;up`,
`;norefresh`, the Refresh header, an admin POST that puts a server in MAINT (seen by `show
stat`) and brings it back, a POST without admin rights that changes nothing (303 to
`;st=DENY`), a frontend without backend serving its page, and the page rendered by headless
Chromium without console errors (screenshots under the test's tmp_path).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.mworker_tools import Master, master
from tests.e2e.tcp_tools import wait_listening
from tests.e2e.test_serve_http import backend
from tests.e2e.test_shared_state import cli, stat_rows
from tests.helpers import free_port, haproxy_command, write_cfg

TIMEOUTS = "    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n"


def stats_config(sock: Path, ports: dict[str, int], app: int) -> str:
    return (
        f"global\n    nbthread 2\n    stats socket {sock} level admin\n"
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"listen stats\n    bind 127.0.0.1:{ports['stats']}\n    stats enable\n"
        "    stats uri /stats\n    stats realm Ops\\ only\n    stats auth admin:secret\n"
        "    stats auth viewer:pw\n    stats refresh 5s\n    stats show-legends\n"
        "    stats show-node node-1\n    stats admin if LOCALHOST\n"
        f"listen view\n    bind 127.0.0.1:{ports['view']}\n    stats enable\n    stats uri /\n"
        f"frontend fstats\n    bind 127.0.0.1:{ports['front']}\n    stats enable\n"
        "    stats uri /monitor\n"
        f"backend be\n    server s1 127.0.0.1:{app} check inter 500ms\n"
        f"    server s2 127.0.0.1:{app}\n"
    )


def curl(*args: str) -> tuple[str, str]:
    """(head, body) of `curl -s -D - ARGS`."""
    done = subprocess.run(
        ["curl", "-s", "-D", "-", "--max-time", "10", *args],
        capture_output=True,
        check=True,
    )
    head, _, body = done.stdout.decode().partition("\r\n\r\n")
    return head, body


def status_of(head: str) -> int:
    return int(head.split(" ", 2)[1])


def header(head: str, name: str) -> str | None:
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def raw(port: int, request: bytes, *, head_only: bool = False) -> bytes:
    """One request on a fresh connection; the whole answer (read until the head's length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        while len(body) < length and not head_only:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Master, dict, Path]]:
    tmp_path = tmp_path_factory.mktemp("stats")
    ports = {"stats": free_port(), "view": free_port(), "front": free_port()}
    sock = tmp_path / "stats.sock"
    with backend() as app, master(tmp_path, stats_config(sock, ports, app.port)) as running:
        running.wait_ready()
        for port in ports.values():
            wait_listening(port, running.process)
        yield running, ports, sock


def test_credentials_are_asked_with_the_realm(running) -> None:
    _, ports, _ = running
    url = f"http://127.0.0.1:{ports['stats']}/stats"
    head, body = curl(url)
    assert status_of(head) == 401
    assert header(head, "www-authenticate") == 'Basic realm="Ops only"'
    assert "401 Unauthorized" in body
    head, _ = curl("-u", "admin:wrong", url)
    assert status_of(head) == 401
    head, body = curl("-u", "viewer:pw", url)
    assert status_of(head) == 200
    assert header(head, "content-type") == "text/html"
    assert header(head, "refresh") == "5"
    assert "node-1" in body and ">s1<" in body and ">s2<" in body and "Session rate" in body


def test_csv_is_show_stat(running) -> None:
    _, ports, sock = running
    url = f"http://127.0.0.1:{ports['stats']}/stats;csv"
    for _ in range(5):  # the stats proxy's own counters move with each request: compare `be`
        head, body = curl("-u", "admin:secret", url)
        shown = cli(sock, "show stat")
        assert body.splitlines()[0] == shown.splitlines()[0]
        page_be = [line for line in body.splitlines() if line.startswith("be,")]
        cli_be = [line for line in shown.splitlines() if line.startswith("be,")]
        if page_be == cli_be:
            break
        time.sleep(0.3)  # a second ticked (lastchg) between the two reads
    assert page_be == cli_be and len(page_be) == 3
    assert header(head, "content-type") == "text/plain"
    assert body.endswith(",\n\n")
    head, _ = curl("-u", "admin:secret", url.replace(";csv", ";csv;norefresh"))
    assert header(head, "refresh") is None


def test_json_and_up(running) -> None:
    _, ports, sock = running
    base = f"http://127.0.0.1:{ports['stats']}/stats"
    head, body = curl("-u", "admin:secret", base + ";json")
    assert header(head, "content-type") == "application/json"
    rows = json.loads(body)
    names = [(row[0]["value"]["value"], row[1]["value"]["value"]) for row in rows]
    assert ("be", "s1") in names and ("be", "BACKEND") in names
    cli_rows = json.loads(cli(sock, "show stat json"))
    assert [r[:2] for r in rows if r[0]["value"]["value"] == "be"] == [
        r[:2] for r in cli_rows if r[0]["value"]["value"] == "be"
    ]
    typed = cli(sock, "show stat be 4 -1 typed")
    assert typed.startswith("S.") and ".pxname.1:KNS:str:be\n" in typed
    assert cli(sock, "show info json").startswith('[{"field":{"pos":0,"name":"Name"}')


def _status(sock: Path, server: str) -> str:
    return stat_rows(cli(sock, "show stat"))[("be", server)]["status"]


def test_admin_post_changes_state_and_others_cannot(running) -> None:
    _, ports, sock = running
    url = f"http://127.0.0.1:{ports['stats']}/stats"
    assert _status(sock, "s2") == "no check"
    head, _ = curl("-u", "admin:secret", "-d", "s=s2&action=maint&b=%23" + _iid(sock), url)
    assert status_of(head) == 303
    assert header(head, "location") == "/stats;st=DONE"
    assert _status(sock, "s2") == "MAINT"
    # The page says so, and hides it with ;up.
    _, page = curl("-u", "admin:secret", url + ";st=DONE")
    assert "Action processed successfully." in page
    _, up = curl("-u", "admin:secret", url + ";up;csv")
    assert ",s2," not in up and ",s1," in up
    # The same POST again changes nothing, and is DONE all the same (HAProxy 2.6 counts
    # ready/drain/maint whether or not they change anything).
    head, _ = curl("-u", "admin:secret", "-d", "s=s2&action=maint&b=be", url + ";norefresh")
    assert header(head, "location") == "/stats;st=DONE;norefresh"
    # Without admin rights (the `view` page has no `stats admin`): DENY, nothing changes.
    head, _ = curl("-d", "s=s2&action=ready&b=be", f"http://127.0.0.1:{ports['view']}/")
    assert status_of(head) == 303 and header(head, "location") == "/;st=DENY"
    assert _status(sock, "s2") == "MAINT"
    head, _ = curl("-u", "admin:secret", "-d", "s=nope&action=ready&b=be", url)
    assert header(head, "location") == "/stats;st=ERRP"
    # Wrong credentials: 401, nothing changes.
    head, _ = curl("-u", "admin:bad", "-d", "s=s2&action=ready&b=be", url)
    assert status_of(head) == 401 and _status(sock, "s2") == "MAINT"
    head, _ = curl("-u", "admin:secret", "-d", "s=s2&action=ready&b=be", url)
    assert header(head, "location") == "/stats;st=DONE"
    assert _status(sock, "s2") == "no check"


def _iid(sock: Path) -> str:
    return stat_rows(cli(sock, "show stat"))[("be", "BACKEND")]["iid"]


def test_frontend_without_backend_and_python_client(running) -> None:
    _, ports, _ = running
    head, body = curl(f"http://127.0.0.1:{ports['front']}/monitor")
    assert status_of(head) == 200 and "fstats" in body
    head, _ = curl(f"http://127.0.0.1:{ports['front']}/other")
    assert status_of(head) == 503
    # HEAD: the page's head alone, the connection kept for the next request.
    answer = raw(ports["front"], b"HEAD /monitor HTTP/1.1\r\nHost: x\r\n\r\n", head_only=True)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n")
    assert b"content-length: 0" not in answer and b"connection: close" not in answer
    # A Python client with Basic credentials.
    url = f"http://127.0.0.1:{ports['stats']}/stats;norefresh"
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, url, "admin", "secret")
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(url, timeout=10) as answer:
        page = answer.read().decode()
        assert answer.headers.get("refresh") is None
    assert '<form method="post"' in page and 'name="action"' in page


def test_401_and_deny_redirect_are_haproxys(tmp_path: Path, running) -> None:
    reference = haproxy_command()
    if reference is None:
        pytest.skip("HAProxy 2.6 is not installed: nothing to compare with")
    _, ports, _ = running
    port, view_port = free_port(), free_port()
    text = (
        f"defaults\n    mode http\n{TIMEOUTS}"
        f"listen stats\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /stats\n"
        "    stats realm Ops\\ only\n    stats auth admin:secret\n"
        f"listen view\n    bind 127.0.0.1:{view_port}\n    stats enable\n    stats uri /\n"
    )
    path = write_cfg(tmp_path, text, "ref.cfg")
    process = subprocess.Popen([*reference, "-db", "-f", str(path)], stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        wait_listening(view_port, process)
        ask = b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"
        assert raw(ports["stats"], ask) == raw(port, ask)
        post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\ns=s2&b="
        assert raw(ports["view"], post) == raw(view_port, post)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("width", [1400, 420])
def test_chromium_renders_the_page_without_console_errors(
    tmp_path: Path, running, width: int
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    _, ports, _ = running
    url = f"http://127.0.0.1:{ports['view']}/;norefresh"
    shot = tmp_path / f"stats-page-{width}.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
              "--v=0", f"--window-size={width},900"]  # fmt: skip
    done = subprocess.run(
        [*common, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=90
    )
    assert shot.is_file() and shot.stat().st_size > 1000, done.stderr[-2000:]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert "<table>" in dom.stdout and "Session rate" in dom.stdout
    console = [
        line
        for line in (done.stderr + dom.stderr).splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line
    ]
    assert console == [], console
    print(f"screenshot: {shot}")
