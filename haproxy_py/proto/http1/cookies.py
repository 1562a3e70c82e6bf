"""Cookie headers as HAProxy 2.6 reads and rewrites them, sans-IO.

Owns the byte-level work of cookie persistence (the decisions are haproxy_py/lb/persistence.py's):
- `CookieHeader`: one `Cookie:` request header value split into items (a cookie, or a `$Attr`
  that belongs to the cookie before it), able to render itself back with some items removed or
  a value changed. Rendering follows what HAProxy does on the wire: spaces around `=` are
  dropped in every cookie, the header's other spacing is kept, a removed cookie takes its `$`
  attributes with it and the gap it leaves becomes the delimiter that followed it and a space.
  `;` and `,` both separate cookies; a value opening with `"` runs to its closing quote.
- `set_cookie_name_value()`: the first `name=value` of a `Set-Cookie:` response header.
- `is_cacheable()`: whether HAProxy deems a response cacheable (what `cookie ... nocache` reads).
- `encode_date()`/`decode_date()`: the 5-character stamps of `maxidle`/`maxlife` (30 bits, in
  units of 4 seconds, in the base64 alphabet).
Everything works on bytes; nothing here raises on hostile input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_SPACE = b" \t"
_DELIMITERS = b";,"
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}


@dataclass(slots=True)
class CookieItem:
    """One element of a Cookie header: `lead` + name [+ "=" + value] + `trail` + `delim`."""

    lead: bytes  # spaces before the name
    name: bytes
    has_value: bool  # an "=" was there
    value: bytes  # without the spaces around it
    trail: bytes  # spaces between the value and the delimiter
    delim: bytes  # b";", b"," or b"" for the last item

    @property
    def is_attribute(self) -> bool:
        """`$Path`, `$Domain`...: an RFC 2109 attribute of the cookie before it."""
        return self.name.startswith(b"$")

    def text(self) -> bytes:
        return self.name + b"=" + self.value if self.has_value else self.name


class CookieHeader:
    """A parsed Cookie header value; `render()` writes it back (None: nothing left)."""

    __slots__ = ("items", "removed")

    def __init__(self, value: bytes) -> None:
        self.items = parse_cookie_header(value)
        self.removed: set[int] = set()

    def cookies(self) -> list[tuple[int, CookieItem]]:
        """(index, item) of every real cookie (items with a value, not `$` attributes)."""
        return [(i, it) for i, it in enumerate(self.items) if it.has_value and not it.is_attribute]

    def remove(self, index: int) -> None:
        """Drop the cookie at `index` and the `$` attributes that follow it."""
        self.removed.add(index)
        items = self.items
        index += 1
        while index < len(items) and items[index].is_attribute:
            self.removed.add(index)
            index += 1

    def render(self) -> bytes | None:
        items = self.items
        kept = [i for i in range(len(items)) if i not in self.removed]
        if not any(items[i].name or items[i].has_value for i in kept):
            return None  # nothing but delimiters and spaces would be left
        first = kept[0]
        parts = [items[first].lead] if first == 0 else []
        previous = first
        parts.append(items[first].text())
        for index in kept[1:]:
            before = items[previous]
            if index == previous + 1:  # neighbours already: their own spacing stays
                parts += (before.trail, before.delim, items[index].lead)
            else:  # something between them went away: the delimiter that followed it, a space
                parts += (items[index - 1].delim, b" ")
            parts.append(items[index].text())
            previous = index
        if previous == len(items) - 1:
            parts += (items[previous].trail, items[previous].delim)
        return b"".join(parts)


def parse_cookie_header(value: bytes) -> list[CookieItem]:
    """Split a Cookie header value into items; an empty or all-space value gives none."""
    items: list[CookieItem] = []
    size = len(value)
    pos = 0
    while pos < size:
        start = pos
        while pos < size and value[pos] in _SPACE:
            pos += 1
        lead = value[start:pos]
        name_start = pos
        while pos < size and value[pos] not in b"=;,":
            pos += 1
        name = value[name_start:pos].rstrip(_SPACE)
        has_value = pos < size and value[pos] == 61  # "="
        raw_value = b""
        trail = b""
        if has_value:
            pos += 1
            while pos < size and value[pos] in _SPACE:
                pos += 1
            value_start = pos
            if pos < size and value[pos] == 34:  # a quoted value: delimiters inside are text
                closing = value.find(b'"', pos + 1)
                pos = size if closing < 0 else closing + 1
            while pos < size and value[pos] not in _DELIMITERS:
                pos += 1
            raw = value[value_start:pos]
            raw_value = raw.rstrip(_SPACE)
            trail = raw[len(raw_value) :]
        else:
            trail = value[name_start + len(name) : pos]
        delim = value[pos : pos + 1]
        pos += 1
        items.append(CookieItem(lead, name, has_value, raw_value, trail, delim))
    return items


def set_cookie_name_value(value: bytes) -> tuple[bytes, bytes, int, int] | None:
    """(name, value, value start, value end) of a Set-Cookie header's first pair, or None."""
    end = value.find(b";")
    if end < 0:
        end = len(value)
    equal = value.find(b"=", 0, end)
    if equal < 0:
        return None
    name = value[:equal].strip(_SPACE)
    start = equal + 1
    while start < end and value[start] in _SPACE:
        start += 1
    stop = end
    while stop > start and value[stop - 1] in _SPACE:
        stop -= 1
    return name, value[start:stop], start, stop


