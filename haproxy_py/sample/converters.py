"""The converter table: name, input and output types, arguments, and the run-time function.

A converter entry's `make(args, env, maps)` runs once at compile time and returns
`(value, ctx) -> value | None`. Inputs are already cast to the converter's input type.
Integer arithmetic saturates at the signed 64-bit bounds, as HAProxy's does.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_to_bytes

from haproxy_py.lb.hashing import crc32
from haproxy_py.sample.args import INT, STRING, UINT, ArgSpec
from haproxy_py.sample.env import CompileEnv
from haproxy_py.sample.fetches import VAR, parse_var_name
from haproxy_py.sample.maps import MAP_OUTPUTS, MapCache, map_entries
from haproxy_py.sample.matchers import compile_regex
from haproxy_py.sample.types import ADDR, ANY, BIN, BOOL, SINT, STR, SampleError, text_bytes
from haproxy_py.sample.xxh3 import xxh3_64

Apply = Callable[[Any, Any], Any]  # (value, ctx) -> value | None
INT_MAX, INT_MIN = (1 << 63) - 1, -(1 << 63)


@dataclass(frozen=True, slots=True)
class Converter:
    name: str
    usage: str
    input: str
    out: str
    make: Callable[[tuple[Any, ...], CompileEnv, MapCache], Apply]
    args: tuple[ArgSpec, ...] = ()
    mandatory: int = 0


def _simple(function: Callable[[Any], Any]) -> Callable[..., Apply]:
    return lambda args, env, maps: lambda value, ctx: function(value)


# -- strings ----------------------------------------------------------------------------------


def _index(text: str) -> int:
    value = int(text)
    if value == 0:
        raise SampleError("Unexpected value 0 for index")
    return value


INDEX = ArgSpec("integer", _index)


def _pieces(value: bytes, delimiters: bytes, skip_empty: bool) -> list[tuple[int, int]]:
    spans, start = [], 0
    for position, byte in enumerate(value):
        if byte in delimiters:
            spans.append((start, position))
            start = position + 1
    spans.append((start, len(value)))
    return [span for span in spans if span[0] < span[1]] if skip_empty else spans


def _field(skip_empty: bool) -> Callable[..., Apply]:
    """field/word: `count` pieces from the index-th (negative: from the end), as in the input."""

    def make(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
        index, delimiters, count = args[0], text_bytes(args[1]), args[2] or 1

        def apply(value: bytes, ctx: Any) -> Any:
            spans = _pieces(value, delimiters, skip_empty)
            first = index - 1 if index > 0 else len(spans) + index - count + 1
            if first < 0 or first >= len(spans) or (index < 0 and len(spans) + index < 0):
                return None
            chosen = spans[first : first + count]
            return value[chosen[0][0] : chosen[-1][1]]

        return apply

    return make


def _regsub(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    flags = args[2] or ""
    for flag in flags:
        if flag not in "ig":
            raise SampleError(f"invalid regex flag '{flag}', only 'i' and 'g' are supported")
    pattern = compile_regex(args[0], "i" in flags)
    template = text_bytes(args[1])
    count = 0 if "g" in flags else 1
    return lambda value, ctx: pattern.sub(lambda m: m.expand(template), value, count=count)


_JSON_MODES = ("ascii", "utf8", "utf8s", "utf8p", "utf8ps")
_JSON_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x2F: b"\\/", 0x08: b"\\b", 0x0C: b"\\f",
                 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}  # fmt: skip


def _json(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    mode = args[0] or "ascii"
    if mode not in _JSON_MODES:
        raise SampleError(
            "Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p'"
            " and 'utf8ps'"
        )

    def apply(value: bytes, ctx: Any) -> Any:
        if mode == "ascii":
            chars = [chr(byte) for byte in value]
        else:
            errors = "strict" if mode in ("utf8", "utf8p") else "ignore"
            try:
                chars = list(value.decode("utf-8", errors))
            except UnicodeDecodeError:
                return None
        out = bytearray()
        for char in chars:
            code = ord(char)
            if code in _JSON_ESCAPES:
                out += _JSON_ESCAPES[code]
            elif code < 0x20 or code > 0x7E:
                out += b"\\u%04x" % code if code <= 0xFFFF else char.encode()
            else:
                out.append(code)
        return bytes(out)

    return apply


def _url_dec(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    in_form = bool(args[0])

    def apply(value: bytes, ctx: Any) -> Any:
        if re.search(rb"%(?![0-9A-Fa-f]{2})", value):
            return None
        return unquote_to_bytes(value.replace(b"+", b" ") if in_form else value)

    return apply


def _b64dec(value: bytes) -> Any:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


# -- addresses --------------------------------------------------------------------------------


def _mask(bits: int, text: str, name: str) -> int:
    try:
        if "." in text and bits == 32:
            mask = int(IPv4Address(text))
            prefix = bin(mask).count("1")
        else:
            prefix = int(text)
    except ValueError:
        prefix = -1
    if not 0 <= prefix <= bits:
        raise SampleError(f"failed to parse '{text}' as type '{name}'")
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


def _ipmask(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    mask4 = _mask(32, args[0], "IPv4 mask")
    mask6 = None if args[1] is None else _mask(128, args[1], "IPv6 mask")

    def apply(value: Any, ctx: Any) -> Any:
        if isinstance(value, IPv4Address):
            return IPv4Address(int(value) & mask4)
        if mask6 is None:
            return None
        return IPv6Address(int(value) & mask6)

    return apply


# -- integers ---------------------------------------------------------------------------------


def _int_or_var(text: str) -> Any:
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    try:
        return ("var", parse_var_name(text))
    except SampleError:
        raise SampleError(f"failed to register variable name '{text}'") from None


INT_OR_VAR = ArgSpec("integer or variable", _int_or_var)


def _saturate(value: int) -> int:
    return INT_MAX if value > INT_MAX else INT_MIN if value < INT_MIN else value


def _arith(operation: Callable[[int, int], int]) -> Callable[..., Apply]:
    def make(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
        operand = args[0]
        if isinstance(operand, int):
            return lambda value, ctx: _saturate(operation(value, operand))

        name = operand[1]

        def apply(value: int, ctx: Any) -> Any:
            other = ctx.get_var(name)
            if isinstance(other, bytes):
                other = int(other) if other.lstrip(b"-").isdigit() else None
            if not isinstance(other, int):
                return None
            return _saturate(operation(value, int(other)))

        return apply

    return make


def _div(a: int, b: int) -> int:
    if b == 0:
        return INT_MAX
    quotient = abs(a) // abs(b)  # C division truncates toward zero
    return quotient if (a < 0) == (b < 0) else -quotient


def _mod(a: int, b: int) -> int:
    if b == 0:
        return 0
    return a - b * _div(a, b)


def full_hash(h: int) -> int:
    """Bob Jenkins' 32-bit integer mix, the "avalanche" of the hash converters."""
    h = ((h + 0x7ED55D16) + (h << 12)) & 0xFFFFFFFF
    h = ((h ^ 0xC761C23C) ^ (h >> 19)) & 0xFFFFFFFF
    h = ((h + 0x165667B1) + (h << 5)) & 0xFFFFFFFF
    h = ((h + 0xD3A2646C) ^ (h << 9)) & 0xFFFFFFFF
    h = ((h + 0xFD7046C5) + (h << 3)) & 0xFFFFFFFF
    return (h ^ 0xB55A4F09) ^ (h >> 16)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value > INT_MAX else value


