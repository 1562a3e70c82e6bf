"""Cookie header parsing and rewriting (haproxy_py/proto/http1/cookies.py).

The expected rewrites were recorded from HAProxy 2.6.12 (`cookie SRV insert indirect`, a
backend echoing the Cookie header it received) and are checked byte for byte here.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haproxy_py.proto.http1.cookies import (
    CookieHeader,
    decode_date,
    encode_date,
    is_cacheable,
    parse_cookie_header,
    set_cookie_name_value,
)


def strip(value: bytes, name: bytes = b"SRV") -> bytes | None:
    header = CookieHeader(value)
    for index, item in header.cookies():
        if item.name == name:
            header.remove(index)
    return header.render()


# What HAProxy 2.6 forwarded to the server for each Cookie header (cookie SRV insert indirect).
HAPROXY_STRIPPED = [
    (b"a=1; SRV=c2; b=2", b"a=1; b=2"),
    (b"SRV=c2; b=2", b"b=2"),
    (b"a=1; SRV=c2", b"a=1"),
    (b"a=1;SRV=c2", b"a=1"),
    (b"SRV=c2", None),
    (b" SRV=c2 ;b=2", b"b=2"),
    (b"a=1 ; SRV=c2 ; b=2", b"a=1; b=2"),
    (b"a=1;  SRV=c2;  b=2", b"a=1; b=2"),
    (b"SRV=c2;SRV=c1;b=2", b"b=2"),
    (b"a=1, SRV=c2", b"a=1"),
    (b"a=1,  SRV=c2,b=2", b"a=1, b=2"),
    (b"a=1;  SRV=c2 , b = 2", b"a=1, b=2"),
    (b"a=1, SRV=c2; b=2", b"a=1; b=2"),
    (b"a=1;b; SRV=c2;c", b"a=1;b; c"),
    (b"a=1;b; SRV=c2;$x=1;c", b"a=1;b; c"),
    (b"SRV = c2; b=2", b"b=2"),
    (b"$Version=1; SRV=c2; $Path=/; b=2", b"$Version=1; b=2"),
    (b'a="x;y"; SRV=c2', b'a="x;y"'),
    # Untouched cookies only lose the spaces around "=":
    (b"a = 1;   b=2 ;c=3", b"a=1;   b=2 ;c=3"),
    (b"x=1;   SRV = c1 ;  c=3", b"x=1; c=3"),
    (b"SRV", b"SRV"),  # no "=": not a cookie named SRV
    (b"srv=c1", b"srv=c1"),  # names are case-sensitive
]


@pytest.mark.parametrize(("value", "expected"), HAPROXY_STRIPPED)
def test_removal_matches_haproxy(value: bytes, expected: bytes | None) -> None:
    assert strip(value) == expected


def test_items_keep_quotes_and_attributes() -> None:
    items = parse_cookie_header(b'a="x;y" ; $Path=/; b')
    assert [(i.name, i.has_value, i.value) for i in items] == [
        (b"a", True, b'"x;y"'),
        (b"$Path", True, b"/"),
        (b"b", False, b""),
    ]
    assert items[1].is_attribute


def test_value_change_is_rendered_in_place() -> None:
    header = CookieHeader(b"x=1;SRV=c1~zz ,c=3")
    (_, item) = next(c for c in header.cookies() if c[1].name == b"SRV")
    item.value = b"zz"
    assert header.render() == b"x=1;SRV=zz ,c=3"  # HAProxy's prefix-mode result


def test_set_cookie_first_pair() -> None:
    assert set_cookie_name_value(b"SRV=abc; path=/") == (b"SRV", b"abc", 4, 7)
    assert set_cookie_name_value(b" SRV = abc ;x") == (b"SRV", b"abc", 7, 10)
    assert set_cookie_name_value(b"novalue; path=/") is None


def test_date_stamps() -> None:
    # Recorded from HAProxy: at 1795285279 it wrote "awHhI".
    assert encode_date(1795285279) == b"awHhI"
    assert decode_date(b"awHhI") == 1795285280
    assert decode_date(b"ABCDE") == (270532 << 2)
    for bad in (b"", b"awH", b"a!Hhh", b"awHhIx"):
        assert decode_date(bad) == 0


@given(st.integers(min_value=4, max_value=(1 << 32) - 8))
def test_date_round_trip(seconds: int) -> None:
    decoded = decode_date(encode_date(seconds))
    assert 0 <= decoded - seconds < 4  # rounded up to the next 4-second unit
    assert encode_date(decoded) == encode_date(seconds)


CC = b"cache-control"


@pytest.mark.parametrize(
    ("method", "status", "headers", "cacheable"),
    [  # each line checked against HAProxy 2.6 (`nocache` added Cache-Control: private or not)
        (b"GET", 200, [(CC, b"max-age=60")], True),
        (b"GET", 200, [(CC, b"public")], False),  # no freshness information
        (b"GET", 200, [], False),
        (b"GET", 200, [(CC, b"private")], False),
        (b"GET", 200, [(CC, b"s-maxage=10")], True),
        (b"GET", 200, [(b"Expires", b"Thu, 01 Dec 2030 16:00:00 GMT")], True),
        (b"GET", 200, [(b"Last-Modified", b"Thu, 01 Dec 2020 16:00:00 GMT")], True),
        (b"GET", 200, [(b"ETag", b'"abc"')], True),
        (b"GET", 200, [(CC, b"max-age=60"), (b"Pragma", b"no-cache")], False),
        (b"GET", 302, [(CC, b"max-age=60")], False),
        (b"GET", 404, [(CC, b"max-age=60")], True),
        (b"GET", 500, [(CC, b"max-age=60")], False),
        (b"GET", 304, [(CC, b"max-age=60")], False),
        (b"POST", 200, [(CC, b"max-age=60")], False),
        (b"POST", 200, [(CC, b"public,max-age=60")], True),  # public wins over the method
        (b"GET", 302, [(CC, b"public,max-age=60")], True),
        (b"GET", 200, [(CC, b"private,public,max-age=5")], True),  # tokens in order
        (b"GET", 200, [(CC, b"public,private,max-age=5")], False),
        (b"GET", 200, [(CC, b"max-age=0")], False),
        (b"GET", 200, [(CC, b"max-age=60, no-store")], False),
        (b"GET", 200, [(CC, b"max-age=60"), (CC, b"private")], False),
        (b"GET", 200, [(CC, b'no-cache="set-cookie",max-age=5')], True),
    ],
)
def test_cacheability_matches_haproxy(
    method: bytes, status: int, headers: list[tuple[bytes, bytes]], cacheable: bool
) -> None:
    assert is_cacheable(method, status, headers) is cacheable


# -- property: rendering is stable and removal removes exactly the named cookie -------------

_names = st.sampled_from([b"SRV", b"a", b"b", b"$Path", b"SRVX", b"srv"])
_values = st.sampled_from([b"", b"1", b"c1", b"x~y", b'"q;u,o"', b"a b"])
_space = st.sampled_from([b"", b" ", b"  ", b"\t"])


@st.composite
def cookie_headers(draw: st.DrawFn) -> bytes:
    parts = []
    for index in range(draw(st.integers(1, 6))):
        if index:
            parts.append(draw(st.sampled_from([b";", b","])))
        parts.append(draw(_space) + draw(_names))
        if draw(st.booleans()):
            parts.append(draw(_space) + b"=" + draw(_space) + draw(_values))
        parts.append(draw(_space))
    return b"".join(parts)


def _pairs(value: bytes | None) -> list[tuple[bytes, bool, bytes]]:
    if value is None:
        return []
    return [
        (i.name, i.has_value, i.value) for i in parse_cookie_header(value) if i.name or i.has_value
    ]


@given(cookie_headers())
def test_render_is_idempotent(value: bytes) -> None:
    once = CookieHeader(value).render()
    assert once is not None or not _pairs(value)
    if once is not None:
        assert CookieHeader(once).render() == once
        assert _pairs(once) == _pairs(value)


@given(cookie_headers())
def test_removal_removes_only_the_named_cookie(value: bytes) -> None:
    stripped = strip(value)
    expected = []
    dropping = False
    for item in parse_cookie_header(value):
        if item.name == b"SRV" and item.has_value:
            dropping = True  # it and the $attributes following it
            continue
        if dropping and item.is_attribute:
            continue
        dropping = False
        if item.name or item.has_value:
            expected.append((item.name, item.has_value, item.value))
    assert _pairs(stripped) == expected
    if stripped is not None:
        assert strip(stripped) == stripped
