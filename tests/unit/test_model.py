"""The frozen model: read-only all the way down, and able to cross a process boundary."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from haproxy_py.config import load_configuration
from tests.helpers import SHARED_CONFIGS

L7 = "l7-content-switching.cfg"


def _load_l7():
    if SHARED_CONFIGS is None or not (SHARED_CONFIGS / L7).exists():
        pytest.skip("../shared/configs is not beside the repository")
    result = load_configuration([str(SHARED_CONFIGS / L7)], env={})
    assert result.config is not None
    return result.config


def test_the_model_pickles_and_compares_equal() -> None:
    config = _load_l7()
    assert pickle.loads(pickle.dumps(config)) == config


def test_option_mappings_are_read_only() -> None:
    config = _load_l7()
    server = config.backend("ms1").servers[0]
    with pytest.raises(TypeError):
        server.options["weight"] = 5  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        server.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.backend("ms1").timeouts["connect"] = 1  # type: ignore[index]


def test_inheriting_proxies_do_not_share_mutable_state(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(
        "defaults\n    mode http\n    default-server inter 3s\n"
        "    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "backend a\n    server s 127.0.0.1:1\nbackend b\n    server s 127.0.0.1:2 inter 5s\n"
    )
    config = load_configuration([str(path)], env={}).config
    assert config is not None
    assert config.backend("a").servers[0].options["inter"] == 3000
    assert config.backend("b").servers[0].options["inter"] == 5000
