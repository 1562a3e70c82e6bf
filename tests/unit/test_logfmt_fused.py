"""Fused log renderers (haproxy_py/logfmt/fused.py) give the node loop's line, byte for byte.

Every variable of the table, with and without flags, in the predefined formats and in
generated shapes (separators, literal text with quotes and braces, captures that write
nothing next to each other), rendered from records that fill or leave empty each field.
"""

from __future__ import annotations

import random

import pytest

from haproxy_py.logfmt import CLF_FORMAT, HTTP_FORMAT, TCP_FORMAT, LogRecord, compile_format
from haproxy_py.logfmt.variables import VARIABLES


def records() -> list[LogRecord]:
    found = []
    for filled in (False, True):
        r = LogRecord(1795280237.846037)
        r.request_date = 1795280237.9
        if filled:
            r.client_ip, r.client_port = "::ffff:127.0.0.1", 57020
            r.frontend_ip, r.frontend_port = "10.0.0.1", 80
            r.frontend, r.backend, r.server = "app", "be'{x}", "s1"
            r.t_request, r.t_queue, r.t_connect, r.t_response, r.t_active = 0, 1, 2, 3, 4
            r.status, r.bytes_out, r.bytes_in = 200, 60, 70
            r.method, r.uri, r.version = "GET", '/a?b="c"#d', "HTTP/1.1"
            r.request_captures = ["x|y", None]
            r.response_captures = ["abc"]
            r.request_cookie = "c=1"
            r.unique_id = "id-1"
            r.hostname = "vm"
        else:
            r.termination = ""
        found.append(r)
    return found


def same(text: str) -> None:
    fmt = compile_format(text)
    for record in records():
        assert fmt(record) == fmt.render_nodes(record), (text, fmt.render)


@pytest.mark.parametrize("text", [HTTP_FORMAT, TCP_FORMAT, CLF_FORMAT])
def test_predefined_formats_are_fused(text: str) -> None:
    fmt = compile_format(text)
    assert fmt.render != fmt.render_nodes  # fused: one generated function
    same(text)


@pytest.mark.parametrize("name", sorted(VARIABLES))
@pytest.mark.parametrize("flags", ["", "%{+Q}", "%{+X}", "%{+E}", "%{+Q,+E}"])
def test_every_variable_alone_and_between_separators(name: str, flags: str) -> None:
    for shape in ("{v}", " {v} ", "a {v} b", "[{v}]", "{v}{v}", "{v} {v}", "'{v}' \\{{v}}"):
        same(shape.format(v=f"{flags}{name}") if "{v}" in shape else shape)


def test_generated_shapes() -> None:
    pieces = ["%hr", "%hs", "%hrl", "%ts", "%tsc", "%ST", "%{+Q}r", "%b", "=x", "{", "'", '"',
              "%%", " ", "  ", "%[str(a)]", "%ci", "%{+X}ci"]  # fmt: skip
    rng = random.Random(4)
    for _ in range(400):
        same("".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))))


def test_two_maybe_empty_texts_side_by_side_keep_the_node_loop() -> None:
    fmt = compile_format(" %hr%hs x")
    assert fmt.render == fmt.render_nodes
    same(" %hr%hs x")
