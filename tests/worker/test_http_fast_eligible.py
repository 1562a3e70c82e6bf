"""Which sessions take the HTTP fast path (worker/http_fast.py `eligible`), logging included."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from worker.http_fast import eligible
from worker.http_settings import CLOSE, KEEP_ALIVE


def _logger(**changes: object) -> SimpleNamespace:
    fields = {
        "request_captures": (),
        "response_captures": (),
        "cookie_capture": None,
        "unique_id": None,
        "samples": False,
    }
    fields.update(changes)
    return SimpleNamespace(**fields)


def _session(logger: SimpleNamespace | None = None, **settings: object) -> SimpleNamespace:
    base = {
        "mode": KEEP_ALIVE,
        "monitor_uri": None,
        "forwardfor": None,
        "originalto": None,
        "lb_key": None,
        "stats_page": None,
    }
    base.update(settings)
    return SimpleNamespace(
        log_base=None if logger is None else object(),
        logger=logger,
        rules=None,
        backend=SimpleNamespace(cookie=None),
        settings=SimpleNamespace(**base),
    )


def test_plain_sessions_with_or_without_httplog_are_eligible() -> None:
    assert eligible(_session())  # type: ignore[arg-type]
    assert eligible(_session(_logger()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"request_captures": (("user-agent", 10),)},
        {"response_captures": (("server", 10),)},
        {"cookie_capture": ("SID", 20)},
        {"unique_id": object()},
        {"samples": True},
    ],
)
def test_logs_reading_headers_or_samples_keep_the_general_path(changes: dict) -> None:
    assert not eligible(_session(_logger(**changes)))  # type: ignore[arg-type]


def test_other_settings_keep_the_general_path() -> None:
    assert not eligible(_session(mode=CLOSE))  # type: ignore[arg-type]
    assert not eligible(_session(monitor_uri=b"/up"))  # type: ignore[arg-type]
    assert not eligible(_session(_logger(), lb_key=lambda r, p: b""))  # type: ignore[arg-type]
