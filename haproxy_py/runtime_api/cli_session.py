"""The runtime-API commands that change the CLI session itself: `operator`, `user` (lower
its level for the rest of the line), `set timeout cli <delay>` and `set severity-output`
(answers prefixed as haproxy_py/runtime_api/severity.py says).

HAProxy's answers: lowering is always allowed ("\\n"), raising is "Permission denied"; the
timeout is a time in seconds by default (units us, ms, s, m, h, d), at least 1 ms. A stats
socket session of haproxy-py answers one line and closes (HAProxy's non-interactive mode;
there is no `prompt` mode yet), so the idle timeout set is kept on the request and can only
matter to the commands after it on the same line: none reads it. Pure: the caller passes
the request whose level changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.units import parse_time
from haproxy_py.proto.cli_help import Level
from haproxy_py.runtime_api.commands import PERMISSION_DENIED, Request, find_command
from haproxy_py.runtime_api.severity import MODE_REQUIRED, MODES, with_severity

ONLY_CLI = "'set timeout' only supports 'cli'.\n\n"
EXPECTS_INTEGER = "Expects an integer value.\n\n"
INVALID_TIMEOUT = "Invalid timeout value.\n\n"
_LOWER = {"operator": Level.OPERATOR, "user": Level.USER}


def session_command(request: Request, words: Sequence[str]) -> str:
    """The answer of `operator`, `user` or `set timeout ...`; `request` is changed."""
    if words[0] in _LOWER:
        wanted = _LOWER[words[0]]
        if wanted > request.level:
            return PERMISSION_DENIED + "\n"
        request.level = wanted
        return "\n"
    if words[1] == "severity-output":
        if words[2:3] and words[2] in MODES:
            request.severity = words[2]
            return "\n"
        return MODE_REQUIRED
    if words[2:3] != ["cli"]:
        return ONLY_CLI
    if len(words) < 4:
        return EXPECTS_INTEGER
    try:
        millis = parse_time(words[3], "set timeout cli", "s")
    except ConfigError:
        return INVALID_TIMEOUT
    if millis < 1:
        return INVALID_TIMEOUT
    request.timeout = millis / 1000
    return "\n"


def as_shown(request: Request, text: str, answer: str) -> str:
    """The answer of command `text` as the session prints it (its severity-output mode)."""
    if request.severity == "none":
        return answer
    words = text.split()
    keyword = find_command(words)
    action = "help" if words[:1] == ["help"] else keyword.action if keyword is not None else ""
    if action == "map" and words[0] not in ("show", "get"):
        action = "map_write"  # a message, not a dump
    return with_severity(request.severity, action, answer)
