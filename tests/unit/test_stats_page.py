"""The stats page without I/O: settings, URI options, credentials, admin forms, answers, HTML
(haproxy_py/stats/page.py, html.py)."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

from haproxy_py.config import load_configuration
from haproxy_py.stats.html import PageView, human_duration, render_page, state_class
from haproxy_py.stats.page import (
    ACTIONS,
    DEFAULT_REALM,
    DEFAULT_URI,
    AdminForm,
    PageRequest,
    PageSettings,
    admin_commands,
    authorized,
    form_status,
    match_uri,
    page_response,
    parse_form,
    redirect_location,
    redirect_response,
    unauthorized_response,
)


def _proxy(tmp_path: Path, lines: str):
    path = tmp_path / "t.cfg"
    path.write_text(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 5s\nlisten st\n    bind 127.0.0.1:19199\n" + lines
    )
    result = load_configuration([str(path)], env={})
    assert result.config is not None, result.diagnostics
    return result.config.proxies[0]


def test_settings_defaults_and_keywords(tmp_path: Path) -> None:
    assert PageSettings.from_proxy(_proxy(tmp_path, "    server s 127.0.0.1:1\n")) is None
    plain = PageSettings.from_proxy(_proxy(tmp_path, "    stats enable\n"))
    assert plain is not None
    assert (plain.uri, plain.realm, plain.users, plain.refresh) == (
        DEFAULT_URI, DEFAULT_REALM, (), None,
    )  # fmt: skip
    full = PageSettings.from_proxy(
        _proxy(
            tmp_path,
            "    stats uri /st\n    stats realm Ops\\ only\n    stats auth a:b\n"
            "    stats auth c:d:e\n    stats refresh 10s\n    stats hide-version\n"
            "    stats show-legends\n    stats show-node n1\n    stats scope .\n"
            "    stats scope other\n    stats admin if TRUE\n",
        )
    )
    assert full is not None
    assert full.uri == "/st" and full.realm == "Ops only"
    assert full.users == (("a", "b"), ("c", "d:e"))
    assert full.refresh == 10 and full.hide_version and full.legends and full.node == "n1"
    assert full.scope == ("st", "other") and full.admin is not None


def test_uri_options() -> None:
    assert match_uri("/stats", b"/other") is None
    assert match_uri("/stats", b"/stats") == PageRequest()
    # A prefix match, as HAProxy's: /statsX and /stats?x are the page too.
    assert match_uri("/stats", b"/statsX?y") == PageRequest()
    assert match_uri("/stats", b"/stats;csv;norefresh") == PageRequest(csv=True, norefresh=True)
    assert match_uri("/stats", b"/stats;up;json") == PageRequest(json=True, up=True)
    assert match_uri("/stats", b"/stats;st=DONE").status == "DONE"  # type: ignore[union-attr]
    assert match_uri(DEFAULT_URI, b"/haproxy?stats;csv").csv  # type: ignore[union-attr]


def _basic(text: str) -> bytes:
    return b"Basic " + base64.b64encode(text.encode())


def test_credentials() -> None:
    open_page = PageSettings("p")
    assert authorized(open_page, None)
    locked = PageSettings("p", users=(("admin", "secret"), ("bob", "p:w")))
    assert authorized(locked, _basic("admin:secret"))
    assert authorized(locked, _basic("bob:p:w"))
    assert authorized(locked, b"basic " + base64.b64encode(b"bob:p:w"))
    for bad in (None, _basic("admin:wrong"), _basic("nobody:secret"), _basic("admin"),
                b"Basic !!!", b"Bearer abc", b""):  # fmt: skip
        assert not authorized(locked, bad), bad


def test_unauthorized_is_haproxys_answer() -> None:
    answer = unauthorized_response("My Realm", close=False)
    assert answer == (
        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
        b'content-type: text/html\r\nwww-authenticate: Basic realm="My Realm"\r\n\r\n'
        b"<html><body><h1>401 Unauthorized</h1>\n"
        b"You need a valid user and password to access this content.\n</body></html>\n"
    )
    assert b'realm="a\\"b"' in unauthorized_response('a"b', close=True)
    assert b"connection: close\r\n" in unauthorized_response("x", close=True)


def test_admin_forms() -> None:
    form = parse_form(b"s=s1&s=s%2F2&action=maint&b=%235")
    assert form == AdminForm("#5", "maint", ("s1", "s/2"))
    assert admin_commands(form) == (
        ACTIONS["maint"],
        [
            ("s1", ["set", "server", "#5/s1", "state", "maint"]),
            ("s/2", ["set", "server", "#5/s/2", "state", "maint"]),
        ],
    )
    assert admin_commands(parse_form(b"s=a&action=disable&b=be")) == (
        ACTIONS["disable"],
        [("a", ["disable", "server", "be/a"])],
    )
    assert admin_commands(parse_form(b"")) == "NONE"
    assert admin_commands(parse_form(b"action=maint&b=be")) == "NONE"
    assert admin_commands(parse_form(b"s=a&b=be")) == "NONE"
    assert admin_commands(parse_form(b"s=a&action=bogus&b=be")) == "ERRP"
    assert admin_commands(parse_form(b"s=a&action=bogus")) == "ERRP"  # as haproxy: ERRP first


def test_health_and_agent_actions_are_the_runtime_api_commands() -> None:
    """HAProxy 2.6's page actions, each as the command an operator would type."""
    expected = {
        "hrunn": "set server be/a health up",
        "hnolb": "set server be/a health stopping",
        "hdown": "set server be/a health down",
        "dhlth": "disable health be/a",
        "ehlth": "enable health be/a",
        "arunn": "set server be/a agent up",
        "adown": "set server be/a agent down",
        "dagent": "disable agent be/a",
        "eagent": "enable agent be/a",
        "shutdown": "shutdown sessions server be/a",
        "stop": "set server be/a state drain",
        "start": "set server be/a state ready",
    }
    for action, command in expected.items():
        planned = admin_commands(parse_form(f"s=a&action={action}&b=be".encode()))
        assert not isinstance(planned, str)
        assert [" ".join(words) for _, words in planned[1]] == [command]
    assert ACTIONS["stop"].drain_only and ACTIONS["start"].drain_only
    assert not ACTIONS["drain"].drain_only
    # HAProxy counts ready/drain/maint always, enable/disable/stop/start on a change only
    assert {a for a, p in ACTIONS.items() if p.counts == "always"} == {"ready", "drain", "maint"}
    assert {a for a, p in ACTIONS.items() if p.counts == "changed"} == {
        "enable", "disable", "stop", "start"
    }  # fmt: skip


