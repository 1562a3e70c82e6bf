"""`rate-limit sessions` as the configuration reads it, and the limits `show stat` shows:
`rate_lim`, and `slim` of frontends and backends without a maxconn/fullconn of their own
(values checked against HAProxy 2.6 on the same configurations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from haproxy_py.stats.csv import STAT_COLUMNS, show_stat
from haproxy_py.stats.limits import ProxyLimits, proxy_limits, reached_backends
from tests.helpers import TIMEOUTS, alerts, load_text, messages, stats_table


def frontend(line: str) -> str:
    return f"defaults\n    mode tcp\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:18080\n    {line}\n"


@pytest.mark.parametrize(
    ("value", "stored"),
    [("20", 20), ("+5", 5), ("0", 0), ("-3", 4294967293), ("99999999999", 1215752191),
     ("10 20", 10)],
)  # fmt: skip
def test_rate_limit_sessions_values(tmp_path: Path, value: str, stored: int) -> None:
    result = load_text(tmp_path, frontend(f"rate-limit sessions {value}"))
    assert result.config is not None, messages(result.diagnostics)
    assert result.config.proxies[0].setting("rate-limit sessions") == stored


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("rate-limit sessions", "'rate-limit sessions' expects expects an integer value"
         " (in sessions/second)"),
        ("rate-limit sessions abc", "'rate-limit sessions' : unexpected character 'a' in"
         " integer value 'abc'"),
        ("rate-limit sessions 10abc", "'rate-limit sessions' : unexpected character 'a' in"
         " integer value '10abc'"),
        ("rate-limit sessions --2", "'rate-limit sessions' : unexpected character '-' in"
         " integer value '--2'"),
    ],
)  # fmt: skip
def test_rate_limit_sessions_errors_are_haproxys(tmp_path: Path, line: str, message: str) -> None:
    found = messages(alerts(load_text(tmp_path, frontend(line))))
    assert found == [message]


def test_rate_limit_sessions_is_inherited_from_defaults(tmp_path: Path) -> None:
    text = frontend("bind 127.0.0.1:18081").replace(
        "defaults\n", "defaults\n    rate-limit sessions 7\n"
    )
    result = load_text(tmp_path, text)
    assert result.config is not None
    assert result.config.proxies[0].setting("rate-limit sessions") == 7


CFG = f"""\
global
    maxconn 1000
defaults
    mode http
{TIMEOUTS}frontend fe
    bind 127.0.0.1:18080
    maxconn 500
    rate-limit sessions 20
    use_backend b1 if {{ path /x }}
    use_backend b1
    use_backend %[req.hdr(host)]
    default_backend b2
frontend fe3
    bind 127.0.0.1:18081
    use_backend b1
backend b1
    server s1 127.0.0.1:1
backend b2
    server s1 127.0.0.1:1 maxconn 7
backend b3
    server s1 127.0.0.1:1
backend b4
    fullconn 33
    server s1 127.0.0.1:1
listen li
    bind 127.0.0.1:18082
    server s1 127.0.0.1:1
"""


def test_backends_reached_by_a_frontend(tmp_path: Path) -> None:
    config = load_text(tmp_path, CFG).config
    assert config is not None
    fe, fe3, *_, li = config.proxies
    assert reached_backends(fe) == ["b2", "b1"]  # once each; a dynamic name never
    assert reached_backends(fe3) == ["b1"]
    assert reached_backends(li) == ["li"]


def test_limits_as_haproxy_computes_them(tmp_path: Path) -> None:
    config = load_text(tmp_path, CFG).config
    assert config is not None
    limits = proxy_limits(config)
    assert dict(limits.maxconn) == {"fe": 500, "fe3": 1000, "li": 1000}
    # HAProxy 2.6 on this file: b1 150, b2 50, b3 1, b4 33, li 100
    assert dict(limits.fullconn) == {"b1": 150, "b2": 50, "b3": 1, "b4": 33, "li": 100}
    # the global maxconn a worker computed, -N, and the live frontend limits
    other = proxy_limits(config, 9984, None, {"fe": 600})
    assert other.maxconn["fe3"] == 9984 and other.maxconn["fe"] == 600
    assert other.fullconn["b1"] == (500 + 9984 + 9) // 10  # from the configured limits
    assert proxy_limits(config, 9984, 200).maxconn["fe3"] == 200


def test_unknown_global_maxconn_leaves_derived_values_empty(tmp_path: Path) -> None:
    config = load_text(tmp_path, CFG.replace("    maxconn 1000\n", "")).config
    assert config is not None
    limits = proxy_limits(config)
    assert dict(limits.maxconn) == {"fe": 500}
    assert limits.fullconn == {"b2": 50, "b3": 1, "b4": 33}  # b1 and li: unknown feeders
    assert limits.frontend_slim(config.proxies[1]) == ""


def test_show_stat_slim_and_rate_lim(tmp_path: Path) -> None:
    with stats_table(tmp_path, CFG) as (table, config):
        rows = {
            tuple(line.split(",")[:2]): line.split(",")
            for line in show_stat(table, config).splitlines()[1:]
            if line
        }
        col = STAT_COLUMNS.index
        expected = {("fe", "FRONTEND"): ("500", "20"), ("fe3", "FRONTEND"): ("1000", "0"),
                    ("li", "FRONTEND"): ("1000", "0")}  # fmt: skip
        for key, (slim, rate_lim) in expected.items():
            assert (rows[key][col("slim")], rows[key][col("rate_lim")]) == (slim, rate_lim)
        slims = {key[0]: row[col("slim")] for key, row in rows.items() if key[1] == "BACKEND"}
        assert slims == {"b1": "150", "b2": "50", "b3": "1", "b4": "33", "li": "100"}
        assert rows[("b2", "s1")][col("slim")] == "7"
        assert rows[("b1", "s1")][col("slim")] == ""
        # what a worker knows wins: its computed global maxconn and live frontend limits
        given = ProxyLimits({"fe": 42, "fe3": 9984}, {"b1": 1003})
        text = show_stat(table, config, limits=given)
        lines = {tuple(line.split(",")[:2]): line.split(",") for line in text.splitlines()[1:]}
        assert lines[("fe", "FRONTEND")][col("slim")] == "42"
        assert lines[("b1", "BACKEND")][col("slim")] == "1003"


def test_tls_and_h2_module_columns_are_zero(tmp_path: Path) -> None:
    """HAProxy prints its TLS and HTTP/2 counters for every proxy (TLS for servers too);
    none is served here, so 0 is the truth; h1_* are real counters there, left empty."""
    with stats_table(tmp_path, CFG) as (table, config):
        lines = [line.split(",") for line in show_stat(table, config).splitlines()[1:] if line]
        col = STAT_COLUMNS.index
        for row in lines:
            assert row[col("ssl_sess")] == row[col("ssl_failed_handshake")] == "0"
            h2 = row[col("h2_headers_rcvd")], row[col("h2_backend_total_streams")]
            assert h2 == (("", "") if row[1] not in ("FRONTEND", "BACKEND") else ("0", "0"))
            assert row[col("h1_open_connections")] == ""
