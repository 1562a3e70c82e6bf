"""Property tests: the lexer and the loader survive any input without an unexpected exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haproxy_py.config import LoadResult, load_configuration
from haproxy_py.config.diagnostics import Severity
from haproxy_py.config.lexer import LexError, split_words

ENV = {"A": "aval", "LIST": "x y  z", "EMPTY": "", ".LINE": "1", ".FILE": "f", ".SECTION": ""}

# Characters that matter to the lexer, mixed with anything else unicode has.
SPECIAL = st.sampled_from(list(" \t\r\n\"'\\$#{}[]*-.x0Aé\x00"))
TEXT = st.lists(st.one_of(SPECIAL, st.characters()), max_size=60).map("".join)

SAFE_WORD = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_characters=" \t\r\n\"'\\#",
        exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
    ),
    min_size=1,
    max_size=12,
)

FAST = settings(max_examples=300, deadline=None)


@FAST
@given(TEXT)
def test_split_words_returns_words_or_raises_lex_error(line: str) -> None:
    try:
        result = split_words(line, ENV)
    except LexError as exc:
        assert isinstance(exc.message, str) and exc.message
        assert isinstance(exc.position, int)
        assert 0 <= exc.position <= len(line)
        return
    assert isinstance(result, list)
    assert all(isinstance(word, str) for word in result)


@FAST
@given(st.lists(SAFE_WORD, max_size=8), st.sampled_from([" ", "\t", "  ", " \t "]))
def test_safe_words_round_trip(parts: list[str], separator: str) -> None:
    line = separator.join(parts)
    assert split_words(line, ENV) == parts
    assert split_words(line + " # trailing comment", ENV) == parts
    assert split_words(" ".join(f"'{part}'" for part in parts), ENV) == parts


@FAST
@given(st.lists(SAFE_WORD, max_size=6))
def test_double_quoted_safe_words_without_dollar_round_trip(parts: list[str]) -> None:
    parts = [part.replace("$", "") or "x" for part in parts]
    assert split_words(" ".join(f'"{part}"' for part in parts), ENV) == parts


# Lines with no quote, backslash or '#': whatever fast path the lexer takes for them must give
# what the full lexer gives once a trailing comment forces it to run.
PLAIN_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \t\r\x0b\x0c\x1c\x1f\x85\xa0\u2003$")),
        st.characters(exclude_characters="#\"'\\\n"),
    ),
    max_size=40,
)


@FAST
@given(PLAIN_TEXT)
def test_fast_path_agrees_with_the_full_lexer(line: str) -> None:
    assert split_words(line, ENV) == split_words(line + "#", ENV)
    assert split_words(line, ENV) == split_words(line + " # comment", ENV)


# -- the loader never raises ---------------------------------------------------------------

CONFIG_LINES = st.sampled_from(
    [
        "global",
        "defaults",
        "defaults named",
        "frontend fe",
        "backend be",
        "listen li",
        "listen li from named",
        "    bind :80",
        "    bind 127.0.0.1:99999",
        '    bind "${A}:80"',
        "    server s1 127.0.0.1:80 check",
        "    server s1 127.0.0.1:80 weight 999",
        "    default-server inter 1s",
        "    timeout client 5s",
        "    timeout connect 5parsecs",
        "    mode http",
        "    balance roundrobbin",
        "    use_backend be if { path /x }",
        "    default_backend be",
        "    acl a path_beg /x",
        "    option httplog",
        "    no option redispatch",
        "    maxconn 10",
        "    setenv A b",
        ".if 1",
        ".if defined(A)",
        ".if foo(",
        ".elif 0",
        ".else",
        ".endif",
        ".notice hello",
        ".alert bye",
        "userlist users",
        "peers p",
        "    reqrep a b",
        "    lua-load /x.lua",
        "# a comment",
        "",
    ]
)
CONFIG_TEXT = st.lists(st.one_of(CONFIG_LINES, TEXT), max_size=25).map("\n".join)


def _load_bytes(data: bytes) -> LoadResult:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.cfg"
        path.write_bytes(data)
        return load_configuration([str(path)], env={"A": "127.0.0.1"})


def _check(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    has_alert = any(item.severity == Severity.ALERT for item in result.diagnostics)
    assert (result.config is None) == has_alert
    for item in result.diagnostics:
        assert isinstance(item.render(1), str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIG_TEXT, st.booleans())
def test_load_configuration_never_raises_on_config_like_text(text: str, final_lf: bool) -> None:
    data = (text + ("\n" if final_lf else "")).encode("utf-8", "surrogatepass")
    _check(_load_bytes(data))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_load_configuration_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    _check(_load_bytes(data))
