"""Loading a configuration: files -> lines -> conditional blocks -> sections -> keywords -> model.

`load_configuration()` is the single path from `-f` arguments to a frozen `Config`. It never
raises for bad input: every problem becomes a Diagnostic, parsing carries on to report all of
them, and `config` is None when there was any ALERT. Per-line work is kept small (one lexer
call, one or two table look-ups, one ParseContext for the whole load) because `-c` must stay
fast on very large files (see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import difflib
import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from haproxy_py.config.builder import ParseContext, SectionBuilder
from haproxy_py.config.conditions import evaluate_condition
from haproxy_py.config.diagnostics import (
    TIGHT,
    ConfigError,
    ConfigWarning,
    Diagnostics,
    Severity,
    Where,
)
from haproxy_py.config.keywords.registry import DEFAULTS, PROXY_KINDS, KeywordTable, Statement
from haproxy_py.config.keywords.sections import (
    SECTION_TABLES,
    UNSUPPORTED_SECTIONS,
    check_section_name,
)
from haproxy_py.config.lexer import LexError, split_words
from haproxy_py.config.model import Config
from haproxy_py.config.sources import SourceFile, expand_paths, read_source


@dataclass(frozen=True)
class LoadResult:
    config: Config | None
    diagnostics: Diagnostics
    files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.config is not None


@dataclass
class _Block:
    """One level of .if/.elif/.else/.endif nesting."""

    where: Where
    parent_active: bool
    taken: bool  # some branch of this block was already chosen
    active: bool  # lines are read in the current branch
    seen_else: bool = False


@dataclass
class _State:
    """Everything the reader accumulates across files."""

    diagnostics: Diagnostics
    env: dict[str, str]
    cmdline: Mapping[str, Any]
    # kind -> name -> builder, for every section read so far (global is kind "global", name "").
    sections: dict[str, dict[str, SectionBuilder]] = field(default_factory=dict)
    order: list[SectionBuilder] = field(default_factory=list)
    deferred: list[Any] = field(default_factory=list)
    last_defaults: SectionBuilder | None = None
    # The one context handed to keyword parsers; its section and where follow the statements.
    context: ParseContext | None = None


def load_configuration(
    paths: list[str],
    env: Mapping[str, str] | None = None,
    cmdline: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Read, check and freeze the configuration named by `paths` (files or directories).

    `env` is the process environment used for "$VAR" expansion (os.environ by default);
    `setenv` and friends change a private copy. `cmdline` carries command-line settings
    keywords may consult: "diagnostic" (-dD), "nosplice" (-dS), "maxconn_per_proxy" (-N).
    """
    # Loading allocates hundreds of thousands of objects that all live on in the model, and
    # makes no reference cycles worth collecting: the cyclic collector's repeated passes over
    # them are pure cost (about a tenth of `-c` on a large file), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(paths, env, cmdline)
    finally:
        if collecting:
            gc.enable()


def _load(
    paths: list[str], env: Mapping[str, str] | None, cmdline: Mapping[str, Any] | None
) -> LoadResult:
    diagnostics = Diagnostics()
    try:
        files = expand_paths(paths)
    except ConfigError as exc:
        diagnostics.alert(exc.message)
        return LoadResult(None, diagnostics, tuple(paths))
    state = _State(diagnostics, dict(os.environ if env is None else env), dict(cmdline or {}))
    state.env["HAPROXY_CFGFILES"] = ";".join(files)
    for path in files:
        source = read_source(path, diagnostics)
        if source is not None:
            _read_file(source, state)
    for action in state.deferred:
        try:
            action()
        except ConfigError as exc:
            diagnostics.alert(exc.message)
    if diagnostics.alerts:
        return LoadResult(None, diagnostics, tuple(files))
    from haproxy_py.config.assemble import assemble

    config = assemble(state.order, state.sections, tuple(files), state.env, diagnostics)
    return LoadResult(config if not diagnostics.alerts else None, diagnostics, tuple(files))


def _read_file(source: SourceFile, state: _State) -> None:
    blocks: list[_Block] = []
    section: SectionBuilder | None = None
    env = state.env
    name = source.name
    number = 0
    for number, text in enumerate(source.lines, 1):
        stripped = text.lstrip(" \t")
        if not stripped or stripped[0] == "#":
            continue
        where = Where(name, number)
        # Pseudo variables; assemble() leaves them out of the model's environment.
        env[".FILE"], env[".LINE"] = name, str(number)
        env[".SECTION"] = section.name or section.kind if section else ""
        try:
            # Like HAProxy, every line is cut into words, even in a skipped .if branch.
            words = split_words(text, env)
        except LexError as exc:
            _lex_alert(state.diagnostics, exc, text, where)
            continue
        if not words:
            continue
        if words[0].startswith("."):
            if not _directive(words, where, blocks, state):
                return  # a broken .if structure makes the rest of the file meaningless
            continue
        if blocks and not blocks[-1].active:
            continue
        section = _statement(tuple(words), where, section, state)
    if blocks:
        state.diagnostics.alert(
            f"'.if' at {blocks[-1].where} has no matching '.endif'.", Where(source.name, number)
        )


