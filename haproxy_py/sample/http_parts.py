"""Pieces of an HTTP message as fetches see them: the path, the query, header values split
at commas, cookies, URL parameters. Pure functions over bytes; no state.
"""

from __future__ import annotations

from collections.abc import Iterator

from haproxy_py.sample.context import Headers


def path_and_query(target: bytes) -> tuple[bytes, bytes | None]:
    """The path (from the first slash, without scheme and authority) and the query or None."""
    if not target.startswith(b"/"):
        scheme_end = target.find(b"://")
        if scheme_end >= 0:
            slash = target.find(b"/", scheme_end + 3)
            query_mark = target.find(b"?", scheme_end + 3)
            if slash < 0 or 0 <= query_mark < slash:
                target = b"" if query_mark < 0 else target[query_mark:]
            else:
                target = target[slash:]
    path, mark, query = target.partition(b"?")
    return path, (query if mark else None)


def field_values(headers: Headers, name: bytes, split: bool = True) -> list[bytes]:
    """Every value of header `name` (lower-case), split at commas unless `split` is False."""
    values: list[bytes] = []
    for header, value in headers:
        if len(header) == len(name) and header.lower() == name:
            if split:
                values.extend(part.strip(b" \t") for part in value.split(b","))
            else:
                values.append(value.strip(b" \t"))
    return values


def all_values(headers: Headers, split: bool = True) -> list[bytes]:
    values: list[bytes] = []
    for _header, value in headers:
        if split:
            values.extend(part.strip(b" \t") for part in value.split(b","))
        else:
            values.append(value.strip(b" \t"))
    return values


def occurrence(values: list[bytes], occ: int | None) -> bytes | None:
    """HAProxy's <occ>: 1 is the first, -1 (the default) the last; None if there is none."""
    index = -1 if not occ else (occ - 1 if occ > 0 else occ)
    try:
        return values[index]
    except IndexError:
        return None


def request_cookies(headers: Headers) -> Iterator[tuple[bytes, bytes]]:
    """(name, value) of every cookie of every Cookie header, in order."""
    for header, value in headers:
        if header.lower() == b"cookie":
            for pair in value.split(b";"):
                name, _, content = pair.partition(b"=")
                yield name.strip(b" \t"), content.strip(b" \t")


def response_cookies(headers: Headers) -> Iterator[tuple[bytes, bytes]]:
    """(name, value) of every Set-Cookie header (attributes after ';' left out)."""
    for header, value in headers:
        if header.lower() == b"set-cookie":
            pair = value.split(b";", 1)[0]
            name, _, content = pair.partition(b"=")
            yield name.strip(b" \t"), content.strip(b" \t")


def url_params(target: bytes, delimiter: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """(name, value) of the query's parameters, ending at '&', ';' or `delimiter`."""
    start = target.find(b"?")
    if delimiter:
        other = target.find(delimiter)
        if other >= 0 and (start < 0 or other < start):
            start = other
    if start < 0:
        return
    rest = target[start + 1 :]
    for separator in [b";", *([delimiter] if delimiter else [])]:
        rest = rest.replace(separator, b"&")
    for pair in rest.split(b"&"):
        if pair:
            name, _, value = pair.partition(b"=")
            yield name, value
