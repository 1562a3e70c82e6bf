"""The runtime API's command table and request parsing (no I/O).

A request is what one CLI connection sends: optional lines that set the session's level and
modes (the master prefixes routed commands with `user -`, `operator -`, `expert-mode on -`,
`experimental-mode on -`, each ending in CRLF), then one command line whose commands are
separated by `;` (`\\;` keeps a semicolon). Every answer ends with an empty line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from haproxy_py.proto.cli_help import Keyword, Level, closest, listing

# fmt: off
_ADMIN = Level.ADMIN
_OPERATOR = Level.OPERATOR
COMMANDS: tuple[Keyword, ...] = tuple(Keyword(*entry) for entry in (
    ("add acl [@<ver>] <acl> <pattern>", "add a pattern to an acl", "map"),
    ("add map [@<ver>] <map> <key> <val>", "add an entry to a map", "map"),
    ("add server <bk>/<srv>", "create a new server", "dynamic_server",
     _ADMIN),
    ("clear acl [@<ver>] <acl>", "remove every pattern of an acl", "map"),
    ("clear counters [all]",
     "reset the maximum counters (all of them with 'all')", "clear_counters", _OPERATOR),
    ("clear map [@<ver>] <map>", "remove every entry of a map", "map"),
    ("clear table <table> [<filter>]*", "remove entries of a stick table (none exist)",
     "table"),
    ("commit acl @<ver> <acl>", "make a prepared version of an acl the current one", "map"),
    ("commit map @<ver> <map>", "make a prepared version of a map the current one", "map"),
    ("del acl <acl> [<key>|#<ref>]", "remove the patterns of an acl equal to <key>", "map"),
    ("del map <map> [<key>|#<ref>]", "remove the entries of a map whose key is <key>", "map"),
    ("del server <bk>/<srv>", "remove a dynamically added server",
     "dynamic_server", _ADMIN),
    ("disable agent", "stop asking a server's agent", "checks", _ADMIN),
    ("disable dynamic-cookie backend <bk>", "stop deriving server cookies in a backend",
     "dyncookie", _ADMIN),
    ("disable frontend <frontend>", "stop accepting on a frontend for now", "frontend_state",
     _ADMIN),
    ("disable health", "stop checking a server (its state stays)", "checks", _ADMIN),
    ("disable server (DEPRECATED)",
     "disable a server for maintenance (use 'set server' instead)", "admin_server", _ADMIN),
    ("enable agent", "ask a server's agent again", "checks", _ADMIN),
    ("enable dynamic-cookie backend <bk>", "derive server cookies from the backend's key",
     "dyncookie", _ADMIN),
    ("enable frontend <frontend>", "accept on a disabled frontend again", "frontend_state",
     _ADMIN),
    ("enable health", "check a server again", "checks", _ADMIN),
    ("enable server  (DEPRECATED)",
     "enable a disabled server (use 'set server' instead)", "admin_server", _ADMIN),
    ("get acl <acl> <value>", "tell which pattern of an acl matches a sample", "map"),
    ("get map <acl> <value>", "tell which entry of a map matches a sample", "map"),
    ("get weight <bk>/<srv>", "report a server's current weight", "get_weight"),
    ("operator", "lower the level of this CLI session to operator", "cli_session"),
    ("prepare acl <acl>", "open a new version of an acl, to fill then commit", "map"),
    ("prepare map <acl>", "open a new version of a map, to fill then commit", "map"),
    ("set dynamic-cookie-key backend <bk> <k>",
     "change the key a backend derives server cookies from", "dyncookie", _ADMIN),
    ("set map <map> [<key>|#<ref>] <value>", "change the value of map entries", "map"),
    ("set maxconn frontend <frontend> <value>", "change a frontend's connection limit",
     "maxconn", _ADMIN),
    ("set maxconn global <value>", "change the process's connection limit", "maxconn",
     _ADMIN),
    ("set maxconn server <bk>/<srv>", "change a server's connection limit", "maxconn",
     _ADMIN),
    ("set rate-limit <setting> <value>", "change a global rate limit (0: none)",
     "rate_limit", _ADMIN),
    ("set server <bk>/<srv> [opts]",
     "change a server's state, weight, address or ssl", "admin_server", _ADMIN),
    ("set severity-output [none|number|string]",
     "prefix messages with their severity, as a number or a name", "cli_session"),
    ("set table <table> key <k> [data.* <v>]*", "write a stick table entry (none exist)",
     "table"),
    ("set timeout [cli] <delay>", "change this CLI session's idle timeout", "cli_session"),
    ("set weight <bk>/<srv>  (DEPRECATED)",
     "change a server's weight (use 'set server' instead)", "admin_server", _ADMIN),
    ("show acl [@<ver>] <acl>]", "list the acls, or the patterns of one", "map"),
    ("show activity", "report what each worker did (a subset of HAProxy's fields)",
     "show_activity"),
    ("show backend", "list the backends of the running configuration", "show_backend"),
    ("show cli level", "report this session's level", "show_cli_level"),
    ("show env [var]", "report the environment of the process", "show_env", _OPERATOR),
    ("show errors [<px>] [request|response]",
     "report the last invalid request and response of each proxy", "show_errors", _OPERATOR),
    ("show info [desc|json|typed|float]*",
     "report information about the running process", "show_info"),
    ("show map [@ver] [map]", "list the maps, or the entries of one", "map"),
    ("show pools", "report what this worker's memory is made of", "show_pools"),
    ("show servers conn [<backend>]",
     "report server connections (all backends or one)", "show_servers_conn"),
    ("show servers state [<backend>]",
     "report server states, as a server-state file has them", "show_servers_state"),
    ("show sess [id]", "list the live sessions (every worker's), or detail one", "show_sess",
     _OPERATOR),
    ("show stat [desc|json|no-maint|typed|up]*",
     "report counters for each proxy and server", "show_stat"),
    ("show table <table> [<filter>]*", "list the stick tables (none exist)", "table"),
    ("show version", "report the version of this process", "show_version"),
    ("shutdown frontend <frontend>", "stop a frontend for good, releasing its ports",
     "shutdown_frontend", _ADMIN),
    ("shutdown session [id]", "close one live session", "shutdown_session",
     _ADMIN),
    ("shutdown sessions server <bk>/<srv>",
     "close the live sessions on a server", "shutdown_sessions", _ADMIN),
    ("user", "lower the level of this CLI session to user", "cli_session"),
))
# fmt: on
PERMISSION_DENIED = "Permission denied\n"


@dataclass
class Request:
    level: Level = Level.ADMIN
    modes: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    timeout: float | None = None  # `set timeout cli` (runtime_api/cli_session.py), seconds
    severity: str = "none"  # `set severity-output` (runtime_api/severity.py)


def parse_request(data: bytes, level: Level = Level.ADMIN) -> Request:
    """Level/mode prefix lines, then the first command line (further lines are ignored, as a
    non-interactive stats socket answers one line)."""
    request = Request(level=level)
    if not data:
        return request  # the peer closed without asking anything
    text = data.decode("utf-8", "surrogateescape")
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        words = line.split()
        if words[-1:] == ["-"] and words[:1] in (["user"], ["operator"]):
            wanted = Level.USER if words[0] == "user" else Level.OPERATOR
            request.level = min(request.level, wanted)
            continue
        if words[-1:] == ["-"] and len(words) == 3 and words[0].endswith("-mode"):
            if words[1] == "on":
                request.modes.add(words[0])
            continue
        request.commands = split_commands(line)
        break
    return request


def split_commands(line: str) -> list[str]:
    """`a; b\\;c` -> ["a", "b;c"]."""
    commands, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            commands.append("".join(current))
            current = []
        else:
            current.append(char)
    commands.append("".join(current))
    return [command.strip() for command in commands]


def find_command(words: Sequence[str]) -> Keyword | None:
    for keyword in COMMANDS:
        wanted = tuple(word for word in keyword.words if not word.startswith("("))
        if wanted and tuple(words[: len(wanted)]) == wanted:
            return keyword
    return None


def help_text(level: Level, asked: Sequence[str] = ()) -> str:
    visible = [kw for kw in COMMANDS if kw.level <= level and kw.listed]
    if asked:
        matching = [kw for kw in visible if tuple(kw.words[: len(asked)]) == tuple(asked)]
        visible = matching or closest(" ".join(asked), visible)
    return listing("The following commands are valid at this level:", visible)


def unknown_command(text: str, level: Level) -> str:
    visible = [kw for kw in COMMANDS if kw.level <= level and kw.listed]
    if not text:
        return listing("Unknown command. Please enter one of the following commands only:", visible)
    return listing(
        "Unknown command, but maybe one of the following ones is a better match:",
        closest(text, visible),
    )
