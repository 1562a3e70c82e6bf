"""The log-format compiler: a `log-format` string becomes a `LogFormat`, called per stream.

Syntax (HAProxy's): `%var`, `%{+Q}var` / `%{-Q,+X}var` flags for one variable, `%o` flags for
every variable after it, `%%` a percent sign, `%[sample]` refused until the rules engine
exists. Runs of spaces are one separator: it is written only when the previous thing written
was not already a space, so a variable that writes nothing (header captures when none are
configured) leaves a single space, as in HAProxy's lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from haproxy_py.logfmt.record import LogRecord
from haproxy_py.logfmt.variables import VARIABLES, Variable, escape

_FLAGS = re.compile(r"([+-])([A-Z])")
_KNOWN_FLAGS = frozenset("QXE")
_SEP = 0
_TEXT = 1
_VAR = 2


class LogFormatError(ValueError):
    """A format that cannot be compiled; the message names the culprit."""


Render = Callable[[LogRecord], str]


class LogFormat:
    """A compiled format: call it with a record to get the line."""

    __slots__ = ("_nodes", "http", "text")

    def __init__(self, text: str, nodes: list[tuple[int, object]], http: bool) -> None:
        self.text = text
        self._nodes = nodes
        self.http = http  # uses HTTP-only variables

    def __call__(self, record: LogRecord) -> str:
        out: list[str] = []
        space = True
        for kind, value in self._nodes:
            if kind == _VAR:
                text = value(record)  # type: ignore[operator]
                if text:
                    out.append(text)
                    space = False
            elif kind == _SEP:
                if not space:
                    out.append(" ")
                    space = True
            else:
                out.append(value)  # type: ignore[arg-type]
                space = False
        return "".join(out)


def compile_format(text: str, mode: str = "http") -> LogFormat:
    """Compile `text` for a proxy in `mode` ("tcp" refuses HTTP-only variables)."""
    nodes: list[tuple[int, object]] = []
    literal: list[str] = []
    default_flags: set[str] = set()
    uses_http = False
    i, n = 0, len(text)

    def flush() -> None:
        if literal:
            nodes.append((_TEXT, "".join(literal)))
            literal.clear()

    while i < n:
        c = text[i]
        if c == " ":
            flush()
            while i < n and text[i] == " ":
                i += 1
            nodes.append((_SEP, None))
            continue
        if c != "%":
            literal.append(c)
            i += 1
            continue
        i += 1
        if i < n and text[i] == "%":
            literal.append("%")
            i += 1
            continue
        flags = set(default_flags)
        if i < n and text[i] == "{":
            end = text.find("}", i)
            if end < 0:
                raise LogFormatError(f"missing '}}' after '%{{' in log-format '{text}'")
            flags = _apply_flags(text[i + 1 : end], flags, text)
            i = end + 1
        if i < n and text[i] == "[":
            raise LogFormatError(
                "sample expressions ('%[...]') in log-format are not supported yet "
                "(they come with the rules engine)"
            )
        start = i
        while i < n and (text[i].isalnum() or text[i] == "_"):
            i += 1
        name = text[start:i]
        if not name:
            raise LogFormatError(f"missing variable name after '%' in log-format '{text}'")
        if name == "o":
            default_flags = flags
            continue
        var = VARIABLES.get(name)
        if var is None:
            raise LogFormatError(f"no such format variable '{name}'")
        if var.http_only:
            if mode != "http":
                raise LogFormatError(f"format variable '{name}' is reserved for HTTP mode")
            uses_http = True
        flush()
        nodes.append((_VAR, _renderer(var, flags)))
    flush()
    return LogFormat(text, nodes, uses_http)


def _apply_flags(spec: str, flags: set[str], text: str) -> set[str]:
    result = set(flags)
    rest = _FLAGS.sub("", spec.replace(",", ""))
    if rest:
        raise LogFormatError(f"unknown option '{spec}' in log-format '{text}'")
    for sign, letter in _FLAGS.findall(spec):
        if letter not in _KNOWN_FLAGS:
            raise LogFormatError(f"unknown option '{sign}{letter}' in log-format '{text}'")
        if sign == "+":
            result.add(letter)
        else:
            result.discard(letter)
    return result


def _renderer(var: Variable, flags: set[str]) -> Render:
    read = var.read
    quote = "Q" in flags
    kind = var.kind
    if kind == "num":
        if "X" in flags:
            return lambda r: f"{read(r) & 0xFFFFFFFF:08X}"  # type: ignore[operator]
        return lambda r: str(read(r))
    if kind == "raw":
        return read  # type: ignore[return-value]
    if kind == "list":
        return _list_renderer(read, quote, clf=var.name.endswith("l"))
    if quote:
        return lambda r: f'"{read(r)}"'
    return lambda r: read(r) or "-"  # type: ignore[return-value]


def _list_renderer(read: Callable[[LogRecord], object], quote: bool, clf: bool) -> Render:
    def clf_style(record: LogRecord) -> str:
        values = read(record)
        if not values:
            return ""
        texts = [escape(v) if v else "" for v in values]  # type: ignore[union-attr]
        if quote:
            return " ".join(f'"{t}"' for t in texts)
        return " ".join(t or "-" for t in texts)

    def braces(record: LogRecord) -> str:
        values = read(record)
        if not values:
            return ""
        inner = "|".join(escape(v) if v else "" for v in values)  # type: ignore[union-attr]
        return f'"{{{inner}}}"' if quote else f"{{{inner}}}"

    return clf_style if clf else braces