# -- cacheability (what `nocache` reads) -----------------------------------------------------

_CACHEABLE_STATUSES = frozenset((200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501))
_UNCACHEABLE_TOKENS = frozenset((b"private", b"no-cache", b"no-store", b"max-age=0", b"s-maxage=0"))
_FRESHNESS_HEADERS = (b"expires", b"last-modified", b"etag")


def is_cacheable(method: bytes, status: int, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """HAProxy's verdict: only GET/HEAD and some statuses start cacheable; `Pragma: no-cache`
    ends it; Cache-Control tokens in order (`public` makes it cacheable again, `private`,
    `no-cache`, `no-store`, `max-age=0`, `s-maxage=0` not); it also needs freshness
    information (`max-age`, `s-maxage`, `Expires`, `Last-Modified` or `ETag`)."""
    cacheable = method in (b"GET", b"HEAD") and status in _CACHEABLE_STATUSES
    fresh = False
    controls: list[bytes] = []
    for name, value in headers:
        lname = name.lower()
        if lname == b"pragma":
            if any(t.strip(_SPACE).lower() == b"no-cache" for t in value.split(b",")):
                return False
        elif lname == b"cache-control":
            controls += value.split(b",")
        elif lname in _FRESHNESS_HEADERS:
            fresh = True
    for raw in controls:
        token = raw.strip(_SPACE).lower()
        if token == b"public":
            cacheable = True
        elif token in _UNCACHEABLE_TOKENS:
            cacheable = False
        elif token.startswith((b"max-age", b"s-maxage")):
            fresh = True
    return cacheable and fresh


# -- maxidle/maxlife date stamps -------------------------------------------------------------


def encode_date(seconds: int) -> bytes:
    """A date as HAProxy stamps it in a cookie: (seconds + 3) / 4 on 30 bits, 5 characters."""
    units = ((seconds + 3) >> 2) & 0x3FFFFFFF
    return bytes(_B64[(units >> shift) & 63] for shift in (24, 18, 12, 6, 0))


def decode_date(text: bytes) -> int:
    """The date (seconds) of a 5-character stamp; 0 when it is not one."""
    if len(text) != 5:
        return 0
    units = 0
    for char in text:
        digit = _B64_VALUE.get(char)
        if digit is None:
            return 0
        units = (units << 6) | digit
    return units << 2