def _lex_alert(diagnostics: Diagnostics, exc: LexError, text: str, where: Where) -> None:
    # Shown as HAProxy shows it: the statement without its indentation, a caret below.
    indent = len(text) - len(text.lstrip(" \t"))
    shown = text[indent:].replace("\t", " ").rstrip("\r\n")
    caret = " " * (exc.position - indent)
    diagnostics.alert(
        f"{exc.message} at position {exc.position + 1}:\n  {shown}\n  {caret}^",
        where,
        TIGHT,
    )


def _directive(words: list[str], where: Where, blocks: list[_Block], state: _State) -> bool:
    """Handle a line starting with '.'; return False when the block structure is broken."""
    name, args = words[0], words[1:]
    diagnostics = state.diagnostics
    active = blocks[-1].active if blocks else True
    if name == ".if":
        value = _evaluate(args, where, state) if active else False
        blocks.append(_Block(where, active, taken=value, active=active and value))
        return True
    if name in (".elif", ".else", ".endif"):
        if not blocks:
            diagnostics.alert(f"'{name}' without a matching '.if'.", where, TIGHT)
            return False
        block = blocks[-1]
        if name == ".endif":
            blocks.pop()
            return True
        if block.seen_else:
            diagnostics.alert(f"'{name}' after '.else' is not permitted.", where, TIGHT)
            return False
        if name == ".else":
            block.seen_else = True
            block.active = block.parent_active and not block.taken
            block.taken = True
            return True
        value = _evaluate(args, where, state) if block.parent_active and not block.taken else False
        block.active = value
        block.taken = block.taken or value
        return True
    if not active:
        return True
    if len(args) > 1:
        diagnostics.alert(
            f"Unexpected argument '{args[1]}' for '{name}'. Use quotes if the message should"
            " contain spaces.",
            where,
            TIGHT,
        )
        return True
    message = args[0] if args else ""
    levels = {".diag": Severity.DIAG, ".notice": Severity.NOTICE}
    levels.update({".warning": Severity.WARNING, ".alert": Severity.ALERT})
    severity = levels.get(name)
    if severity is None:
        diagnostics.alert(f"unknown directive '{name}'.", where, TIGHT)
        return True
    if severity == Severity.DIAG and not state.cmdline.get("diagnostic"):
        return True
    diagnostics.add(severity, f"'{message}'.", where, TIGHT)
    return True


def _evaluate(args: list[str], where: Where, state: _State) -> bool:
    try:
        return evaluate_condition(args, state.env)
    except ConfigError as exc:
        state.diagnostics.alert(f"failed to evaluate condition: {exc.message}", where, TIGHT)
        return False


def _statement(
    words: tuple[str, ...], where: Where, section: SectionBuilder | None, state: _State
) -> SectionBuilder | None:
    """Dispatch one statement; return the section that is current afterwards."""
    first = words[0]
    if first in SECTION_TABLES:
        return _open_section(words, where, state)
    if first in UNSUPPORTED_SECTIONS:
        state.diagnostics.alert(
            f"'{first}' sections are not supported by haproxy-py: {UNSUPPORTED_SECTIONS[first]}"
            " (the section's lines are skipped)",
            where,
        )
        return SectionBuilder("unsupported", first, where)
    if section is None:
        state.diagnostics.alert(f"unknown keyword '{first}' out of section.", where)
        return None
    if section.kind == "unsupported":
        return section
    if section.kind == "broken":
        return section  # the header was wrong; its alert was given once
    table = SECTION_TABLES[section.kind]
    _run_keyword(table, words, where, section, state)
    return section


def _open_section(words: tuple[str, ...], where: Where, state: _State) -> SectionBuilder:
    kind = words[0]
    try:
        name, parent_name = check_section_name(kind, words[1:])
    except ConfigError as exc:
        state.diagnostics.alert(exc.message, where)
        return SectionBuilder("broken", kind, where)
    if kind == "global":
        existing = state.sections.get("global", {}).get("")
        if existing is not None:
            return existing  # several global sections merge
        builder = SectionBuilder("global", "", where)
        state.sections.setdefault("global", {})[""] = builder
        state.order.append(builder)
        return builder
    if kind in PROXY_KINDS:
        return _open_proxy(kind, name, parent_name, where, state)
    known = state.sections.setdefault(kind, {})
    if name in known:
        first = known[name].where
        state.diagnostics.alert(
            f"{kind} '{name}' already declared at {first.relative_to(where)}", where
        )
        return SectionBuilder("broken", kind, where)
    builder = SectionBuilder(kind, name, where)
    known[name] = builder
    state.order.append(builder)
    return builder


