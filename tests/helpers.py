"""Helpers shared by the test suites: locating things, writing configs, running the CLI.

Kept free of pytest fixtures so that any test module can import what it needs directly
(`from tests.helpers import ...`); the fixtures that wrap these live in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from haproxy_py.config import LoadResult, load_configuration
from haproxy_py.config.diagnostics import Diagnostic, Severity
from haproxy_py.config.model import Config
from haproxy_py.process.shm import StatsTable, create_table
from haproxy_py.stats.layout import layout_for

REPO = Path(__file__).resolve().parents[1]
# The repository's parent directory holds shared/ (the configs every implementation is tried on).
SHARED = REPO.parent / "shared"
SHARED_CONFIGS = SHARED / "configs"

# The three timeouts whose absence gives HAProxy's "missing timeouts" warning.
TIMEOUTS = "    timeout client 10s\n    timeout server 10s\n    timeout connect 5s\n"

# What a program must never show a user.
TRACEBACK = "Traceback (most recent call last)"


def haproxy_py_command() -> list[str]:
    """The console script next to the running interpreter, else `python -m master`."""
    script = Path(sys.executable).parent / "haproxy-py"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("haproxy-py")
    if found:
        return [found]
    return [sys.executable, "-m", "master"]


def haproxy_command() -> list[str] | None:
    """The reference HAProxy 2.6 binary, when it is installed."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    return [found] if found else None


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small, predictable environment for child processes."""
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
        if key in os.environ
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    env.setdefault("HOME", "/")
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 30,
    command: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run haproxy-py (or `command`) with `args`; capture stdout/stderr as text."""
    return subprocess.run(
        [*(command or haproxy_py_command()), *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=base_env(env),
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, taken literally (no shell: a value such as 'pa$$w0rd' stays as is)."""
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value
    return result


def write_cfg(directory: Path, text: str, name: str = "test.cfg") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def load_text(
    directory: Path,
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    cmdline: Mapping[str, object] | None = None,
    name: str = "test.cfg",
) -> LoadResult:
    """Write `text` to a file and load it with a private environment (empty by default)."""
    path = write_cfg(directory, text, name)
    return load_configuration([str(path)], env=dict(env or {}), cmdline=cmdline)


@contextlib.contextmanager
def stats_table(
    directory: Path, text: str, workers: int = 2
) -> Iterator[tuple[StatsTable, Config]]:
    """The configuration `text` loaded, and a fresh shared stats table with `workers` slots
    for it (closed afterwards): what `show stat` and its siblings read."""
    result = load_text(directory, text)
    assert result.config is not None, result.diagnostics
    table = create_table(layout_for(result.config, workers))
    try:
        yield table, result.config
    finally:
        table.close()


def of_severity(result: LoadResult, severity: Severity) -> list[Diagnostic]:
    return [item for item in result.diagnostics if item.severity == severity]


def alerts(result: LoadResult) -> list[Diagnostic]:
    return of_severity(result, Severity.ALERT)


def warnings(result: LoadResult) -> list[Diagnostic]:
    return of_severity(result, Severity.WARNING)


def messages(items: Sequence[Diagnostic]) -> list[str]:
    return [item.message for item in items]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (bind to 0, read it back, release it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
