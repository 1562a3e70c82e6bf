"""`agent-check` replies: HAProxy 2.6's words, and what each reply means."""

from __future__ import annotations

import errno

import pytest

from haproxy_py.checks import status as st
from haproxy_py.checks.agent import AgentReply, first_line, no_reply, parse_reply


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("up", AgentReply(state="up")),
        ("75%", AgentReply(weight=75)),
        ("up ready 100%", AgentReply(state="up", admin="ready", weight=100)),
        ("ready,stopped", AgentReply(state="stopped", admin="ready")),
        ("50%\tdrain", AgentReply(admin="drain", weight=50)),
        ("MAINT", AgentReply(admin="maint")),
        ("maxconn:30 up", AgentReply(state="up", maxconn=30)),
        ("down #gone fishing", AgentReply(state="down", description="gone fishing")),
        ("fail", AgentReply(state="fail")),
        ("", AgentReply()),
        ("maxconn:7 bogus", AgentReply(error="bogus")),  # nothing applies
        ("down#gone", AgentReply(error="down#gone")),  # as HAProxy 2.6 reads it
        ("up 150", AgentReply(error="150")),
    ],
)
def test_parse_reply(line: str, expected: AgentReply) -> None:
    assert parse_reply(line) == expected


def test_first_line() -> None:
    assert first_line(b"up 50%\r\nignored") == "up 50%"
    assert first_line(b"drain") == "drain"


def test_results_in_haproxys_words() -> None:
    up = parse_reply("up").result(3)
    assert (up.status.name, up.code, up.info, up.duration_ms) == ("L7OK", 0, "via agent : up", 3)
    assert (
        up.reason() == 'Layer7 check passed, code: 0, info: "via agent : up", check duration: 3ms'
    )
    down = parse_reply("stopped").result(0)
    assert down.reason() == (
        'Layer7 wrong status, code: 0, info: "via agent : stopped", check duration: 0ms'
    )
    assert parse_reply("50%").result(0).status.name == "CHECKED"
    error = parse_reply("bogus").result(0)
    assert (error.status.name, error.info) == ("CHECKED", "agent reports an error : bogus")


def test_no_reply_is_an_empty_response_or_a_socket_error() -> None:
    """An agent that closes without a word fails HAProxy's second tcp-check step; one whose
    connection breaks is a socket error with the errno's text (as haproxy 2.6 shows them)."""
    closed = no_reply(0, 3)
    assert (closed.status, closed.info, closed.duration_ms) == (
        st.L7RSP, "TCPCHK got an empty response at step 2", 3,
    )  # fmt: skip
    reset = no_reply(errno.ECONNRESET, 1)
    assert (reset.status, reset.info) == (st.SOCKERR, "Connection reset by peer")
