"""worker/services.py: the exporter's answer as the HTTP session sends it (no sockets)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from haproxy_py.config import load_configuration
from haproxy_py.process.shm import create_table
from haproxy_py.stats.layout import STOT, layout_for
from worker.http_errors import DEFAULT_ERROR_PAGES
from worker.rule_replies import INTERCEPT
from worker.services import make_service

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:18080
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend be
backend be
    server s1 127.0.0.1:1
"""


def request(target: bytes, method: bytes = b"GET") -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(target=target, method=method))


def test_exporter_renders_from_the_bound_state(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(CFG)
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    exporter = make_service("prometheus-exporter", DEFAULT_ERROR_PAGES)
    assert exporter.status == 200 and exporter.kind == INTERCEPT and exporter.hold == 0
    unbound = exporter.render(request(b"/metrics"), close=False)
    assert unbound.endswith(b"content-length: 0\r\n\r\n")  # no state yet: an empty page
    with create_table(layout_for(config, 1)) as table:
        table.counter_row(0, table.layout.frontend("fe"))[STOT] = 7
        state = SimpleNamespace(shared=SimpleNamespace(table=table), config=config)
        exporter.bind(state, lambda: {"Nbthread": 1})
        answer = exporter.render(request(b"/metrics?scope=frontend"), close=True)
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"content-type: text/plain; version=0.0.4" in lines
        assert b"connection: close" in lines
        assert f"content-length: {len(body)}".encode() in lines
        found = {f.name: f for f in text_string_to_metric_families(body.decode())}
        assert found["haproxy_frontend_sessions"].samples[0].value == 7
        assert "haproxy_process_nbthread" not in found  # scope=frontend only
        headless = exporter.render(request(b"/metrics", b"HEAD"), close=False)
        assert headless.endswith(b"\r\n\r\n") and b"content-length: 0" not in headless
        bad = exporter.render(request(b"/metrics?scope=nope"), close=False)
        assert bad.startswith(b"HTTP/1.1 400 Bad request\r\n")


def test_other_services_are_refused() -> None:
    with pytest.raises(ValueError, match="not yet supported"):
        make_service("lua.hello", DEFAULT_ERROR_PAGES)
