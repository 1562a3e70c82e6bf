"""docs/KEYWORDS.md, generated from the keyword tables: `python -m haproxy_py.config.keywords.docgen`.

The tables are the truth (house rule 3); this module only lays them out. Output is
deterministic (everything sorted by name) so that tests/unit/test_docs.py can compare the
committed file with a fresh rendering and `make keywords` can rewrite it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from haproxy_py.config.keywords.actions import ACTIONS
from haproxy_py.config.keywords.bind_kw import BIND_OPTIONS
from haproxy_py.config.keywords.registry import (
    PROXY_KINDS,
    RUNTIME_AREAS,
    Keyword,
    KeywordTable,
)
from haproxy_py.config.keywords.sections import SECTION_TABLES, UNSUPPORTED_SECTIONS
from haproxy_py.config.keywords.server_kw import SERVER_OPTIONS
from haproxy_py.config.keywords.suboptions import SubOptionTable

_INTRO = """\
# haproxy-py configuration keywords

Generated from the keyword tables by `python -m haproxy_py.config.keywords.docgen`
(`make keywords`); do not edit by hand. A keyword listed here is parsed and checked by
`haproxy-py -c`; the *runtime* column names the part of haproxy-py that gives it effect
(see [runtime areas](#runtime-areas)). HAProxy 2.6 keywords that haproxy-py knowingly rejects
are listed with the reason after each table: using one is a configuration error that says
"not supported by haproxy-py" and why. The meaning of every keyword is HAProxy 2.6's
(`/usr/share/doc/haproxy/configuration.txt.gz`); docs/MIGRATING.md lists what differs.
"""


def _code(text: str) -> str:
    """Inline code inside a table cell: pipes must be escaped even within backticks."""
    escaped = text.replace("|", "\\|")
    return f"`` {escaped} ``" if "`" in text else f"`{escaped}`"


def _name(keyword: Keyword) -> str:
    return _code(keyword.name) + (" (`no`)" if keyword.negatable else "")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _unsupported(title: str, reasons: Mapping[str, str], column: str = "keyword") -> list[str]:
    if not reasons:
        return []
    lines = ["", f"Not supported in {title} ({len(reasons)}):", ""]
    rows = ([_code(name), _cell(reasons[name])] for name in sorted(reasons))
    return lines + _table([column, "why"], rows)


def _anchor(title: str) -> str:
    """The fragment GitHub gives a heading: lower case, spaces to '-', punctuation dropped."""
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def _grouped_tables() -> list[tuple[tuple[str, ...], KeywordTable]]:
    """Each distinct table once, with every section name that reads it, in table order."""
    groups: dict[int, tuple[list[str], KeywordTable]] = {}
    for section, table in SECTION_TABLES.items():
        groups.setdefault(id(table), ([], table))[0].append(section)
    return [(tuple(names), table) for names, table in groups.values()]


def _runtime_areas() -> list[str]:
    rows = ([area, _cell(text)] for area, text in sorted(RUNTIME_AREAS.items()))
    return _table(["runtime", "what gives the keyword its effect"], rows)


def _proxy_table(table: KeywordTable) -> list[str]:
    lines = [
        "The four proxy sections share one table. The d, f, l, b columns say which of them",
        "accepts the keyword (X); elsewhere it is ignored with a warning, or refused where",
        "HAProxy refuses it. (`no`) marks keywords that also take a `no` (and `default`) prefix.",
        "",
    ]
    rows = (
        [
            _name(keyword),
            *("X" if kind in keyword.sections else "-" for kind in PROXY_KINDS),
            keyword.runtime,
            _code(keyword.usage),
            _cell(keyword.summary),
        ]
        for keyword in table
    )
    lines += _table(["keyword", "d", "f", "l", "b", "runtime", "usage", "summary"], rows)
    return lines + _unsupported("proxy sections", table.unsupported)


def _section_table(names: tuple[str, ...], table: KeywordTable) -> list[str]:
    title = " / ".join(names)
    if not table.keywords:
        lines = [f"haproxy-py recognises `{title}` sections but supports none of their keywords."]
    else:
        rows = (
            [
                _name(keyword),
                keyword.runtime,
                _code(keyword.usage),
                _cell(keyword.summary),
            ]
            for keyword in table
        )
        lines = _table(["keyword", "runtime", "usage", "summary"], rows)
    return lines + _unsupported(f"{title} sections", table.unsupported)


def _suboption_table(table: SubOptionTable, intro: str) -> list[str]:
    rows = (
        [_code(option.name), option.runtime, _code(option.usage), _cell(option.summary)]
        for option in table
    )
    lines = [intro, "", *_table(["option", "runtime", "usage", "summary"], rows)]
    return lines + _unsupported(f"{table.what} options", table.unsupported, "option")


def _actions() -> list[str]:
    """Per rule set, the actions supported and those refused (a refusal is its reason)."""
    lines = [
        "Actions of `http-request`, `http-response`, `http-after-response`, `tcp-request`",
        "and `tcp-response` rules. Their arguments are checked when the configuration is read.",
    ]
    for ruleset in sorted(ACTIONS):
        table = ACTIONS[ruleset]
        supported = sorted(name for name, entry in table.items() if not isinstance(entry, str))
        refused = {name: entry for name, entry in table.items() if isinstance(entry, str)}
        lines += ["", f"### {ruleset}", ""]
        lines.append("Supported: " + ", ".join(f"`{name}`" for name in supported) + ".")
        lines += _unsupported(f"{ruleset} rules", refused, "action")
    return lines


def _unsupported_sections() -> list[str]:
    rows = (
        [_code(name), _cell(UNSUPPORTED_SECTIONS[name])] for name in sorted(UNSUPPORTED_SECTIONS)
    )
    return _table(["section", "why"], rows)


def _chapters() -> list[tuple[str, list[str]]]:
    """(title, body lines) in reading order: global, proxies, the other sections, options."""
    chapters = [("Runtime areas", _runtime_areas())]
    others = []
    for names, table in _grouped_tables():
        if set(names) & set(PROXY_KINDS):
            title = "Proxy sections: " + ", ".join(names)
            chapters.append((title, _proxy_table(table)))
        elif names == ("global",):
            chapters.insert(1, ("Global section", _section_table(names, table)))
        else:
            others.append((f"{' / '.join(names)} section", _section_table(names, table)))
    chapters += sorted(others)
    chapters.append(
        (
            "Bind options",
            _suboption_table(
                BIND_OPTIONS,
                "Options after the addresses of a `bind` line (and of `stats socket` in global).",
            ),
        )
    )
    chapters.append(
        (
            "Server options",
            _suboption_table(
                SERVER_OPTIONS, "Options after the address of a `server` or `default-server` line."
            ),
        )
    )
    chapters.append(("Rule actions", _actions()))
    chapters.append(("Sections haproxy-py does not support", _unsupported_sections()))
    return chapters


def render() -> str:
    """The whole of docs/KEYWORDS.md."""
    chapters = _chapters()
    lines = [_INTRO, "## Contents", ""]
    lines += [f"- [{title}](#{_anchor(title)})" for title, _ in chapters]
    for title, body in chapters:
        lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
