"""haproxy_py/sample/normalize.py against the examples of HAProxy 2.6's manual
(`http-request normalize-uri`), plus a few edge cases checked on the installed haproxy."""

from __future__ import annotations

import pytest

from haproxy_py.sample.http_parts import path_and_query
from haproxy_py.sample.normalize import NORMALIZERS


def run(name: str, target: bytes, option: bool = False) -> bytes | None:
    path, query = path_and_query(target)
    done = NORMALIZERS[name](option)(path, query)
    if done is None:
        return None
    path, query = done
    return path + (b"?" + query if query is not None else b"")


@pytest.mark.parametrize(
    ("name", "option", "given", "expected"),
    [
        ("fragment-encode", False, b"/#foo", b"/%23foo"),
        ("fragment-strip", False, b"/#foo", b"/"),
        ("path-strip-dot", False, b"/.", b"/"),
        ("path-strip-dot", False, b"/./bar/", b"/bar/"),
        ("path-strip-dot", False, b"/a/./a", b"/a/a"),
        ("path-strip-dot", False, b"/.well-known/", b"/.well-known/"),
        ("path-strip-dotdot", False, b"/foo/../", b"/"),
        ("path-strip-dotdot", False, b"/foo/../bar/", b"/bar/"),
        ("path-strip-dotdot", False, b"/foo/bar/../", b"/foo/"),
        ("path-strip-dotdot", False, b"/../bar/", b"/../bar/"),
        ("path-strip-dotdot", False, b"/bar/../../", b"/../"),
        ("path-strip-dotdot", False, b"/foo//../", b"/foo/"),
        ("path-strip-dotdot", False, b"/foo/%2E%2E/", b"/foo/%2E%2E/"),
        ("path-strip-dotdot", True, b"/../bar/", b"/bar/"),
        ("path-strip-dotdot", True, b"/bar/../../", b"/"),
        ("path-merge-slashes", False, b"//", b"/"),
        ("path-merge-slashes", False, b"/foo//bar", b"/foo/bar"),
        ("path-merge-slashes", False, b"/a//b?x//y", b"/a/b?x//y"),  # the query is left alone
        ("percent-decode-unreserved", False, b"/%61dmin", b"/admin"),
        ("percent-decode-unreserved", False, b"/foo%3Fbar=baz", b"/foo%3Fbar=baz"),
        ("percent-decode-unreserved", False, b"/%%36%36", b"/%66"),
        ("percent-decode-unreserved", False, b"/%ZZ", b"/%ZZ"),
        ("percent-decode-unreserved", True, b"/%%36%36", None),
        ("percent-decode-unreserved", True, b"/%ZZ", None),
        ("percent-to-uppercase", False, b"/%6f", b"/%6F"),
        ("percent-to-uppercase", False, b"/%zz", b"/%zz"),
        ("percent-to-uppercase", True, b"/%zz", None),
        ("query-sort-by-name", False, b"/?c=3&a=1&b=2", b"/?a=1&b=2&c=3"),
        ("query-sort-by-name", False, b"/?aaa=3&a=1&aa=2", b"/?a=1&aa=2&aaa=3"),
        ("query-sort-by-name", False, b"/?a=3&b=4&a=1&b=5&a=2", b"/?a=3&a=1&a=2&b=4&b=5"),
        ("query-sort-by-name", False, b"/p", b"/p"),
    ],
)
def test_manual_examples(name: str, option: bool, given: bytes, expected: bytes | None) -> None:
    assert run(name, given, option) == expected
