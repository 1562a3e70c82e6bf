"""docs/KEYWORDS.md is generated from the keyword tables and must stay in step with them."""

from __future__ import annotations

import pytest

from haproxy_py.config.keywords.actions import ACTIONS
from haproxy_py.config.keywords.bind_kw import BIND_OPTIONS
from haproxy_py.config.keywords.docgen import render
from haproxy_py.config.keywords.sections import SECTION_TABLES, UNSUPPORTED_SECTIONS
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from tests.helpers import REPO

KEYWORDS_MD = REPO / "docs" / "KEYWORDS.md"


@pytest.fixture(scope="module")
def rendered() -> str:
    return render()


def test_keywords_md_is_up_to_date(rendered: str) -> None:
    committed = KEYWORDS_MD.read_text(encoding="utf-8") if KEYWORDS_MD.exists() else ""
    assert committed == rendered, (
        "docs/KEYWORDS.md differs from what the keyword tables generate: run `make keywords`"
        " and commit the result"
    )


def test_rendering_is_deterministic(rendered: str) -> None:
    assert render() == rendered


def _names() -> list[tuple[str, str]]:
    """(where, name) for every keyword, unsupported keyword, option and section name."""
    names: list[tuple[str, str]] = []
    for section, table in SECTION_TABLES.items():
        names += [(section, name) for name in table.keywords]
        names += [(f"{section} (unsupported)", name) for name in table.unsupported]
    for table in (BIND_OPTIONS, SERVER_OPTIONS):
        names += [(f"{table.what} options", name) for name in table.options]
        names += [(f"{table.what} options (unsupported)", name) for name in table.unsupported]
    names += [("sections (unsupported)", name) for name in UNSUPPORTED_SECTIONS]
    return names


def test_every_table_entry_is_documented(rendered: str) -> None:
    rows = {line.split(" | ")[0].removeprefix("| ") for line in rendered.splitlines()}
    cells = {row.split(" (`no`)")[0] for row in rows}
    missing = [f"{where}: {name}" for where, name in _names() if f"`{name}`" not in cells]
    assert not missing, f"not in the generated KEYWORDS.md: {missing}"


def test_proxy_matrix_has_the_four_capability_columns(rendered: str) -> None:
    assert "| keyword | d | f | l | b | runtime | usage | summary |" in rendered


def test_every_rule_action_is_documented(rendered: str) -> None:
    missing = []
    for ruleset, actions in ACTIONS.items():
        start = rendered.index(f"\n### {ruleset}\n")
        end = rendered.find("\n#", start + 1)
        chapter = rendered[start : end if end > 0 else len(rendered)]
        missing += [f"{ruleset} {name}" for name in actions if f"`{name}`" not in chapter]
    assert not missing, f"rule actions not in the generated KEYWORDS.md: {missing}"
