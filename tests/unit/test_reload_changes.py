"""master/changes.py: what a reload changed, from two configurations."""

from __future__ import annotations

from pathlib import Path

from haproxy_py.config import load_configuration
from haproxy_py.config.model import Config
from master.changes import describe_changes

BASE = """\
defaults
    mode tcp
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:8000
    default_backend be
backend be
    server s1 127.0.0.1:9001 weight 10
    server s2 127.0.0.1:9002
"""


def load(tmp_path: Path, text: str, name: str) -> Config:
    path = tmp_path / name
    path.write_text(text)
    result = load_configuration([str(path)], env={})
    assert result.config is not None, result.diagnostics
    return result.config


def test_nothing_changed_even_when_sections_move(tmp_path: Path) -> None:
    moved = "\n\n# a comment\n" + BASE
    assert describe_changes(load(tmp_path, BASE, "a.cfg"), load(tmp_path, moved, "b.cfg")) == []


def test_added_removed_and_modified_proxies_and_servers(tmp_path: Path) -> None:
    new = (
        BASE.replace("weight 10", "weight 20")
        .replace("    server s2 127.0.0.1:9002\n", "    server s3 127.0.0.1:9003\n")
        .replace("timeout client 1s", "timeout client 2s")
        + "listen extra\n    bind 127.0.0.1:8001\n    server x 127.0.0.1:9009\n"
    )
    changes = describe_changes(load(tmp_path, BASE, "a.cfg"), load(tmp_path, new, "b.cfg"))
    assert changes == [
        "frontend 'fe' modified.",
        "backend 'be' modified.",
        "backend 'be': server 's1' modified (weight).",
        "backend 'be': server 's3' added.",
        "backend 'be': server 's2' removed.",
        "listen 'extra' added.",
    ]


def test_a_removed_frontend(tmp_path: Path) -> None:
    two = BASE + "frontend fe2\n    bind 127.0.0.1:8002\n    default_backend be\n"
    changes = describe_changes(load(tmp_path, two, "a.cfg"), load(tmp_path, BASE, "b.cfg"))
    assert changes == ["frontend 'fe2' removed."]
