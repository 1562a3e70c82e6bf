"""Content inspection in the worker: tcp-request/tcp-response content rules compiled from a
configuration (Wait on a miss or a yielding capture, close, silent-drop), run over real
socket pairs by worker/tcp_inspect.py, and use-server's handling of stopped servers."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import trio

from haproxy_py.sample import SampleContext
from haproxy_py.sample.check import SERVED_ACTIONS, check_rules
from tests.worker.test_rules import ctx_for, load, rules_of
from worker import rules as worker_rules
from worker.rule_actions import CLOSE, Wait
from worker.rule_replies import SILENT_DROP
from worker.rules import server_up
from worker.tcp_inspect import inspect_content, inspect_response

BACKEND = (
    "backend be\n    mode tcp\n    tcp-response inspect-delay 2s\n"
    "    tcp-response content reject if { res.payload(0,4) -m str EVIL }\n"
    "    tcp-response content close if { res.payload(0,4) -m str CLOS }\n"
    "    tcp-response content silent-drop if { res.payload(0,4) -m str DROP }\n"
    "    tcp-response content set-var(sess.seen) res.payload(0,2)\n"
    "    server s 127.0.0.1:1\n"
)


def response_ctx(data: bytes, final: bool) -> SampleContext:
    return SampleContext(response_buffer=data, content_final=final)


def test_tcp_response_verdicts(tmp_path: Path) -> None:
    rules = rules_of(tmp_path, BACKEND, name="be")
    run = rules.tcp_response
    assert rules.response_inspect_delay == 2.0
    assert run(response_ctx(b"", False)) == Wait(0)  # nothing yet: the first rule misses
    assert run(response_ctx(b"EVIL!", False)) is False
    assert run(response_ctx(b"CLOSE", False)) is CLOSE
    assert run(response_ctx(b"DROP", False)) is SILENT_DROP
    ctx = response_ctx(b"GOOD", False)
    assert run(ctx) is None  # the rules ran out: accepted at once, not after the delay
    assert ctx.get_var("sess.seen") == b"GO"
    assert run(response_ctx(b"EV", True)) is None  # final: a short buffer is a plain no


def test_capture_waits_for_its_sample_and_resumes_there(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        "listen app\n    mode tcp\n    bind :8080\n    tcp-request inspect-delay 2s\n"
        "    tcp-request content set-var(sess.early) req.payload(0,2)\n"
        "    tcp-request content capture req.payload(0,3) len 3\n"
        "    tcp-request content set-var(sess.late) req.payload(0,2)\n"
        "    server s 127.0.0.1:1\n",
        name="app",
    )
    ctx = SampleContext(request_buffer=b"", content_final=False)
    assert rules.tcp_content(ctx) == Wait(1)  # set-var found nothing; capture waits
    ctx.request_buffer = b"hello"
    assert rules.tcp_content(ctx, 1) is None
    assert ctx.get_var("sess.early") is None and ctx.get_var("sess.late") == b"he"
    assert ctx.request_captured == {0: b"hel"}


async def _pair_inspection(rules, later: bytes):  # type: ignore[no-untyped-def]
    """A client pair and a server pair; the 'server' sends `later` after 50 ms."""
    client_ours, client_peer = socket.socketpair()
    server_ours, server_peer = socket.socketpair()
    for sock in (client_ours, client_peer, server_ours, server_peer):
        sock.setblocking(False)
    ctx = SampleContext()
    with client_ours, client_peer, server_ours, server_peer:
        client_peer.send(b"request")
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                await trio.sleep(0.05)
                server_peer.send(later)

            nursery.start_soon(answer)
            started = trio.current_time()
            result = await inspect_response(rules, ctx, client_ours, server_ours)
            took = trio.current_time() - started
        forwarded = server_peer.recv(100)
    return result, took, forwarded, ctx


def test_inspect_response_decides_when_data_comes_and_forwards_the_request(
    tmp_path: Path,
) -> None:
    rules = rules_of(tmp_path, BACKEND, name="be")
    result, took, forwarded, ctx = trio.run(_pair_inspection, rules, b"EVIL")
    assert result.verdict is False and result.seen == b"EVIL"
    assert forwarded == b"request" and result.bytes_in == 7  # the client spoke meanwhile
    assert took < 1.0 and ctx.content_final
    result, took, _, ctx = trio.run(_pair_inspection, rules, b"GOOD")
    assert result.verdict is None and took < 1.0  # rules ran out: no waiting for the delay
    assert ctx.get_var("sess.seen") == b"GO"


def test_inspect_content_gives_up_at_the_delay() -> None:
    async def main() -> tuple[object, float]:
        ours, peer = socket.socketpair()
        with ours, peer:
            ctx = SampleContext()

            def run(ctx: SampleContext, start: int = 0) -> object:
                return None if ctx.content_final else Wait(0)  # waits for anything final

            def store(data: bytes) -> None:
                ctx.request_buffer = data

            started = trio.current_time()
            verdict = await inspect_content(ours, run, ctx, 0.2, store)
            return verdict, trio.current_time() - started

    verdict, took = trio.run(main)
    assert verdict is None and 0.19 <= took < 1.0


def _servers(**states: tuple[bool, bool]) -> dict:
    return {
        name: SimpleNamespace(lb=SimpleNamespace(usable=usable), draining=draining)
        for name, (usable, draining) in states.items()
    }


def test_use_server_skips_stopped_servers_unless_persistence_is_forced(tmp_path: Path) -> None:
    text = (
        "backend be\n    use-server s1 if { path_beg /a }\n    use-server s2 if { path_beg /a }\n"
        "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n"
    )
    choose = rules_of(tmp_path, text, name="be").choose_server
    ctx = ctx_for(b"/a")
    down = server_up(_servers(s1=(False, False), s2=(True, False)))
    draining = server_up(_servers(s1=(False, True), s2=(True, False)))
    assert choose(ctx, down) == "s2"  # s1 is stopped: the next rule decides
    assert choose(ctx, down, True) == "s1"  # force-persist matched
    assert choose(ctx, draining) == "s1"  # a draining server is not stopped
    assert choose(ctx, server_up(_servers(s1=(False, False), s2=(False, False)))) is None
    persist = rules_of(tmp_path, text.replace("backend be\n", "backend be\n    option persist\n"),
                       name="be").choose_server  # fmt: skip
    assert persist(ctx, down) == "s1"


def test_check_mode_refuses_what_the_worker_refuses(tmp_path: Path) -> None:
    """`-c` (haproxy_py/sample/check.py) and the worker agree on the actions served."""
    tables = {
        "http-request": worker_rules._HTTP_REQUEST,
        "http-response": worker_rules._HTTP_RESPONSE,
        "http-after-response": worker_rules._HTTP_AFTER,
        "redirect": worker_rules._REDIRECT,
        "tcp-request connection": worker_rules._TCP_CONNECTION,
        "tcp-request content": worker_rules._TCP_CONTENT,
        "tcp-response content": worker_rules._TCP_RESPONSE,
    }
    assert {name: set(table) for name, table in tables.items()} == {
        name: set(served) for name, served in SERVED_ACTIONS.items()
    }
    config = load(
        tmp_path,
        "listen app\n    mode tcp\n    bind :8080\n    tcp-request connection set-src src\n"
        "    tcp-response content close\n    server s 127.0.0.1:1\n",
    )
    (message,) = check_rules(config)
    assert message.endswith(
        "proxy 'app': 'tcp-request connection set-src' is not yet supported by this version"
        " of haproxy-py."
    )