def test_form_status_is_haproxys() -> None:
    assert form_status(0, 0) == "NONE"
    assert form_status(2, 0) == "ERRP"
    assert form_status(2, 2) == "DONE"
    assert form_status(3, 1) == "PART"


def test_redirect_and_page_answers() -> None:
    request = PageRequest(norefresh=True)
    location = redirect_location("/stats", "DONE", request)
    assert location == "/stats;st=DONE;norefresh"
    assert redirect_response(location, close=False) == (
        b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
        b"content-length: 0\r\nlocation: /stats;st=DONE;norefresh\r\n\r\n"
    )
    page = page_response("text/plain", b"abc", 5, close=False)
    assert page == (
        b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
        b"refresh: 5\r\ncontent-length: 3\r\n\r\nabc"
    )
    assert b"refresh" not in page_response("text/html", b"", None, close=True)


def _records() -> list[dict[str, object]]:
    return [
        {"pxname": "be<x>", "svname": "FRONTEND", "type": 0, "iid": 3, "sid": 0, "scur": 1,
         "status": "OPEN"},
        {"pxname": "be<x>", "svname": 's"1<script>', "type": 2, "iid": 3, "sid": 1,
         "status": "UP", "check_status": "L7STS", "check_code": 500, "check_duration": 2,
         "check_desc": "Layer7 wrong status", "lastchg": 65, "act": 1, "bck": 0,
         "addr": "127.0.0.1:1", "downtime": 3700, "lastsess": -1},
        {"pxname": "be<x>", "svname": "BACKEND", "type": 1, "iid": 3, "sid": 0,
         "status": "UP", "algo": "roundrobin"},
    ]  # fmt: skip


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    return collector


