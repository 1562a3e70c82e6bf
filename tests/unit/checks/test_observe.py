"""`observe` / `error-limit` / `on-error`: consecutive errors and what each action does."""

from __future__ import annotations

import pytest

from haproxy_py.checks.health import Health
from haproxy_py.checks.observe import (
    BAD_HEADERS,
    CLOSED,
    READ_ERROR,
    READ_TIMEOUT,
    Consecutive,
    failure_kind,
    hana_result,
    prepare,
)


def test_consecutive_errors_trip_and_restart() -> None:
    counter = Consecutive(3)
    assert [counter.outcome(False) for _ in range(3)] == [False, False, True]
    assert counter.errors == 0  # a trip starts the count again
    counter.outcome(False)
    counter.outcome(False)
    assert not counter.outcome(True) and counter.errors == 0  # a success breaks the run
    assert [counter.outcome(False) for _ in range(6)] == [False, False, True] * 2


def _up(rise: int = 2, fall: int = 3) -> Health:
    health = Health(rise, fall)
    health.record(True)  # confirmed UP: counter at the top
    return health


@pytest.mark.parametrize(
    ("action", "recorded", "after"),
    [
        ("fastinter", False, "3/3 UP"),  # only the next check comes sooner
        ("fail-check", True, "2/3 UP"),  # one ordinary failure
        ("sudden-death", True, "1/3 UP"),  # one more failure takes it down
        ("mark-down", True, "0/2 DOWN"),  # down at once
    ],
)
def test_on_error_actions(action: str, recorded: bool, after: str) -> None:
    health = _up()
    assert prepare(health, action) is recorded
    if recorded:
        health.record(False)
    assert health.describe() == after


def test_hana_result_words() -> None:
    result = hana_result(10)
    assert result.status.name == "HANA" and not result.passed
    # HAProxy 2.6 prints no check duration for it.
    assert result.reason() == (
        'Health analyze, info: "Detected 10 consecutive errors, last one was: L4 unsuccessful'
        ' connection"'
    )


def test_layer7_failures_count_as_haproxy_words_them() -> None:
    assert failure_kind(504, "closed") == READ_TIMEOUT == "Read timeout (http)"
    assert failure_kind(502, "reset") == READ_ERROR == "Read error (http)"
    assert failure_kind(502, "closed") == CLOSED == "Close from server (http)"
    assert failure_kind(502, "invalid") == BAD_HEADERS == "Invalid http response (headers)"
    assert failure_kind(0, "reset") is None  # a body cut short: HAProxy does not count it
    assert failure_kind(503, "reset") is None  # no connection: counted as one already