def _open_proxy(
    kind: str, name: str, parent_name: str | None, where: Where, state: _State
) -> SectionBuilder:
    defaults = state.sections.setdefault(DEFAULTS, {})
    if parent_name is not None:
        parent = defaults.get(parent_name)
        if parent is None:
            state.diagnostics.alert(
                f"{kind} '{name}' wants to inherit from defaults section '{parent_name}'"
                " which does not exist (it must be declared before).",
                where,
            )
            return SectionBuilder("broken", kind, where)
    elif kind != DEFAULTS:
        parent = state.last_defaults
    else:
        parent = None  # an anonymous-parent defaults section starts from HAProxy's defaults
    if kind != DEFAULTS:
        for other in PROXY_KINDS[1:]:
            known = state.sections.get(other)
            clash = known.get(name) if known else None
            if clash is not None and (kind == "listen" or other == "listen" or other == kind):
                state.diagnostics.alert(
                    f"{kind} '{name}' already declared at {clash.where.relative_to(where)}"
                    f" (as {other} '{name}')",
                    where,
                )
                return SectionBuilder("broken", kind, where)
    elif name and name in defaults:
        first = defaults[name].where
        state.diagnostics.alert(
            f"defaults '{name}' already declared at {first.relative_to(where)}", where
        )
        return SectionBuilder("broken", kind, where)
    if parent is not None:
        builder = parent.inherit(kind, name, where)
    else:
        builder = SectionBuilder(kind, name, where)
    if kind == DEFAULTS:
        state.last_defaults = builder
        if name:
            defaults[name] = builder
        state.order.append(builder)
        return builder
    state.sections.setdefault(kind, {})[name] = builder
    state.order.append(builder)
    return builder


def _run_keyword(
    table: KeywordTable,
    words: tuple[str, ...],
    where: Where,
    section: SectionBuilder,
    state: _State,
) -> None:
    diagnostics = state.diagnostics
    negated = defaulted = False
    name, entry, reason = table.lookup(words)
    if entry is None and reason is None and words[0] in ("no", "default") and len(words) > 1:
        name, entry, reason = table.lookup(words[1:])
        if entry is not None and entry.negatable:
            negated, defaulted = words[0] == "no", words[0] == "default"
            words = words[1:]
        elif entry is not None and name.startswith("option "):
            option = name.removeprefix("option ")
            diagnostics.alert(
                f"negation/default is not supported for option '{option}'.", where, TIGHT
            )
            return
        elif entry is not None:
            diagnostics.alert(f"'{words[0]} {name}' : this keyword cannot be negated.", where)
            return
    if entry is None:
        if reason is not None:
            diagnostics.alert(_refusal(name, reason), where)
            return
        diagnostics.alert(_unknown_keyword(table, words, section), where)
        return
    if entry.sections and section.kind not in entry.sections:
        shown = entry.name.removeprefix("option ")  # HAProxy names options without "option"
        _wrong_proxy_kind(shown, entry.fatal_outside, section, where, diagnostics)
        return
    size = name.count(" ") + 1  # table names are words joined by single spaces
    stmt = Statement(where, words, name, words[size:], negated, defaulted)
    ctx = state.context
    if ctx is None:
        ctx = state.context = ParseContext(
            section, diagnostics, state.env, where, state.sections, state.cmdline, state.deferred
        )
    else:
        ctx.section, ctx.where = section, where
    try:
        entry.parse(stmt, ctx)
    except ConfigError as exc:
        diagnostics.alert(exc.message, where)
    except ConfigWarning as exc:
        diagnostics.warning(exc.message, where)


def _refusal(name: str, reason: str) -> str:
    if reason.startswith(("The ", f"'{name}' ")):  # removed from HAProxy: its own words
        return reason
    return f"'{name}' is not supported by haproxy-py: {reason}."


def _unknown_keyword(table: KeywordTable, words: tuple[str, ...], section: SectionBuilder) -> str:
    """Say what is wrong with a statement no table entry matches, and what was meant."""
    first = words[0]
    forms = table.forms(first)
    if not forms:  # a plain unknown (or misspelt) first word
        label = "global" if section.kind == "global" else section.kind
        message = f"unknown keyword '{first}' in '{label}' section"
        suggestion = table.suggest(first)
        return message + (f"; did you mean '{suggestion}' maybe ?" if suggestion else "")
    # A known first word with a second word that no name continues with: 'timeout bogus'.
    got = words[1] if len(words) > 1 else ""
    refused = table.unsupported.get(f"{first} {got.split('(', 1)[0]}")
    if refused is not None:
        return _refusal(f"{first} {got}", refused)
    close = difflib.get_close_matches(got, forms, n=1, cutoff=0.7)
    if first == "option":  # HAProxy's own wording for options
        return f"unknown option '{got}'" + (f"; did you mean '{close[0]}' maybe ?" if close else "")
    hint = f"; did you mean '{first} {close[0]}' maybe ?" if close else ""
    listed = ", ".join(f"'{form}'" for form in forms)
    return f"'{first}' expects one of {listed} (got '{got}'){hint}."


def _wrong_proxy_kind(
    name: str, fatal: bool, section: SectionBuilder, where: Where, diagnostics: Diagnostics
) -> None:
    if section.kind == DEFAULTS:
        diagnostics.alert(f"'{name}' not allowed in 'defaults' section.", where)
        return
    missing = "backend" if section.kind == "frontend" else "frontend"
    if fatal:
        diagnostics.alert(
            f"'{name}' not allowed because {section.label} has no {missing} capability.", where
        )
    else:
        diagnostics.warning(
            f"'{name}' ignored because {section.label} has no {missing} capability.", where
        )
