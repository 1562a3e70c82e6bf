"""URI normalizers of `http-request normalize-uri` (HAProxy 2.6's set), pure bytes -> bytes.

Each normalizer takes the path (without the query) and the query (None when there is no
`?`) and returns them changed, or None when a `strict` normalizer finds an invalid
sequence (the request is then answered 400). `NORMALIZERS[name](strict_or_full)` gives the
function for one rule, built once at load time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Parts = tuple[bytes, bytes | None]  # (path, query)
Normalizer = Callable[[bytes, bytes | None], Parts | None]

_HEX = b"0123456789abcdefABCDEF"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SLASHES = re.compile(rb"/{2,}")


def merge_slashes(path: bytes, query: bytes | None) -> Parts:
    return _SLASHES.sub(b"/", path), query


def strip_dot(path: bytes, query: bytes | None) -> Parts:
    if not path.startswith(b"/"):
        return path, query
    segments = path[1:].split(b"/")
    kept = [s for s in segments[:-1] if s != b"."]
    last = segments[-1]
    kept.append(b"" if last == b"." else last)  # "/a/." -> "/a/"
    return b"/" + b"/".join(kept), query


def strip_dotdot(full: bool) -> Normalizer:
    def normalize(path: bytes, query: bytes | None) -> Parts:
        if not path.startswith(b"/"):
            return path, query
        segments = path[1:].split(b"/")
        out: list[bytes] = []
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment == b"..":
                if out and out[-1] != b"..":
                    out.pop()  # the preceding segment goes with it, empty ones included
                elif not full:
                    out.append(b"..")
                if last:
                    out.append(b"")  # "/foo/.." names a directory: keep the final slash
                continue
            out.append(segment)
        return b"/" + b"/".join(out), query

    return normalize


def _percent_sequences(text: bytes) -> list[tuple[int, bool]]:
    """(offset of each '%', whether two hex digits follow it)."""
    found = []
    start = text.find(b"%")
    while start >= 0:
        pair = text[start + 1 : start + 3]
        found.append((start, len(pair) == 2 and all(c in _HEX for c in pair)))
        start = text.find(b"%", start + 1)
    return found


def percent_to_uppercase(strict: bool) -> Normalizer:
    def upper(text: bytes) -> bytes | None:
        out = bytearray(text)
        for offset, valid in _percent_sequences(text):
            if valid:
                out[offset + 1 : offset + 3] = text[offset + 1 : offset + 3].upper()
            elif strict:
                return None
        return bytes(out)

    def normalize(path: bytes, query: bytes | None) -> Parts | None:
        new_path = upper(path)
        new_query = upper(query) if query is not None else None
        if new_path is None or (query is not None and new_query is None):
            return None
        return new_path, new_query

    return normalize


def percent_decode_unreserved(strict: bool) -> Normalizer:
    def decode(text: bytes) -> bytes | None:
        out = bytearray()
        index = 0
        while index < len(text):
            char = text[index]
            if char == 0x25:  # '%'
                pair = text[index + 1 : index + 3]
                if len(pair) == 2 and all(c in _HEX for c in pair):
                    value = int(pair, 16)
                    if value in _UNRESERVED:
                        out.append(value)
                    else:
                        out += text[index : index + 3]
                    index += 3
                    continue
                if strict:
                    return None
            out.append(char)
            index += 1
        return bytes(out)

    def normalize(path: bytes, query: bytes | None) -> Parts | None:
        new_path = decode(path)
        new_query = decode(query) if query is not None else None
        if new_path is None or (query is not None and new_query is None):
            return None
        return new_path, new_query

    return normalize


def query_sort_by_name(path: bytes, query: bytes | None) -> Parts:
    if not query:
        return path, query
    params = query.split(b"&")
    params.sort(key=lambda param: param.partition(b"=")[0])  # stable: equal names keep order
    return path, b"&".join(params)


def fragment_strip(path: bytes, query: bytes | None) -> Parts:
    if query is not None and b"#" in query:
        return path, query.partition(b"#")[0]
    if b"#" in path:
        return path.partition(b"#")[0], None
    return path, query


def fragment_encode(path: bytes, query: bytes | None) -> Parts:
    return path.replace(b"#", b"%23"), (query.replace(b"#", b"%23") if query is not None else None)


NORMALIZERS: dict[str, Callable[[bool], Normalizer]] = {
    "fragment-encode": lambda option: fragment_encode,
    "fragment-strip": lambda option: fragment_strip,
    "path-merge-slashes": lambda option: merge_slashes,
    "path-strip-dot": lambda option: strip_dot,
    "path-strip-dotdot": strip_dotdot,
    "percent-decode-unreserved": percent_decode_unreserved,
    "percent-to-uppercase": percent_to_uppercase,
    "query-sort-by-name": lambda option: query_sort_by_name,
}
