"""Runtime-API writes on the real `haproxy-py -W` with two workers: maps and ACLs changed
through one worker route requests in both (and in a worker respawned later), `set server ..
addr`, `disable|enable frontend`, `set maxconn`, what a reload does to runtime map changes,
and bad input (huge lines, non-UTF-8 bytes, 1,000-command chains, absurd values) answered
without changing anything or blocking the worker. Commands go through socat on the
configuration's stats socket when socat is installed, and through the master CLI (`@N`,
`@!PID`) to reach a given worker."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cookie_tools import NamedBackend, fetch, wait_port
from tests.e2e.mworker_tools import master
from tests.e2e.side_by_side import Side, needs_haproxy, side_by_side
from tests.helpers import free_port


def cli(path: Path, command: bytes | str, timeout: float = 10) -> str:
    """One request on a UNIX CLI socket, answered then closed."""
    return raw_cli(path, command, timeout).decode("utf-8", "replace")


def raw_cli(path: Path, command: bytes | str, timeout: float = 10) -> bytes:
    data = command if isinstance(command, bytes) else command.encode() + b"\n"
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def socat(path: Path, command: str) -> str:
    if shutil.which("socat") is None:
        return cli(path, command)
    done = subprocess.run(
        ["socat", "-t", "5", "-", f"UNIX-CONNECT:{path}"],
        input=command + "\n",
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout


def config(tmp_path: Path, port: int, one: NamedBackend, two: NamedBackend) -> str:
    (tmp_path / "hosts.map").write_text("a.example be1\nb.example be1\n# comment\n")
    (tmp_path / "blocked.acl").write_text("mallory\n")
    return f"""\
global
    nbthread 2
    master-worker no-exit-on-failure
    stats socket {tmp_path}/stats.sock level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    acl blocked req.hdr(x-client) -f {tmp_path}/blocked.acl
    http-request deny if blocked
    use_backend %[req.hdr(x-site),lower,map({tmp_path}/hosts.map,be1)]
backend be1
    server one 127.0.0.1:{one.port}
backend be2
    server two 127.0.0.1:{two.port}
