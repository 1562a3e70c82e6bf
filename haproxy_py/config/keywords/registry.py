"""The keyword table machinery: what a keyword entry is, how a statement finds its entry.

Every section type has one table (a `KeywordTable`) listing each supported keyword with its
usage, a one-line summary, the section kinds it is valid in (for proxies: defaults, frontend,
listen, backend), the issue area that brings its runtime behaviour, and its parser. The
parser receives the `Statement` and the `ParseContext` and stores typed values into the
section's builder; it raises ConfigError for a fatal problem and calls `ctx.warn` otherwise.

Keywords may be several words long ("timeout connect", "capture request header"): the lookup
tries the longest name first. Tables are built once at import and never change afterwards;
docs/KEYWORDS.md and the "did you mean" suggestions are generated from them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from haproxy_py.config.diagnostics import ConfigError, Where

if TYPE_CHECKING:
    from haproxy_py.config.builder import ParseContext

# Section kinds of proxies, in the order of HAProxy's keyword matrix.
DEFAULTS, FRONTEND, LISTEN, BACKEND = "defaults", "frontend", "listen", "backend"
PROXY_KINDS = (DEFAULTS, FRONTEND, LISTEN, BACKEND)
_CAP_LETTERS = {"d": DEFAULTS, "f": FRONTEND, "l": LISTEN, "b": BACKEND}

# Where a keyword's runtime behaviour comes from (shown in docs/KEYWORDS.md).
RUNTIME_AREAS = {
    "config": "configuration only (takes effect while loading)",
    "process": "master-worker process model",
    "tcp": "TCP data plane",
    "http": "HTTP/1.1 data plane",
    "rules": "rules engine (ACLs, actions, persistence)",
    "stats": "runtime API, shared state and stats",
    "checks": "health checks",
    "logs": "logging",
}


@dataclass(frozen=True, slots=True)
class Statement:
    """One configuration line, already cut into words, matched to a keyword."""

    where: Where
    words: tuple[str, ...]
    keyword: str  # the table name it matched, e.g. "timeout connect"
    args: tuple[str, ...]  # the words after the keyword
    negated: bool = False  # written with a leading "no"
    defaulted: bool = False  # written with a leading "default"

    def arg(self, index: int, what: str) -> str:
        """The index-th argument, or a ConfigError saying which argument is missing."""
        if index < len(self.args):
            return self.args[index]
        raise ConfigError(f"'{self.keyword}' expects {what} as an argument.")

    def no_more_than(self, count: int) -> None:
        if len(self.args) > count:
            raise ConfigError(
                f"'{self.keyword}' cannot handle unexpected argument '{self.args[count]}'."
            )

    def exactly(self, count: int, what: str) -> tuple[str, ...]:
        if len(self.args) < count:
            raise ConfigError(f"'{self.keyword}' expects {what}.")
        self.no_more_than(count)
        return self.args


Parser = Callable[[Statement, "ParseContext"], None]


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    usage: str
    summary: str
    parse: Parser
    runtime: str = "config"
    sections: frozenset[str] = frozenset()  # proxy kinds; empty for non-proxy sections
    negatable: bool = False  # accepts "no <keyword>" (and "default <keyword>")
    fatal_outside: bool = False  # wrong proxy kind is an ALERT, not HAProxy's usual WARNING

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_AREAS:
            raise ValueError(f"keyword {self.name!r}: unknown runtime area {self.runtime!r}")


def caps(letters: str) -> frozenset[str]:
    """Proxy kinds from matrix letters: 'dflb' = defaults, frontend, listen, backend."""
    return frozenset(_CAP_LETTERS[letter] for letter in letters)


@dataclass(frozen=True)
class KeywordTable:
    """The keywords of one section type, plus HAProxy keywords we knowingly do not support."""

    section: str
    keywords: Mapping[str, Keyword]
    # HAProxy keyword -> why haproxy-py rejects it (out of scope, or removed from HAProxy).
    unsupported: Mapping[str, str] = field(default_factory=dict)
    max_words: int = 1
    # First word of a multi-word name -> the most words a name starting with it has. Most
    # statements ("server", "bind") start with no such word and are found with one look-up.
    _longest: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        longest: dict[str, int] = {}
        for name in [*self.keywords, *self.unsupported]:
            first, *rest = name.split(" ")
            if rest:
                longest[first] = max(longest.get(first, 1), len(rest) + 1)
        object.__setattr__(self, "_longest", MappingProxyType(longest))

    def lookup(self, words: tuple[str, ...]) -> tuple[str, Keyword | None, str | None]:
        """Find the keyword a statement starts with: (name, entry, unsupported reason)."""
        first = words[0]
        longest = self._longest.get(first if " " not in first else first.split(" ", 1)[0], 1)
        # The longest name wins. N words joined with spaces have at least N space-separated
        # parts, so no size above `longest` (the most parts of a name starting like `first`)
        # can match.
        if longest > 1:
            for size in range(min(longest, len(words)), 1, -1):
                name = " ".join(words[:size])
                entry = self.keywords.get(name)
                if entry is not None:
                    return name, entry, None
                reason = self.unsupported.get(name)
                if reason is not None:
                    return name, None, reason
        entry = self.keywords.get(first)
        if entry is not None:
            return first, entry, None
        return first, None, self.unsupported.get(first)

    def forms(self, first: str) -> tuple[str, ...]:
        """What may follow `first` in a supported multi-word name ("timeout" -> "client"...)."""
        if first not in self._longest:
            return ()
        prefix = first + " "
        return tuple(
            sorted(name[len(prefix) :] for name in self.keywords if name.startswith(prefix))
        )

    def suggest(self, word: str) -> str | None:
        """The supported keyword closest to a misspelt one, if one is close enough."""
        names = {name.split()[0] for name in self.keywords}
        close = difflib.get_close_matches(word, sorted(names), n=1, cutoff=0.75)
        return close[0] if close else None

    def __iter__(self) -> Iterator[Keyword]:
        return iter(sorted(self.keywords.values(), key=lambda kw: kw.name))


def make_table(
    section: str,
    keywords: Iterable[Keyword],
    unsupported: Mapping[str, str] | None = None,
) -> KeywordTable:
    entries: dict[str, Keyword] = {}
    for keyword in keywords:
        if keyword.name in entries:
            raise ValueError(f"keyword {keyword.name!r} declared twice in {section!r}")
        entries[keyword.name] = keyword
    rejected = dict(unsupported or {})
    overlap = set(rejected) & set(entries)
    if overlap:
        raise ValueError(f"{section!r}: both supported and unsupported: {sorted(overlap)}")
    longest = max((len(name.split()) for name in [*entries, *rejected]), default=1)
    return KeywordTable(
        section, MappingProxyType(entries), MappingProxyType(rejected), max_words=longest
    )


# -- small helpers shared by the keyword modules -------------------------------------------


def store(field_name: str, convert: Callable[[Statement], Any]) -> Parser:
    """A parser that sets one builder field to `convert(statement)`; the last one wins."""

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        ctx.section.set(field_name, convert(stmt), stmt.where)

    return parse


def store_in(mapping_name: str, key: str, convert: Callable[[Statement], Any]) -> Parser:
    """A parser that sets `key` in one of the builder's dict fields (timeouts, options...)."""

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        ctx.section.set_item(mapping_name, key, convert(stmt), stmt.where)

    return parse


