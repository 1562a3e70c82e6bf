"""The Prometheus exporter's page over a real (in-memory) stats table, read back with
prometheus_client's parser: names, types and label sets as HAProxy 2.6's exporter has them."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from haproxy_py.stats.layout import (
    BIN,
    CHECK_STATUS,
    FMAINT,
    HRSP_2XX,
    HRSP_5XX,
    REQ_TOT,
    SCUR,
    STOT,
)
from haproxy_py.stats.prometheus import (
    BadQuery,
    Query,
    parse_query,
    proxy_state,
    render_metrics,
    server_state,
)
from haproxy_py.stats.prometheus import _escape as _escape
from tests.helpers import stats_table

CFG = """\
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:18080
    default_backend be
frontend tcpfe
    mode tcp
    bind 127.0.0.1:18081
    default_backend be2
backend be
    server s1 127.0.0.1:1 weight 50 check
    server s2 127.0.0.1:2
    server b1 127.0.0.1:3 backup
backend be2
    mode tcp
    server t1 127.0.0.1:4
"""
INFO = {"Version": "2.6.12", "Nbthread": 1, "Uptime_sec": 5, "CurrConns": 2, "node": "x"}


@pytest.fixture
def loaded(tmp_path: Path):
    with stats_table(tmp_path, CFG) as table_and_config:
        yield table_and_config


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: object) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}  # type: ignore[attr-defined]


def test_page_parses_and_sums_every_worker(loaded) -> None:
    table, config = loaded
    layout = table.layout
    for worker in (0, 1):
        front = table.counter_row(worker, layout.frontend("fe"))
        front[STOT] += 3
        front[REQ_TOT] += 3
        front[HRSP_2XX] += 2
        front[HRSP_5XX] += 1
        table.counter_row(worker, layout.server_row("be", "s2"))[BIN] += 100
        table.counter_row(worker, layout.backend("be"))[SCUR] += 1
    text = render_metrics(table, config, INFO)
    found = families(text)
    # prometheus_client strips _total from counter family names
    assert found["haproxy_frontend_http_requests"].type == "counter"
    assert samples(found["haproxy_frontend_http_requests"]) == {(("proxy", "fe"),): 6.0}
    assert samples(found["haproxy_frontend_sessions"])[(("proxy", "fe"),)] == 6.0
    responses = samples(found["haproxy_frontend_http_responses"])
    assert responses[(("code", "2xx"), ("proxy", "fe"))] == 4.0
    assert responses[(("code", "5xx"), ("proxy", "fe"))] == 2.0
    assert len(responses) == 6  # only the http frontend, one per class
    assert found["haproxy_backend_current_sessions"].type == "gauge"
    assert samples(found["haproxy_backend_current_sessions"])[(("proxy", "be"),)] == 2.0
    bytes_in = samples(found["haproxy_server_bytes_in"])
    assert bytes_in[(("proxy", "be"), ("server", "s2"))] == 200.0
    assert samples(found["haproxy_process_current_connections"]) == {(): 2.0}
    assert samples(found["haproxy_process_build_info"]) == {(("version", "2.6.12"),): 1.0}
    assert "haproxy_process_nbproc" not in found  # not given: left out, never invented
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            assert line.split()[3] in ("gauge", "counter")


def test_label_values_are_escaped() -> None:
    # Proxy names cannot hold these characters today; label values are escaped all the same.
    assert _escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_states_are_one_hot(loaded) -> None:
    table, config = loaded
    layout = table.layout
    table.write_admin(layout.server("be", "s2"), admin_state=FMAINT)
    table.write_health(layout.server("be", "s1"), 0, check_status=CHECK_STATUS["L4CON"])
    found = families(render_metrics(table, config, {}))
    status = samples(found["haproxy_server_status"])
    assert status[(("proxy", "be"), ("server", "s2"), ("state", "MAINT"))] == 1.0
    assert status[(("proxy", "be"), ("server", "s2"), ("state", "UP"))] == 0.0
    assert sum(v for k, v in status.items() if ("server", "s1") in k) == 1.0
    assert len(status) == 4 * 5  # four servers, five states each
    checks = samples(found["haproxy_server_check_status"])
    assert checks[(("proxy", "be"), ("server", "s1"), ("state", "L4CON"))] == 1.0
    assert {dict(k)["server"] for k in checks} == {"s1"}  # unchecked servers have none
    aggregated = samples(found["haproxy_backend_agg_server_status"])
    assert aggregated[(("proxy", "be"), ("state", "MAINT"))] == 1.0
    assert aggregated[(("proxy", "be"), ("state", "UP"))] == 2.0
    by_check = samples(found["haproxy_backend_agg_check_status"])
    assert by_check[(("proxy", "be"), ("state", "L4CON"))] == 1.0
    fronts = samples(found["haproxy_frontend_status"])
    assert fronts[(("proxy", "fe"), ("state", "UP"))] == 1.0


def test_server_gaps_are_nan_and_proxy_gaps_left_out(loaded) -> None:
    table, config = loaded
    text = render_metrics(table, config, {})
    assert 'haproxy_server_check_failures_total{proxy="be",server="s2"} NaN\n' in text
    assert 'haproxy_server_check_failures_total{proxy="be",server="s1"} 0\n' in text
    assert 'haproxy_backend_http_requests_total{proxy="be2"}' not in text  # tcp: no HTTP
    assert 'haproxy_server_http_responses_total{proxy="be2"' not in text
    assert 'haproxy_backend_queue_time_average_seconds{proxy="be"} 0.000000\n' in text


def test_scopes_and_no_maint(loaded) -> None:
    table, config = loaded
    table.write_admin(table.layout.server("be", "s2"), admin_state=FMAINT)
    only = render_metrics(table, config, INFO, parse_query("scope=server"))
    assert {name.split("_")[1] for name in families(only)} == {"server"}
    two = render_metrics(table, config, INFO, parse_query("scope=global&scope=backend"))
    assert {name.split("_")[1] for name in families(two)} == {"process", "backend"}
    assert render_metrics(table, config, INFO, parse_query("scope=global&scope=")) == ""
    assert render_metrics(table, config, INFO, parse_query("scope=listener")) == ""
    assert parse_query("scope=*") == Query()
    assert parse_query("") == Query()
    kept = render_metrics(table, config, INFO, parse_query("no-maint"))
    assert 'server="s2"' not in kept and 'server="s1"' in kept
    with pytest.raises(BadQuery):
        parse_query("scope=bogus")


def test_state_labels() -> None:
    assert server_state("no check") == "UP"
    assert server_state("UP 1/3") == "UP"
    assert server_state("DOWN 1/2") == "DOWN"
    assert server_state("MAINT (resolution)") == "MAINT"
    assert server_state("DRAIN") == "DRAIN"
    assert proxy_state("OPEN") == "UP" and proxy_state("STOP") == "DOWN"


def test_without_a_table_only_the_process() -> None:
    text = render_metrics(None, None, INFO)  # type: ignore[arg-type]
    assert set(families(text)) == {
        "haproxy_process_nbthread",
        "haproxy_process_uptime_seconds",
        "haproxy_process_current_connections",
        "haproxy_process_build_info",
    }
