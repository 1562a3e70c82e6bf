"""The runtime API's pure parts: reading a routed request, the table, `show info`'s format."""

from __future__ import annotations

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import (
    find_command,
    help_text,
    parse_request,
    split_commands,
    unknown_command,
)
from haproxy_py.runtime_api.info import INFO_FIELDS, format_info, format_uptime


def test_a_routed_request_carries_level_and_modes_before_the_command() -> None:
    request = parse_request(b"operator -\r\nexpert-mode on -\r\nshow info; help\n")
    assert request.level == Level.OPERATOR
    assert request.modes == {"expert-mode"}
    assert request.commands == ["show info", "help"]


def test_a_level_can_only_go_down() -> None:
    assert parse_request(b"user -\r\noperator -\r\nshow info\n").level == Level.USER
    assert parse_request(b"show info\n", Level.OPERATOR).level == Level.OPERATOR


def test_only_the_first_command_line_counts() -> None:
    assert parse_request(b"show info\nshow stat\n").commands == ["show info"]
    assert parse_request(b"").commands == []


def test_escaped_semicolons_stay_in_the_command() -> None:
    assert split_commands(r"set var a\;b; show info") == ["set var a;b", "show info"]


def test_commands_are_found_by_their_leading_words() -> None:
    keyword = find_command(["show", "info", "typed"])
    assert keyword is not None and keyword.action == "show_info"
    assert find_command(["show"]) is None


def test_help_and_unknown_commands_use_haproxy_headers() -> None:
    assert help_text(Level.ADMIN).startswith("The following commands are valid at this level:\n")
    assert "  show info " in help_text(Level.USER)
    unknown = unknown_command("show inf", Level.ADMIN)
    assert unknown.startswith("Unknown command, but maybe one of the following ones is a better")
    assert "show info" in unknown and unknown.endswith("\n\n")
    assert unknown_command("", Level.ADMIN).startswith("Unknown command. Please enter one")


def test_show_info_prints_known_fields_in_haproxy_order() -> None:
    text = format_info({"Pid": 42, "Name": "HAProxy", "description": "", "Stopping": 0})
    assert text == "Name: HAProxy\nPid: 42\nStopping: 0\n\n"
    assert INFO_FIELDS.index("Name") == 0 and INFO_FIELDS.index("Pid") == 6
    assert INFO_FIELDS.index("Stopping") < INFO_FIELDS.index("Tainted") == len(INFO_FIELDS) - 1


def test_show_info_uptime_format() -> None:
    assert format_uptime(39) == "0d 0h00m39s"
    assert format_uptime(2 * 86400 + 3 * 3600 + 4 * 60 + 5) == "2d 3h04m05s"
