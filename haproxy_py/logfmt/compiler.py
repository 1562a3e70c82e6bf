"""The log-format compiler: a `log-format` string becomes a `LogFormat`, called per stream.

Syntax (HAProxy's): `%var`, `%{+Q}var` / `%{-Q,+X}var` flags for one variable, `%o` flags for
every variable after it, `%%` a percent sign, `%[sample,conv]` a sample expression
(haproxy_py.sample) evaluated on the record's `ctx`; like HAProxy, fetches that need the
request or response headers or the request buffer are refused (they are gone at log time:
samples.py says which). Runs of spaces are one separator: it is written only when the
previous thing written was not already a space, so a variable that writes nothing (header
captures when none are configured) leaves a single space, as in HAProxy's lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from haproxy_py.logfmt.fused import fuse
from haproxy_py.logfmt.record import LogRecord
from haproxy_py.logfmt.samples import compile_sample
from haproxy_py.logfmt.variables import VARIABLES, Variable, _ip_number, escape_capture

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

    __slots__ = ("_nodes", "http", "render", "samples", "text")

    def __init__(
        self,
        text: str,
        nodes: list[tuple[int, object]],
        http: bool,
        samples: bool = False,
        fused: Render | None = None,
    ) -> None:
        self.text = text
        self._nodes = nodes
        self.http = http  # uses HTTP-only variables
        self.samples = samples  # uses `%[...]`: the record must carry a sample context
        # The line in one generated function (fused.py) when the format's shape allows it.
        self.render: Render = fused if fused is not None else self.render_nodes

    def __call__(self, record: LogRecord) -> str:
        return self.render(record)

    def render_nodes(self, record: LogRecord) -> str:
        """The line, node by node (what a fused renderer must give byte for byte)."""
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


def compile_format(
    text: str, mode: str = "http", env: object = None, *, unique_id: bool = False
) -> LogFormat:
    """Compile `text` for a proxy in `mode` ("tcp" refuses HTTP-only variables); `env` is the
    sample CompileEnv `%[...]` expressions are compiled with (files, backends); `unique_id`
    for a `unique-id-format`, whose samples may read the request."""
    nodes: list[tuple[int, object]] = []
    specs: list[tuple[int, object, object, object]] = []  # the nodes as fused.py reads them
    literal: list[str] = []
    default_flags: set[str] = set()
    uses_http = False
    uses_samples = False
    i, n = 0, len(text)

    def flush() -> None:
        if literal:
            nodes.append((_TEXT, "".join(literal)))
            specs.append((_TEXT, nodes[-1][1], None, None))
            literal.clear()

    while i < n:
        c = text[i]
        if c == " ":
            flush()
            while i < n and text[i] == " ":
                i += 1
            nodes.append((_SEP, None))
            specs.append((_SEP, None, None, None))
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
            end = _closing_bracket(text, i)
            if end < 0:
                raise LogFormatError(f"missing ']' after '%[' in log-format '{text}'")
            try:
                read = compile_sample(text[i + 1 : end], env, unique_id)
            except ValueError as exc:
                raise LogFormatError(str(exc)) from None
            flush()
            nodes.append((_VAR, _sample_renderer(read, flags)))
            specs.append((_VAR, None, flags, nodes[-1][1]))
            uses_samples = True
            i = end + 1
            continue
        start = i
        while i < n and text[i].isalnum():  # "%cp_%fi": "_" ends the name
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
        specs.append((_VAR, var, flags, nodes[-1][1]))
    flush()
    return LogFormat(text, nodes, uses_http, uses_samples, fuse(specs))


def _closing_bracket(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "[":
            depth += 1
        elif text[index] == "]":
            depth -= 1
            if depth == 0:
                return index
    return -1


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


def escape_sd(text: str) -> str:
    """`+E`: what RFC5424 structured data cannot carry unescaped."""
    if '"' in text or "\\" in text or "]" in text:
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return text


def _renderer(var: Variable, flags: set[str]) -> Render:
    read = var.read
    quote = "Q" in flags
    kind = var.kind
    if "X" in flags and var.hex_width:
        return _hex_renderer(var)
    if kind == "num":
        return lambda r: str(read(r))
    if kind == "raw":
        return read  # type: ignore[return-value]
    if kind == "list":
        return _list_renderer(read, quote, clf=var.name.endswith("l"))
    if "E" in flags:
        if quote:
            return lambda r: f'"{escape_sd(read(r))}"'  # type: ignore[arg-type]
        return lambda r: escape_sd(read(r)) or "-"  # type: ignore[arg-type]
    if quote:
        return lambda r: f'"{read(r)}"'
    return lambda r: read(r) or "-"  # type: ignore[return-value]


def _hex_renderer(var: Variable) -> Render:
    read = var.read
    form = f"{{:0{var.hex_width}X}}".format
    if var.kind == "ip":

        def address(record: LogRecord) -> str:
            number = _ip_number(read(record))  # type: ignore[arg-type]
            return form(number) if number >= 0 else read(record) or "-"  # type: ignore[return-value]

        return address
    if var.kind == "raw":  # %ms: text of the milliseconds
        return lambda r: form(int(read(r)))  # type: ignore[call-overload]
    return lambda r: form(read(r) & 0xFFFFFFFF)  # type: ignore[operator]


def _sample_renderer(read: Callable[[LogRecord], str | None], flags: set[str]) -> Render:
    quote = "Q" in flags
    sd = "E" in flags

    def render(record: LogRecord) -> str:
        text = read(record)
        if not text:
            return '""' if quote else "-"
        if sd:
            text = escape_sd(text)
        return f'"{text}"' if quote else text

    return render


def _list_renderer(read: Callable[[LogRecord], object], quote: bool, clf: bool) -> Render:
    def clf_style(record: LogRecord) -> str:
        values = read(record)
        if not values:
            return ""
        texts = [escape_capture(v) if v else "" for v in values]  # type: ignore[union-attr]
        if quote:
            return " ".join(f'"{t}"' for t in texts)
        return " ".join(t or "-" for t in texts)

    def braces(record: LogRecord) -> str:
        values = read(record)
        if not values:
            return ""
        inner = "|".join(escape_capture(v) if v else "" for v in values)  # type: ignore[union-attr]
        return f'"{{{inner}}}"' if quote else f"{{{inner}}}"

    return clf_style if clf else braces
