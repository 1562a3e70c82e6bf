"""`set severity-output none|number|string`: HAProxy prefixes the messages of its runtime API
(not its dumps) with their syslog severity, `[3]: ` or `[err]: `, once set on a session.

Which answers are messages is HAProxy's behaviour, kept here as tables: the help and the
unknown-command listing, `show version` and `show cli level` are informational (6); the
address changes of `set server` are warnings (4); every other non-empty answer of a command
that changes something is an error (3), and so are the errors of the commands that dump
something (a fixed list of their first lines), whose dumps stay bare (as `Session not
found.` does in HAProxy). Pure: the caller passes the mode, the command's action and answer.
"""

from __future__ import annotations

MODES = ("none", "number", "string")
MODE_REQUIRED = "one of 'none', 'number', 'string' is a required argument\n\n"
NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
ERROR, WARNING, INFO = 3, 4, 6

# Actions whose answers are dumps (table, list, value) unless they are one of DUMP_ERRORS
# ("map" is `show|get map|acl`; the map writes are "map_write").
DUMP_ACTIONS = frozenset(
    {
        "get_weight",
        "map",
        "show_activity",
        "show_backend",
        "show_env",
        "show_errors",
        "show_info",
        "show_pools",
        "show_servers_conn",
        "show_servers_state",
        "show_sess",
        "show_stat",
        "table",
    }
)
INFO_ACTIONS = frozenset({"help", "show_version", "show_cli_level"})
INFO_STARTS = (
    "The following commands are valid at this level:",
    "Unknown command",
    "New server registered.",
    "Server deleted.",
    "New version created:",
)
WARNING_STARTS = ("IP changed from", "no need to change the addr", "port changed from")
DUMP_ERRORS = frozenset(
    {
        "Can't find backend.",
        "Key not found.",
        "No such backend.",
        "No such proxy.",
        "No such server.",
        "No such table",
        "Permission denied",
        "Require 'backend/server'.",
        "Variable not found",
        "entry not found.",
    }
)
DUMP_ERROR_STARTS = ("Missing ", "Unknown map ", "Unknown ACL ", "This command expects ")


def severity(action: str, answer: str) -> int | None:
    """The severity HAProxy gives this answer, or None when it is printed bare."""
    if answer.strip() == "":
        return None
    first = answer.split("\n", 1)[0]
    if action in INFO_ACTIONS or first.startswith(INFO_STARTS):
        return INFO
    if first.startswith(WARNING_STARTS):
        return WARNING
    if action in DUMP_ACTIONS:
        bare = first not in DUMP_ERRORS and not first.startswith(DUMP_ERROR_STARTS)
        return None if bare else ERROR
    return ERROR


def with_severity(mode: str, action: str, answer: str) -> str:
    """`answer` as a session in severity-output `mode` prints it."""
    if mode == "none":
        return answer
    level = severity(action, answer)
    if level is None:
        return answer
    label = str(level) if mode == "number" else NAMES[level]
    return f"[{label}]: {answer}"
