"""Reading configuration sources: which files `-f` names, and their lines, safely.

A directory argument stands for its non-hidden `*.cfg` files, sorted as the C locale sorts
(byte order). Each file is read whole after checks that keep a wrong argument from hurting:
a size limit, a line-length limit, no NUL byte (a binary file), and HAProxy 2.6's rule that
the last line must end with a line feed (a missing one may mean a truncated file). Bytes that
are not UTF-8 survive as surrogate escapes so that nothing is lost or crashes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from haproxy_py.config.diagnostics import TIGHT, ConfigError, Diagnostics, Where

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_LINE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str  # as given on the command line, so messages name it the user's way
    lines: tuple[str, ...]


def expand_paths(paths: list[str]) -> list[str]:
    """Replace each directory by its *.cfg files; raise ConfigError for what cannot be opened."""
    files: list[str] = []
    for path in paths:
        try:
            is_dir = os.path.isdir(path)
            if not is_dir:
                os.stat(path)
        except OSError as exc:
            raise ConfigError(
                f"Cannot open configuration file/directory {path} : {os.strerror(exc.errno or 0)}"
            ) from None
        if not is_dir:
            files.append(path)
            continue
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise ConfigError(
                f"Cannot open configuration directory {path} : {os.strerror(exc.errno or 0)}"
            ) from None
        chosen = [n for n in names if n.endswith(".cfg") and not n.startswith(".")]
        for name in sorted(chosen, key=os.fsencode):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                files.append(full)
    return files


def read_source(path: str, diagnostics: Diagnostics) -> SourceFile | None:
    """Read one file; on any problem record an ALERT and return None."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                diagnostics.alert(
                    f"Cannot load configuration file {path} : it is {size} bytes long, more than"
                    f" the {MAX_FILE_BYTES} bytes a configuration file may have"
                )
                return None
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        diagnostics.alert(
            f"Cannot open configuration file/directory {path} : {os.strerror(exc.errno or 0)}"
        )
        return None
    return decode_source(path, data, diagnostics)


def decode_source(name: str, data: bytes, diagnostics: Diagnostics) -> SourceFile | None:
    if len(data) > MAX_FILE_BYTES:
        diagnostics.alert(
            f"Cannot load configuration file {name} : more than {MAX_FILE_BYTES} bytes long"
        )
        return None
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        diagnostics.alert(
            f"NUL character at position {nul}: this is not a text configuration file",
            Where(name, line),
            TIGHT,
        )
        return None
    raw_lines = data.split(b"\n")
    ok = True
    for number, raw in enumerate(raw_lines, 1):
        if len(raw) > MAX_LINE_BYTES:
            diagnostics.alert(
                f"line too long ({len(raw)} bytes, the limit is {MAX_LINE_BYTES})",
                Where(name, number),
                TIGHT,
            )
            ok = False
    if raw_lines[-1] == b"":
        raw_lines.pop()
    elif data:
        diagnostics.alert(
            "Missing LF on last line, file might have been truncated"
            f" at position {len(raw_lines[-1]) + 1}.",
            Where(name, len(raw_lines)),
            TIGHT,
        )
        ok = False
    if not ok:
        return None
    text = tuple(raw.decode("utf-8", "surrogateescape") for raw in raw_lines)
    return SourceFile(name, text)
