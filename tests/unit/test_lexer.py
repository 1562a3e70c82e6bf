"""The configuration lexer against HAProxy 2.6's quoting, escaping and expansion rules.

Every expected value below was checked against the installed `haproxy -c` with `.notice`
lines (see tests/e2e/test_differential.py, which re-checks a sample of them live).
"""

from __future__ import annotations

import pytest

from haproxy_py.config.lexer import LexError, split_words

ENV = {
    "A": "aval",
    "B": "bval",
    "EMPTY": "",
    "LIST": "one two  three",
    "ONE": "single",
    "HOME": "/home/user",
    ".LINE": "7",
    ".FILE": "f.cfg",
    ".SECTION": "global",
}


def words(line: str) -> list[str]:
    return split_words(line, ENV)


# -- blanks and comments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", []),
        ("   \t  ", []),
        ("a b\tc", ["a", "b", "c"]),
        ("  lead   trail  ", ["lead", "trail"]),
        ("\tbind\t:80\t", ["bind", ":80"]),
        ("a b\r", ["a", "b"]),  # a CRLF file's line
        ("a b\r\n", ["a", "b"]),
        ("# only a comment", []),
        ("   # indented comment", []),
        ("a b # comment", ["a", "b"]),
        ("a b#comment", ["a", "b"]),
        ("a#b c", ["a"]),  # '#' ends the line even in the middle of a word
        ("#a b", []),
    ],
)
def test_blanks_and_comments(line: str, expected: list[str]) -> None:
    assert words(line) == expected


# -- escapes outside quotes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (r"\ x\#y\\z", [" x#y\\z"]),
        (r"a\ b c", ["a b", "c"]),
        ("a\\\tb", ["a\tb"]),  # an escaped tab
        (r"\'q\"", ["'q\""]),
        (r"\#not-a-comment", ["#not-a-comment"]),
        (r"\\", ["\\"]),
        (r"\\\\", ["\\\\"]),
        (r"\n", ["\n"]),
        (r"\r", ["\r"]),
        (r"\t", ["\t"]),
        (r"a\nb", ["a\nb"]),
        (r"\x41\x62", ["Ab"]),
        (r"\x41\x4a\x6a", ["AJj"]),
        (r"pre\x20post", ["pre post"]),
        (r"\z", [r"\z"]),  # any other escaped character keeps its backslash
        (r"\$HOME", [r"\$HOME"]),  # HAProxy 2.6 leaves '\$' alone outside quotes
        ("a\\", ["a\\"]),  # a lone backslash at the end of the line stays
    ],
)
def test_escapes_outside_quotes(line: str, expected: list[str]) -> None:
    assert words(line) == expected


# -- double quotes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"a b"', ["a b"]),
        ('"a\tb"', ["a\tb"]),
        ('"a#b"', ["a#b"]),
        ('"it\'s"', ["it's"]),
        (r'"x\"y"', ['x"y']),
        (r'"\#"', ["#"]),
        (r'"\ "', [" "]),
        (r'"\$HOME"', ["$HOME"]),  # '\$' protects the dollar inside double quotes
        (r'"\\$A"', ["\\aval"]),
        (r'"\x41"', ["A"]),
        (r'"\z"', [r"\z"]),
        (r'"\r"', ["\r"]),
        (r'"\t"', ["\t"]),
        ('"$A"', ["aval"]),
        ('"${A}"', ["aval"]),
        ('"$A$B"', ["avalbval"]),
        ('"$A-$B"', ["aval-bval"]),
        ('"$A.$B"', ["aval.bval"]),
        ('"${A}B"', ["avalB"]),
        ('"${A}${B}"', ["avalbval"]),
        ('"$AB"', [""]),  # the name is AB, which is not set
        ('"$A_B"', [""]),  # '_' belongs to the name
        ('"pre${A}post"', ["preavalpost"]),
        ('"$HOME/x"', ["/home/user/x"]),
        ('"${UNSET}"', [""]),
        ('"${EMPTY}"', [""]),
        ('"é$A"', ["éaval"]),
    ],
)
def test_double_quotes(line: str, expected: list[str]) -> None:
    assert words(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"${UNSET-def}"', ["def"]),
        ('"${EMPTY-def}"', [""]),  # the default replaces an unset variable, not an empty one
        ('"${A-def}"', ["aval"]),
        ('"${A-b-c}"', ["aval"]),
        ('"${UNSET-b-c}"', ["b-c"]),
        ('"${UNSET-a b}"', ["a b"]),  # a default with a blank stays one word
        ('"${A-}x"', ["avalx"]),
        ('"${UNSET-}x"', ["x"]),
        ('"${UNSET-x}y"', ["xy"]),
        ('"${UNSET-${A}}"', ["${A}"]),  # no nesting: the default is the text up to the first '}'
    ],
)
def test_variable_defaults(line: str, expected: list[str]) -> None:
    assert words(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"${LIST[*]}" end', ["one", "two", "three", "end"]),
        ('begin "${LIST[*]}"', ["begin", "one", "two", "three"]),
        ('"x${LIST[*]}y"', ["xone", "two", "threey"]),
        ('"${ONE[*]}"', ["single"]),
        ('"${A[*]}"', ["aval"]),
        ('"$A[*]"', ["aval[*]"]),  # only the braced form splits
    ],
)
def test_variable_lists_split_into_words(line: str, expected: list[str]) -> None:
    assert words(line) == expected


