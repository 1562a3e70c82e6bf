"""Times, sizes and integers as HAProxy reads them."""

from __future__ import annotations

import pytest

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.units import MAX_TIME_MS, parse_int, parse_size, parse_time


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("0", 0),
        ("5000", 5000),  # a bare number is in milliseconds by default
        ("5000ms", 5000),
        ("5s", 5000),
        ("1m", 60_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("24d", 24 * 86_400_000),
        ("500us", 1),  # rounded up: a sub-millisecond timeout is not a zero timeout
        ("1us", 1),
        ("1000us", 1),
        ("1001us", 2),
        ("0us", 0),
        (str(MAX_TIME_MS), MAX_TIME_MS),
    ],
)
def test_parse_time(text: str, millis: int) -> None:
    assert parse_time(text, "timeout client") == millis


def test_parse_time_default_unit() -> None:
    assert parse_time("5", "stats refresh", default_unit="s") == 5000
    assert parse_time("5ms", "stats refresh", default_unit="s") == 5
    assert parse_time("3", "x", default_unit="m") == 180_000


@pytest.mark.parametrize("text", ["", "s", "ms", "-5s", "1.5s", " 5s", "five"])
def test_parse_time_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_time(text, "timeout connect")
    assert "'timeout connect'" in info.value.message


def test_parse_time_bad_unit_names_value_keyword_and_character() -> None:
    with pytest.raises(ConfigError) as info:
        parse_time("5parsecs", "timeout connect")
    message = info.value.message
    assert "'5parsecs'" in message
    assert "'timeout connect'" in message
    assert "'p'" in message


@pytest.mark.parametrize("text", ["5sec", "5 s", "5x", "10mss"])
def test_parse_time_rejects_unknown_units(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_time(text, "timeout server")


@pytest.mark.parametrize("text", [str(MAX_TIME_MS + 1), "25d", "100000h"])
def test_parse_time_too_large(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_time(text, "timeout client")
    assert "too large" in info.value.message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("10", 10),
        ("1k", 1024),
        ("1K", 1024),
        ("16k", 16 * 1024),
        ("2m", 2 * 1024 * 1024),
        ("1g", 1024**3),
        ("1G", 1024**3),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text, "tune.bufsize") == size


@pytest.mark.parametrize("text", ["", "k", "1kb", "1t", "-1", "1.5k", " 1"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(text, "tune.bufsize")
    assert "'tune.bufsize'" in info.value.message


def test_parse_size_maximum() -> None:
    assert parse_size("1k", "x", maximum=1024) == 1024
    with pytest.raises(ConfigError) as info:
        parse_size("2k", "x", maximum=1024)
    assert "too large" in info.value.message


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("10", 10), ("-3", -3), ("+3", 3)])
def test_parse_int(text: str, value: int) -> None:
    assert parse_int(text, "maxconn") == value


@pytest.mark.parametrize("text", ["", "-", "+", "abc", "1.0", "1e3", "0x10", "１", " 1", "1 "])
def test_parse_int_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_int(text, "maxconn")
    assert "'maxconn'" in info.value.message
    assert f"'{text}'" in info.value.message


def test_parse_int_bounds() -> None:
    assert parse_int("1", "nbthread", minimum=1, maximum=64) == 1
    assert parse_int("64", "nbthread", minimum=1, maximum=64) == 64
    for text in ("0", "65", "-1"):
        with pytest.raises(ConfigError) as info:
            parse_int(text, "nbthread", minimum=1, maximum=64)
        assert "from 1 to 64" in info.value.message
    with pytest.raises(ConfigError):
        parse_int("-1", "maxconn", minimum=0)
