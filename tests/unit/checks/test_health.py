"""The rise/fall machine: HAProxy 2.6's health counter, checked against its logged statuses."""

from __future__ import annotations

import pytest

from haproxy_py.checks.health import DOWN, UP, Health


def run(health: Health, results: str) -> list[tuple[bool, str | None, str]]:
    out = []
    for char in results:
        outcome = health.record(char == "+")
        out.append((outcome.changed, outcome.transition, health.describe()))
    return out


def test_starts_up_and_a_success_confirms() -> None:
    health = Health(rise=2, fall=2)
    assert health.up and health.describe() == "1/2 UP" and not health.steady
    assert run(health, "++") == [(True, None, "2/2 UP"), (False, None, "2/2 UP")]
    assert health.steady


def test_falls_after_fall_failures_and_rises_after_rise_successes() -> None:
    # The sequence HAProxy 2.6 logged for a server whose check URI answered 404 twice.
    health = Health(rise=2, fall=2)
    health.record(True)
    assert run(health, "--+++") == [
        (True, None, "1/2 UP"),
        (True, DOWN, "0/2 DOWN"),
        (True, None, "1/2 DOWN"),
        (True, UP, "2/2 UP"),
        (False, None, "2/2 UP"),
    ]


def test_fresh_server_goes_down_before_fall_failures() -> None:
    # A server starts at `rise`, not confirmed: one failure takes it down (as HAProxy 2.6).
    health = Health(rise=2, fall=3)
    assert run(health, "-") == [(True, DOWN, "0/2 DOWN")]
    assert run(health, "--") == [(False, None, "0/2 DOWN")] * 2
    assert health.steady


def test_defaults_backup_shows_three_of_three() -> None:
    health = Health(rise=2, fall=3)
    assert run(health, "+") == [(True, None, "3/3 UP")]


def test_down_then_partial_recovery_then_failure() -> None:
    health = Health(rise=3, fall=2)
    health.force(False)
    assert run(health, "++-") == [
        (True, None, "1/3 DOWN"),
        (True, None, "2/3 DOWN"),
        (True, None, "1/3 DOWN"),
    ]
    assert run(health, "+++") == [
        (True, None, "2/3 DOWN"),
        (True, UP, "2/2 UP"),
        (False, None, "2/2 UP"),
    ]


def test_rise_and_fall_of_one() -> None:
    health = Health(rise=1, fall=1)
    assert health.describe() == "1/1 UP" and health.steady
    assert run(health, "-+") == [(True, DOWN, "0/1 DOWN"), (True, UP, "1/1 UP")]


def test_rejects_zero() -> None:
    with pytest.raises(ValueError):
        Health(rise=0, fall=1)
