"""haproxy_py/config/serving.py: the start-up checks `-c`, the master and the workers share.

Name resolution is injected: a table of names stands for the DNS. The texts are HAProxy
2.6's (recorded from `haproxy -c` on the same lines).
"""

from __future__ import annotations

import socket
from pathlib import Path

from haproxy_py.config.model import Config
from haproxy_py.config.serving import Resolved, resolve_servers, serving_problems
from haproxy_py.sample.check import check_rules
from tests.helpers import TIMEOUTS, alerts, load_text
from worker.http_errors import load_error_pages

NAMES = {"app.test": (socket.AF_INET, "127.0.0.9", 0)}


def resolver(host: str) -> tuple[int, str, int] | None:
    return NAMES.get(host)


def config(tmp_path: Path, body: str, mode: str = "http") -> Config:
    text = f"defaults\n    mode {mode}\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:21410\n"
    result = load_text(tmp_path, text + body)
    assert result.config is not None, result.diagnostics
    return result.config


def resolution(tmp_path: Path, servers: str, **kwargs: bool):  # type: ignore[no-untyped-def]
    conf = config(tmp_path, "    default_backend b\nbackend b\n" + servers)
    found = resolve_servers([conf.backend("b")], resolver, **kwargs)
    short = str(tmp_path) + "/"  # the texts below name the file as test.cfg
    found.alerts[:] = [text.replace(short, "") for text in found.alerts]
    found.warnings[:] = [text.replace(short, "") for text in found.warnings]
    found.ordered[:] = [(kind, text.replace(short, "")) for kind, text in found.ordered]
    return found


def test_a_name_resolves_through_the_injected_resolver(tmp_path: Path) -> None:
    found = resolution(tmp_path, "    server s1 app.test:80\n    server s2 127.0.0.2:81\n")
    assert found.alerts == [] and found.warnings == []
    assert found.addresses[("b", "s1")] == Resolved(socket.AF_INET, "127.0.0.9", 80)
    assert found.addresses[("b", "s2")] == Resolved(socket.AF_INET, "127.0.0.2", 81)


def test_an_unknown_name_is_refused_as_haproxy_does(tmp_path: Path) -> None:
    found = resolution(tmp_path, "    server s1 nosuch.test:80\n")
    assert found.alerts == [
        "config : [test.cfg:10] : 'server b/s1' : could not resolve address 'nosuch.test'.",
        "config : Failed to initialize server(s) addr.",
    ]
    assert [severity for severity, _ in found.ordered] == ["alert", "alert"]


def test_init_addr_methods_give_haproxy_warnings_and_alerts(tmp_path: Path) -> None:
    found = resolution(
        tmp_path,
        "    server s1 nosuch.test:80 init-addr last,libc,none\n"
        "    server s2 nosuch.test:80 init-addr last\n"
        "    server s3 nosuch.test:80 init-addr libc,127.0.0.2\n"
        "    server s4 nosuch.test:80 init-addr none\n",
    )
    assert found.ordered == [
        (
            "warning",
            "config : [test.cfg:10] : 'server b/s1' : could not resolve address 'nosuch.test',"
            " disabling server.",
        ),
        (
            "alert",
            "config : [test.cfg:11] : 'server b/s2' : no method found to resolve address"
            " 'nosuch.test'.",
        ),
        (
            "warning",
            "config : [test.cfg:12] : 'server b/s3' : could not resolve address 'nosuch.test',"
            " falling back to configured address.",
        ),
        ("alert", "config : Failed to initialize server(s) addr."),
    ]
    assert found.addresses[("b", "s1")] is None
    assert found.addresses[("b", "s3")] == Resolved(socket.AF_INET, "127.0.0.2", 80)
    assert found.addresses[("b", "s4")] is None


def test_dr_turns_a_failure_into_a_disabled_server(tmp_path: Path) -> None:
    found = resolution(tmp_path, "    server s1 nosuch.test:80\n", ignore_failures=True)
    assert found.alerts == []
    assert found.warnings == [
        "config : [test.cfg:10] : 'server b/s1' : could not resolve address 'nosuch.test',"
        " disabling server."
    ]
    assert found.addresses[("b", "s1")] is None


def test_errorloc_is_served_not_refused(tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        "    errorloc 503 http://example.com/x\n    errorloc303 403 /denied\n"
        "    default_backend b\nbackend b\n    server s1 127.0.0.1:21411\n",
    )
    assert serving_problems(conf) == []
    pages, errors = load_error_pages(conf)
    assert errors == []
    # the bytes haproxy 2.6 sends for these two lines
    assert pages["f"].page(503, close=False) == (
        b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
        b"location: http://example.com/x\r\n\r\n"
    )
    assert pages["f"].page(403, close=False) == (
        b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
        b"location: /denied\r\n\r\n"
    )


def test_what_cannot_be_served_is_refused_with_file_and_line(tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        "    default_backend b\nbackend b\n    option checkcache\n    server s1 127.0.0.1:1\n",
    )
    assert [text.replace(f"{tmp_path}/", "") for text in serving_problems(conf)] == [
        "config : [test.cfg:9] : proxy 'b': 'option checkcache' (blocking cacheable responses"
        " that set cookies) is not yet supported by this version of haproxy-py in mode http."
    ]


def test_log_format_error_payloads_are_refused(tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        '    http-error status 500 content-type text/plain lf-string "x%[path]"\n'
        "    default_backend b\nbackend b\n    server s1 127.0.0.1:1\n",
    )
    assert [text.replace(f"{tmp_path}/", "") for text in serving_problems(conf)] == [
        "config : [test.cfg:6] : proxy 'f': 'http-error' with a 'lf-string' payload is not yet"
        " supported by this version of haproxy-py (log-format strings)."
    ]


def test_check_compiles_the_stats_admin_condition(tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        "    stats enable\n    stats admin if { nosuchfetch -m found }\n"
        "    default_backend b\nbackend b\n    server s1 127.0.0.1:1\n",
    )
    [text] = check_rules(conf)
    assert "'stats admin' rule" in text and "unknown fetch method 'nosuchfetch'" in text


def test_a_missing_errorfile_is_refused_while_parsing(tmp_path: Path) -> None:
    text = f"defaults\n    mode http\n{TIMEOUTS}frontend f\n    bind 127.0.0.1:21410\n"
    result = load_text(tmp_path, text + "    errorfile 503 /nonexistent/503.http\n")
    assert [item.message for item in alerts(result)] == [
        "errorfile : error opening file '/nonexistent/503.http'."
    ]
