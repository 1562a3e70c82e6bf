"""The real `haproxy-py` process: `-c`, `-cc`, `-v`, `-vv`, usage, and flags not served yet.

Each test starts the console script (or `python -m master`) as a user would and looks only
at exit codes, stdout and stderr.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from haproxy_py.version import HAPROXY_LEVEL, __version__
from tests.helpers import (
    SHARED_CONFIGS,
    TIMEOUTS,
    TRACEBACK,
    haproxy_py_command,
    read_env_file,
    run_cli,
    write_cfg,
)

pytestmark = pytest.mark.e2e

VALID = (
    "defaults\n    mode tcp\n"
    + TIMEOUTS
    + "listen app\n    bind 127.0.0.1:8080\n    server s1 127.0.0.1:8081\n"
)
# Valid, but without timeouts: HAProxy's "missing timeouts" warning.
WITH_WARNING = "listen app\n    bind 127.0.0.1:8080\n    server s1 127.0.0.1:8081\n"
INVALID = "defaults\n    timeout connect 5parsecs\n" + "listen app\n    bind 127.0.0.1:8080\n"
NO_LISTENER = "defaults\n" + TIMEOUTS + "backend be\n    server s1 127.0.0.1:8081\n"

GOOD_CONFIGS = ["env-vars.cfg", "l4-tcp.cfg", "l7-content-switching.cfg", "secure-global.cfg"]

# "[ALERT]    (123) : config : parsing [bad.cfg:9] : message"
LOCATED = re.compile(r"^\[ALERT\] +\(\d+\) : config : parsing \[(?P<file>[^\]]+?):(?P<line>\d+)\]")


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert TRACEBACK not in result.stdout
    assert TRACEBACK not in result.stderr
    assert "internal error" not in result.stderr


def site_env(shared_configs: Path) -> dict[str, str]:
    return read_env_file(shared_configs / "site1.env")


# -- the shared configurations -----------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_CONFIGS)
def test_shared_good_configs_are_valid(shared_configs: Path, name: str) -> None:
    result = run_cli("-c", "-f", name, env=site_env(shared_configs), cwd=shared_configs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("Configuration file is valid\n")
    assert "[ALERT]" not in result.stderr
    assert_no_traceback(result)


def test_env_file_is_read_literally(shared_configs: Path) -> None:
    env = site_env(shared_configs)
    assert env["STATSLP"] == "admin:pa$$w0rd"
    assert env["LISTEN"] == "127.0.0.1"


def expected_bad_configs() -> list[tuple[str, int, str]]:
    expected = SHARED_CONFIGS / "bad" / "EXPECTED"
    if not expected.is_file():
        return []
    rows = []
    for line in expected.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, number, text = line.split(None, 2)
        rows.append((name, int(number), text))
    return rows


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


@pytest.mark.parametrize(
    ("name", "line", "text"),
    expected_bad_configs() or [pytest.param("", 0, "", marks=pytest.mark.skip("no bad/EXPECTED"))],
)
def test_shared_bad_configs_fail_at_the_expected_line(
    shared_configs: Path, name: str, line: int, text: str
) -> None:
    result = run_cli("-c", "-f", name, cwd=shared_configs / "bad")
    assert result.returncode == 1, result.stdout + result.stderr
    assert_no_traceback(result)
    located = [
        (match.group("file"), int(match.group("line")), row)
        for row in result.stderr.splitlines()
        if (match := LOCATED.match(row))
    ]
    assert located, result.stderr
    at_line = [row for file, number, row in located if file == name and number == line]
    assert at_line, f"no ALERT at {name}:{line} in:\n{result.stderr}"
    # The names the expected message quotes ('roundrobbin', 'roundrobin', ...) are all in
    # that ALERT (its first line and its continuation lines).
    rows = result.stderr.splitlines()
    start = rows.index(at_line[0])
    end = next((i for i in range(start + 1, len(rows)) if rows[i].startswith("[")), len(rows))
    alert_text = "\n".join(rows[start:end])
    for quoted in _quoted(text):
        assert f"'{quoted}'" in alert_text, (quoted, result.stderr)
    if "unmatched quote" in text:
        assert "unmatched quote" in at_line[0]


def test_every_bad_config_is_listed_in_expected(shared_configs: Path) -> None:
    listed = {name for name, _, _ in expected_bad_configs()}
    present = {path.name for path in (shared_configs / "bad").glob("*.cfg")}
    assert present == listed


# -- -c and its companions ---------------------------------------------------------------------


def test_valid(tmp_path: Path) -> None:
    result = run_cli("-c", "-f", str(write_cfg(tmp_path, VALID)))
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "Configuration file is valid\n",
        "",
    )


def test_valid_with_warnings(tmp_path: Path) -> None:
    result = run_cli("-c", "-f", str(write_cfg(tmp_path, WITH_WARNING)))
    assert result.returncode == 0
    assert result.stdout == "Warnings were found.\nConfiguration file is valid\n"
    assert "[WARNING]" in result.stderr
    assert "missing timeouts for listen 'app'" in result.stderr


def test_invalid(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, INVALID)
    result = run_cli("-c", "-f", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(
        f"parsing [{path}:2] : bad time value '5parsecs' for 'timeout connect'" in line
        for line in lines
    ), result.stderr
    assert f"Error(s) found in configuration file : {path}" in result.stderr
    assert lines[-1].endswith("config : Fatal errors found in configuration.")


@pytest.mark.parametrize("text", [VALID, WITH_WARNING, INVALID])
def test_quiet_prints_nothing_at_all(tmp_path: Path, text: str) -> None:
    result = run_cli("-c", "-q", "-f", str(write_cfg(tmp_path, text)))
    assert (result.stdout, result.stderr) == ("", "")
    assert result.returncode == (1 if text is INVALID else 0)


def test_quiet_no_listener_exit_2(tmp_path: Path) -> None:
    result = run_cli("-c", "-q", "-f", str(write_cfg(tmp_path, NO_LISTENER)))
    assert (result.returncode, result.stdout, result.stderr) == (2, "", "")


def test_zero_warning_flag(tmp_path: Path) -> None:
    result = run_cli("-c", "-dW", "-f", str(write_cfg(tmp_path, WITH_WARNING)))
    assert result.returncode == 1
    assert "Some warnings were found and 'zero-warning' is set. Aborting." in result.stderr
    assert "Configuration file is valid" not in result.stdout
    # Without warnings -dW changes nothing.
    clean = run_cli("-c", "-dW", "-f", str(write_cfg(tmp_path, VALID, "valid.cfg")))
    assert (clean.returncode, clean.stdout) == (0, "Configuration file is valid\n")


def test_zero_warning_keyword(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, "global\n    zero-warning\n" + WITH_WARNING)
    result = run_cli("-c", "-f", str(path))
    assert result.returncode == 1
    assert "'zero-warning' is set" in result.stderr


def test_no_listener(tmp_path: Path) -> None:
    result = run_cli("-c", "-f", str(write_cfg(tmp_path, NO_LISTENER)))
    assert result.returncode == 2
    assert result.stdout == (
        "Configuration file has no error but will not start (no listener) => exit(2).\n"
    )


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cfg"
    result = run_cli("-c", "-f", str(missing))
    assert result.returncode == 1
    assert f"Cannot open configuration file/directory {missing}" in result.stderr
    assert_no_traceback(result)


def test_binary_file(tmp_path: Path) -> None:
    binary = tmp_path / "true.cfg"
    true = shutil.which("true") or "/bin/true"
    if Path(true).is_file():
        shutil.copyfile(true, binary)
    else:
        binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 64)
    result = run_cli("-c", "-f", str(binary))
    assert result.returncode == 1
    assert "not a text configuration file" in result.stderr
    assert result.stderr.count("[ALERT]") >= 1
    assert_no_traceback(result)


def test_notice_preamble_precedes_the_first_warning_or_alert(tmp_path: Path) -> None:
    for text in (WITH_WARNING, INVALID):
        result = run_cli("-c", "-f", str(write_cfg(tmp_path, text)))
        lines = result.stderr.splitlines()
        first = next(i for i, line in enumerate(lines) if re.match(r"\[(WARNING|ALERT)\]", line))
        assert first >= 2
        assert re.match(r"\[NOTICE\] {3}\(\d+\) : haproxy version is 2\.6\.", lines[first - 2])
        assert re.match(r"\[NOTICE\] {3}\(\d+\) : path to executable is /", lines[first - 1])
        assert result.stderr.count("haproxy version is") == 1


def test_no_preamble_for_notices_only(tmp_path: Path) -> None:
    path = write_cfg(tmp_path, "global\n    .notice hello\n" + VALID)
    result = run_cli("-c", "-f", str(path))
    assert result.returncode == 0
    assert "haproxy version is" not in result.stderr
    assert re.fullmatch(
        rf"\[NOTICE\] {{3}}\(\d+\) : config : parsing \[{re.escape(str(path))}:2\]: 'hello'\.\n",
        result.stderr,
    )


def test_several_files_with_repeated_f_and_double_dash(tmp_path: Path) -> None:
    first = write_cfg(tmp_path, "defaults\n" + TIMEOUTS, "a.cfg")
    second = write_cfg(tmp_path, "listen app\n    bind 127.0.0.1:8080\n", "b.cfg")
    for args in (["-f", str(first), "-f", str(second)], ["--", str(first), str(second)]):
        result = run_cli("-c", *args)
        # Had only b.cfg been read, the missing timeouts would give warnings.
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            "Configuration file is valid\n",
            "",
        ), args
    # And reading only b.cfg indeed warns.
    alone = run_cli("-c", "-f", str(second))
    assert "Warnings were found." in alone.stdout


def test_directory_argument(tmp_path: Path) -> None:
    write_cfg(tmp_path, "defaults\n" + TIMEOUTS, "10-defaults.cfg")
    write_cfg(tmp_path, "listen app\n    bind 127.0.0.1:8080\n", "20-listen.cfg")
    write_cfg(tmp_path, "garbage that is never read\n", "notes.txt")
    result = run_cli("-c", "-f", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "Configuration file is valid\n")


def test_change_directory_first(tmp_path: Path) -> None:
    write_cfg(tmp_path, VALID, "relative.cfg")
    result = run_cli("-c", "-C", str(tmp_path), "-f", "relative.cfg", cwd="/")
    assert (result.returncode, result.stdout) == (0, "Configuration file is valid\n")
    bad = run_cli("-c", "-C", str(tmp_path / "missing-dir"), "-f", "relative.cfg", cwd="/")
    assert bad.returncode == 1
    assert "missing-dir" in bad.stderr
    assert_no_traceback(bad)


# -- -v, -vv, usage, --help ---------------------------------------------------------------------


def test_version() -> None:
    result = run_cli("-v")
    assert result.returncode == 0
    first = result.stdout.splitlines()[0]
    assert re.match(r"^HAProxy version 2\.6\.\d+-\S+ ", first), first
    assert __version__ in first
    assert first.startswith(f"HAProxy version {HAPROXY_LEVEL}-")
    assert result.stderr == ""


def test_build_info() -> None:
    result = run_cli("-vv")
    assert result.returncode == 0
    assert result.stdout.startswith("HAProxy version ")
    features = [line for line in result.stdout.splitlines() if line.startswith("Feature list : ")]
    assert len(features) == 1
    names = features[0].removeprefix("Feature list : ").split()
    assert names and all(re.fullmatch(r"[+-][A-Z0-9_]+", name) for name in names)
    assert "+EPOLL" in names


def test_no_arguments_prints_banner_and_usage() -> None:
    result = run_cli()
    assert result.returncode == 1
    assert result.stdout.startswith("HAProxy version ")
    assert "Usage : haproxy-py" in result.stderr
    assert "-f <cfgfile|cfgdir>" in result.stderr
    assert "Usage" not in result.stdout


def test_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("-f", "-c", "-cc", "-dW", "-q", "--show-config"):
        assert re.search(rf"(^|\s){re.escape(flag)}\b", result.stdout), flag
    assert all(len(line) <= 100 for line in result.stdout.splitlines())
    assert result.stderr == ""


def test_unknown_flag_is_a_usage_error() -> None:
    result = run_cli("--no-such-flag")
    assert result.returncode != 0
    assert "no-such-flag" in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result)


@pytest.mark.parametrize("args", [["-Z"], ["--no-such-flag"], ["-f"]])
def test_command_line_errors_exit_1_like_haproxy(args: list[str]) -> None:
    assert run_cli(*args).returncode == 1


# -- -cc ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "status"),
    [
        ("defined(HOME)", 0),
        ("version_atleast(9.0)", 1),
        ("1 && !0", 0),
        ("", 1),
    ],
)
def test_condition_flag(condition: str, status: int) -> None:
    result = run_cli("-cc", condition)
    assert result.returncode == status
    assert result.stdout == ""


def test_condition_flag_error() -> None:
    result = run_cli("-cc", "foo(1)")
    assert result.returncode == 2
    assert "Failed to evaluate condition" in result.stderr
    assert "'foo(1)'" in result.stderr
    assert_no_traceback(result)


def test_condition_flag_sees_the_environment() -> None:
    assert run_cli("-cc", "defined(MY_FLAG)", env={"MY_FLAG": ""}).returncode == 0


def test_serving_flags_still_check_the_configuration_first(tmp_path: Path) -> None:
    result = run_cli("-W", "-f", str(write_cfg(tmp_path, INVALID)))
    assert result.returncode == 1
    assert "'5parsecs'" in result.stderr
    assert "not yet supported" not in result.stderr


def test_show_config(tmp_path: Path) -> None:
    result = run_cli("--show-config", "-f", str(write_cfg(tmp_path, VALID)))
    assert result.returncode == 0
    assert "listen app" in result.stdout
    assert_no_traceback(result)


# -- signals -------------------------------------------------------------------------------------

_SIGNAL_PROBE = """
import atexit, signal, sys
def report():
    sys.stderr.write("SIGNALS %s %s\\n" % (
        signal.getsignal(signal.SIGINT) == signal.SIG_DFL,
        signal.getsignal(signal.SIGQUIT) == signal.SIG_DFL,
    ))
