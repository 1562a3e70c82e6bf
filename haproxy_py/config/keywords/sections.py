"""Section headers: which sections exist, what follows their keyword, which table reads them.

`global`, `defaults [NAME] [from DEFAULTS]`, `frontend|backend|listen NAME [from DEFAULTS]`,
`userlist|peers|resolvers|cache|program|http-errors NAME`. Sections HAProxy has and
haproxy-py does not are refused by name with the reason, instead of "unknown keyword".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.global_kw import GLOBAL_TABLE
from haproxy_py.config.keywords.other_sections import OTHER_SECTION_TABLES
from haproxy_py.config.keywords.proxy_kw import PROXY_TABLE
from haproxy_py.config.keywords.registry import PROXY_KINDS, KeywordTable

SECTION_TABLES: Mapping[str, KeywordTable] = MappingProxyType(
    {
        "global": GLOBAL_TABLE,
        **{kind: PROXY_TABLE for kind in PROXY_KINDS},
        **OTHER_SECTION_TABLES,
    }
)

UNSUPPORTED_SECTIONS: Mapping[str, str] = MappingProxyType(
    {
        "mailers": "e-mail alerts are out of scope",
        "ring": "ring buffers are out of scope",
        "log-forward": "syslog forwarding is out of scope",
        "fcgi-app": "FastCGI applications are out of scope",
    }
)

# HAProxy's rule for object names: letters, digits, '-', '_', '.' and ':'.
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def check_section_name(kind: str, args: tuple[str, ...]) -> tuple[str, str | None]:
    """Validate a section header's arguments; return (name, defaults section to inherit)."""
    if kind == "global":
        if args:
            raise ConfigError(f"'global' cannot handle unexpected argument '{args[0]}'.")
        return "", None
    name = ""
    rest = args
    if rest and rest[0] != "from":
        name, rest = rest[0], rest[1:]
    if not name and kind != "defaults":
        raise ConfigError(f"'{kind}' expects <name> as an argument.")
    if name:
        bad = _NAME.sub("", name)
        if bad:
            raise ConfigError(f"character '{bad[0]}' is not permitted in '{kind}' name '{name}'.")
    parent: str | None = None
    if rest:
        if kind not in PROXY_KINDS or rest[0] != "from":
            raise ConfigError(f"'{kind} {name}' cannot handle unexpected argument '{rest[0]}'.")
        if len(rest) != 2:
            raise ConfigError(f"'{kind} {name}' : 'from' expects the name of a defaults section.")
        parent = rest[1]
    return name, parent
