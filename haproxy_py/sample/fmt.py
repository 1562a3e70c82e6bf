"""Formatted strings (`%[sample,conv]` in header values, redirects, return bodies) compiled
into plain callables `ctx -> bytes`.

It knows literal text, `%%`, `%[expression]` and the log-format `%` tags that describe the
connection and the request as they are when the rule runs (`%ci`, `%fp`, `%b`, `%HU`, `%Ts`,
`%pid`..., see `_TAGS`), with the `+Q` (quote) and `+X` (hexadecimal) flags; HAProxy prints
them the same way there (`%b` is the frontend until a backend is chosen, `%s` is `<NOSRV>`
until a server is, `%ST` is -1 before a response). The tags about timers, byte counts and
log state have no value yet when a rule runs: they are refused with a clear SampleError
rather than copied as text. A string without `%` compiles to a constant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from haproxy_py.sample.context import SampleContext
from haproxy_py.sample.env import CompileEnv
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.maps import MapCache
from haproxy_py.sample.types import SampleError

Formatted = Callable[[SampleContext], bytes]


def sample_bytes(value: Any) -> bytes:
    """A sample as text on the wire: integers in decimal, addresses as written, booleans 0/1."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int | IPv4Address | IPv6Address):
        return str(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value) if isinstance(value, bytearray | memoryview) else str(value).encode()


def _split(text: str) -> list[str | tuple[str]]:
    """Literal strings, ("expression",) parts and (tag, flags, "") parts."""
    parts: list[str | tuple[str] | tuple[str, frozenset[str], str]] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "%":
            literal.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following == "%":
            literal.append("%")
            index += 2
            continue
        if following != "[":
            tag, flags, index = _read_tag(text, index)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append((tag, flags, ""))
            continue
        depth, end = 0, index + 1
        while end < len(text):
            if text[end] == "[":
                depth += 1
            elif text[end] == "]":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        if end >= len(text):
            raise SampleError(f"missing closing ']' in '{text}'")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append((text[index + 2 : end],))
        index = end + 1
    if literal:
        parts.append("".join(literal))
    return parts


def compile_format(text: str, env: CompileEnv, maps: MapCache) -> Formatted:
    """Compile `text`; SampleError names what is wrong."""
    getters: list[bytes | Callable[[SampleContext], Any]] = []
    for part in _split(text):
        if isinstance(part, str):
            getters.append(part.encode("utf-8", "surrogateescape"))
        elif len(part) == 3:
            getters.append(_tag_getter(part[0], part[1]))  # type: ignore[misc]
        else:
            getters.append(compile_expression(part[0], env, maps).get)
    if not getters:
        return lambda ctx: b""
    if len(getters) == 1:
        only = getters[0]
        if isinstance(only, bytes):
            return lambda ctx: only
        return lambda ctx: sample_bytes(only(ctx))

    def render(ctx: SampleContext) -> bytes:
        return b"".join(
            part if part.__class__ is bytes else sample_bytes(part(ctx))  # type: ignore[operator]
            for part in getters
        )

    return render


# The log-format tags a formatted string may use: what they read of the rule's context.
def _address(value: object) -> str:
    return "" if value is None else str(value)


def _path(ctx: SampleContext) -> str:
    return _target(ctx).partition("?")[0]


def _query(ctx: SampleContext) -> str:
    _, mark, query = _target(ctx).partition("?")
    return mark + query


def _target(ctx: SampleContext) -> str:
    request = ctx.request
    return "" if request is None else request.target.decode("latin-1")


def _version(ctx: SampleContext) -> str:
    """`HTTP/1.1`, whether the request holds it whole or as its number (`1.1`)."""
    request = ctx.request
    if request is None:
        return ""
    version = request.version.decode("latin-1")
    return version if version.startswith("HTTP/") else "HTTP/" + version


def _request_line(ctx: SampleContext) -> str:
    request = ctx.request
    if request is None:
        return ""
    return f"{request.method.decode('latin-1')} {_target(ctx)} {_version(ctx)}"


_TAGS: dict[str, Callable[[SampleContext], object]] = {
    "ci": lambda ctx: _address(ctx.src),
    "cp": lambda ctx: ctx.src_port,
    "fi": lambda ctx: _address(ctx.dst),
    "fp": lambda ctx: ctx.dst_port,
    "f": lambda ctx: ctx.frontend,
    "ft": lambda ctx: ctx.frontend,
    "b": lambda ctx: ctx.backend or ctx.frontend,
    "s": lambda ctx: ctx.server or "<NOSRV>",
    "HM": lambda ctx: "" if ctx.request is None else ctx.request.method.decode("latin-1"),
    "HU": _target,
    "HP": _path,
    "HQ": _query,
    "HV": _version,
    "r": _request_line,
    "Ts": lambda ctx: int(ctx.clock()),
    "pid": lambda ctx: os.getpid(),
    "ST": lambda ctx: -1 if ctx.response is None else ctx.response.status,
}
_NUMBERS = frozenset(("cp", "fp", "Ts", "pid", "ST"))  # never quoted
_HEX_WIDTHS = {"ci": 8, "fi": 8, "cp": 4, "fp": 4, "Ts": 8, "pid": 4}  # `+X`, as in logs
_KNOWN_FLAGS = frozenset("QXE")


def _read_tag(text: str, index: int) -> tuple[str, frozenset[str], int]:
    """The tag at text[index] (a `%`), its `+` flags, and where the text goes on."""
    at = index + 1
    flags: set[str] = set()
    if text[at : at + 1] == "{":
        end = text.find("}", at)
        if end < 0:
            raise SampleError(f"missing closing '}}' after '%{{' in '{text}'")
        for flag in filter(None, text[at + 1 : end].split(",")):
            if len(flag) != 2 or flag[0] not in "+-" or flag[1] not in _KNOWN_FLAGS:
                raise SampleError(f"unknown option '{flag}' in '{text}'")
            (flags.add if flag[0] == "+" else flags.discard)(flag[1])
        at = end + 1
    end = at
    while end < len(text) and text[end].isalnum():
        end += 1
    tag = text[at:end]
    if not tag:
        raise SampleError(f"a variable name is expected after '%' in '{text}'")
    if tag not in _TAGS:
        raise SampleError(
            f"log-format tag '%{tag}' in '{text}' is not supported in formatted strings by this"
            f" version of haproxy-py (it has no value when a rule runs); those supported:"
            f" {', '.join('%' + name for name in _TAGS)}, %[sample] and %%"
        )
    return tag, frozenset(flags), end


def _tag_getter(tag: str, flags: frozenset[str]) -> Callable[[SampleContext], bytes]:
    read = _TAGS[tag]
    width = _HEX_WIDTHS.get(tag, 0) if "X" in flags else 0
    quote = "Q" in flags and tag not in _NUMBERS and not width  # as `+Q` in log lines

    def get(ctx: SampleContext) -> bytes:
        value = read(ctx)
        if width:
            number = _number(value)
            text = f"{number:0{width}X}" if number is not None else str(value)
        else:
            text = str(value)
        if quote:
            text = f'"{text}"'
        return text.encode("utf-8", "surrogateescape")

    return get


def _number(value: object) -> int | None:
    if isinstance(value, int):
        return value & 0xFFFFFFFF
    try:
        address = ip_address(str(value).removeprefix("::ffff:"))
    except ValueError:
        return None
    return int(address) if address.version == 4 else None


def is_constant(text: str) -> bool:
    return "%" not in text