# -- variables --------------------------------------------------------------------------------


def _concat(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    start = text_bytes(args[0] or "")
    end = text_bytes(args[2] or "")
    name = args[1]
    if name is not None:
        parse_var_name(name)

    def apply(value: bytes, ctx: Any) -> Any:
        middle = b""
        if name is not None:
            found = ctx.get_var(name)
            middle = (
                found if isinstance(found, bytes) else b"" if found is None else str(found).encode()
            )
        return value + start + middle + end

    return apply


def _strcmp(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    try:
        name = parse_var_name(args[0])
    except SampleError:
        raise SampleError(f"failed to register variable name '{args[0]}'") from None

    def apply(value: bytes, ctx: Any) -> Any:
        other = ctx.get_var(name)
        if not isinstance(other, bytes):
            return None
        for a, b in zip(value, other, strict=False):
            if a != b:
                return a - b
        return len(value) - len(other)

    return apply


def _set_var(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
    name = args[0]

    def apply(value: Any, ctx: Any) -> Any:
        ctx.set_var(name, value)
        return value

    return apply


# -- maps -------------------------------------------------------------------------------------

_MAP_METHODS = {"str": STR, "beg": STR, "sub": STR, "dir": STR, "dom": STR, "end": STR,
                "reg": STR, "regm": STR, "int": SINT, "ip": ADDR}  # fmt: skip
_MAP_OUTPUT_TYPES = {"str": STR, "int": SINT, "ip": ADDR}


def _map(method: str, output: str) -> Callable[..., Apply]:
    def make(args: tuple[Any, ...], env: CompileEnv, maps: MapCache) -> Apply:
        if method == "regm":
            return _regm(args, maps)
        lookup = maps.map_lookup(args[0], method, output)
        default = None if args[1] is None else maps_default(args[1], output)
        if default is None:
            return lambda value, ctx: lookup(value)

        def apply(value: Any, ctx: Any) -> Any:
            found = lookup(value)
            return default if found is None else found

        return apply

    return make


def maps_default(text: str, output: str) -> Any:
    return MAP_OUTPUTS[output](text)


def _regm(args: tuple[Any, ...], maps: MapCache) -> Apply:
    """map_regm: the value may refer to the regex's groups (\\1)."""
    entries = [
        (compile_regex(key, False), text_bytes(value))
        for key, value in map_entries(maps.lines(args[0]))
    ]
    default = None if args[1] is None else text_bytes(args[1])

    def apply(value: bytes, ctx: Any) -> Any:
        for pattern, template in entries:
            match = pattern.search(value)
            if match is not None:
                return match.expand(template)
        return default

    return apply


def _map_entries() -> list[Converter]:
    entries = []
    for method, input_type in _MAP_METHODS.items():
        for output, out_type in _MAP_OUTPUT_TYPES.items():
            if method == "regm" and output != "str":
                continue
            name = f"map_{method}" + ("" if output == "str" else f"_{output}")
            usage = f"{name}(<map_file>[,<default_value>])"
            entries.append(
                Converter(
                    name, usage, input_type, out_type, _map(method, output), (STRING, STRING), 1
                )
            )
    entries.append(
        Converter(
            "map",
            "map(<map_file>[,<default_value>])",
            STR,
            STR,
            _map("str", "str"),
            (STRING, STRING),
            1,
        )
    )
    return entries


def _table() -> dict[str, Converter]:
    entries = [
        Converter("lower", "lower", STR, STR, _simple(bytes.lower)),
        Converter("upper", "upper", STR, STR, _simple(bytes.upper)),
        Converter("length", "length", STR, SINT, _simple(len)),
        Converter(
            "field",
            "field(<index>,<delimiters>[,<count>])",
            STR,
            STR,
            _field(False),
            (INDEX, STRING, UINT),
            2,
        ),
        Converter(
            "word",
            "word(<index>,<delimiters>[,<count>])",
            STR,
            STR,
            _field(True),
            (INDEX, STRING, UINT),
            2,
        ),
        Converter(
            "regsub",
            "regsub(<regex>,<subst>[,<flags>])",
            STR,
            STR,
            _regsub,
            (STRING, STRING, STRING),
            2,
        ),
        Converter("ipmask", "ipmask(<mask4>[,<mask6>])", ADDR, ADDR, _ipmask, (STRING, STRING), 1),
        Converter("base64", "base64", BIN, STR, _simple(base64.b64encode)),
        Converter("b64dec", "b64dec", STR, BIN, _simple(_b64dec)),
        Converter("hex", "hex", BIN, STR, _simple(lambda v: v.hex().upper().encode())),
        Converter("url_dec", "url_dec([<in_form>])", STR, STR, _url_dec, (INT,)),
        Converter("json", "json([<input-code>])", STR, STR, _json, (STRING,)),
        Converter(
            "crc32",
            "crc32([<avalanche>])",
            BIN,
            SINT,
            lambda a, e, m: (lambda v, c: full_hash(crc32(v))) if a[0] else (lambda v, c: crc32(v)),
            (INT,),
        ),
        Converter(
            "xxh3",
            "xxh3([<seed>])",
            BIN,
            SINT,
            lambda a, e, m: lambda v, c: _signed64(xxh3_64(v, a[0] or 0)),
            (INT,),
        ),
        Converter("add", "add(<value>)", SINT, SINT, _arith(lambda a, b: a + b), (INT_OR_VAR,), 1),
        Converter("sub", "sub(<value>)", SINT, SINT, _arith(lambda a, b: a - b), (INT_OR_VAR,), 1),
        Converter("mul", "mul(<value>)", SINT, SINT, _arith(lambda a, b: a * b), (INT_OR_VAR,), 1),
        Converter("div", "div(<value>)", SINT, SINT, _arith(_div), (INT_OR_VAR,), 1),
        Converter("mod", "mod(<value>)", SINT, SINT, _arith(_mod), (INT_OR_VAR,), 1),
        Converter("neg", "neg", SINT, SINT, _simple(lambda v: _saturate(-v))),
        Converter("bool", "bool", SINT, BOOL, _simple(lambda v: v != 0)),
        Converter("not", "not", SINT, BOOL, _simple(lambda v: v == 0)),
        Converter(
            "concat",
            "concat([<start>],[<var>],[<end>])",
            STR,
            STR,
            _concat,
            (STRING, STRING, STRING),
        ),
        Converter("strcmp", "strcmp(<var>)", STR, SINT, _strcmp, (STRING,), 1),
        Converter("set-var", "set-var(<var>)", ANY, ANY, _set_var, (VAR,), 1),
        *_map_entries(),
    ]
    return {entry.name: entry for entry in entries}


CONVERTERS: MappingProxyType[str, Converter] = MappingProxyType(_table())
# Converter names people reach for that HAProxy 2.6 spells differently.
CONVERTER_HINTS = MappingProxyType({"len": "length"})