def test_pseudo_variables_come_from_the_env_mapping() -> None:
    assert words('"${.LINE}" "${.FILE}" "${.SECTION}"') == ["7", "f.cfg", "global"]
    assert split_words('"${.LINE}"', {".LINE": "42"}) == ["42"]


def test_variables_are_not_expanded_outside_double_quotes() -> None:
    # HAProxy 2.6 expands only inside double quotes.
    assert words("${A} $A") == ["${A}", "$A"]
    assert words("x${A}y") == ["x${A}y"]
    assert words("'$A' '${A}'") == ["$A", "${A}"]


def test_environment_mapping_is_only_read() -> None:
    env = dict(ENV)
    words_before = split_words('"${UNSET-x}" "$A"', env)
    assert words_before == ["x", "aval"]
    assert env == ENV


# -- single quotes and glued parts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("'$A'", ["$A"]),
        (r"'a\b'", ["a\\b"]),  # no escape inside single quotes
        ("'a \"b\" c'", ['a "b" c']),
        ("'a#b'", ["a#b"]),
        ("'a  b'", ["a  b"]),
        ("x\"$A\"'$B'y", ["xaval$By"]),
        ('a""b', ["ab"]),
        ("a''b", ["ab"]),
        ('"a"b"c"', ["abc"]),
        (r"\"${A}\"", ['"${A}"']),
        ('""', [""]),
        ("''", [""]),
        ('"" z', ["", "z"]),
        ('a "" b', ["a", "", "b"]),
        ("'' ''", ["", ""]),
    ],
)
def test_single_quotes_and_glued_parts(line: str, expected: list[str]) -> None:
    assert words(line) == expected


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "position"),
    [
        ('"abc', 0),
        ("'abc", 0),
        ("x 'abc", 2),
        ('a "b" "c', 6),
        ('    http-request set-header X-Hello "world', 36),
        ("'\\''", 3),  # '\' is a whole single-quoted word; the last quote opens a new one
        ("ok \"x'y", 3),
        ("ok 'x\"y", 3),
    ],
)
def test_unmatched_quote_points_at_the_opening_quote(line: str, position: int) -> None:
    with pytest.raises(LexError) as info:
        words(line)
    assert info.value.position == position
    assert "unmatched quote" in info.value.message
    assert str(info.value) == info.value.message


@pytest.mark.parametrize(
    ("line", "position"),
    [
        (r"\x4", 0),
        (r"\xZZ", 0),
        (r"\x", 0),
        (r"ab\x4", 2),
        (r'"\x4g"', 1),
        (r'"\x"', 1),
    ],
)
def test_bad_hex_escape(line: str, position: int) -> None:
    with pytest.raises(LexError) as info:
        words(line)
    assert info.value.position == position
    assert "hexadecimal" in info.value.message


@pytest.mark.parametrize("line", ['"${A"', '"${}"', '"${1}"', '"${A:-x}"', '"${A[1]}"'])
def test_bad_braced_variables(line: str) -> None:
    with pytest.raises(LexError) as info:
        words(line)
    assert 0 <= info.value.position < len(line)


@pytest.mark.parametrize("line", ['"$1x"', '"$-"', '"$"', '"a$"', '"$ "'])
def test_dollar_without_a_name_inside_double_quotes_is_an_error(line: str) -> None:
    with pytest.raises(LexError):
        words(line)


def test_unknown_pseudo_variable_is_an_error() -> None:
    with pytest.raises(LexError):
        words('"${.FOO}"')


# -- the fast path (no special character) agrees with the slow path -------------------------

PLAIN_LINES = [
    "server s1 127.0.0.1:80 check inter 2s",
    "bind :80",
    "  timeout\tclient  30s  ",
    "acl is_api path_beg /api/v1",
    "log 127.0.0.1:514 local0 info",
    "http-request set-header X-A $A",
    "use_backend ${B} if { path /x }",
    "a b\r",
    "é ü 漢字",
    "",
    "   ",
]


@pytest.mark.parametrize("line", PLAIN_LINES)
def test_fast_path_agrees_with_slow_path(line: str) -> None:
    fast = words(line)
    body = line.rstrip("\r\n")
    assert words(body + " # a comment") == fast
    assert words(body + "#x") == fast
    # Quoting each word with single quotes changes nothing either.
    assert words(" ".join(f"'{word}'" for word in fast)) == fast
    # Nor does re-joining the words with tabs.
    assert words("\t".join(fast)) == fast


def test_fast_path_keeps_dollars_and_braces_literal() -> None:
    assert words("a $A ${B} {c}") == ["a", "$A", "${B}", "{c}"]
    assert words("a $A ${B} {c} #") == ["a", "$A", "${B}", "{c}"]


def test_error_positions_count_characters_not_bytes() -> None:
    with pytest.raises(LexError) as info:
        words('é "x')
    assert info.value.position == 2
