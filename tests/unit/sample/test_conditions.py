"""Conditions: named ACLs ORed, predefined ACLs, `||`, `!`, anonymous ACLs, short-circuit,
and a property test against a straightforward reference evaluator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.sample import (
    CompileEnv,
    HttpRequest,
    RulesCompiler,
    SampleError,
    compile_condition,
    parse_condition,
)
from haproxy_py.sample.acls import acl_from_words
from tests.unit.sample.helpers import make_ctx

ACLS = [
    acl_from_words(["path_beg", "/ms1/"], "is_ms1"),
    acl_from_words(["path_beg", "/img/"], "is_ms1"),  # declared twice: ORed
    acl_from_words(["hdr(host)", "-i", "www.example.com"], "is_www"),
    acl_from_words(["src", "10.0.0.0/8"], "internal"),
]


def check(text: str, ctx=None) -> bool:  # type: ignore[no-untyped-def]
    return compile_condition(text, ACLS)(ctx or make_ctx())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("if is_ms1", True),
        ("if is_ms1 is_www", True),
        ("if is_ms1 internal", False),
        ("if internal || is_www", True),
        ("if internal or is_www", True),
        ("if !internal", True),
        ("if ! internal", True),
        ("unless internal", True),
        ("unless is_ms1", False),
        ("if { path_end .png } !{ src 10.0.0.0/8 }", True),
        ("if TRUE", True),
        ("if FALSE || TRUE", True),
        ("if METH_GET HTTP_1.1 HTTP_URL_SLASH HTTP REQ_CONTENT WAIT_END", True),
        ("if METH_POST", False),
        ("if LOCALHOST", False),
        ("if HTTP_1.0 || HTTP_URL_ABS", False),
        ("if HTTP_CONTENT", True),
    ],
)
def test_condition(text: str, expected: bool) -> None:
    assert check(text) is expected


def test_absolute_url_and_localhost() -> None:
    from ipaddress import ip_address

    ctx = make_ctx(src=ip_address("127.0.0.2"), request=HttpRequest(b"POST", b"http://a/b"))
    assert check("if LOCALHOST METH_POST HTTP_URL_ABS", ctx) is True


def test_short_circuit() -> None:
    calls: list[str] = []
    compiler = RulesCompiler(ACLS)
    compiler._compiled["spy"] = lambda ctx: calls.append("spy") or True  # type: ignore[func-returns-value]
    assert compiler.condition("if FALSE spy || TRUE")(make_ctx()) is True
    assert calls == []
    assert compiler.condition("if TRUE || spy")(make_ctx()) is True
    assert calls == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("if nope", "no such ACL : 'nope'"),
        ("if RDP_COOKIE", "not supported"),
        ("if { }", "empty anonymous ACL"),
        ("if { path", "missing closing '}'"),
        ("if || TRUE", "missing condition before '||'"),
        ("if TRUE !", "missing condition after '!'"),
        ("when TRUE", "starts with 'if' or 'unless'"),
        ("if { bogus x }", "unknown fetch method 'bogus'"),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    with pytest.raises(SampleError) as raised:
        compile_condition(text, ACLS)
    assert message in str(raised.value)


def test_config_condition_model_is_accepted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from haproxy_py.config import load_configuration
    from tests.helpers import TIMEOUTS

    cfg = tmp_path / "h.cfg"
    cfg.write_text(
        "defaults\n    mode http\n" + TIMEOUTS
        + "backend ms1\n    server s 127.0.0.1:1\n"
        "frontend fe\n    bind 127.0.0.1:8080\n    acl is_ms1 path_beg -i /ms1/\n"
        "    use_backend ms1 if is_ms1 || { path_end .jpg }\n    default_backend ms1\n"
    )  # fmt: skip
    result = load_configuration([str(cfg)], {}, None)
    assert result.config is not None
    frontend = next(p for p in result.config.proxies if p.name == "fe")
    switch = frontend.backend_switches[0]
    env = CompileEnv.for_proxy(result.config, frontend)
    predicate = RulesCompiler(frontend.acls, env).condition(switch.condition)
    assert predicate(make_ctx(request=HttpRequest(b"GET", b"/MS1/x"))) is True
    assert predicate(make_ctx(request=HttpRequest(b"GET", b"/a.jpg"))) is True
    assert predicate(make_ctx(request=HttpRequest(b"GET", b"/a.png"))) is False


NAMES = ["TRUE", "FALSE", "is_ms1", "internal"]
VALUES = {"TRUE": True, "FALSE": False, "is_ms1": True, "internal": False}
terms = st.tuples(st.booleans(), st.sampled_from(NAMES))
groups = st.lists(st.lists(terms, min_size=1, max_size=4), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), groups)
def test_against_reference_evaluator(unless: bool, condition: list[list[tuple[bool, str]]]) -> None:
    text = ("unless " if unless else "if ") + " || ".join(
        " ".join(("!" if negated else "") + name for negated, name in group) for group in condition
    )
    reference = any(all(VALUES[name] != negated for negated, name in group) for group in condition)
    assert check(text) is (reference != unless)
    assert len(parse_condition(text).groups) == len(condition)
