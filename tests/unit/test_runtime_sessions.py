"""`show sess` / `shutdown session(s)` answers (haproxy_py/runtime_api/sessions.py): HAProxy
2.6's line shape and error strings, as observed on the real haproxy's stats socket."""

from __future__ import annotations

import re

import pytest

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import find_command, help_text
from haproxy_py.runtime_api.sessions import (
    NO_SUCH_SESSION,
    POINTER_EXPECTED,
    REQUIRE_SERVER,
    SESSION_NOT_FOUND,
    SessionView,
    human_time,
    parse_pointer,
    server_reference,
    session_line,
    show_sess_answer,
    shutdown_session_target,
)

# One line of HAProxy 2.6's `show sess` for an established TCP session (fields we fill are
# compared by value, the internals HAProxy has and we do not by shape only).
HAPROXY_LINE = (
    "0x557808fe8220: proto=tcpv4 src=127.0.0.1:33000 fe=fe be=be srv=s1 ts=00 epoch=0 age=1s"
    " calls=2 rate=2 cpu=0 lat=0 rq[f=808000h,i=0,an=00h,rx=29s,wx=,ax=]"
    " rp[f=80008000h,i=0,an=00h,rx=29s,wx=,ax=] scf=[8,0h,fd=13] scb=[8,1h,fd=14] exp=0s rc=0"
    " c_exp="
)


def _keys(line: str) -> list[str]:
    """The field names of a line, in order (`rq[`/`scf=[` groups count as one field)."""
    return re.findall(r"(?:^|\s)([a-z_]+)[=\[]", line.split(": ", 1)[1])


def view(**changes: object) -> SessionView:
    values: dict[str, object] = {
        "id": 0x557808FE8220,
        "proto": "tcpv4",
        "src": "127.0.0.1:33000",
        "frontend": "fe",
        "frontend_mode": "tcp",
        "listener_addr": "127.0.0.1:19100",
        "backend": "be",
        "server": "s1",
        "server_addr": "127.0.0.1:19101",
        "age": 1.4,
        "started": 1_700_000_000.25,
        "client_fd": 13,
        "server_fd": 14,
    }
    values.update(changes)
    return SessionView(**values)  # type: ignore[arg-type]


def test_line_has_haproxys_fields_in_order() -> None:
    line = session_line(view())
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert _keys(line) == _keys(HAPROXY_LINE)
    assert line.startswith("0x557808fe8220: proto=tcpv4 src=127.0.0.1:33000 fe=fe be=be srv=s1 ")
    assert " age=1s " in line
    assert "scf=[8,0h,fd=13] scb=[8,1h,fd=14]" in line


def test_line_without_backend_or_server() -> None:
    line = session_line(view(backend=None, server=None, server_fd=-1, proto="unix_stream"))
    assert " be=<NONE> srv=<none> " in line  # HAProxy's spelling of both
    assert "proto=unix_stream" in line and "scb=[8,1h,fd=-1]" in line


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m"), (185, "3m5s"), (7260, "2h1m"), (90000, "1d1h")],
)
def test_human_time(seconds: float, text: str) -> None:
    assert human_time(seconds) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x1f", 31), ("0X1F", 31), ("17", 17), ("017", 15), ("foo", 0), ("12ab", 12), ("", 0)],
)
def test_parse_pointer_is_strtoul_base_0(text: str, value: int) -> None:
    assert parse_pointer(text) == value


def test_show_sess_lists_all_or_one() -> None:
    views = [view(), view(id=0x10, src="127.0.0.1:40000")]
    listing = show_sess_answer(views, [])
    assert listing.count("\n") == 3 and listing.endswith("\n\n")
    assert show_sess_answer(views, ["foo"]) == listing  # no number: the list, as HAProxy
    one = show_sess_answer(views, ["0x10"])
    assert one.startswith("0x10: [") and " id=1 proto=tcpv4 source=127.0.0.1:40000\n" in one
    assert "  server=s1 addr=127.0.0.1:19101\n" in one and one.endswith("\n\n")
    assert show_sess_answer(views, ["0x99"]) == SESSION_NOT_FOUND == "Session not found.\n\n"
    everything = show_sess_answer(views, ["all"])
    assert everything.count(": [") == 2
    assert show_sess_answer([], []) == "\n"


def test_shutdown_session_answers() -> None:
    assert shutdown_session_target([], [5]) == POINTER_EXPECTED
    assert shutdown_session_target(["foo"], [5]) == POINTER_EXPECTED
    assert POINTER_EXPECTED == "Session pointer expected (use 'show sess').\n\n"
    assert shutdown_session_target(["0x6"], [5]) == NO_SUCH_SESSION
    assert NO_SUCH_SESSION == "No such session (use 'show sess').\n\n"
    assert shutdown_session_target(["0x5"], [5]) == 5


def test_server_reference() -> None:
    assert server_reference([]) == REQUIRE_SERVER == "Require 'backend/server'.\n\n"
    assert server_reference(["be"]) == REQUIRE_SERVER
    assert server_reference(["be/"]) == REQUIRE_SERVER
    assert server_reference(["be/s1"]) == ("be", "s1")


def test_commands_and_levels() -> None:
    assert find_command(["show", "sess"]).level == Level.OPERATOR  # type: ignore[union-attr]
    for words in (["shutdown", "session", "0x1"], ["shutdown", "sessions", "server", "b/s"]):
        keyword = find_command(words)
        assert keyword is not None and keyword.level == Level.ADMIN
    assert find_command(["shutdown", "sessions"]) is None  # HAProxy: unknown command
    listed = help_text(Level.ADMIN)
    assert "shutdown session [id]" in listed and "shutdown sessions server <bk>/<srv>" in listed
    assert "show sess [id]" in listed
    assert "shutdown session" not in help_text(Level.OPERATOR)
