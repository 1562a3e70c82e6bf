"""Formatted strings (`%[sample,conv]` in header values, redirects, return bodies) compiled
into plain callables `ctx -> bytes`.

This first cut knows literal text, `%%` and `%[expression]`; the log-format `%` tags (`%ci`,
`%ST`...) and `%{flags}` are refused with a clear SampleError rather than copied as text,
since HAProxy would expand them. A string without `%` compiles to a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
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
    """Literal strings and ("expression",) parts."""
    parts: list[str | tuple[str]] = []
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
            tag = text[index : index + 3]
            raise SampleError(
                f"log-format tag '{tag}...' in '{text}' is not yet supported in formatted"
                " strings by this version of haproxy-py (only %[sample] and %%)"
            )
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


def is_constant(text: str) -> bool:
    return "%" not in text
