"""haproxy-py against the installed HAProxy 2.6: same `-c` verdicts, same words from the lexer."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import SHARED_CONFIGS, TIMEOUTS, read_env_file, run_cli, write_cfg

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs_haproxy,
    pytest.mark.skipif(
        shutil.which("haproxy") is None,
        reason="HAProxy 2.6 not installed: differential tests need it",
    ),
]

# secure-global.cfg uses `nbproc`, which HAProxy 2.6 rejects and haproxy-py accepts on purpose.
GOOD_CONFIGS = ["env-vars.cfg", "l4-tcp.cfg", "l7-content-switching.cfg"]


def both(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    haproxy = shutil.which("haproxy")
    assert haproxy is not None
    theirs = run_cli(*args, env=env, cwd=cwd, command=[haproxy])
    ours = run_cli(*args, env=env, cwd=cwd)
    return theirs, ours


def same_status(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
    theirs, ours = both(args, env, cwd)
    assert ours.returncode == theirs.returncode, (
        f"haproxy: {theirs.returncode}\n{theirs.stderr}\nhaproxy-py: {ours.returncode}\n"
        f"{ours.stderr}"
    )
    return theirs, ours


@pytest.mark.parametrize("name", GOOD_CONFIGS)
def test_shared_good_configs(shared_configs: Path, name: str) -> None:
    env = read_env_file(shared_configs / "site1.env")
    theirs, _ = same_status(["-c", "-f", name], env=env, cwd=shared_configs)
    assert theirs.returncode == 0


def _bad_configs() -> list[str]:
    return sorted(path.name for path in (SHARED_CONFIGS / "bad").glob("*.cfg"))


@pytest.mark.parametrize("name", _bad_configs() or ["none"])
def test_shared_bad_configs(shared_configs: Path, name: str) -> None:
    if name == "none":
        pytest.skip("no shared bad configurations")
    theirs, _ = same_status(["-c", "-f", name], cwd=shared_configs / "bad")
    assert theirs.returncode == 1


LISTEN = "listen app\n    bind 127.0.0.1:1\n" + TIMEOUTS

SMALL_CONFIGS = {
    "valid": "defaults\n    mode http\n" + TIMEOUTS + "listen app\n    bind 127.0.0.1:1\n",
    "warnings only": "listen app\n    bind 127.0.0.1:1\n    server s 127.0.0.1:2\n",
    "no listener": "defaults\n" + TIMEOUTS + "backend be\n    server s 127.0.0.1:2\n",
    "empty file": "",
    "bad time": "defaults\n    timeout connect 5parsecs\n" + LISTEN,
    "bad port": "listen app\n    bind 127.0.0.1:99999\n" + TIMEOUTS,
    "server in frontend": "defaults\n"
    + TIMEOUTS
    + "frontend fe\n    bind :1\n    server s 127.0.0.1:2\n",
    "balance in frontend": "defaults\n"
    + TIMEOUTS
    + "frontend fe\n    bind :1\n    balance roundrobin\n",
    "use_backend in defaults": "defaults\n    use_backend x\n" + LISTEN,
    "reqrep": LISTEN + "    reqrep a b\n",
    "unknown keyword": LISTEN + "    bogus-keyword 1\n",
    "duplicate server": LISTEN + "    server s 127.0.0.1:2\n    server s 127.0.0.1:3\n",
    "nested if": "global\n.if 1\n.if 0\n    bogus\n.else\n    maxconn 10\n.endif\n.endif\n"
    + LISTEN,
    "else after else": "global\n.if 1\n.else\n.else\n.endif\n" + LISTEN,
    "missing endif": "global\n.if 1\n" + LISTEN,
    "lone endif": "global\n.endif\n" + LISTEN,
    ".alert": "global\n    .alert stop\n" + LISTEN,
    ".warning": "global\n    .warning careful\n" + LISTEN,
    "unmatched quote": 'global\n    description "oops\n' + LISTEN,
    "named defaults": "defaults web\n    mode http\n"
    + TIMEOUTS
    + "listen app from web\n    bind :1\n",
    "unknown from": "listen app from nope\n    bind :1\n" + TIMEOUTS,
    "missing LF": LISTEN + "    maxconn 10",
    "missing backend": "defaults\n"
    + TIMEOUTS
    + "frontend fe\n    bind :1\n    default_backend nope\n",
    "no option redispatch": "defaults\n" + TIMEOUTS + LISTEN + "    no option redispatch\n",
    "setenv": 'global\n    setenv P 1\nlisten app\n    bind "127.0.0.1:${P}"\n' + TIMEOUTS,
}

# Configurations on which haproxy-py is known to disagree with HAProxy (product bugs).
# Formerly divergent behaviours, now matching HAProxy 2.6.
FIXED_DIVERGENCES = {
    "no option httplog": "defaults\n    mode http\n    no option httplog\n" + LISTEN,
    ".notice with two words": "global\n    .notice two words\n" + LISTEN,
    "dollar without a name": 'global\n    .notice "$1x"\n' + LISTEN,
    "quoting error in inactive block": 'global\n.if 0\n    "oops\n.endif\n' + LISTEN,
}


def _statuses(jobs: dict[str, tuple[list[str], Path | None]]) -> dict[str, tuple[int, int]]:
    """Run each job with both programs, a few at a time: name -> (haproxy's, ours)."""
    haproxy = shutil.which("haproxy")
    assert haproxy is not None

    def one(job: tuple[list[str], Path | None]) -> tuple[int, int]:
        args, cwd = job
        theirs = run_cli(*args, cwd=cwd, command=[haproxy]).returncode
        return theirs, run_cli(*args, cwd=cwd).returncode

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(one, jobs.values()), strict=True))


