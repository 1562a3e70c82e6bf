"""worker start-up: refused configurations, server resolution, routing and the descriptor plan.

These never serve traffic: they call serve() only to see it refuse, or build_state() to look at
what it assembled, and test worker/limits.py's pure planning function directly.
"""

from __future__ import annotations

import io
import resource
import socket
from pathlib import Path
from typing import Any

import pytest

from haproxy_py.process.handoff import WorkerStart
from haproxy_py.process.listeners import bind_all, listener_specs
from haproxy_py.report import Reporter
from tests.worker.test_serve import config_text, free_port, load
from worker.limits import FD_MARGIN, FdPlan, apply_fd_limit, plan_fd_limit
from worker.runtime import WorkerState, build_state
from worker.serve import StartupError, serve


def _start(
    tmp_path: Path, text: str, settings: dict[str, Any] | None = None
) -> tuple[WorkerStart, list[socket.socket]]:
    config = load(tmp_path, text)
    listeners = bind_all(listener_specs(config))
    start = WorkerStart(
        config,
        tuple(item.spec for item in listeners),
        tuple(item.sock.fileno() for item in listeners),
        settings or {},
    )
    return start, [item.sock for item in listeners]


async def refused(tmp_path: Path, text: str, settings: dict[str, Any] | None = None) -> list[str]:
    """serve()'s StartupError messages; also checks it closed every socket it was given."""
    start, sockets = _start(tmp_path, text, settings)
    with pytest.raises(StartupError) as caught:
        await serve(start, sockets, reporter=Reporter(stream=io.StringIO()), isolation=False)
    assert all(sock.fileno() == -1 for sock in sockets)
    return caught.value.messages


def built(tmp_path: Path, text: str, settings: dict[str, Any] | None = None) -> WorkerState:
    start, sockets = _start(tmp_path, text, settings)
    state = build_state(start, sockets, Reporter(stream=io.StringIO()))
    state.close()
    return state


def _line(tmp_path: Path, text: str, needle: str) -> str:
    """FILE:LINE of the first configuration line starting with `needle` (indentation aside)."""
    number = next(
        i for i, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith(needle)
    )
    return f"{tmp_path / 'test.cfg'}:{number}"


# -- what this version does not serve yet ---------------------------------------------------------


async def test_unsupported_http_actions_and_mode_mismatch_are_refused(tmp_path: Path) -> None:
    fe = free_port()
    text = config_text(
        f"frontend web\n    mode http\n    bind 127.0.0.1:{fe}\n"
        "    http-request wait-for-body time 1s if { path /x }\n    default_backend app\n"
        "backend app\n    mode tcp\n    server s1 127.0.0.1:8080\n"
    )
    messages = await refused(tmp_path, text)
    assert messages == [
        f"config : [{_line(tmp_path, text, 'default_backend')}] : proxy 'web': unable to use"
        " proxy 'app' with wrong mode, required: http, has: tcp.",
        f"config : [{_line(tmp_path, text, 'http-request')}] : proxy 'web': 'http-request"
        " wait-for-body' is not yet supported by this version of haproxy-py.",
    ]


async def test_rules_not_served_yet_are_refused(tmp_path: Path) -> None:
    fe = free_port()
    text = config_text(
        f"frontend fe\n    bind 127.0.0.1:{fe}\n    acl local src 127.0.0.1\n"
        "    tcp-request content accept if local\n"
        "    tcp-request connection set-src src\n"
        "    use_backend be if local\n"
        "    default_backend be\n"
        "backend be\n    tcp-response content accept\n    server s1 127.0.0.1:8080\n"
    )
    messages = await refused(tmp_path, text)
    line = _line(tmp_path, text, "tcp-request connection")
    assert messages == [
        f"config : [{line}] : proxy 'fe': 'tcp-request connection set-src' is not yet"
        " supported by this version of haproxy-py.",
    ]


async def test_an_unresolvable_server_is_refused(tmp_path: Path) -> None:
    fe = free_port()
    text = config_text(
        f"listen app\n    bind 127.0.0.1:{fe}\n    server s1 nowhere.invalid:80\n"
        "    server s2 nowhere-else.invalid:80 init-addr libc\n"
    )
    messages = await refused(tmp_path, text)
    assert messages == [
        f"config : [{_line(tmp_path, text, 'server s1')}] : 'server app/s1' : could not resolve"
        " address 'nowhere.invalid'.",
        f"config : [{_line(tmp_path, text, 'server s2')}] : 'server app/s2' : no method found to"
        " resolve address 'nowhere-else.invalid'.",
        "config : Failed to initialize server(s) addr.",
    ]


def test_ignore_resolution_starts_the_server_in_maintenance(tmp_path: Path) -> None:
    fe = free_port()
    text = config_text(f"listen app\n    bind 127.0.0.1:{fe}\n    server s1 nowhere.invalid:80\n")
    state = built(tmp_path, text, {"ignore_resolution": True})
    backend = state.backends["app"]
    (server,) = backend.servers.values()
    assert server.target is None
    assert not server.lb.usable
    assert not backend.farm.available


# -- what start-up assembles ----------------------------------------------------------------------


