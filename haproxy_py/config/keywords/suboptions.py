"""Option lists that follow an address: bind options, server options, stats socket options.

Each option is an entry in a `SubOptionTable` with the number of arguments it takes and a
converter; `parse_suboptions` walks the words after the address and returns a dict of typed
values by option name. `no-X` forms (server options that undo a default-server setting) are
entries of their own. Unknown options get a "did you mean" like keywords do.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import RUNTIME_AREAS
from haproxy_py.config.units import parse_int, parse_size, parse_time

# A converter takes (option name, its argument words) and returns the stored value.
Converter = Callable[[str, Sequence[str]], Any]


@dataclass(frozen=True, slots=True)
class SubOption:
    name: str
    nargs: int
    convert: Converter
    usage: str
    summary: str
    runtime: str = "config"
    store_as: str = ""  # the key stored (defaults to name); "no-check" stores check=False

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_AREAS:
            raise ValueError(f"option {self.name!r}: unknown runtime area {self.runtime!r}")


@dataclass(frozen=True)
class SubOptionTable:
    what: str  # "bind", "server", "stats socket"
    options: Mapping[str, SubOption]
    unsupported: Mapping[str, str]

    def __iter__(self) -> Iterable[SubOption]:
        return iter(sorted(self.options.values(), key=lambda o: o.name))


def make_suboption_table(
    what: str, options: Iterable[SubOption], unsupported: Mapping[str, str] | None = None
) -> SubOptionTable:
    entries: dict[str, SubOption] = {}
    for option in options:
        if option.name in entries:
            raise ValueError(f"{what} option {option.name!r} declared twice")
        entries[option.name] = option
    return SubOptionTable(
        what, MappingProxyType(entries), MappingProxyType(dict(unsupported or {}))
    )


def parse_suboptions(
    words: Sequence[str], table: SubOptionTable, owner: str, into: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Parse option words for `owner` (e.g. "server 'be/s1'"); return name -> value."""
    result: dict[str, Any] = {} if into is None else into
    index = 0
    while index < len(words):
        word = words[index]
        option = table.options.get(word)
        if option is None:
            raise ConfigError(_unknown(word, table, owner))
        args = words[index + 1 : index + 1 + option.nargs]
        if len(args) < option.nargs:
            raise ConfigError(f"{owner} : '{word}' expects {option.usage.split(' ', 1)[-1]}.")
        try:
            result[option.store_as or option.name] = option.convert(word, args)
        except ConfigError as exc:
            raise ConfigError(f"{owner} : {exc.message}") from None
        index += 1 + option.nargs
    return result


def _unknown(word: str, table: SubOptionTable, owner: str) -> str:
    reason = table.unsupported.get(word)
    if reason is not None:
        return f"{owner} : '{word}' option is not supported by haproxy-py: {reason}."
    message = f"{owner} : unknown keyword '{word}'."
    close = difflib.get_close_matches(word, sorted(table.options), n=1, cutoff=0.75)
    if close:
        message = f"{owner} : unknown keyword '{word}'; did you mean '{close[0]}' maybe ?"
    return message


# -- converters ---------------------------------------------------------------------------


def flag(value: bool = True) -> Converter:
    return lambda name, args: value


def word(name: str, args: Sequence[str]) -> str:
    return args[0]


def integer(minimum: int | None = None, maximum: int | None = None) -> Converter:
    return lambda name, args: parse_int(args[0], name, minimum, maximum)


def time_ms(name: str, args: Sequence[str]) -> int:
    return parse_time(args[0], name)


def size(name: str, args: Sequence[str]) -> int:
    return parse_size(args[0], name)


def one_of(*allowed: str) -> Converter:
    def convert(name: str, args: Sequence[str]) -> str:
        if args[0] not in allowed:
            listed = ", ".join(f"'{a}'" for a in allowed)
            raise ConfigError(f"'{name}' expects one of {listed}, got '{args[0]}'")
        return args[0]

    return convert


def ip_address(name: str, args: Sequence[str]) -> str:
    try:
        return str(ipaddress.ip_address(args[0]))
    except ValueError:
        raise ConfigError(f"'{name}' expects an IPv4 or IPv6 address, got '{args[0]}'") from None


def octal_mode(name: str, args: Sequence[str]) -> int:
    try:
        value = int(args[0], 8)
    except ValueError:
        raise ConfigError(f"'{name}' expects an octal permission mode, got '{args[0]}'") from None
    if not 0 <= value <= 0o7777:
        raise ConfigError(f"'{name}' expects an octal permission mode, got '{args[0]}'")
    return value
