"""ACL declarations and `if|unless` conditions, as they appear in proxy statements.

`acl NAME CRITERION [FLAGS] [OPERATOR] [VALUE]...` records the criterion (fetch and
converters), the flags and the values; the sample fetch and match semantics belong to the
rules engine (haproxy_py/sample). A condition is parsed here into OR-ed groups of AND-ed
terms; every named ACL it uses must be declared earlier in the proxy (or be predefined), as
HAProxy requires, so an unknown name is reported at the line of the rule that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError, Where
from haproxy_py.config.keywords.registry import Statement
from haproxy_py.config.model import Acl, AclTerm, Condition

# HAProxy's predefined ACLs (configuration manual, 7.4).
PREDEFINED_ACLS = frozenset(
    {
        "FALSE",
        "HTTP",
        "HTTP_1.0",
        "HTTP_1.1",
        "HTTP_2.0",
        "HTTP_CONTENT",
        "HTTP_URL_ABS",
        "HTTP_URL_SLASH",
        "HTTP_URL_STAR",
        "LOCALHOST",
        "METH_CONNECT",
        "METH_DELETE",
        "METH_GET",
        "METH_HEAD",
        "METH_OPTIONS",
        "METH_POST",
        "METH_PUT",
        "METH_TRACE",
        "RDP_COOKIE",
        "REQ_CONTENT",
        "TRUE",
        "WAIT_END",
    }
)

_ACL_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
MATCH_METHODS = ("found", "bool", "int", "ip", "bin", "len", "str", "sub", "reg", "beg", "end",
                 "dir", "dom")  # fmt: skip
# Sample fetches of features that have not landed: refused by name instead of failing later.
_TLS_FETCHES = ("ssl_", "req.ssl_", "req_ssl_", "res.ssl_")
_STICK_FETCHES = ("sc_", "sc0_", "sc1_", "sc2_", "table_", "src_")
_NOT_STICK = ("src_port", "src_is_local")
_SAMPLE_IN_FORMAT = re.compile(r"%\[([^\],(\s]+)")
_EXPRESSION_IN_FORMAT = re.compile(r"%\[([^\]]+)\]")
_MAP_CONVERTER = re.compile(r",\s*(map(?:_[a-z_]+)?)\(([^,)]+)")


def refused_fetch(expression: str) -> str | None:
    """Why the sample fetch starting `expression` is refused (TLS, stick tables), if it is."""
    name = re.split(r"[(,\s]", expression, maxsplit=1)[0]
    if name.startswith(_TLS_FETCHES):
        return f"sample fetch '{name}' is not supported by haproxy-py: TLS is not supported yet"
    if name.startswith(_STICK_FETCHES) and name not in _NOT_STICK:
        return (
            f"sample fetch '{name}' is not supported by haproxy-py: stick tables are not"
            " supported yet"
        )
    return None


def check_fetches(text: str, is_format: bool = False) -> None:
    """Refuse placeholder fetches in a sample expression, or in the %[...] of a format, and
    map files that cannot be opened (as HAProxy's parser, which loads them)."""
    expressions = _SAMPLE_IN_FORMAT.findall(text) if is_format else [text]
    for expression in expressions:
        reason = refused_fetch(expression)
        if reason is not None:
            raise ConfigError(reason + ".")
    for expression in _EXPRESSION_IN_FORMAT.findall(text) if is_format else [text]:
        for converter, path in _MAP_CONVERTER.findall(expression):
            try:
                check_pattern_file(path.strip())
            except PatternFileError as error:
                raise ConfigError(
                    f"failed to parse sample expression <{expression}> : invalid args in"
                    f" converter '{converter}' : {error.message}"
                ) from None


_FLAGS = {"-i", "-n", "-M", "-u", "--", "-m", "-f"}
_INT_OPERATORS = {"eq", "ne", "lt", "le", "gt", "ge"}
# ACL keywords that are a fetch with an implied match method (manual 7.3, "ACL derivatives"):
# exactly these names, nothing else ending in _beg, _cnt... (hdr_cnt is a fetch of its own).
DERIVED_BASES = ("path", "url", "base", "hdr", "cook", "shdr", "scook", "urlp")
DERIVED_METHODS = ("beg", "dir", "dom", "end", "len", "reg", "sub")
DERIVED: Mapping[str, tuple[str, str]] = MappingProxyType(
    {f"{base}_{method}": (base, method) for base in DERIVED_BASES for method in DERIVED_METHODS}
)


class PatternFileError(ConfigError):
    """A `-f` pattern file that cannot be opened (HAProxy refuses the configuration)."""


def check_pattern_file(path: str) -> None:
    """Open (and close) a pattern or map file, as HAProxy's parser does: a configuration
    naming a missing file fails `-c` and start-up alike. The worker reads it later."""
    try:
        with open(path, "rb"):
            pass
    except OSError:
        raise PatternFileError(f"failed to open pattern file <{path}>.") from None


def parse_acl_body(words: Sequence[str], where: Where, name: str, check_files: bool = False) -> Acl:
    """Parse the criterion, flags, operator and values that follow an ACL's name;
    `check_files`: open the -f files now (the configuration's parse does)."""
    if not words:
        raise ConfigError(f"missing fetch method in ACL expression '{name}'.")
    fetch = words[0]
    reason = refused_fetch(fetch)
    if reason is not None:
        raise ConfigError(f"ACL '{name}' : {reason}.")
    flags: list[str] = []
    files: list[str] = []
    match = ""
    index = 1
    while index < len(words) and words[index].startswith("-") and words[index] in _FLAGS:
        flag = words[index]
        index += 1
        if flag == "--":
            break
        flags.append(flag)
        if flag in ("-m", "-f"):
            if index >= len(words):
                raise ConfigError(f"'{flag}' expects an argument in ACL '{name}'.")
            value = words[index]
            index += 1
            flags.append(value)
            if flag == "-m":
                if value not in MATCH_METHODS:
                    listed = ", ".join(MATCH_METHODS)
                    raise ConfigError(
                        f"unknown matching method '{value}' in ACL '{name}' (expects one of"
                        f" {listed})."
                    )
                match = value
            else:
                if check_files:
                    check_pattern_file(value)
                files.append(value)
    operator = ""
    if index < len(words) and words[index] in _INT_OPERATORS:
        operator = words[index]
        index += 1
    if not match:
        match = DERIVED.get(fetch.split(",", 1)[0].split("(", 1)[0], ("", ""))[1]
    return Acl(
        where=where,
        name=name,
        fetch=fetch,
        flags=tuple(flags),
        match=match,
        operator=operator,
        values=tuple(words[index:]),
        files=tuple(files),
    )


def parse_acl(stmt: Statement, ctx: ParseContext) -> None:
    name = stmt.arg(0, "<name>")
    bad = _ACL_NAME.sub("", name)
    if bad:
        raise ConfigError(f"character '{bad[0]}' is not permitted in acl name '{name}'.")
    if name in PREDEFINED_ACLS:
        ctx.warn(f"acl '{name}' will never match because it masks a predefined ACL.")
    try:
        acl = parse_acl_body(stmt.args[1:], stmt.where, name, check_files=True)
    except PatternFileError as error:
        raise ConfigError(f"error detected while parsing ACL '{name}' : {error.message}") from None
    ctx.section.append("acls", acl)
    ctx.section.scratch.setdefault("acl_names", set()).add(name)


def split_condition(args: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Split arguments at the first 'if' or 'unless': (before, condition words or None)."""
    for index, word in enumerate(args):
        if word in ("if", "unless"):
            return list(args[:index]), list(args[index:])
    return list(args), None


def parse_condition(words: Sequence[str], ctx: ParseContext, rule_kind: str) -> Condition:
    """Parse `if|unless TERM...` in a section; `rule_kind` names the rule in messages."""
    known: set[str] = ctx.section.scratch.get("acl_names", set())
    try:
        return condition_from_words(words, rule_kind, ctx.where, known, check_files=True)
    except PatternFileError as error:
        kind = rule_kind.removesuffix(" rule")
        raise ConfigError(
            f"error detected while parsing an {kind} condition : {error.message}"
        ) from None


def condition_from_words(
    words: Sequence[str],
    rule_kind: str,
    where: Where,
    known: set[str] | None = None,
    check_files: bool = False,
) -> Condition:
    """The condition grammar itself, for the configuration and the rules engine alike.

    `known` holds the ACL names a term may use (with the predefined ones); None accepts any
    name (the caller resolves names itself)."""
    if not words or words[0] not in ("if", "unless"):
        raise ConfigError(f"{rule_kind}: expected 'if' or 'unless'.")
    unless = words[0] == "unless"
    groups: list[tuple[AclTerm, ...]] = []
    current: list[AclTerm] = []
    index = 1
    negate = False
    while index < len(words):
        word = words[index]
        index += 1
        if word in ("||", "or"):
            if negate or not current:
                raise ConfigError(f"{rule_kind}: missing condition before '{word}'.")
            groups.append(tuple(current))
            current = []
            continue
        if word == "!":
            negate = not negate
            continue
        if word.startswith("!"):  # "!name" and "!{", as HAProxy reads them
            negate, word = not negate, word[1:]
        if word == "{":
            close = _closing_brace(words, index, rule_kind)
            acl = parse_acl_body(words[index:close], where, "", check_files)
            current.append(AclTerm("", negate, acl))
            index = close + 1
        else:
            if known is not None and word not in known and word not in PREDEFINED_ACLS:
                raise ConfigError(
                    f"error detected while parsing {rule_kind} : no ACL named '{word}'"
                    " (no such ACL declared before this line in the proxy)."
                )
            current.append(AclTerm(word, negate))
        negate = False
    if negate or not current:
        raise ConfigError(f"{rule_kind}: missing condition after '{words[-1]}'.")
    groups.append(tuple(current))
    return Condition(unless, tuple(groups))


def _closing_brace(words: Sequence[str], start: int, rule_kind: str) -> int:
    for index in range(start, len(words)):
        if words[index] == "}":
            if index == start:
                raise ConfigError(f"{rule_kind}: empty anonymous ACL '{{ }}'.")
            return index
    raise ConfigError(f"{rule_kind}: missing closing '}}' in anonymous ACL.")
