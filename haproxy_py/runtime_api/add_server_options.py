"""The server keywords `add server` takes, and how their errors read on the CLI.

HAProxy 2.6 takes a fixed subset of the `server` keywords on a dynamic server and refuses
the others with its own words (`HAPROXY_DYNAMIC_KEYWORDS`); of that subset haproxy-py builds
`BUILT_KEYWORDS` and refuses the rest as "not yet supported", never accepting and ignoring
one. The options are parsed by the configuration's own `server` keyword table
(`parse_options`), whose messages the CLI words as HAProxy does (`config_answer`: no owner,
HAProxy's doubled dots and its other wordings). Rules: pure; the first refused keyword wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from haproxy_py.config.keywords.suboptions import parse_suboptions

# The configuration parser's messages the CLI words otherwise (HAProxy 2.6's answers).
_CLI_WORDING = (
    ("'track' expects", "'track' expects [<proxy>/]<server> as argument..\n\n"),
    ("'observe' expects none", "'observe' expects <mode> as argument..\n\n"),
    ("'on-error' expects", "'on-error' expects one of 'fastinter', 'fail-check',"
     " 'sudden-death' or 'mark-down' but got '{got}'.\n\n"),
    ("'error-limit' expects", "error-limit has to be > 0..\n\n"),
)  # fmt: skip
# The owner name handed to the configuration parser, taken off its messages again.
_OWNER = "\0"

# The server keywords HAProxy 2.6 accepts on `add server` (management.txt, "add server").
HAPROXY_DYNAMIC_KEYWORDS = frozenset(
    [
        "agent-addr",
        "agent-check",
        "agent-inter",
        "agent-port",
        "agent-send",
        "allow-0rtt",
        "alpn",
        "addr",
        "backup",
        "ca-file",
        "check",
        "check-alpn",
        "check-proto",
        "check-send-proxy",
        "check-sni",
        "check-ssl",
        "check-via-socks4",
        "ciphers",
        "ciphersuites",
        "crl-file",
        "crt",
        "disabled",
        "downinter",
        "enabled",
        "error-limit",
        "fall",
        "fastinter",
        "force-sslv3",
        "force-tlsv10",
        "force-tlsv11",
        "force-tlsv12",
        "force-tlsv13",
        "id",
        "inter",
        "maxconn",
        "maxqueue",
        "minconn",
        "no-ssl-reuse",
        "no-sslv3",
        "no-tlsv10",
        "no-tlsv11",
        "no-tlsv12",
        "no-tlsv13",
        "no-tls-tickets",
        "npn",
        "observe",
        "on-error",
        "on-marked-down",
        "on-marked-up",
        "pool-low-conn",
        "pool-max-conn",
        "pool-purge-delay",
        "port",
        "proto",
        "proxy-v2-options",
        "rise",
        "send-proxy",
        "send-proxy-v2",
        "send-proxy-v2-ssl",
        "send-proxy-v2-ssl-cn",
        "slowstart",
        "sni",
        "source",
        "ssl",
        "ssl-max-ver",
        "ssl-min-ver",
        "tfo",
        "tls-tickets",
        "track",
        "usesrc",
        "verify",
        "verifyhost",
        "weight",
        "ws",
    ]
)
# Of those, what haproxy-py builds for a dynamic server today.
BUILT_KEYWORDS = frozenset(
    {"backup", "disabled", "enabled", "id", "maxconn", "maxqueue", "minconn", "weight",
     # health checks (worker/cli_checks.py), off until `enable health` as in HAProxy 2.6
     "check", "inter", "fastinter", "downinter", "rise", "fall", "port", "addr",
     # the agent (worker/check_agent.py), off until `enable agent` as in HAProxy 2.6
     "agent-check", "agent-addr", "agent-inter", "agent-port", "agent-send",
     # warm-up under checks; the PROXY protocol to the server and on its checks
     "slowstart", "send-proxy", "send-proxy-v2", "proxy-v2-options", "check-send-proxy",
     # following a configured server's state (worker/cli_dynamic.py), observing traffic
     # (worker/check_observe.py), closing sessions on a state change (worker/shared_state.py)
     "track", "observe", "error-limit", "on-error", "on-marked-down", "on-marked-up"}
)  # fmt: skip


def refused_keyword(words: Sequence[str]) -> str:
    """HAProxy's answer for the first keyword a dynamic server cannot have, else ""."""
    index = 0
    while index < len(words):
        word = words[index]
        option = SERVER_OPTIONS.options.get(word)
        known = option is not None or word in SERVER_OPTIONS.unsupported
        if known and word not in HAPROXY_DYNAMIC_KEYWORDS:
            return f"'{word}' option is not accepted for dynamic server\n\n"
        if option is None:
            return ""  # unknown or unsupported here: parse_suboptions says which
        if word not in BUILT_KEYWORDS:
            return f"'{word}' is not yet supported on dynamic servers by haproxy-py.\n\n"
        index += 1 + option.nargs
    return ""


def parse_options(words: Sequence[str], name: str) -> dict[str, Any] | str:
    """The options of server `name` (the words after its address), or the CLI's answer."""
    try:
        return parse_suboptions(words, SERVER_OPTIONS, _OWNER)
    except ConfigError as exc:
        return config_answer(exc.message, name)


def config_answer(message: str, name: str) -> str:
    """A configuration parser's message as the CLI says it (no owner, HAProxy's dots)."""
    message = message.removeprefix(f"{_OWNER} : ")
    for start, answer in _CLI_WORDING:
        if message.startswith(start):
            got = re.search(r"got '([^']*)'", message)
            return answer.format(got=got.group(1) if got else "")
    if message.startswith("'id' expects an integer"):
        return "'id' : custom id has to be > 0.\n\n"
    if message.startswith("weight of server "):
        message = message.replace("weight of server ", f"weight of server {name} ", 1) + "."
    return f"{message}\n\n"