def test_unconditional_use_backend_wins_over_default_backend(tmp_path: Path) -> None:
    fe = free_port()
    text = config_text(
        f"frontend fe\n    bind 127.0.0.1:{fe}\n    maxconn 50\n    use_backend chosen\n"
        "    default_backend fallback\n"
        "    timeout client-fin 2s\n"
        "backend chosen\n    timeout tunnel 1h\n    server s1 127.0.0.1:8080 minconn 1 maxconn 10\n"
        "backend fallback\n    server s1 127.0.0.1:8081\n"
    )
    state = built(tmp_path, text)
    frontend = state.frontends["fe"]
    assert frontend.backend is state.backends["chosen"]
    assert frontend.limit.maximum == 50
    timeouts = frontend.timeouts
    assert (timeouts.client, timeouts.client_fin, timeouts.server, timeouts.tunnel) == (
        5,
        2,
        5,
        3600,
    )
    # fullconn's default: a tenth of the maxconns of the frontends routing to the backend.
    assert state.backends["chosen"].farm.fullconn == 5
    assert state.backends["chosen"].dynamic_limits


def test_limits_and_splicing_follow_settings(tmp_path: Path) -> None:
    fe1, fe2 = free_port(), free_port()
    text = config_text(
        f"listen a\n    bind 127.0.0.1:{fe1}\n    bind 127.0.0.1:{fe2} maxconn 7 nosplice\n"
        "    server s1 127.0.0.1:8080\n",
        global_extra="    maxpipes 10\n    tune.pipesize 128k",
    )
    state = built(tmp_path, text)
    first, second = state.listeners
    assert state.fd_plan.maxconn == 200
    assert state.fd_plan.maxpipes == 10
    assert first.pipes is state.pipes is not None
    assert state.pipes.pipe_size == 131072
    assert second.pipes is None
    assert [limit.maximum for limit in first.limits] == [200, 200]
    assert [limit.maximum for limit in second.limits] == [7, 200, 200]
    # -n overrides global maxconn, -N sets a frontend's default, -dS stops splicing.
    state = built(tmp_path, text, {"maxconn": 40, "maxconn_per_proxy": 30, "nosplice": True})
    assert state.global_limit.maximum == 40
    assert state.frontends["a"].limit.maximum == 30
    assert state.pipes is None
    assert all(listener.pipes is None for listener in state.listeners)


# -- the descriptor plan --------------------------------------------------------------------------


def test_plan_with_maxconn_set() -> None:
    plan = plan_fd_limit(
        maxconn=1000, maxpipes=None, splice=True, listeners=3, ulimit_n=None, soft=1024, hard=65536
    )
    assert plan == FdPlan(1000, 250, 2000 + 500 + 3 + FD_MARGIN, 2000 + 500 + 3 + FD_MARGIN)
    # A soft limit already high enough is left alone.
    plan = plan_fd_limit(
        maxconn=100, maxpipes=0, splice=True, listeners=1, ulimit_n=None, soft=50000, hard=65536
    )
    assert (plan.maxpipes, plan.needed, plan.soft_limit) == (0, 227, 50000)


def test_plan_derives_maxconn_from_the_limit() -> None:
    # Without splicing this is HAProxy's own figure: (20000 - 2 listeners - 26) / 2.
    plan = plan_fd_limit(
        maxconn=None, maxpipes=None, splice=False, listeners=2, ulimit_n=None, soft=1024, hard=20000
    )
    assert (plan.maxconn, plan.maxpipes) == (9986, 0)
    plan = plan_fd_limit(
        maxconn=None, maxpipes=None, splice=True, listeners=2, ulimit_n=None, soft=1024, hard=20000
    )
    assert plan.needed <= 20000 < plan.needed + 3
    assert plan.maxpipes == plan.maxconn // 4
    unlimited = plan_fd_limit(
        maxconn=None,
        maxpipes=None,
        splice=True,
        listeners=2,
        ulimit_n=None,
        soft=1024,
        hard=resource.RLIM_INFINITY,
    )
    assert unlimited.maxconn == 4096


def test_plan_honours_ulimit_n_and_warns_when_it_is_too_low() -> None:
    plan = plan_fd_limit(
        maxconn=5000, maxpipes=0, splice=True, listeners=2, ulimit_n=3000, soft=1024, hard=20000
    )
    assert plan.soft_limit == 3000
    assert plan.warning == (
        "[haproxy.main()] FD limit (3000) too low for maxconn=5000/maxsock=10028. Please raise"
        " 'ulimit-n' to 10028 or more to avoid any trouble."
    )
    derived = plan_fd_limit(
        maxconn=None, maxpipes=None, splice=False, listeners=2, ulimit_n=4000, soft=1024, hard=20000
    )
    assert (derived.maxconn, derived.soft_limit, derived.warning) == (1986, 4000, None)


def test_an_unreachable_fd_limit_names_both_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def refuse(which: int, limits: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "setrlimit", refuse)
    with pytest.raises(
        Exception, match=rf"Cannot raise FD limit to {hard + 10}, limit is {hard}\."
    ):
        apply_fd_limit(FdPlan(10, 0, hard + 10, hard + 10))
