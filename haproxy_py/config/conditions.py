"""Preprocessor conditions: the expressions of `.if`/`.elif` and of `haproxy-py -cc`.

Grammar (HAProxy 2.6): an empty condition is false; an integer is true unless zero; a predicate
`name(args)` (defined, feature, streq, strneq, version_atleast, version_before); '!' negates;
parentheses group; '&&' binds tighter than '||'. Predicates see their arguments as raw text
between commas (variables were already expanded by the lexer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.features import FEATURES
from haproxy_py.version import VERSION

_TOKEN = re.compile(
    r"\s*(?:(&&|\|\||[!()])|([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)\)|([+-]?\d\w*)|(\S+))"
)
# Integers are read as C's strtol(base 0) reads them: 0x1A, 017 (octal), 42, with a sign.
_C_INTEGER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")

_PRE_RELEASE = {"dev": 0, "pre": 1, "rc": 2}
_RELEASE = 3


def version_key(text: str) -> tuple[int, ...]:
    """Order versions as HAProxy does: 2.6 < 2.6.1 and 2.6-dev3 < 2.6-rc1 < 2.6.

    Other suffixes (a distribution's "-1+deb12u4", our "-haproxy-py-X") do not count.
    """
    match = re.match(r"(\d+(?:\.\d+)*)(?:-(dev|pre|rc)(\d*))?", text.strip())
    if match is None:
        raise ConfigError(f"invalid version '{text}'")
    numbers = [int(part) for part in match.group(1).split(".")]
    numbers += [0] * (4 - len(numbers))
    stage = _PRE_RELEASE[match.group(2)] if match.group(2) else _RELEASE
    return (*numbers[:4], stage, int(match.group(3) or 0))


@dataclass(frozen=True, slots=True)
class _Predicate:
    arity: int
    test: Callable[[Sequence[str], Mapping[str, str]], bool]


PREDICATES: Mapping[str, _Predicate] = {
    "defined": _Predicate(1, lambda a, env: a[0] in env),
    "feature": _Predicate(1, lambda a, env: FEATURES.get(a[0], False)),
    "streq": _Predicate(2, lambda a, env: a[0] == a[1]),
    "strneq": _Predicate(2, lambda a, env: a[0] != a[1]),
    "version_atleast": _Predicate(1, lambda a, env: version_key(VERSION) >= version_key(a[0])),
    "version_before": _Predicate(1, lambda a, env: version_key(VERSION) < version_key(a[0])),
}


def evaluate_condition(words: Sequence[str], env: Mapping[str, str]) -> bool:
    """Evaluate the words of a condition; raise ConfigError when it cannot be parsed."""
    text = " ".join(words).strip()
    if not text:
        return False
    tokens = _tokenize(text)
    parser = _Parser(tokens, env, text)
    result = parser.parse_or()
    if parser.index != len(tokens):
        raise ConfigError(f"unparsable conditional expression '{text}'")
    return result


def _tokenize(text: str) -> list[tuple[str, ...]]:
    tokens: list[tuple[str, ...]] = []
    for match in _TOKEN.finditer(text):
        operator, name, args, number, other = match.groups()
        if operator:
            tokens.append(("op", operator))
        elif name:
            tokens.append(("call", name, args))
        elif number is not None:
            tokens.append(("int", number))
        elif other:
            tokens.append(("bad", other))
    return tokens


def _c_integer(text: str, expression: str) -> int:
    if _C_INTEGER.fullmatch(text) is None:
        raise ConfigError(f"unparsable conditional expression '{expression}'")
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        return int(text, 16)
    return int(text, 8 if digits.startswith("0") else 10)


class _Parser:
    def __init__(self, tokens: list[tuple[str, ...]], env: Mapping[str, str], text: str) -> None:
        self.tokens = tokens
        self.env = env
        self.text = text
        self.index = 0

    def _peek(self) -> tuple[str, ...] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _fail(self) -> ConfigError:
        return ConfigError(f"unparsable conditional expression '{self.text}'")

    def parse_or(self) -> bool:
        # Every branch is parsed (so syntax errors anywhere are found), then combined.
        result = self.parse_and()
        while self._peek() == ("op", "||"):
            self.index += 1
            right = self.parse_and()
            result = result or right
        return result

    def parse_and(self) -> bool:
        result = self.parse_term()
        while self._peek() == ("op", "&&"):
            self.index += 1
            right = self.parse_term()
            result = result and right
        return result

    def parse_term(self) -> bool:
        token = self._peek()
        if token is None:
            raise self._fail()
        self.index += 1
        kind = token[0]
        if token == ("op", "!"):
            return not self.parse_term()
        if token == ("op", "("):
            result = self.parse_or()
            if self._peek() != ("op", ")"):
                raise self._fail()
            self.index += 1
            return result
        if kind == "int":
            return _c_integer(token[1], self.text) != 0
        if kind == "call":
            return self._call(token[1], token[2])
        raise self._fail()

    def _call(self, name: str, raw_args: str) -> bool:
        predicate = PREDICATES.get(name)
        if predicate is None:
            raise ConfigError(f"unparsable conditional expression '{self.text}'")
        args = [arg.strip() for arg in raw_args.split(",")] if raw_args.strip() else []
        if len(args) != predicate.arity:
            raise ConfigError(
                f"'{name}' expects {predicate.arity} argument(s) in conditional expression"
                f" '{self.text}'"
            )
        return predicate.test(args, self.env)
