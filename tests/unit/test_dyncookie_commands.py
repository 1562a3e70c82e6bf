"""The dynamic-cookie runtime commands without a worker: arguments, HAProxy 2.6's answers
(recorded from haproxy 2.6.12's stats socket), and the setting each change leaves."""

from __future__ import annotations

import pytest

from haproxy_py.runtime_api.commands import find_command
from haproxy_py.runtime_api.dyncookie import (
    BACKEND_EXPECTED,
    NO_SUCH_BACKEND,
    VALUE_EXPECTED,
    DynamicCookieChange,
    DynamicCookieSetting,
    is_dynamic_cookie_command,
    parse_dynamic_cookie,
)

BACKENDS = {"b", "other"}


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("set dynamic-cookie-key backend", BACKEND_EXPECTED),
        ("set dynamic-cookie-key backend nope k", NO_SUCH_BACKEND),
        ("set dynamic-cookie-key backend b", VALUE_EXPECTED),
        ("enable dynamic-cookie backend", BACKEND_EXPECTED),
        ("disable dynamic-cookie backend fe", NO_SUCH_BACKEND),
    ],
)
def test_haproxys_answers(line: str, answer: str) -> None:
    assert parse_dynamic_cookie(line.split(), BACKENDS) == answer


def test_the_changes() -> None:
    cases = {
        "set dynamic-cookie-key backend b k2": DynamicCookieChange("b", None, "k2"),
        "enable dynamic-cookie backend b": DynamicCookieChange("b", True),
        "disable dynamic-cookie backend other": DynamicCookieChange("other", False),
    }
    for line, change in cases.items():
        assert parse_dynamic_cookie(line.split(), BACKENDS) == change


def test_a_key_is_in_force_only_when_on() -> None:
    on = DynamicCookieSetting(True, "secret")
    assert on.key_in_force == "secret"
    off = DynamicCookieChange("b", False).applied(on)
    assert off == DynamicCookieSetting(False, "secret") and off.key_in_force is None
    rekeyed = DynamicCookieChange("b", None, "k2").applied(off)
    assert rekeyed.key_in_force is None  # kept for later
    assert DynamicCookieChange("b", True).applied(rekeyed).key_in_force == "k2"
    assert DynamicCookieSetting(True, None).key_in_force is None  # on, but no key


def test_the_command_table_knows_them_at_admin_level() -> None:
    for line in (
        "set dynamic-cookie-key backend b k",
        "enable dynamic-cookie backend b",
        "disable dynamic-cookie backend b",
    ):
        keyword = find_command(line.split())
        assert keyword is not None and keyword.action == "dyncookie"
        assert keyword.level.name == "ADMIN"
        assert is_dynamic_cookie_command(line.split())
    assert find_command(["enable", "dynamic-cookie"]) is None  # HAProxy: unknown command
    assert not is_dynamic_cookie_command(["enable", "dynamic-cookie"])
