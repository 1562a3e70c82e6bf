"""The import rules of the design: master -> haproxy_py <- worker, and a pure haproxy_py.

haproxy_py/ (haproxy_py/process/ aside) must not import trio; master and worker never import
each other; haproxy_py imports neither. Checked on the source by walking every module's AST,
so that an import hidden inside a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO


def python_files(package: str, skip: str | None = None) -> list[Path]:
    root = REPO / package
    if not root.is_dir():
        return []
    files = sorted(root.rglob("*.py"))
    if skip:
        files = [path for path in files if not path.is_relative_to(root / skip)]
    return files


def package_of(path: Path) -> str:
    """The package a file's relative imports start from ('a.b' for a/b/c.py and a/b/__init__.py)."""
    return ".".join(path.relative_to(REPO).parent.parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an import statement of `source` names, made absolute."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from pkg import name` may import the module pkg.name.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(files: list[Path], forbidden: set[str]) -> list[str]:
    found = []
    for path in files:
        for module in imported_modules(path.read_text(encoding="utf-8"), package_of(path)):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(REPO)} imports {module}")
    return sorted(found)


CORE = python_files("haproxy_py", skip="process")
MASTER = python_files("master")
WORKER = python_files("worker")


def test_packages_are_found() -> None:
    assert REPO / "haproxy_py" / "config" / "loader.py" in CORE
    assert REPO / "master" / "cmdline.py" in MASTER


def test_core_does_not_import_trio() -> None:
    assert violations(CORE, {"trio"}) == []


def test_core_imports_neither_master_nor_worker() -> None:
    assert violations(python_files("haproxy_py"), {"master", "worker"}) == []


def test_master_does_not_import_worker() -> None:
    assert violations(MASTER, {"worker"}) == []


@pytest.mark.skipif(not WORKER, reason="worker/ has no module yet")
def test_worker_does_not_import_master() -> None:
    assert violations(WORKER, {"master"}) == []


def test_the_checker_finds_every_kind_of_import() -> None:
    source = (
        "import os\n"
        "import trio.lowlevel as tl\n"
        "from . import sibling\n"
        "from ..up import thing\n"
        "def later():\n"
        "    from worker.session import serve\n"
        "    import master\n"
    )
    found = imported_modules(source, "haproxy_py.config")
    assert {"os", "trio.lowlevel", "worker.session", "master"} <= found
    assert "haproxy_py.config.sibling" in found
    assert "haproxy_py.up.thing" in found
    assert package_of(REPO / "haproxy_py" / "config" / "lexer.py") == "haproxy_py.config"
    assert package_of(REPO / "haproxy_py" / "__init__.py") == "haproxy_py"
