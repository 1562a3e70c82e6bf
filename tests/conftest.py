"""Fixtures shared by every test directory (helpers themselves live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SHARED_CONFIGS, haproxy_command


@pytest.fixture
def shared_configs() -> Path:
    """/work/shared/configs (the repository's ../shared/configs), or skip with the reason."""
    if not SHARED_CONFIGS.is_dir():
        pytest.skip(
            f"shared configurations not found at {SHARED_CONFIGS} (expected next to the repo)"
        )
    return SHARED_CONFIGS


@pytest.fixture
def haproxy_bin() -> list[str]:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy 2.6 not installed: differential tests need it")
    return command
