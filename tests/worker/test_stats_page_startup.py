"""worker/stats_page.py at start-up: which frontend/backend pairs get which page."""

from __future__ import annotations

import io
from pathlib import Path

from haproxy_py.report import Reporter
from tests.helpers import free_port
from tests.worker.test_serve_startup import _start
from worker.backend import BackendRuntime
from worker.runtime import WorkerState, build_state

HEAD = (
    "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
    "    timeout connect 5s\n"
)


def _built(tmp_path: Path, text: str) -> tuple[WorkerState, str]:
    while "PORT" in text:
        text = text.replace("PORT", str(free_port()), 1)
    start, sockets = _start(tmp_path, HEAD + text)
    stream = io.StringIO()
    state = build_state(start, sockets, Reporter(stream=stream))
    state.close()
    return state, stream.getvalue()


def test_pages_go_to_the_pairs_they_serve(tmp_path: Path) -> None:
    state, _ = _built(
        tmp_path,
        "frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n"
        "frontend own\n    bind 127.0.0.1:PORT\n    stats enable\n    stats uri /s\n"
        "    default_backend be\n"
        "frontend lone\n    bind 127.0.0.1:PORT\n    stats enable\n"
        "frontend plain\n    bind 127.0.0.1:PORT\n    default_backend other\n"
        "backend be\n    stats enable\n    server s 127.0.0.1:1\n"
        "backend other\n    server s 127.0.0.1:1\n",
    )
    fe, own, lone, plain = (state.frontends[n] for n in ("fe", "own", "lone", "plain"))
    assert fe.http.stats_page.settings.proxy == "be"  # the backend's page
    assert own.http.stats_page.settings.proxy == "own"  # the frontend's own wins
    assert own.http.stats_page.uri == "/s"
    assert plain.http.stats_page is None
    # A frontend with a page and no backend: an empty backend of its own name serves it.
    assert isinstance(lone.backend, BackendRuntime) and lone.backend.name == "lone"
    assert lone.http.stats_page.uri == "/haproxy?stats"


def test_tcp_mode_stats_are_ignored_with_haproxys_warning(tmp_path: Path) -> None:
    state, reported = _built(
        tmp_path,
        "listen t\n    mode tcp\n    bind 127.0.0.1:PORT\n    stats enable\n"
        "    server s 127.0.0.1:1\n",
    )
    assert "'stats' statement ignored for proxy 't' as it requires HTTP mode." in reported
    assert state.frontends["t"].http is None
