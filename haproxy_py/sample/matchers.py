"""Match methods: how an ACL's patterns (or a map's keys) are parsed, indexed and looked up.

Every method builds an index from (pattern text, value) pairs once, at compile time, and
returns a plain `lookup(sample) -> value | None`. ACLs store True as the value; maps store
their typed value. The indexes are chosen so that the cost of a lookup does not grow with
the number of patterns where HAProxy's does not either:

- str, bin: one dict probe (the first occurrence of a key wins, as in a file read in order);
- beg, end: one dict probe per distinct pattern length; the pattern that appears first in
  the file wins, as HAProxy's lists do;
- ip: one dict per prefix length, probed longest first: longest-prefix match (HAProxy's
  tree), at most 33 (IPv4) or 129 (IPv6) probes whatever the size;
- sub, dir, dom, reg, int, len: a list scanned in order (HAProxy's lists).

`-i` folds ASCII case on both sides (bytes.lower()).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any

from haproxy_py.sample.types import ADDR, ANY, BIN, SINT, STR, SampleError, text_bytes

Lookup = Callable[[Any], Any]
Pattern = tuple[str, Any]  # (pattern text, value when it matches)


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    input_type: str  # the sample is cast to this type before the lookup
    build: Callable[[Sequence[Pattern], bool], Lookup]
    takes_patterns: bool = True


# -- exact matches ----------------------------------------------------------------------------


def _build_str(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    table: dict[bytes, Any] = {}
    for text, value in patterns:
        key = text_bytes(text)
        table.setdefault(key.lower() if fold else key, value)
    get = table.get
    if fold:
        return lambda sample: get(sample.lower())
    return get


def _build_bin(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    table: dict[bytes, Any] = {}
    for text, value in patterns:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            bad = next((c for c in text if c not in "0123456789abcdefABCDEF"), text[-1:])
            raise SampleError(f"an hex digit is expected (found '{bad}')") from None
        table.setdefault(key, value)
    return table.get


# -- prefixes and suffixes --------------------------------------------------------------------


def _affix_tables(patterns: Sequence[Pattern], fold: bool) -> list[tuple[int, dict[bytes, Any]]]:
    by_length: dict[int, dict[bytes, tuple[int, Any]]] = {}
    for order, (text, value) in enumerate(patterns):
        key = text_bytes(text)
        by_length.setdefault(len(key), {}).setdefault(key.lower() if fold else key, (order, value))
    return sorted(by_length.items())


def _build_affix(prefix: bool) -> Callable[[Sequence[Pattern], bool], Lookup]:
    def build(patterns: Sequence[Pattern], fold: bool) -> Lookup:
        tables = _affix_tables(patterns, fold)

        def lookup(sample: bytes) -> Any:
            if fold:
                sample = sample.lower()
            size = len(sample)
            best: tuple[int, Any] | None = None
            for length, table in tables:
                if length > size:
                    break
                found = table.get(sample[:length] if prefix else sample[size - length :])
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
            return None if best is None else best[1]

        return lookup

    return build


# -- lists ------------------------------------------------------------------------------------


def _scan(tests: list[tuple[Callable[[bytes], bool], Any]], fold: bool) -> Lookup:
    def lookup(sample: bytes) -> Any:
        if fold:
            sample = sample.lower()
        for test, value in tests:
            if test(sample):
                return value
        return None

    return lookup


def _build_sub(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    tests = []
    for text, value in patterns:
        key = text_bytes(text).lower() if fold else text_bytes(text)
        tests.append((lambda sample, key=key: key in sample, value))
    return _scan(tests, fold)


def _word_test(key: bytes, delimiters: bytes) -> Callable[[bytes], bool]:
    """dir/dom: `key` bounded by a delimiter, '/', '?' or an end of the sample."""
    key = key.strip(delimiters[:1])
    bounds = set(delimiters) | {ord("/"), ord("?")}

    def test(sample: bytes) -> bool:
        if not key:
            return False
        start = sample.find(key)
        while start >= 0:
            end = start + len(key)
            if (start == 0 or sample[start - 1] in bounds) and (
                end == len(sample) or sample[end] in bounds
            ):
                return True
            start = sample.find(key, start + 1)
        return False

    return test


def _build_word(delimiters: bytes) -> Callable[[Sequence[Pattern], bool], Lookup]:
    def build(patterns: Sequence[Pattern], fold: bool) -> Lookup:
        tests = []
        for text, value in patterns:
            key = text_bytes(text).lower() if fold else text_bytes(text)
            tests.append((_word_test(key, delimiters), value))
        return _scan(tests, fold)

    return build


def compile_regex(text: str, fold: bool) -> re.Pattern[bytes]:
    try:
        return re.compile(text_bytes(text), re.IGNORECASE if fold else 0)
    except re.error as error:
        raise SampleError(
            f"regex '{text}' is invalid (error={error.msg}, erroffset={error.pos})"
        ) from None


def _build_reg(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    tests = [(compile_regex(text, fold).search, value) for text, value in patterns]

    def lookup(sample: bytes) -> Any:
        for search, value in tests:
            if search(sample) is not None:
                return value
        return None

    return lookup


# -- integers ---------------------------------------------------------------------------------

INT_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")


def with_operators(words: Iterable[str]) -> list[str]:
    """ACL values with their operators folded in: `ge 3 5` -> ["ge 3", "ge 5"]."""
    texts = []
    operator = ""
    for word in words:
        if word in INT_OPERATORS:
            operator = word
        else:
            texts.append(f"{operator} {word}" if operator and operator != "eq" else word)
    return texts


def parse_int_pattern(text: str) -> tuple[int | None, int | None, bool]:
    """`N`, `A:B`, `A:`, `:B` or `OP N` -> (low, high, negated); `ne` negates an equality."""
    operator, _, word = text.rpartition(" ")
    if not operator and ":" in word:
        low_text, _, high_text = word.partition(":")
        try:
            low = int(low_text) if low_text else None
            high = int(high_text) if high_text else None
        except ValueError:
            raise SampleError(f"'{word}' is not a valid number range.") from None
        return (low, high, False)
    try:
        number = int(word)
    except ValueError:
        raise SampleError(f"'{word}' is not a number.") from None
    return {
        "": (number, number, False),
        "ne": (number, number, True),
        "lt": (None, number - 1, False),
        "le": (None, number, False),
        "gt": (number + 1, None, False),
        "ge": (number, None, False),
    }[operator]


def _int_lookup(patterns: Sequence[Pattern], measure: Callable[[Any], int]) -> Lookup:
    tests = [(parse_int_pattern(text), value) for text, value in patterns]

    def lookup(sample: Any) -> Any:
        number = measure(sample)
        for (low, high, negated), value in tests:
            inside = (low is None or number >= low) and (high is None or number <= high)
            if inside != negated:
                return value
        return None

    return lookup


def _build_int(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    return _int_lookup(patterns, int)


def _build_len(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    return _int_lookup(patterns, len)


# -- addresses --------------------------------------------------------------------------------


def parse_network(text: str) -> IPv4Network | IPv6Network:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise SampleError(f"'{text}' is not a valid IPv4 or IPv6 address.") from None


class IpIndex:
    """Longest-prefix match: one dict per prefix length, probed from the longest."""

    __slots__ = ("v4", "v6")

    def __init__(self) -> None:
        self.v4: list[tuple[int, int, dict[int, Any]]] = []  # (prefix, mask, table)
        self.v6: list[tuple[int, int, dict[int, Any]]] = []

    def add(self, network: IPv4Network | IPv6Network, value: Any) -> None:
        tables = self.v4 if network.version == 4 else self.v6
        for prefix, _mask, table in tables:
            if prefix == network.prefixlen:
                table.setdefault(int(network.network_address), value)
                return
        mask = int(network.netmask)
        tables.append((network.prefixlen, mask, {int(network.network_address): value}))
        tables.sort(key=lambda entry: -entry[0])

    @staticmethod
    def _probe(tables: list[tuple[int, int, dict[int, Any]]], number: int) -> Any:
        for _prefix, mask, table in tables:
            found = table.get(number & mask)
            if found is not None:
                return found
        return None

    def lookup(self, address: IPv4Address | IPv6Address) -> Any:
        if address.version == 4:
            found = self._probe(self.v4, int(address))
            if found is None and self.v6:
                found = self._probe(self.v6, 0xFFFF00000000 | int(address))
            return found
        found = self._probe(self.v6, int(address))
        if found is None and self.v4:
            mapped = address.ipv4_mapped
            if mapped is not None:
                found = self._probe(self.v4, int(mapped))
        return found


def _build_ip(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    index = IpIndex()
    for text, value in patterns:
        index.add(parse_network(text), value)
    return index.lookup


# -- no patterns ------------------------------------------------------------------------------


def _build_found(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    return lambda sample: True


def _build_bool(patterns: Sequence[Pattern], fold: bool) -> Lookup:
    return lambda sample: True if sample else None


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("found", ANY, _build_found, takes_patterns=False),
        Method("bool", SINT, _build_bool, takes_patterns=False),
        Method("int", SINT, _build_int),
        Method("ip", ADDR, _build_ip),
        Method("bin", BIN, _build_bin),
        Method("len", STR, _build_len),
        Method("str", STR, _build_str),
        Method("sub", STR, _build_sub),
        Method("reg", STR, _build_reg),
        Method("beg", STR, _build_affix(prefix=True)),
        Method("end", STR, _build_affix(prefix=False)),
        Method("dir", STR, _build_word(b"/")),
        Method("dom", STR, _build_word(b".")),
    )
}


def build_lookup(method: str, patterns: Sequence[Pattern], fold: bool = False) -> Lookup:
    """The lookup of `method` over `patterns`; pattern errors raise SampleError."""
    return METHODS[method].build(patterns, fold)
