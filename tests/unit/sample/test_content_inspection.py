"""Content inspection's "may change" answers: payload fetches set `ctx.missing` while the
buffer may still grow, and RulesCompiler.partial_condition() turns that into HAProxy's third
result (None, "miss") with its three-valued AND/OR/negation/unless."""

from __future__ import annotations

import itertools

import pytest

from haproxy_py.sample import CompileEnv, RulesCompiler, SampleContext, parse_condition
from haproxy_py.sample.acls import acl_from_words
from haproxy_py.sample.expr import compile_expression

ACLS = [
    acl_from_words(["req.payload(0,4)", "-m", "str", "PING"], "ping"),
    acl_from_words(["req.len", "gt", "3"], "long"),
    acl_from_words(["always_true"], "yes"),
    acl_from_words(["always_false"], "no"),
]


def ctx_with(buffer: bytes, final: bool, response: bytes = b"") -> SampleContext:
    return SampleContext(request_buffer=buffer, response_buffer=response, content_final=final)


def partial(text: str):  # type: ignore[no-untyped-def]
    return RulesCompiler(ACLS, CompileEnv()).partial_condition(parse_condition(text))


@pytest.mark.parametrize(
    ("buffer", "final", "text", "expected"),
    [
        (b"", False, "if ping", None),  # too short, more may come: miss
        (b"", True, "if ping", False),  # too short and final: a plain no
        (b"PING", False, "if ping", True),
        (b"PONG", False, "if ping", False),  # enough data to say no
        (b"", False, "if !ping", None),  # a negated miss stays a miss
        (b"", False, "unless ping", None),  # unless keeps a miss too
        (b"PONG", False, "unless ping", True),
        (b"", False, "if ping no", False),  # AND: a fail beats a miss
        (b"", False, "if ping yes", None),  # AND: a miss beats a pass
        (b"", False, "if ping || yes", True),  # OR: a pass beats a miss
        (b"", False, "if ping || no", None),  # OR: a miss beats a fail
        (b"ab", False, "if long", None),  # req.len may still grow
        (b"abcd", False, "if long", True),
        (b"ab", True, "if long", False),
    ],
)
def test_three_valued_conditions(buffer: bytes, final: bool, text: str, expected: object) -> None:
    assert partial(text)(ctx_with(buffer, final)) is expected


def test_miss_agrees_with_the_two_valued_condition_once_final() -> None:
    """Once the buffer is final no condition misses, and both evaluators agree."""
    compiler = RulesCompiler(ACLS, CompileEnv())
    words = ["ping", "!ping", "long", "yes", "no"]
    for left, right in itertools.product(words, repeat=2):
        for text in (f"if {left} {right}", f"if {left} || {right}", f"unless {left} {right}"):
            for buffer in (b"", b"PI", b"PING", b"PINGPONG"):
                condition = parse_condition(text)
                ctx = ctx_with(buffer, True)
                expected = compiler.condition(condition)(ctx)
                assert compiler.partial_condition(condition)(ctx) is expected, (text, buffer)


def test_response_payload_fetches() -> None:
    env = CompileEnv(response_side=True)
    payload = compile_expression("res.payload(2,3)", env).get
    length = compile_expression("res.len", env).get
    ctx = ctx_with(b"", False, response=b"A:GOOD")
    assert payload(ctx) == b"GOO" and length(ctx) == 6
    short = ctx_with(b"", False, response=b"A:")
    assert payload(short) is None and short.missing
    assert compile_expression("res.payload(0,0)", env).get(ctx) == b"A:GOOD"