atexit.register(report)
if sys.argv[1] == "main":
    sys.argv = ["haproxy-py", "-v"]
    from master.entry import main
    main()
"""


def _ignore_sigint_and_sigquit() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def _probe(what: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SIGNAL_PROBE, what],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_ignore_sigint_and_sigquit,
        check=False,
    )


def test_inherited_ignored_sigint_and_sigquit_are_reset() -> None:
    # A background job of a non-interactive shell starts with SIGINT and SIGQUIT ignored.
    control = _probe("nothing")
    assert "SIGNALS False False" in control.stderr  # the dispositions are really inherited
    result = _probe("main")
    assert result.returncode == 0, result.stderr
    assert "SIGNALS True True" in result.stderr
    assert result.stdout.startswith("HAProxy version ")


def test_console_script_is_found() -> None:
    command = haproxy_py_command()
    assert command
    assert Path(command[0]).exists()


def test_the_quickstart_configuration_is_valid_and_servable() -> None:
    """`make run` serves examples/quickstart.cfg: it must pass -c and the workers' checks."""
    from haproxy_py.config import load_configuration
    from tests.helpers import REPO
    from worker.startup import check_config

    path = REPO / "examples" / "quickstart.cfg"
    result = run_cli("-c", "-f", str(path))
    assert result.returncode == 0, result.stderr
    loaded = load_configuration([str(path)], env={})
    assert loaded.config is not None
    assert check_config(loaded.config) == []
