"""The `.if` / `-cc` condition grammar and HAProxy's version ordering.

Truth values were checked against `haproxy -cc` (HAProxy 2.6).
"""

from __future__ import annotations

import itertools

import pytest

from haproxy_py.config.conditions import evaluate_condition, version_key
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.features import FEATURES
from haproxy_py.version import HAPROXY_LEVEL, VERSION

ENV = {"HOME": "/root", "EMPTYV": "", "ON": "on"}


def check(text: str, env: dict[str, str] | None = None) -> bool:
    return evaluate_condition(text.split(" ") if text else [], ENV if env is None else env)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", False),  # an empty condition is false
        (" ", False),
        ("0", False),
        ("00", False),
        ("-0", False),
        ("1", True),
        ("42", True),
        ("-1", True),
        ("007", True),
        ("!0", True),
        ("!1", False),
        ("! 1", False),
        ("!!1", True),
        ("!!0", False),
        ("((1))", True),
        ("(0)", False),
        ("!(0)", True),
        ("!(0 || 0)", True),
        ("1 && 1", True),
        ("1 && 0", False),
        ("0 || 1", True),
        ("0 || 0", False),
        ("1||0", True),
        ("1 ||0", True),
        # '&&' binds tighter than '||'
        ("1 || 0 && 0", True),
        ("0 && 1 || 1", True),
        ("0 && 0 || 0 && 1", False),
        ("1 && 1 || 0 && 0", True),
        ("(1 || 0) && 0", False),
        ("0 || (1 && 1)", True),
        ("!1 || 1", True),
        ("!(1 || 1)", False),
    ],
)
def test_boolean_grammar(text: str, expected: bool) -> None:
    assert check(text) is expected


def test_words_are_joined_with_spaces() -> None:
    assert evaluate_condition(["1", "&&", "0"], {}) is False
    assert evaluate_condition(["1 ||", "0"], {}) is True
    assert evaluate_condition([], {}) is False
    assert evaluate_condition([""], {}) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defined(HOME)", True),
        ("defined(EMPTYV)", True),  # defined even when empty
        ("defined(NOPE_X)", False),
        ("!defined(NOPE_X)", True),
        ("streq(a,a)", True),
        ("streq(a,b)", False),
        ("streq( a , a )", True),
        ("strneq(a,b)", True),
        ("strneq(a,a)", False),
        ("streq(,)", True),
        ("streq(a,)", False),
        ("defined(HOME) && streq(x,x)", True),
        ("defined(NOPE) || strneq(x,x)", False),
    ],
)
def test_predicates(text: str, expected: bool) -> None:
    assert check(text) is expected


def test_defined_reads_the_given_environment() -> None:
    assert evaluate_condition(["defined(X)"], {"X": "1"}) is True
    assert evaluate_condition(["defined(X)"], {}) is False


def test_feature_follows_the_feature_table() -> None:
    for name, present in FEATURES.items():
        assert evaluate_condition([f"feature({name})"], {}) is present
    assert evaluate_condition(["feature(NO_SUCH_FEATURE)"], {}) is False
    assert evaluate_condition(["feature(EPOLL)"], {}) is True
    assert evaluate_condition(["feature(OPENSSL)"], {}) is False  # TLS is not supported yet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version_atleast(2.6)", True),
        (f"version_atleast({HAPROXY_LEVEL})", True),
        ("version_atleast(2.6-dev3)", True),
        ("version_atleast(1.8)", True),
        ("version_atleast(9.0)", False),
        ("version_atleast(2.7)", False),
        ("version_before(2.7)", True),
        ("version_before(3.0)", True),
        ("version_before(2.6)", False),
        (f"version_before({HAPROXY_LEVEL})", False),
        ("version_before(2.4)", False),
    ],
)
def test_version_predicates(text: str, expected: bool) -> None:
    assert check(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "1 &&",
        "&& 1",
        "&&",
        "||",
        "(1",
        "1)",
        "()",
        "1 1",
        "1 || 1 1",
        "abc",
        "1 && !",
        "!",
        "1a",
        "0x",
        "foo(1)",
        "foo()",
        "streq(a)",
        "streq(a,b,c)",
        "strneq(a)",
        "defined(A,B)",
        "version_atleast(1,2)",
        "defined(HOME",
    ],
)
def test_errors_raise_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        check(text)
    assert info.value.message


def test_unknown_predicate_names_the_expression() -> None:
    with pytest.raises(ConfigError) as info:
        check("foo(1)")
    assert "unparsable conditional expression 'foo(1)'" in info.value.message


def test_syntax_errors_are_found_in_branches_that_do_not_decide() -> None:
    # Every branch is parsed: a broken right-hand side is an error even after a true '||'.
    with pytest.raises(ConfigError):
        check("1 || foo(1)")
    with pytest.raises(ConfigError):
        check("0 && streq(a)")


@pytest.mark.parametrize(("text", "expected"), [("0x1", True), ("+1", True), ("08", None)])
def test_integers_are_read_as_haproxy_reads_them(text: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ConfigError):
            check(text)
    else:
        assert check(text) is expected


# -- version ordering ----------------------------------------------------------------------


def test_version_key_orders_pre_releases_before_the_release() -> None:
    ordered = ["2.5.9", "2.6-dev3", "2.6-dev10", "2.6-pre1", "2.6-rc1", "2.6-rc2", "2.6", "2.6.1"]
    assert sorted(ordered, key=version_key) == ordered
    for low, high in itertools.pairwise(ordered):
        assert version_key(low) < version_key(high), (low, high)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("2.6-dev3", "2.6-rc1"),
        ("2.6-rc1", "2.6"),
        ("2.6", "2.6.1"),
        ("2.6.9", "2.6.10"),
        ("2.9", "2.10"),
        ("1.9.16", "2.0"),
        ("2.6.12", "2.6.13-dev1"),
    ],
)
def test_version_key_pairs(low: str, high: str) -> None:
    assert version_key(low) < version_key(high)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2.6", "2.6.0"),
        ("2.6.0", "2.6.0.0"),
        ("2.6.12", "2.6.12-1+deb12u4"),  # a distribution's suffix does not count
        ("2.6.12", "2.6.12-haproxy-py-0.1.0"),  # nor does ours
        ("2.6.12", " 2.6.12 "),
    ],
)
def test_version_key_ignores_what_does_not_count(one: str, other: str) -> None:
    assert version_key(one) == version_key(other)


def test_our_version_is_the_haproxy_level() -> None:
    assert version_key(VERSION) == version_key(HAPROXY_LEVEL)
    assert VERSION.startswith(HAPROXY_LEVEL + "-")


@pytest.mark.parametrize("text", ["", "abc", "v2.6", "-1"])
def test_version_key_rejects_non_versions(text: str) -> None:
    with pytest.raises(ConfigError):
        version_key(text)
