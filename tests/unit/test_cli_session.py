"""The commands that change the CLI session (haproxy_py/runtime_api/cli_session.py) and the
severity prefixes of `set severity-output` (haproxy_py/runtime_api/severity.py); HAProxy
2.6's answers, as tests/e2e/test_cli_session_commands.py checks them on the real programs."""

from __future__ import annotations

from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.cli_session import as_shown, session_command
from haproxy_py.runtime_api.commands import Request, find_command, help_text
from haproxy_py.runtime_api.severity import severity, with_severity


def test_operator_user_and_timeout() -> None:
    request = Request(level=Level.ADMIN)
    assert session_command(request, ["operator"]) == "\n"
    assert request.level == Level.OPERATOR
    assert session_command(request, ["user"]) == "\n"
    assert session_command(request, ["operator"]) == "Permission denied\n\n"
    assert request.level == Level.USER
    for words, answer, timeout in (
        (["set", "timeout", "cli", "5"], "\n", 5.0),
        (["set", "timeout", "cli", "100ms"], "\n", 0.1),
        (["set", "timeout", "cli", "1d", "6"], "\n", 86400.0),
        (["set", "timeout", "cli"], "Expects an integer value.\n\n", None),
        (["set", "timeout", "cli", "0"], "Invalid timeout value.\n\n", None),
        (["set", "timeout", "cli", "-1"], "Invalid timeout value.\n\n", None),
        (["set", "timeout", "cli", "5x"], "Invalid timeout value.\n\n", None),
        (["set", "timeout", "cli", "99999999999"], "Invalid timeout value.\n\n", None),
        (["set", "timeout", "CLI", "5"], "'set timeout' only supports 'cli'.\n\n", None),
        (["set", "timeout"], "'set timeout' only supports 'cli'.\n\n", None),
    ):
        fresh = Request(level=Level.USER)
        assert session_command(fresh, words) == answer, words
        assert fresh.timeout == timeout, words


def test_help_lists_the_session_commands() -> None:
    listing = help_text(Level.USER)
    for usage in ("operator", "user", "set timeout [cli] <delay>"):
        assert f"\n  {usage:<40}: " in listing, usage
    assert "show errors [<px>] [request|response]   : " in help_text(Level.OPERATOR)
    keyword = find_command(["set", "timeout", "cli", "5"])
    assert keyword is not None and keyword.action == "cli_session"


def test_severity_output_mode() -> None:
    request = Request()
    assert session_command(request, ["set", "severity-output", "number"]) == "\n"
    assert request.severity == "number"
    required = "one of 'none', 'number', 'string' is a required argument\n\n"
    assert session_command(request, ["set", "severity-output"]) == required
    assert session_command(request, ["set", "severity-output", "NUMBER"]) == required
    assert request.severity == "number"
    assert as_shown(request, "set weight be/zz 3", "No such server.\n\n") == (
        "[3]: No such server.\n\n"
    )
    assert as_shown(request, "help", "The following ...\n") == "[6]: The following ...\n"
    assert as_shown(request, "show cli level", "admin\n\n") == "[6]: admin\n\n"
    assert as_shown(request, "show sess 0x1", "Session not found.\n\n") == (
        "Session not found.\n\n"
    )
    assert as_shown(Request(), "set weight be/zz 3", "No such server.\n\n") == (
        "No such server.\n\n"
    )


def test_which_answers_are_messages() -> None:
    assert severity("admin_server", "\n") is None
    assert severity("admin_server", "No such server.\n\n") == 3
    assert severity("admin_server", "IP changed from 'a' to 'b' by 'stats socket command'\n\n") == 4
    assert severity("dynamic_server", "New server registered.\n\n") == 6
    assert severity("show_version", "2.6.12\n\n") == 6
    assert severity("", "Unknown command, but maybe ...\n") == 6
    assert severity("get_weight", "1 (initial 1)\n\n") is None
    assert severity("get_weight", "No such backend.\n\n") == 3
    assert severity("show_env", "HOME=/root\n\n") is None
    assert severity("show_env", "Variable not found\n\n") == 3
    assert severity("map", "Unknown map identifier. Please use #<id> or <file>.\n\n") == 3
    assert severity("map", "type=str, case=sensitive, found=no\n\n") is None
    assert severity("show_errors", "Total events captured on [x] : 0\n\n") is None
    assert with_severity("string", "shutdown_session", "No such session.\n\n") == (
        "[err]: No such session.\n\n"
    )
    assert with_severity("string", "admin_server", "IP changed from 'a'\n\n").startswith(
        "[warning]: "
    )
    assert with_severity("none", "admin_server", "No such server.\n\n") == "No such server.\n\n"
