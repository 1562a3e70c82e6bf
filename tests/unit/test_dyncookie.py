"""XXH64 (haproxy_py/sample/xxh64.py) and dynamic server cookies (haproxy_py/lb/dyncookie.py).

The cookie vectors were recorded from HAProxy 2.6.12 (`cookie SRV insert dynamic`, the
Set-Cookie of each server, and after `set server ... addr`); the XXH64 vectors are the
reference implementation's (the xxhash module, when installed, is compared on random input).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haproxy_py.lb.dyncookie import dynamic_cookie
from haproxy_py.lb.persistence import CookiePersistence, CookiePolicy
from haproxy_py.sample import xxh64 as module
from haproxy_py.sample.xxh64 import xxh64, xxh64_python
from tests.helpers import alerts, load_text, messages

LONG_KEY = "a-much-longer-secret-key-with-more-than-32-bytes!"

# (key, address, port, the cookie HAProxy 2.6.12 set)
HAPROXY_COOKIES = [
    ("secret", "127.0.0.1", 19961, "9360063689eabfd7"),
    ("secret", "127.0.0.2", 19962, "270ed317ffc6daf6"),
    ("secret", "127.0.0.3", 19963, "cb35c3859b98aef7"),
    ("secret", "127.0.0.3", 19964, "ea857998680c26ff"),
    ("secret", "127.0.0.2", 19965, "34e554fb428d5037"),  # after a port-only change
    ("secret", "127.0.0.1", 0, "2d52a50f86b6f2b5"),  # `server s4 127.0.0.1`: no port
    ("abc", "127.0.0.3", 19963, "964dd7d7a758853d"),
    ("abc", "::1", 19964, "aeb77501e2f834ba"),
    (LONG_KEY, "127.0.0.1", 19961, "c65d42fe2ea60304"),
    (LONG_KEY, "::1", 19964, "efaf946d695c0a6f"),
    (LONG_KEY, "127.0.0.2", 19962, "677a7c3b89bdf8c9"),
]


@pytest.mark.parametrize(("key", "address", "port", "want"), HAPROXY_COOKIES)
def test_dynamic_cookie_matches_haproxy(key: str, address: str, port: int, want: str) -> None:
    assert dynamic_cookie(key, address, port) == want.encode()


@pytest.mark.parametrize(("key", "address", "port", "want"), HAPROXY_COOKIES)
def test_dynamic_cookie_without_the_xxhash_module(
    monkeypatch: pytest.MonkeyPatch, key: str, address: str, port: int, want: str
) -> None:
    monkeypatch.setattr(module, "_native", None)
    assert dynamic_cookie(key, address, port) == want.encode()


def test_a_key_is_hashed_as_the_configuration_file_bytes() -> None:
    # `dynamic-cookie-key cl\xc3\xa9\xff` in the file: HAProxy 2.6.12 set 9ff6f96ec595ee77.
    as_loaded = b"cl\xc3\xa9\xff".decode("utf-8", "surrogateescape")  # config/sources.py
    assert dynamic_cookie(as_loaded, "127.0.0.1", 19961) == b"9ff6f96ec595ee77"


def test_bracketed_ipv6_and_non_ip_addresses() -> None:
    assert dynamic_cookie("abc", "[::1]", 19964) == b"aeb77501e2f834ba"
    assert dynamic_cookie("abc", "/run/app.sock", 0) is None
    assert dynamic_cookie("abc", "backend.example", 80) is None


@pytest.mark.parametrize(
    ("data", "seed", "want"),
    [
        (b"", 0, 0xEF46DB3751D8E999),
        (b"a", 0, 0xD24EC4F1A98C6E5B),
        (b"abc", 0, 0x44BC2CF5AD770999),
        (b"", 1, 0xD5AFBA1336A3BE4B),
    ],
)
def test_xxh64_reference_vectors(data: bytes, seed: int, want: int) -> None:
    assert xxh64_python(data, seed) == want
    assert xxh64(data, seed) == want


def test_xxh64_every_length_path_against_the_xxhash_module() -> None:
    xxhash = pytest.importorskip("xxhash")
    for size in [*range(0, 80), 127, 128, 129, 255, 1000, 4099]:
        data = os.urandom(size)
        for seed in (0, 1, 0x9E3779B185EBCA87, (1 << 64) - 1):
            assert xxh64_python(data, seed) == xxhash.xxh64_intdigest(data, seed), (size, seed)


def test_a_new_value_replaces_the_old_one() -> None:
    """`set server addr` on a server with a dynamic cookie (worker/backend.py `readdressed`)."""
    policy = CookiePolicy.from_setting({"name": "SRV", "insert": True, "dynamic": True})
    made = CookiePersistence.build(policy, False, [("s1", "c1"), ("s2", None)])
    made.set_value("s2", b"270ed317ffc6daf6")
    assert made.by_value[b"270ed317ffc6daf6"] == ["s2"]
    made.set_value("s2", b"ea857998680c26ff")
    assert b"270ed317ffc6daf6" not in made.by_value
    assert made.value_of == {"s1": b"c1", "s2": b"ea857998680c26ff"}
    made.set_value("s1", None)  # no address any more: no cookie
    assert made.by_value == {b"ea857998680c26ff": ["s2"]}
    assert "s1" not in made.value_of


BASE = "defaults\n    mode http\nlisten app\n    bind :8080\n"


@pytest.mark.parametrize("line", ["dynamic-cookie-key", 'dynamic-cookie-key ""'])
def test_a_missing_or_empty_key_is_haproxys_error(tmp_path: Path, line: str) -> None:
    result = load_text(tmp_path, BASE + f"    {line}\n")
    assert result.config is None
    assert "'dynamic-cookie-key' expects <secret_key> as argument." in messages(alerts(result))


def test_the_key_is_the_first_word_and_defaults_pass_it_on(tmp_path: Path) -> None:
    text = (
        "defaults\n    mode http\n    dynamic-cookie-key inherited\n"
        "listen one\n    bind :8080\n    dynamic-cookie-key first second\n"
        "listen two\n    bind :8081\n"
    )
    result = load_text(tmp_path, text)
    assert result.config is not None, result.diagnostics
    proxies = {proxy.name: proxy for proxy in result.config.proxies}
    assert proxies["one"].setting("dynamic-cookie-key") == "first"
    assert proxies["two"].setting("dynamic-cookie-key") == "inherited"
