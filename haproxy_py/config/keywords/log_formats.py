"""The log-format keywords (`log-format`, `log-format-sd`, `error-log-format`,
`unique-id-format`): kept as written, and compiled once the whole configuration is read.

HAProxy compiles a proxy's formats with that proxy's mode (an HTTP-only variable in a TCP
proxy is an error) and reports a failure at the line that wrote the format, even when the
proxy inherited it from a defaults section; so does this check, so that `-c` refuses what
the workers would refuse when they start (worker/logs.py compiles the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from haproxy_py.config.builder import ParseContext, SectionBuilder
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.acl import check_fetches
from haproxy_py.config.keywords.registry import Statement

LOG_FORMAT_KEYWORDS = ("log-format", "log-format-sd", "error-log-format", "unique-id-format")


def one_format(stmt: Statement) -> str:
    """Log formats are one word in HAProxy: unescaped spaces mean a mistake, not a join."""
    if not stmt.args:
        raise ConfigError(f"'{stmt.keyword}' expects a format string as an argument.")
    if len(stmt.args) > 1:
        raise ConfigError(
            f"'{stmt.keyword}' expects only one argument, don't forget to escape spaces"
            " (or put the format between quotes)!"
        )
    check_fetches(stmt.args[0], is_format=True)
    return stmt.args[0]


def parse_log_format(stmt: Statement, ctx: ParseContext) -> None:
    text = one_format(stmt)
    ctx.section.set_item("settings", stmt.keyword, text, stmt.where)
    keyword, where, sections, diagnostics = stmt.keyword, stmt.where, ctx.sections, ctx.diagnostics

    def check() -> None:
        for builder in _proxies(sections):
            if builder.set_at.get(f"settings.{keyword}") != where:
                continue  # another line's format (or none)
            error = _compile_error(text, builder, keyword)
            if error is not None:
                name = "unique-id" if keyword == "unique-id-format" else keyword  # HAProxy's
                diagnostics.alert(f"failed to parse {name} : {error}.", where)
                return  # once per line, as HAProxy stops at the first

    ctx.deferred.append(check)


def _proxies(sections: Mapping[str, Mapping[str, SectionBuilder]]) -> Sequence[SectionBuilder]:
    found: list[SectionBuilder] = []
    for kind in ("frontend", "listen", "backend"):
        found.extend(sections.get(kind, {}).values())
    return found


def _compile_error(text: str, builder: SectionBuilder, keyword: str) -> str | None:
    # Imported here: the log-format compiler uses the sample engine, which uses this package.
    from haproxy_py.logfmt import LogFormatError, compile_format
    from haproxy_py.sample.env import CompileEnv

    try:
        env = CompileEnv(  # as worker/logs.py compiles it, but no backend checked yet
            loader=_file_lines, proxy=builder.name, proxy_is_backend=builder.kind != "frontend"
        )
        mode = builder.values.get("mode") or "tcp"
        compile_format(text, mode, env, unique_id=keyword == "unique-id-format")
    except LogFormatError as exc:
        return str(exc)
    return None


def _file_lines(path: str) -> list[str]:
    """Map files named by `%[...]` converters are read, as HAProxy's parser reads them."""
    from haproxy_py.sample.types import SampleError

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            return file.read().splitlines(keepends=True)
    except OSError as exc:
        raise SampleError(f"failed to open file <{path}> : {exc.strerror}") from None
