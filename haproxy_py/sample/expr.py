"""Sample expressions: `FETCH[(ARGS)][,CONV[(ARGS)]]...` compiled into plain callables.

Types are checked at compile time (a converter whose input cannot come from the previous
stage is refused) and the run-time chain only casts where the static types differ. The
result offers `get(ctx)` (one sample: what rules, maps and formats use) and `values(ctx)`
(every sample an ACL tests: all header occurrences, all cookies of that name...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from haproxy_py.sample.args import Call, check_args, split_expression
from haproxy_py.sample.context import SampleContext
from haproxy_py.sample.converters import CONVERTER_HINTS, CONVERTERS, Apply
from haproxy_py.sample.env import CompileEnv
from haproxy_py.sample.fetches import FETCHES, Fetch, sample_values
from haproxy_py.sample.maps import MapCache
from haproxy_py.sample.types import (
    ADDR,
    ANY,
    BIN,
    CAST_TO,
    IPV4,
    IPV6,
    METH,
    STR,
    SampleError,
    can_cast,
)

# Static types that need no run-time conversion to become the key's type.
_SAME = {(STR, BIN), (BIN, STR), (METH, STR), (METH, BIN), (IPV4, ADDR), (IPV6, ADDR)}


def caster(source: str, target: str) -> Callable[[Any], Any] | None:
    """The run-time cast from `source` to `target`, or None when values pass as they are."""
    if source == target or target == ANY or (source, target) in _SAME:
        return None
    return CAST_TO[target]


@dataclass(frozen=True, slots=True)
class Expression:
    text: str
    fetch: Fetch
    out: str  # static type of the result
    get: Callable[[SampleContext], Any]
    values: Callable[[SampleContext], Iterable[Any]]


def resolve_fetch(call: Call, env: CompileEnv) -> tuple[Fetch, tuple[Any, ...]]:
    fetch = FETCHES.get(call.name)
    if fetch is None:
        raise SampleError(f"unknown fetch method '{call.name}'")
    args = check_args("fetch method", call.name, call.args, fetch.args, fetch.mandatory)
    return fetch, args


def _chain(
    calls: list[Call], current: str, env: CompileEnv, maps: MapCache, keyword: str
) -> tuple[Callable[[Any, Any], Any] | None, str]:
    steps: list[tuple[Callable[[Any], Any] | None, Apply]] = []
    for call in calls:
        converter = CONVERTERS.get(call.name)
        if converter is None:
            hint = CONVERTER_HINTS.get(call.name)
            maybe = f" (did you mean '{hint}' ?)" if hint else ""
            raise SampleError(f"unknown converter '{call.name}'{maybe}")
        if not can_cast(current, converter.input):
            raise SampleError(
                f"converter '{call.name}' cannot be applied to the {current} output of '{keyword}'"
            )
        args = check_args("converter", call.name, call.args, converter.args, converter.mandatory)
        steps.append((caster(current, converter.input), converter.make(args, env, maps)))
        current = current if converter.out == ANY else converter.out
    if not steps:
        return None, current
    if len(steps) == 1 and steps[0][0] is None:
        return steps[0][1], current

    def run(value: Any, ctx: Any) -> Any:
        for cast, apply in steps:
            if cast is not None:
                value = cast(value)
                if value is None:
                    return None
            value = apply(value, ctx)
            if value is None:
                return None
        return value

    return run, current


def compile_expression(
    text: str,
    env: CompileEnv | None = None,
    maps: MapCache | None = None,
    calls: list[Call] | None = None,
) -> Expression:
    """Compile a sample expression; SampleError says what is wrong in HAProxy's words."""
    env = env or CompileEnv()
    maps = maps or MapCache(env.loader)
    calls = calls if calls is not None else split_expression(text)
    fetch, args = resolve_fetch(calls[0], env)
    get = fetch.make(args, env)
    many = sample_values(fetch, args, env)
    try:
        run, out = _chain(calls[1:], fetch.out, env, maps, fetch.name)
    except SampleError as error:
        raise SampleError(f"ACL keyword '{fetch.name}' : {error}") from None
    if run is None:
        return Expression(text, fetch, out, get, many)

    def get_converted(ctx: SampleContext) -> Any:
        value = get(ctx)
        return None if value is None else run(value, ctx)

    def values_converted(ctx: SampleContext) -> Iterable[Any]:
        for value in many(ctx):
            converted = run(value, ctx)
            if converted is not None:
                yield converted

    return Expression(text, fetch, out, get_converted, values_converted)