def test_small_configs(tmp_path: Path) -> None:
    jobs = {}
    for index, (name, text) in enumerate(SMALL_CONFIGS.items()):
        directory = tmp_path / str(index)
        directory.mkdir()
        write_cfg(directory, text)
        jobs[name] = (["-c", "-f", "test.cfg"], directory)
    statuses = _statuses(jobs)
    differing = {name: pair for name, pair in statuses.items() if pair[0] != pair[1]}
    assert differing == {}, "(haproxy, haproxy-py) exit statuses differ"
    assert {pair[0] for pair in statuses.values()} == {0, 1, 2}  # every verdict was tried


@pytest.mark.parametrize("text", list(FIXED_DIVERGENCES.values()), ids=list(FIXED_DIVERGENCES))
def test_former_divergences(tmp_path: Path, text: str) -> None:
    path = write_cfg(tmp_path, text)
    same_status(["-c", "-f", path.name], cwd=tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    theirs, ours = same_status(["-c", "-f", "absent.cfg"], cwd=tmp_path)
    assert theirs.returncode == 1
    assert "Cannot open configuration file/directory absent.cfg" in ours.stderr


CONDITIONS = [
    *["", "0", "1", "42", "-1", "!0", "!!1", "1 || 0 && 0", "0 && 1 || 1", "(0 || 1) && 0"],
    *["defined(HOME)", "defined(NOPE_X)", "streq(a,a)", "streq( a , a )", "strneq(a,a)"],
    *["version_atleast(2.6)", "version_before(2.6)", "version_before(2.7)", "version_atleast(9)"],
    *["version_atleast(2.6-dev3)", "feature(EPOLL)", "feature(NOPE)"],
    *["foo(1)", "1 &&", "(1", "1)", "streq(a)", "defined(A,B)", "1 1", "abc", "1a"],
]


def test_conditions() -> None:
    statuses = _statuses({condition: (["-cc", condition], None) for condition in CONDITIONS})
    differing = {name: pair for name, pair in statuses.items() if pair[0] != pair[1]}
    assert differing == {}, "(haproxy, haproxy-py) exit statuses differ"
    assert {pair[0] for pair in statuses.values()} == {0, 1, 2}


# -- the lexer, word by word --------------------------------------------------------------

# One word per line, each checked by hand against HAProxy 2.6 first.
TRICKY_WORDS = [
    r"a#b",
    r"\ x\#y\\z",
    r"\'q\"",
    r"\$HOME",
    r'"\$HOME"',
    r'"$A"',
    r'"${A}"',
    r'"${UNSET-def}"',
    r'"${EMPTY-def}"',
    r'"${A-def}"',
    r'"${.LINE}"',
    r'"${.FILE}"',
    r'"${.SECTION}"',
    r"'$A'",
    r"'a\b'",
    r"""x"$A"'$B'y""",
    r'""',
    r"${A}",
    r"$A",
    r"\x41\x62",
    r'"\x41"',
    r"\z",
    r'"\z"',
    r'"a#b"',
    r"'a#b'",
    r'"$A$B"',
    r'"$A-$B"',
    r'"${A}B"',
    r'"$AB"',
    r'"a b"',
    r"""'a "b" c'""",
    r'''"it's"''',
    r'"x\"y"',
    r"\\\\",
    "a\\",
    r'"$A_B"',
    r'"pre${A}post"',
    r'"$HOME/x"',
    r'"\#"',
    r'"\ "',
    r'"${UNSET-a b}"',
    r'"$A.$B"',
    '"a\tb"',
    r'"$A[*]"',
    r'"${A[*]}"',
    r'"${ONE[*]}"',
    r'"${A-b-c}"',
    r'"${A-}x"',
    r'"${UNSET-${A}}"',
    r'"${UNSET-x}y"',
    r"\"${A}\"",
    r'"\\$A"',
    r'"é$A"',
]

LEXER_ENV = {"A": "aval", "B": "bval", "EMPTY": "", "ONE": "single", "HOME": "/home/tester"}

NOTICE = re.compile(
    r"^\[NOTICE\] +\(\d+\) : config : parsing \[(?P<file>[^\]]*):(?P<line>\d+)\]: '(?P<msg>.*)'\.$"
)
LEX_ALERT = re.compile(
    r"^\[ALERT\] +\(\d+\) : config : parsing \[(?P<file>[^\]]*):(?P<line>\d+)\]: "
    r"(?P<msg>.*) at position (?P<pos>\d+):$"
)


def _payloads(stderr: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for line in stderr.split("\n"):  # not splitlines(): a payload may hold other separators
        match = NOTICE.match(line)
        if match:
            found[int(match.group("line"))] = match.group("msg")
    return found


def test_lexer_words_agree(tmp_path: Path) -> None:
    lines = ["global", *(f"    .notice {word}" for word in TRICKY_WORDS)]
    lines += ["listen app", "    bind 127.0.0.1:1", TIMEOUTS.rstrip("\n"), ""]
    write_cfg(tmp_path, "\n".join(lines), "words.cfg")
    theirs, ours = same_status(["-c", "-f", "words.cfg"], env=LEXER_ENV, cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    expected = _payloads(theirs.stderr)
    assert len(expected) == len(TRICKY_WORDS), theirs.stderr
    got = _payloads(ours.stderr)
    for number, word in enumerate(TRICKY_WORDS, 2):
        assert got.get(number) == expected[number], f"line {number}: {word}"
    assert got == expected


LEXER_ERRORS = [
    '"abc',
    "'abc",
    'ok "a" "b',
    r"'\''",
    r"\x4",
    r"\xZZ",
    r'"\x4g"',
    r"ab\x4",
]


def _lex_alerts(stderr: str) -> list[tuple[int, str, int]]:
    return [
        (int(m.group("line")), m.group("msg"), int(m.group("pos")))
        for line in stderr.split("\n")
        if (m := LEX_ALERT.match(line))
    ]


def test_lexer_errors_agree(tmp_path: Path) -> None:
    lines = ["global", *(f"    .notice {word}" for word in LEXER_ERRORS), LISTEN]
    write_cfg(tmp_path, "\n".join(lines), "errors.cfg")
    theirs, ours = same_status(["-c", "-f", "errors.cfg"], env=LEXER_ENV, cwd=tmp_path)
    expected = _lex_alerts(theirs.stderr)
    assert len(expected) == len(LEXER_ERRORS), theirs.stderr
    assert _lex_alerts(ours.stderr) == expected
