"""Cookie persistence decisions (haproxy_py/lb/persistence.py).

Every expectation below (letters of %tsc, Set-Cookie values, what the server sees) was
observed on HAProxy 2.6.12 with the same `cookie` line; tests/e2e/test_cookie_persistence.py
checks the same cases on the wire against the installed haproxy.
"""

from __future__ import annotations

from pathlib import Path

from haproxy_py.lb.persistence import CookiePersistence, CookiePolicy, CookieVisit
from haproxy_py.proto.http1.cookies import encode_date
from tests.helpers import load_text, messages, warnings

NOW = 1795285279
UP = {"s1": True, "s2": True, "s3": False, "s4": True}


def persistence(line: str, *, persist: bool = False) -> CookiePersistence:
    """`line`: the words after `cookie`, e.g. "SRV insert indirect"."""
    words = line.split()
    setting: dict = {"name": words[0]}
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word in ("domain", "attr"):
            setting.setdefault(word, []).append(rest.pop(0))
        elif word in ("maxidle", "maxlife"):
            setting[word] = int(rest.pop(0)) * 1000
        else:
            setting[word] = True
    servers = [("s1", "c1"), ("s2", "c2"), ("s3", "c3"), ("s4", None)]
    return CookiePersistence.build(CookiePolicy.from_setting(setting), persist, servers)


def request(p: CookiePersistence, *cookies: str, **flags: bool) -> tuple[CookieVisit, list]:
    headers = [(b"Host", b"x")] + [(b"Cookie", c.encode()) for c in cookies]
    visit = p.read_request(headers, UP.__getitem__, now=NOW, **flags)
    return visit, [v for k, v in headers if k == b"Cookie"]


def response(
    p: CookiePersistence,
    visit: CookieVisit,
    server: str | None,
    *set_cookies: str,
    method: bytes = b"GET",
    status: int = 200,
    extra: tuple = (),
) -> tuple[str, list[tuple[bytes, bytes]]]:
    headers = [(b"Content-Length", b"2"), *extra] + [
        (b"Set-Cookie", c.encode()) for c in set_cookies
    ]
    letter = p.write_response(visit, headers, server, method=method, status=status, now=NOW)
    return letter, headers[1:]


def test_insert_indirect_nocache() -> None:
    p = persistence("SRV insert indirect nocache")
    visit, sent = request(p)
    assert (visit.state, visit.server, sent) == ("N", None, [])
    letter, headers = response(p, visit, "s1", extra=((b"Cache-Control", b"max-age=60"),))
    assert letter == "I"
    assert headers == [
        (b"Cache-Control", b"max-age=60"),
        (b"set-cookie", b"SRV=c1; path=/"),
        (b"cache-control", b"private"),
    ]
    # A valid cookie: that server, stripped from the request, nothing sent back.
    visit, sent = request(p, "a=1; SRV=c2; b=2")
    assert (visit.state, visit.server, sent) == ("V", "s2", [b"a=1; b=2"])
    assert response(p, visit, "s2") == ("N", [])
    # Not cacheable: no Cache-Control added.
    visit, _ = request(p, "SRV=bad")
    assert visit.state == "I"
    assert response(p, visit, "s1") == ("I", [(b"set-cookie", b"SRV=c1; path=/")])


def test_server_set_cookie_is_replaced_deleted_or_preserved() -> None:
    p = persistence("SRV insert indirect")
    visit, _ = request(p)
    assert response(p, visit, "s1", "SRV=mine; path=/", "other=1") == (
        "I",
        [(b"Set-Cookie", b"other=1"), (b"set-cookie", b"SRV=c1; path=/")],
    )
    visit, _ = request(p, "SRV=c1")
    assert response(p, visit, "s1", "SRV=own") == ("D", [])
    p = persistence("SRV insert indirect preserve")
    for cookie in ((), ("SRV=c1",)):
        visit, _ = request(p, *cookie)
        assert response(p, visit, "s1", "SRV=mine; path=/") == (
            "P",
            [(b"Set-Cookie", b"SRV=mine; path=/")],
        )


def test_multiple_headers_first_valid_cookie_wins() -> None:
    p = persistence("SRV insert indirect")
    visit, sent = request(p, "a=1", "SRV=zz", "b=2; SRV=c1")
    assert (visit.state, visit.server, sent) == ("V", "s1", [b"a=1", b"b=2"])
    visit, sent = request(p, "SRV=")
    assert (visit.state, sent) == ("I", [])


def test_down_server_redispatch_persist_and_force() -> None:
    p = persistence("SRV insert indirect")
    visit, _ = request(p, "SRV=c3")
    assert (visit.state, visit.server) == ("D", None)
    assert response(p, visit, "s2")[0] == "I"
    visit, _ = request(p, "SRV=c3", force=True)
    assert (visit.state, visit.server) == ("D", "s3")
    p = persistence("SRV insert indirect", persist=True)
    visit, _ = request(p, "SRV=c3")
    assert (visit.state, visit.server) == ("D", "s3")


def test_use_server_and_ignore_persist_leave_the_cookie_unused() -> None:
    p = persistence("SRV insert indirect")
    visit, sent = request(p, "SRV=c1", assigned="s2")
    assert (visit.state, visit.server, sent) == ("U", None, [])
    assert response(p, visit, "s2") == ("N", [])  # use-server is direct: nothing inserted
    visit, _ = request(p, "SRV=c1", ignore=True)
    assert (visit.state, visit.server) == ("U", None)
    assert response(p, visit, "s2") == ("N", [])  # ignore-persist inserts nothing either