"""


def served_by(port: int, host: str, *headers: str) -> str:
    """Which backend server answered (or the status line when the proxy answered)."""
    response = fetch(port, "/", f"X-Site: {host}", *headers)
    for name in (b"one", b"two", b"three"):
        if b"server=" + name in response:
            return name.decode()
    return response.split(b"\r\n", 1)[0].decode()


@pytest.fixture
def setup(tmp_path: Path):
    port = free_port()
    one, two = NamedBackend("one"), NamedBackend("two")
    try:
        text = config(tmp_path, port, one, two)
        with master(tmp_path, text, "-S", str(tmp_path / "m.sock")) as running:
            running.wait_ready()
            running.wait_for(lambda: len(running.workers()) == 2)
            wait_port(port, running.process)
            yield running, port, tmp_path
    finally:
        one.close()
        two.close()


def test_map_change_through_one_worker_routes_in_both(setup) -> None:
    running, port, tmp_path = setup
    mcli = tmp_path / "m.sock"
    assert {served_by(port, "b.example") for _ in range(10)} == {"one"}
    assert cli(mcli, f"@1 set map {tmp_path}/hosts.map b.example be2") == "\n"
    for pid in running.workers():  # each worker holds the change
        assert "b.example be2" in cli(mcli, f"@!{pid} show map #1")
    assert {served_by(port, "b.example") for _ in range(30)} == {"two"}
    assert cli(mcli, "@2 add map #1 c.example be2") == "\n"
    assert "c.example be2" in cli(mcli, "@1 show map #1")
    assert {served_by(port, "c.example") for _ in range(20)} == {"two"}
    answer = socat(tmp_path / "stats.sock", "get map #1 c.example")
    assert answer == (
        'type=str, case=sensitive, found=yes, idx=tree, key="c.example", value="be2",'
        ' type="str"\n\n'
    )
    assert cli(mcli, "@1 del map #1 c.example") == "\n"
    assert {served_by(port, "c.example") for _ in range(10)} == {"one"}
    listing = socat(tmp_path / "stats.sock", "show map")
    assert listing.startswith("# id (file) description\n1 (")
    assert listing.endswith(
        f"used by map at file '{tmp_path}/test.cfg' line 14. curr_ver=0 next_ver=0 entry_cnt=2\n\n"
    )


def test_acl_change_and_respawned_worker_gets_the_changes(setup) -> None:
    running, port, tmp_path = setup
    mcli = tmp_path / "m.sock"
    stats = tmp_path / "stats.sock"
    assert served_by(port, "a.example", "X-Client: eve") == "one"
    assert socat(stats, "add acl #0 eve") == "\n"
    assert {served_by(port, "a.example", "X-Client: eve") for _ in range(20)} == {
        "HTTP/1.1 403 Forbidden"
    }
    assert socat(stats, "add map #1 d.example be2") == "\n"
    # A worker dies; the one started in its place gets every change made since the start.
    before = running.workers()
    victim = before[0]
    os.kill(victim, signal.SIGKILL)

    def respawned() -> list[int]:  # one look at the children (two looks can disagree)
        now = running.workers()
        return [pid for pid in now if pid not in before] if victim not in now else []

    running.wait_for(lambda: len(respawned()) == 1)
    fresh = respawned()[0]
    # The replayed changes are applied one message after the other: wait for the last one.
    running.wait_for(
        lambda: (
            "eve" in cli(mcli, f"@!{fresh} show acl #0")
            and "d.example be2" in cli(mcli, f"@!{fresh} show map #1")
        ),
        timeout=30,
    )
    for pid in running.workers():
        assert "d.example be2" in cli(mcli, f"@!{pid} show map #1")
        assert cli(mcli, f"@!{pid} get acl #0 eve").startswith(
            "type=str, case=sensitive, match=yes"
        )
    assert socat(stats, "del acl #0 eve") == "\n"
    assert {served_by(port, "a.example", "X-Client: eve") for _ in range(10)} == {"one"}
    assert served_by(port, "a.example", "X-Client: mallory") == "HTTP/1.1 403 Forbidden"


def test_reload_reads_the_map_files_again(setup) -> None:
    running, port, tmp_path = setup
    mcli = tmp_path / "m.sock"
    assert cli(mcli, "@1 set map #1 a.example be2") == "\n"
    assert served_by(port, "a.example") == "two"
    running.process.send_signal(signal.SIGUSR2)
    running.wait_ready(successes=2)
    running.wait_for(lambda: "a.example be1" in cli(mcli, "@1 show map #1"))
    assert "a.example be1" in cli(mcli, "@2 show map #1")
    assert {served_by(port, "a.example") for _ in range(10)} == {"one"}


def test_set_server_addr_and_frontend_state(setup) -> None:
    running, port, tmp_path = setup
    mcli = tmp_path / "m.sock"
    stats = tmp_path / "stats.sock"
    three = NamedBackend("three")
    try:
        old = socat(stats, "show servers state be1").splitlines()[2].split()
        answer = socat(stats, f"set server be1/one addr 127.0.0.1 port {three.port}")
        assert answer == (
            f"no need to change the addr, port changed from '{old[18]}' to '{three.port}'"
            " by 'stats socket command'\n\n"
        )
        assert {served_by(port, "a.example") for _ in range(20)} == {"three"}
        state = cli(mcli, "@2 show servers state be1").splitlines()[2].split()
        assert state[4] == "127.0.0.1" and state[18] == str(three.port)
        assert socat(stats, "set server be1/one addr not-an-ip") == (
            "Invalid addr 'not-an-ip' by 'stats socket command'\n\n"
        )
        assert {served_by(port, "a.example") for _ in range(5)} == {"three"}
    finally:
        three.close()
    assert socat(stats, "disable frontend fe") == "\n"
    assert socat(stats, "disable frontend fe") == "All sockets are already disabled.\n\n"
    running.wait_for(lambda: running.count("Paused frontend fe.") == 1)  # once, not per worker
    with pytest.raises(OSError):
        fetch(port, "/", "X-Site: a.example")
    assert cli(mcli, "@2 enable frontend fe") == "\n"
    assert cli(mcli, "@1 enable frontend fe") == "All sockets are already enabled.\n\n"
    running.wait_for(lambda: running.count("Resumed frontend fe.") == 1)
    assert socat(stats, "disable frontend nope") == "No such frontend.\n\n"
    assert socat(stats, "set maxconn frontend fe 50") == "\n"
    assert socat(stats, "set maxconn frontend fe -1") == "Value out of range.\n\n"
    assert socat(stats, "set maxconn global") == "Expects an integer value.\n\n"
    assert socat(stats, "set maxconn server be2/two 7") == "\n"
    assert "maxconn string empty" in socat(stats, "set maxconn server be2/two x")
    assert socat(stats, "add server nope/new 127.0.0.1:1") == "No such backend.\n"
    assert socat(stats, f"set server be1/one addr 127.0.0.1 port {old[18]}").startswith(
        "no need to change the addr, port changed from"
    )
    wait_port(port, running.process)
    assert served_by(port, "b.example") == "one"


def test_bad_input_changes_nothing_and_blocks_nothing(setup) -> None:
    _running, port, tmp_path = setup
    stats = tmp_path / "stats.sock"
    mcli = tmp_path / "m.sock"
    assert socat(stats, "set weight be1/one -5") == (
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    )
    assert socat(stats, "get weight be1/one") == "1 (initial 1)\n\n"
    assert socat(stats, "set server x/y addr not-an-ip") == "No such backend.\n\n"
    try:  # over the line limit: closed unanswered, as HAProxy does
        answer = cli(stats, "add acl #0 x" + "y" * 1_000_000)
    except OSError:  # reset while still sending
        answer = ""
    assert answer == ""
    assert "xyyyy" not in socat(stats, "show acl #0")
    # Bytes that are not UTF-8 are kept as they are, in every worker, as HAProxy keeps them.
    assert raw_cli(stats, b"add map #1 k\xff\xfe.example be2\n") == b"\n"
    for number in (1, 2):
        assert b"k\xff\xfe.example be2\n" in raw_cli(mcli, b"@%d show map #1\n" % number)
    assert raw_cli(stats, b"get map #1 k\xff\xfe.example\n") == (
        b'type=str, case=sensitive, found=yes, idx=tree, key="k\xff\xfe.example", value="be2",'
        b' type="str"\n\n'
    )
    chain = ";".join(["get weight be1/one"] * 1000)
    answers = cli(stats, chain)
    assert answers.count("1 (initial 1)\n\n") == 1000
    chain_writes = ";".join(f"add map #1 k{n}.example be2" for n in range(200))
    assert cli(stats, chain_writes) == "\n" * 200
    assert "k199.example be2" in cli(mcli, "@2 show map #1")
    assert {served_by(port, "k150.example") for _ in range(6)} == {"two"}
    # A client that never reads does not block the worker.
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(str(stats))
        idle.sendall(b"show map #1\n")
        assert socat(stats, "get weight be1/one") == "1 (initial 1)\n\n"
        assert served_by(port, "a.example") == "one"


DIFFERENTIAL = [
    "get map {map} a.example",
    "get map {map} zzz",
    "get acl {acl} mallory",
    "get acl {acl} eve",
    "get map",
    "get acl {acl}",
    "add map {map} k",
    "add acl {acl}",
    "add map /nope a b",
    "add acl /nope x",
    "set map {map} a",
    "set map {map} nokey v",
    "set map {map} #0x12 v",
    "del map {map}",
    "del acl {acl}",
    "del map {map} nokey",
    "del acl {acl} nokey",
    "clear map",
    "clear acl",
    "clear map /nope",
    "add map {map} k.example v",
    "get map {map} k.example",
    "set map {map} k.example w",
    "get map {map} k.example",
    "del map {map} k.example",
    "get map {map} k.example",
    "add acl {acl} eve",
    "get acl {acl} eve",
    "clear acl {acl}",
    "get acl {acl} mallory",
    "set server be1/one addr not-an-ip",
    "set server be1/one addr",
    "set server be1/one addr 127.0.0.1 port 4000",
    "set server be1/one addr 127.0.0.2 port abc",
    "set weight be1/one -5",
    "set server be1/one weight -5",
    "set maxconn server be1/one x",
    "set maxconn server be1/one",
    "set maxconn server be1/zz 3",
    "set maxconn server be1/one 20",
    "set maxconn frontend nofe 5",
    "set maxconn frontend fe",
    "set maxconn frontend fe -1",
    "set maxconn frontend fe 100",
    "set maxconn global",
    "disable frontend",
    "disable frontend nofe",
    "disable frontend fe",
    "disable frontend fe",
    "enable frontend fe",
    "enable frontend fe",
]


def answers_on_both(tmp_path: Path, templates: list[str]) -> tuple[list[bytes], list[bytes]]:
    """`templates` ({map}, {acl}: each side's own files) asked over the stats socket of
    haproxy and of haproxy-py -W, both on `config`: (haproxy's answers, haproxy-py's)."""
    one, two = NamedBackend("one"), NamedBackend("two")

    def side_config(side: Side) -> str:
        text = config(side.directory, side.port, one, two)
        if side.name == "haproxy":
            return text.replace("    nbthread 2\n    master-worker no-exit-on-failure\n", "")
        return text

    def commands(side: Side) -> list[str]:
        files = {"map": side.directory / "hosts.map", "acl": side.directory / "blocked.acl"}
        return [template.format(**files) for template in templates]

    try:
        return side_by_side(tmp_path, side_config, commands, raw_cli)
    finally:
        one.close()
        two.close()


@needs_haproxy
def test_answers_match_the_real_haproxy(tmp_path: Path) -> None:
    """The same commands on the same configuration, byte for byte, over the stats socket."""
    theirs, ours = answers_on_both(tmp_path, DIFFERENTIAL)
    for template, mine, reference in zip(DIFFERENTIAL, ours, theirs, strict=True):
        assert mine == reference, template
    assert b'found=yes, idx=tree, key="a.example", value="be1"' in ours[0]
