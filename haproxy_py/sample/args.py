"""Splitting a sample expression into keywords and arguments, and typing the arguments.

`hdr(host,1),lower,map(/etc/hosts.map,www)` is a fetch followed by converters, each with an
optional parenthesised argument list. Arguments may be quoted ('...' or "...") and may
escape a character with a backslash, so `regsub("[,]",_)` works. Each keyword declares its
arguments as `ArgSpec`s; `check_args` turns the texts into typed values at compile time and
words its errors the way HAProxy does ("missing arguments (got 1/2), type 'integer'
expected", "failed to parse 'x' as type 'integer' at position 2").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from haproxy_py.sample.types import SampleError

_KEYWORD = re.compile(r"[A-Za-z0-9_.\-]+")
_ESCAPABLE = "\\,()'\" "


@dataclass(frozen=True, slots=True)
class Call:
    """One keyword of an expression with its argument texts (None: no parentheses)."""

    name: str
    args: tuple[str, ...] | None


def split_expression(text: str) -> list[Call]:
    """`fetch(a,b),conv1,conv2(c)` -> calls; raises SampleError on a malformed text."""
    calls: list[Call] = []
    pos = 0
    while True:
        match = _KEYWORD.match(text, pos)
        if match is None:
            where = text[pos:] or "end of expression"
            raise SampleError(f"missing keyword before '{where}'")
        name = match.group()
        pos = match.end()
        args: tuple[str, ...] | None = None
        if pos < len(text) and text[pos] == "(":
            args, pos = _split_args(text, pos + 1, name)
        calls.append(Call(name, args))
        if pos == len(text):
            return calls
        if text[pos] != ",":
            raise SampleError(
                f"expected ',' or end of expression after '{name}', got '{text[pos:]}'"
            )
        pos += 1


def _split_args(text: str, pos: int, name: str) -> tuple[tuple[str, ...], int]:
    args: list[str] = []
    current: list[str] = []
    quote = ""
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "\\" and pos < len(text):
            # an escaped delimiter or quote is taken literally; "\1" stays for regsub
            if text[pos] in _ESCAPABLE:
                current.append(text[pos])
                pos += 1
            else:
                current.append(char)
        elif quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "'\"":
            quote = char
        elif char == ",":
            args.append("".join(current))
            current = []
        elif char == ")":
            args.append("".join(current))
            if args == [""]:
                args = []
            return tuple(args), pos
        else:
            current.append(char)
    raise SampleError(f"missing closing ')' after arguments to '{name}'")


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One argument: the type name HAProxy prints and a parser text -> value (or raises)."""

    type_name: str
    parse: Callable[[str], Any]


def _int(text: str) -> int:
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise ValueError(text)
    return int(text)


def _uint(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _str(text: str) -> str:
    return text


INT = ArgSpec("integer", _int)
UINT = ArgSpec("integer", _uint)
STRING = ArgSpec("string", _str)


def check_args(
    kind: str,
    name: str,
    texts: tuple[str, ...] | None,
    specs: Sequence[ArgSpec],
    mandatory: int,
) -> tuple[Any, ...]:
    """Type the argument texts of keyword `name` (`kind`: "fetch method", "converter")."""
    given = texts or ()
    if texts == () and mandatory and specs[0] is STRING:
        given = ("",)  # HAProxy reads `str()`, `req.hdr()` as one empty string argument
    if texts is not None and not specs:
        raise SampleError(
            f"{kind} '{name}' takes no argument, expected ')' before '{','.join(given)})'"
        )
    if len(given) > len(specs):
        raise SampleError(
            f"{kind} '{name}' : end of arguments expected at position {len(specs) + 1},"
            f" but got '{given[len(specs)]}'"
        )
    if len(given) < mandatory:
        expected = specs[len(given)].type_name
        raise SampleError(
            f"{kind} '{name}' : missing arguments (got {len(given)}/{mandatory}),"
            f" type '{expected}' expected"
        )
    values = []
    for position, (text, spec) in enumerate(zip(given, specs, strict=False), start=1):
        if text == "" and position > mandatory:
            values.append(None)  # an empty optional argument is "not set", as in date(,ms)
            continue
        try:
            values.append(spec.parse(text))
        except SampleError as error:
            raise SampleError(f"invalid args in {kind} '{name}' : {error}") from None
        except ValueError:
            raise SampleError(
                f"{kind} '{name}' : failed to parse '{text}' as type '{spec.type_name}'"
                f" at position {position}"
            ) from None
    values.extend([None] * (len(specs) - len(values)))
    return tuple(values)