def test_server_without_cookie_gets_an_expiring_one() -> None:
    p = persistence("SRV insert postonly")
    visit, _ = request(p)
    assert response(p, visit, "s1") == ("N", [])  # not a POST
    letter, headers = response(p, visit, "s4", method=b"POST")
    assert letter == "I"
    assert headers == [(b"set-cookie", b"SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/")]


def test_attributes_and_stamps() -> None:
    p = persistence(
        "SRV insert httponly secure domain .example.com domain b.org attr SameSite=Lax"
        " maxidle 1800 maxlife 28800"
    )
    visit, _ = request(p)
    stamp = encode_date(NOW)
    assert response(p, visit, "s1")[1] == [
        (
            b"set-cookie",
            b"SRV=c1|%s|%s; path=/; domain=.example.com; domain=b.org; HttpOnly; Secure;"
            b" SameSite=Lax" % (stamp, stamp),
        )
    ]
    # Too old (maxlife) beats too idle (maxidle); the server still sees the cookie (no indirect).
    visit, sent = request(p, "SRV=c1|ABCDE|ABCDE")
    assert (visit.state, visit.server, sent) == ("O", None, [b"SRV=c1|ABCDE|ABCDE"])
    assert response(p, visit, "s1")[0] == "I"
    p = persistence("SRV insert maxidle 3600")
    visit, _ = request(p, "SRV=c1|zzzzz")  # far in the future
    assert visit.state == "E"
    visit, _ = request(p, "SRV=c1|awH")  # not a stamp: accepted, refreshed
    assert visit.state == "V"
    assert response(p, visit, "s1") == ("U", [(b"set-cookie", b"SRV=c1|%s; path=/" % stamp)])
    fresh = encode_date(NOW + 8)
    visit, _ = request(p, "SRV=c1|" + fresh.decode())
    assert response(p, visit, "s1") == ("N", [])  # stamped in the future: nothing to refresh
    p = persistence("SRV insert maxlife 3600")
    visit, _ = request(p, "SRV=c1||" + stamp.decode())
    assert (visit.state, response(p, visit, "s1")) == ("V", ("N", []))
    visit, _ = request(p, "SRV=c1|" + stamp.decode())  # no first date yet: set it
    assert response(p, visit, "s1") == (
        "U",
        [(b"set-cookie", b"SRV=c1|%s|%s; path=/" % (stamp, stamp))],
    )


def test_rewrite_and_prefix() -> None:
    p = persistence("SRV rewrite")
    visit, sent = request(p, "SRV=c1")
    assert (visit.state, sent) == ("V", [b"SRV=c1"])
    assert response(p, visit, "s1", "SRV=fromserver; path=/app") == (
        "R",
        [(b"Set-Cookie", b"SRV=c1; path=/app")],
    )
    assert response(p, visit, "s1") == ("N", [])
    p = persistence("SRV prefix")
    visit, sent = request(p, "a=1;SRV=c1~orig;b=2")
    assert (visit.state, visit.server, sent) == ("V", "s1", [b"a=1;SRV=orig;b=2"])
    visit, sent = request(p, "SRV=zz~yy")
    assert (visit.state, sent) == ("I", [b"SRV=yy"])
    visit, sent = request(p, "SRV=c1")
    assert (visit.state, sent) == ("V", [b"SRV=c1"])
    assert response(p, visit, "s2", "SRV=fromserver; path=/app") == (
        "R",
        [(b"Set-Cookie", b"SRV=c2~fromserver; path=/app")],
    )


def test_passive_mode_only_reads() -> None:
    p = persistence("SRV")
    visit, sent = request(p, "SRV=c2")
    assert (visit.state, visit.server, sent) == ("V", "s2", [b"SRV=c2"])
    assert response(p, visit, "s2", "SRV=c2") == ("P", [(b"Set-Cookie", b"SRV=c2")])


# -- configuration: what HAProxy 2.6 says of cookies outside mode http ------------------------

_TIMEOUTS = "    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"


def test_cookies_outside_http_mode_are_ignored_with_haproxys_warnings(tmp_path: Path) -> None:
    text = (
        f"defaults\n    mode http\n{_TIMEOUTS}    cookie SRV insert\n"
        "listen l\n    mode tcp\n    bind 127.0.0.1:1\n    server s1 127.0.0.1:2 cookie c1\n"
        "backend b\n    server s1 127.0.0.1:2 cookie c1\n"
    )
    result = load_text(tmp_path, text)
    assert messages(warnings(result)) == [
        "cookie will be ignored for proxy 'l' (needs 'mode http').",
        "proxy 'l' : ignoring cookie for server 's1' as HTTP mode is disabled.",
    ]


def test_policy_from_the_parsed_cookie_line(tmp_path: Path) -> None:
    text = (
        f"defaults\n    mode http\n{_TIMEOUTS}"
        "backend b\n    cookie SRV insert indirect nocache maxidle 30m maxlife 8h httponly"
        " domain a.org attr SameSite=Lax\n"
    )
    result = load_text(tmp_path, text)
    assert result.config is not None
    policy = CookiePolicy.from_setting(result.config.backend("b").setting("cookie"))
    assert policy == CookiePolicy(
        name=b"SRV",
        mode="insert",
        indirect=True,
        nocache=True,
        maxidle=1800,
        maxlife=28800,
        attributes=b"; domain=a.org; HttpOnly; SameSite=Lax",
    )