def setting(name: str, convert: Callable[[Statement], Any]) -> Parser:
    """A parser for a keyword kept in the section's `settings` mapping under its own name."""
    return store_in("settings", name, convert)


def append_to(field_name: str, convert: Callable[[Statement, ParseContext], Any]) -> Parser:
    """A parser that appends `convert(statement, ctx)` to one of the builder's list fields."""

    def parse(stmt: Statement, ctx: ParseContext) -> None:
        ctx.section.append(field_name, convert(stmt, ctx))

    return parse


def no_args(stmt: Statement) -> bool:
    stmt.no_more_than(0)
    return not stmt.negated


def one_arg(what: str) -> Callable[[Statement], str]:
    def convert(stmt: Statement) -> str:
        value = stmt.arg(0, what)
        stmt.no_more_than(1)
        return value

    return convert


def choice(*allowed: str) -> Callable[[Statement], str]:
    def convert(stmt: Statement) -> str:
        value = stmt.arg(0, " or ".join(f"'{a}'" for a in allowed))
        stmt.no_more_than(1)
        if value not in allowed:
            listed = ", ".join(f"'{a}'" for a in allowed)
            raise ConfigError(f"'{stmt.keyword}' expects one of {listed}, got '{value}'.")
        return value

    return convert


def freeze_mapping(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))