def test_html_escapes_names_and_shows_groups() -> None:
    view = PageView(_records(), uri="/st", pid=7, uptime="0d 0h00m05s", version="2.6.12-x",
                    release_date="2026/11/21", node="n<1>", refresh=5, legends=True)  # fmt: skip
    page = render_page(view)
    assert "<script>" not in page and "be&lt;x&gt;" in page
    assert "s&quot;1&lt;script&gt;" in page
    parsed = _parse(page)
    text = "".join(parsed.text)
    for group in ("Queue", "Session rate", "Sessions", "Bytes", "Denied", "Errors", "Warnings",
                  "Server"):  # fmt: skip
        assert group in text
    assert "2.6.12-x" in text and "n<1>" in text and "pid" in text
    assert "L7STS/500 in 2ms" in text and "1m5s UP" in text and "1h1m" in text
    assert "127.0.0.1:1" in text and "balance roundrobin" in text
    assert ("meta", {"http-equiv": "refresh", "content": "5"}) in parsed.tags
    assert not any(tag == "script" for tag, _ in parsed.tags)
    assert not any(tag == "form" for tag, _ in parsed.tags)  # no admin rights, no form


def test_html_options_admin_and_status() -> None:
    records = _records()
    view = PageView(records, uri="/st", pid=7, uptime="x", version=None, refresh=5,
                    norefresh=True, admin=True, status="DONE")  # fmt: skip
    page = render_page(view)
    parsed = _parse(page)
    text = "".join(parsed.text)
    assert "version" not in text  # stats hide-version
    assert not any(a.get("http-equiv") == "refresh" for _, a in parsed.tags)  # ;norefresh
    assert "Action processed successfully." in text
    assert "127.0.0.1:1" not in text  # no show-legends
    forms = [a for tag, a in parsed.tags if tag == "form"]
    assert forms == [{"method": "post", "action": "/st;norefresh"}]
    boxes = [a for tag, a in parsed.tags if tag == "input" and a.get("type") == "checkbox"]
    assert [b["value"] for b in boxes] == ['s"1<script>']
    hidden = [a for tag, a in parsed.tags if tag == "input" and a.get("type") == "hidden"]
    assert hidden == [{"type": "hidden", "name": "b", "value": "#3"}]
    links = [a["href"] for tag, a in parsed.tags if tag == "a" and "href" in a]
    assert "/st;up;norefresh" in links and "/st;csv" in links and "/st;json" in links
    assert "/st" in links  # enable refresh again


def test_state_colours() -> None:
    assert state_class({"status": "UP"}) == "s-up"
    assert state_class({"status": "UP", "bck": 1}) == "s-bup"
    assert state_class({"status": "UP 1/3"}) == "s-going-down"
    assert state_class({"status": "DOWN 1/2"}) == "s-going-up"
    assert state_class({"status": "DOWN"}) == "s-down"
    assert state_class({"status": "MAINT"}) == "s-maint"
    assert state_class({"status": "DRAIN"}) == "s-drain"
    assert state_class({"status": "no check"}) == "s-nocheck"


def test_human_durations() -> None:
    assert [human_duration(s) for s in (0, 59, 61, 3601, 90061, -5)] == [
        "0s", "59s", "1m1s", "1h0m", "1d1h", "0s",
    ]  # fmt: skip
