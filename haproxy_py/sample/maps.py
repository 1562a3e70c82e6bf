"""Map files and pattern files: read once at compile time through the injected loader.

A pattern file (`acl ... -f FILE`) holds one pattern per line; a map file one key and one
value per line. In both, leading blanks are skipped, empty lines and lines starting with
'#' are ignored, and trailing blanks are dropped. Files are cached per (path, method,
case folding, output type) within one `MapCache`, so twenty rules using the same map
share one index.

Runtime changes (`add map`, `del acl`... haproxy_py/runtime_api/maps.py): each file a map
converter or an ACL's `-f` reads becomes a `PatternRef` holding its entries, and every index
built from it is a `LiveLookup` whose current lookup is swapped for one rebuilt from the new
entries (all of them built first, so a bad entry changes nothing). One MapCache per worker
(worker/startup.py) so that the runtime API sees each file once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


Pairs = Callable[["PatternRef"], Sequence[tuple[str, str]]]  # a ref's (key, value) entries
Builder = Callable[[Pairs], Lookup]


class LiveLookup:
    """A lookup whose index the runtime API may replace (one attribute store, atomic)."""

    __slots__ = ("current",)

    def __init__(self, current: Lookup) -> None:
        self.current = current

    def __call__(self, sample: Any) -> Any:
        return self.current(sample)


@dataclass(eq=False)
class PatternRef:
    """One map or pattern file as loaded: `#rid` for the runtime API, its entries (entry id,
    key, value; a pattern file's value is ""), the lookups built from it, and how its first
    user matches (method, case folding, output type) for `get map|acl`."""

    rid: int
    path: str
    entries: list[tuple[int, str, str]] = field(default_factory=list)
    as_map: bool = False
    as_acl: bool = False
    usage: tuple[str, bool, str] = ("str", False, "str")
    users: list[tuple[LiveLookup, Builder]] = field(default_factory=list)
    next_id: int = 0
    where: str = ""  # its first user: "file 'h.cfg' line 12" (`show map`), "" if unknown
    # `prepare|commit map|acl` (haproxy_py/runtime_api/map_versions.py): `entries` are version
    # curr_ver; the entries of prepared versions not committed yet, by version
    curr_ver: int = 0
    next_ver: int = 0
    pending: dict[int, list[tuple[int, str, str]]] = field(default_factory=dict)

    def new_entry(self, key: str, value: str) -> tuple[int, str, str]:
        self.next_id += 1
        return (self.next_id, key, value)

    def pairs(self) -> list[tuple[str, str]]:
        return [(key, value) for _eid, key, value in self.entries]

    def replace(self, entries: list[tuple[int, str, str]], *, commit: bool = True) -> None:
        """Rebuild every lookup from `entries`, then (when `commit`) swap them all in;
        SampleError (nothing changed) if one cannot be built."""
        candidate = [(key, value) for _eid, key, value in entries]

        def pairs(ref: PatternRef) -> Sequence[tuple[str, str]]:
            return candidate if ref is self else ref.pairs()

        built = [(live, build(pairs)) for live, build in self.users]
        if not commit:
            return
        self.entries = entries
        for live, lookup in built:
            live.current = lookup


class MapCache:
    """Indexes built from files, shared by every rule compiled with the same cache."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self._lines: dict[str, Sequence[str]] = {}
        self._indexes: dict[tuple[str, str, bool, str], Lookup] = {}
        # (path, parsed as a map) -> its ref, numbered in order of use; a file used both as a
        # map and as a plain pattern file is read both ways, so it has two refs
        self.refs: dict[tuple[str, bool], PatternRef] = {}
        self.where = ""  # the statement being compiled, set by the compiler (for `show map`)

    def ref(self, path: str, *, as_map: bool, usage: tuple[str, bool, str]) -> PatternRef:
        """The file's ref (entries parsed as a map's when `as_map`, else as patterns)."""
        ref = self.refs.get((path, as_map))
        if ref is None:
            lines = self.lines(path)
            pairs = map_entries(lines) if as_map else [(p, "") for p in pattern_lines(lines)]
            ref = PatternRef(len(self.refs), path, usage=usage, where=self.where)
            ref.entries = [ref.new_entry(key, value) for key, value in pairs]
            self.refs[(path, as_map)] = ref
        return ref

    def acl_lookup(
        self, texts: Sequence[str], paths: Sequence[str], method: str, fold: bool, as_map: bool
    ) -> Lookup:
        """An ACL's lookup over its own patterns and those of its `-f` files (live ones)."""
        if not paths:
            return build_lookup(method, [(text, True) for text in texts], fold)
        refs = [self.ref(path, as_map=as_map, usage=(method, fold, "")) for path in paths]
        for ref in refs:
            ref.as_acl = True

        def build(pairs: Pairs) -> Lookup:
            patterns = list(texts)
            for ref in refs:
                patterns.extend(key for key, _value in pairs(ref))
            return build_lookup(method, [(text, True) for text in patterns], fold)

        live = LiveLookup(build(lambda ref: ref.pairs()))
        for ref in dict.fromkeys(refs):
            ref.users.append((live, build))
        return live

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
            ref = self.ref(path, as_map=True, usage=(method, False, output))
            ref.as_map = True

            def build(pairs: Pairs) -> Lookup:
                return build_lookup(method, [(k, convert(v)) for k, v in pairs(ref)])

            live = LiveLookup(build(lambda ref: ref.pairs()))
            ref.users.append((live, build))
            self._indexes[key] = live
        return self._indexes[key]
