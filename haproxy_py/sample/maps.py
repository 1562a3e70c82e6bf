"""Map files and pattern files: read once at compile time through the injected loader.

A pattern file (`acl ... -f FILE`) holds one pattern per line; a map file one key and one
value per line. In both, leading blanks are skipped, empty lines and lines starting with
'#' are ignored, and trailing blanks are dropped. Files are cached per (path, method,
case folding, output type) within one `MapCache`, so twenty rules using the same map
share one index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from haproxy_py.sample.env import Loader
from haproxy_py.sample.matchers import Lookup, build_lookup, parse_network
from haproxy_py.sample.types import SampleError, text_bytes


def pattern_lines(lines: Sequence[str]) -> list[str]:
    patterns = []
    for line in lines:
        text = line.strip(" \t\r\n")
        if text and not text.startswith("#"):
            patterns.append(text)
    return patterns


def map_entries(lines: Sequence[str]) -> list[tuple[str, str]]:
    entries = []
    for line in lines:
        text = line.strip(" \t\r\n")
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 1)
        entries.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return entries


def _int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SampleError(f"'{text}' is not a number.") from None


# Map output types: how a value text becomes a sample.
MAP_OUTPUTS: dict[str, Callable[[str], Any]] = {
    "str": text_bytes,
    "int": _int_value,
    "ip": lambda text: parse_network(text).network_address,
}


class MapCache:
    """Indexes built from files, shared by every rule compiled with the same cache."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self._lines: dict[str, Sequence[str]] = {}
        self._indexes: dict[tuple[str, str, bool, str], Lookup] = {}

    def lines(self, path: str) -> Sequence[str]:
        if path not in self._lines:
            try:
                self._lines[path] = self.loader(path)
            except OSError:
                raise SampleError(f"failed to open pattern file <{path}>") from None
        return self._lines[path]

    def patterns(self, path: str) -> list[str]:
        return pattern_lines(self.lines(path))

    def map_lookup(self, path: str, method: str, output: str) -> Lookup:
        key = (path, method, False, output)
        if key not in self._indexes:
            convert = MAP_OUTPUTS[output]
            entries = [(k, convert(v)) for k, v in map_entries(self.lines(path))]
            self._indexes[key] = build_lookup(method, entries)
        return self._indexes[key]
