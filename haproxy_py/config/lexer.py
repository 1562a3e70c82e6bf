"""Cutting one configuration line into words, with HAProxy 2.6's quoting and escaping rules.

- Words are separated by unprotected spaces and tabs; an unprotected '#' ends the line.
- Outside quotes, a backslash protects a space, tab, '#', '\\', "'" and '"', and '\\n', '\\r',
  '\\t', '\\xNN' give those characters. Any other escaped character keeps its backslash
  (HAProxy 2.6 leaves '\\$' alone outside quotes, and so do we).
- Double quotes protect blanks, "'" and '#', keep the escapes above plus '\\$', and expand
  environment variables: $NAME, ${NAME}, ${NAME-default} (the default replaces an unset
  variable, not an empty one), ${NAME[*]} (one word per blank-separated item) and the pseudo
  variables ${.FILE}, ${.LINE}, ${.SECTION}. Variables are never expanded outside double quotes.
- Single quotes protect everything; there is no escape inside them.
- Quoted and unquoted parts glue into one word: x"$A"'$B'y is a single word.

Most lines hold none of the special characters; they take a fast path (one regex search, then
str.split), which keeps `-c` on very large generated files fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SPECIAL = re.compile(r"[#\"'\\]")
# str.split() also cuts at \v, \f, \x1c-\x1f and non-ASCII spaces, which are not blanks here:
# it may only take lines holding none of those, nor any special character.
_NOT_SPLITTABLE = re.compile(r"[#\"'\\\x0b\x0c\x1c-\x1f\x80-\U0010ffff]")
_WORD = re.compile(r"[^ \t\r\n]+")
_BLANKS = " \t\r\n"
_SIMPLE_ESCAPES = {" ": " ", "\t": "\t", "#": "#", "\\": "\\", "'": "'", '"': '"'}
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_HEX = "0123456789abcdefABCDEF"
# The only names allowed after a dot: set by the loader for each line.
PSEUDO_VARIABLES = ("FILE", "LINE", "SECTION")


class LexError(Exception):
    """A line that cannot be cut into words; `position` is the 0-based column of the culprit."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _is_name_start(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalpha())


def _is_name_char(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalnum())


class _Words:
    """The words of a line being built: the current word's pieces, and the finished words."""

    __slots__ = ("done", "open", "pieces")

    def __init__(self) -> None:
        self.done: list[str] = []
        self.pieces: list[str] = []
        self.open = False  # a word has started, even if it is still empty ("")

    def add(self, text: str) -> None:
        self.pieces.append(text)
        self.open = True

    def end(self) -> None:
        if self.open:
            self.done.append("".join(self.pieces))
            self.pieces.clear()
            self.open = False


def split_words(line: str, env: Mapping[str, str]) -> list[str]:
    """Cut a line into words. `env` answers variable look-ups, pseudo variables included."""
    if _NOT_SPLITTABLE.search(line) is None:
        return line.split()
    if _SPECIAL.search(line) is None:
        return _WORD.findall(line)
    return _Lexer(line, env).run()


class _Lexer:
    __slots__ = ("env", "line", "pos", "words")

    def __init__(self, line: str, env: Mapping[str, str]) -> None:
        self.line = line
        self.env = env
        self.pos = 0
        self.words = _Words()

    def run(self) -> list[str]:
        line, words = self.line, self.words
        end = len(line)
        while self.pos < end:
            char = line[self.pos]
            if char in _BLANKS:
                words.end()
                self.pos += 1
            elif char == "#":
                break
            elif char == "'":
                self._single_quoted()
            elif char == '"':
                self._double_quoted()
            elif char == "\\":
                words.add(self._escape(in_double_quotes=False))
            else:
                start = self.pos
                while self.pos < end and line[self.pos] not in " \t\r\n#'\"\\":
                    self.pos += 1
                words.add(line[start : self.pos])
        words.end()
        return words.done

    def _single_quoted(self) -> None:
        start = self.pos
        close = self.line.find("'", start + 1)
        if close < 0:
            raise LexError("unmatched quote", start)
        self.words.add(self.line[start + 1 : close])
        self.pos = close + 1

    def _double_quoted(self) -> None:
        line, words = self.line, self.words
        start = self.pos
        self.pos += 1
        words.add("")
        while True:
            if self.pos >= len(line):
                raise LexError("unmatched quote", start)
            char = line[self.pos]
            if char == '"':
                self.pos += 1
                return
            if char == "\\":
                words.add(self._escape(in_double_quotes=True))
            elif char == "$":
                self._variable()
            else:
                run = self.pos
                while self.pos < len(line) and line[self.pos] not in '"\\$':
                    self.pos += 1
                words.add(line[run : self.pos])

    def _escape(self, in_double_quotes: bool) -> str:
        line = self.line
        start = self.pos
        if start + 1 >= len(line):
            self.pos += 1
            return "\\"
        nxt = line[start + 1]
        self.pos += 2
        if nxt in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[nxt]
        if nxt in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[nxt]
        if nxt == "$" and in_double_quotes:
            return "$"
        if nxt == "x":
            digits = line[start + 2 : start + 4]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise LexError("truncated or invalid hexadecimal sequence", start)
            self.pos = start + 4
            return chr(int(digits, 16))
        return "\\" + nxt

    def _variable(self) -> None:
        """Expand $NAME or ${...} at self.pos (inside double quotes)."""
        line = self.line
        start = self.pos
        if start + 1 < len(line) and line[start + 1] == "{":
            close = line.find("}", start + 2)
            if close < 0:
                raise LexError("missing closing '}' in braced variable", start)
            self.pos = close + 1
            self._expand_braced(line[start + 2 : close], start)
            return
        name_end = start + 1
        if name_end < len(line) and _is_name_start(line[name_end]):
            while name_end < len(line) and _is_name_char(line[name_end]):
                name_end += 1
            self.pos = name_end
            self.words.add(self.env.get(line[start + 1 : name_end], ""))
            return
        # HAProxy 2.6 refuses a '$' that starts no variable name; write "\$" for a dollar.
        raise LexError("forbidden first char in environment variable name", start + 1)

    def _expand_braced(self, body: str, start: int) -> None:
        name_end = 0
        if body.startswith("."):
            name_end = 1
            pseudo = body[1:].split("-", 1)[0].split("[", 1)[0]
            if pseudo not in PSEUDO_VARIABLES:
                raise LexError(f"unknown pseudo variable '.{pseudo}'", start)
        elif not body or not _is_name_start(body[0]):
            raise LexError(f"invalid variable name in '${{{body}}}'", start)
        while name_end < len(body) and _is_name_char(body[name_end]):
            name_end += 1
        name, rest = body[:name_end], body[name_end:]
        value = self.env.get(name)
        if rest == "[*]":
            for index, item in enumerate((value or "").split()):
                if index:
                    self.words.end()
                self.words.add(item)
            return
        if rest.startswith("-"):
            self.words.add(rest[1:] if value is None else value)
            return
        if rest:
            raise LexError(f"invalid variable name in '${{{body}}}'", start)
        self.words.add(value or "")
