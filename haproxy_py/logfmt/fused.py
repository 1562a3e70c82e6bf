"""Fused renderers: a compiled format as one generated function (one f-string) per format.

The node loop of `LogFormat` (compiler.py) calls two small functions per variable (the
renderer and the variable's reader) and decides each separator at run time: about 12 µs for
an `option httplog` line. `fuse(specs)` writes, once per format at start-up, the source of a
function that builds the whole line in one f-string: the common variables read inline from
the record (`_INLINE`), the others through their renderer, and the separators decided while
generating, since a variable is known to write something except for the few that may write
nothing (header captures, termination states): `X` between two separators becomes
`(X + " " if X else "")`. A shape this cannot decide statically (two variables that may write
nothing with no separator between them) gets None: the node loop renders it. The output is
the node loop's, byte for byte (tests/unit/test_logfmt_fused.py compares them). Only text the
compiler made goes into the generated source: names, literal text escaped, never record data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from haproxy_py.logfmt.record import LogRecord
from haproxy_py.logfmt.variables import Variable, date_ms, escape

SEP, TEXT, VAR = 0, 1, 2

# Variable name -> the expression reading it from the record `r` (what its table entry reads).
_INLINE = {
    "ci": "r.client_ip",
    "cp": "r.client_port",
    "fi": "r.frontend_ip",
    "fp": "r.frontend_port",
    "f": "r.frontend",
    "ft": "r.frontend",
    "b": "r.backend",
    "s": '(r.server or "<NOSRV>")',
    "t": "_date_ms(r.accept_date)",
    "tr": "_date_ms(r.request_date)",
    "Th": "r.t_handshake",
    "Ti": "r.t_idle",
    "TR": "r.t_request",
    "Tw": "r.t_queue",
    "Tc": "r.t_connect",
    "Tr": "r.t_response",
    "Ta": "r.t_active",
    "Tt": "r.t_total",
    "ST": "r.status",
    "B": "r.bytes_out",
    "U": "r.bytes_in",
    "CC": "r.request_cookie",
    "CS": "r.response_cookie",
    "ts": "r.termination",
    "tsc": "(r.termination + r.cookies)",
    "ac": "r.actconn",
    "fc": "r.feconn",
    "bc": "r.beconn",
    "sc": "r.srvconn",
    "rc": "r.retries",
    "sq": "r.srv_queue",
    "bq": "r.backend_queue",
    "r": "_escape(r.request_line)",
    "HM": "_escape(r.method)",
    "HU": "_escape(r.uri)",
    "HV": "r.version",
    "pid": "r.pid",
    "H": "r.hostname",
}
# Raw variables that always write something (dates); other raw ones may write nothing.
_NEVER_EMPTY_RAW = frozenset(("t", "tr", "trg", "trl", "T", "Tl", "ms"))

# A node as the compiler describes it: (SEP, None, None, None), (TEXT, text, None, None), or
# (VAR, variable or None for a `%[...]` sample, its flags, its renderer).
Spec = tuple[int, object, object, object]


def fuse(specs: Sequence[Spec]) -> Callable[[LogRecord], str] | None:
    """The one-function renderer of a compiled format, or None (the node loop renders it)."""
    names: dict[str, object] = {"_date_ms": date_ms, "_escape": escape, "_sp": _spaced}
    parts: list[str] = []
    space = True  # the last thing written was a space (or nothing was written yet)
    pending: str | None = None  # a maybe-empty expression after a space, not yet placed
    placed = False  # a maybe-empty expression was just written without a separator after it
    for kind, value, flags, render in specs:
        if kind == SEP:
            placed = False
            if pending is not None:
                parts.append("{_sp(" + pending + ")}")
                pending = None  # a space follows it if it wrote something: a space either way
            elif not space:
                parts.append(" ")
                space = True
            continue
        if pending is not None:  # something follows it directly: it is written as it is
            parts.append("{" + pending + "}")
            pending = None
            placed = True
        if kind == TEXT:
            parts.append(_literal(value))  # type: ignore[arg-type]
            space = placed = False
            continue
        expression, maybe_empty = _expression(value, flags, render, names)  # type: ignore[arg-type]
        if maybe_empty and placed:
            return None  # whether a space comes next depends on two texts: the node loop
        if not maybe_empty:
            parts.append(expression)
            space = placed = False
        elif space:
            pending = expression  # its separator is decided by what it writes
        else:
            parts.append("{" + expression + "}")  # after text: nothing to decide
    if pending is not None:
        parts.append("{" + pending + "}")
    source = "def render(r):\n    return f'" + "".join(parts) + "'\n"
    try:
        exec(compile(source, "<log-format>", "exec"), names)  # our own source, no record data
    except SyntaxError:  # an expression an f-string cannot hold: keep the node loop
        return None
    return names["render"]  # type: ignore[return-value]


def _spaced(text: str) -> str:
    return text + " " if text else ""


def _literal(text: str) -> str:
    """Literal text as an f-string's literal part."""
    return (
        text.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("{", "{{")
        .replace("}", "}}")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _expression(
    var: Variable | None, flags: set[str], render: object, names: dict[str, object]
) -> tuple[str, bool]:
    """(the variable's f-string part, it may write nothing); a part that may write nothing
    is a bare expression (the caller places it), the others are ready `{...}` parts."""
    if var is None or var.kind == "list" or "E" in flags or ("X" in flags and var.hex_width):
        # Through its renderer (a sample, a capture list, escaped or hexadecimal text).
        key = f"_f{len(names)}"
        names[key] = render
        if var is not None and var.kind in ("list", "raw"):
            return f"{key}(r)", True
        return "{" + key + "(r)}", False
    read = _INLINE.get(var.name)
    if read is None:
        key = f"_f{len(names)}"
        names[key] = var.read
        read = f"{key}(r)"
    if var.kind == "num":
        return "{" + read + "}", False
    if var.kind == "raw":
        if var.name in _NEVER_EMPTY_RAW:
            return "{" + read + "}", False
        return read, True
    if "Q" in flags:
        return '"{' + read + '}"', False
    return "{(" + read + ' or "-")}', False
