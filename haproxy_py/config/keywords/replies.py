"""HTTP answers written in the configuration: deny/return/tarpit replies, redirects, error pages.

`http-request deny|tarpit|return`, `http-response deny|return`, `http-error` and the error
page keywords (`errorfile`, `errorfiles`, `errorloc*`) all describe an answer made by the
proxy itself; `redirect` and `http-request redirect` describe a redirection. The parsers here
turn their option words into a dict of typed values (status as an int, headers as pairs) and
raise ConfigError with the detail only: the caller says which rule it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError, Where

# Status codes HAProxy has built-in error pages for (and so the only ones errorfiles may set).
HANDLED_STATUSES = (200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429,
                    500, 501, 502, 503, 504)  # fmt: skip
REDIRECT_CODES = (301, 302, 303, 307, 308)
REDIRECT_TYPES = ("location", "prefix", "scheme")
# Where a reply's body comes from: at most one of these per reply.
_PAYLOADS = ("default-errorfiles", "errorfile", "errorfiles", "file", "lf-file", "string",
             "lf-string")  # fmt: skip
_ERRORFILE_BASED = ("default-errorfiles", "errorfile", "errorfiles")


def status_code(text: str, low: int = 200, high: int = 599) -> int:
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"unexpected status code '{text}' (expects {low} to {high}).")
    return int(text)


def handled_status(text: str, what: str) -> int:
    """A status code HAProxy has an error page for, as errorfile/http-error require."""
    if not text.isascii() or not text.isdigit() or int(text) not in HANDLED_STATUSES:
        listed = ", ".join(str(code) for code in HANDLED_STATUSES)
        raise ConfigError(f"{what} : status code '{text}' not handled (expects one of {listed}).")
    return int(text)


def _take(words: list[str], option: str, what: str) -> str:
    if not words:
        raise ConfigError(f"'{option}' expects {what} as an argument.")
    return words.pop(0)


def parse_reply(args: Sequence[str], action: str, default_status: int) -> dict[str, Any]:
    """`[status|deny_status <code>] [content-type <type>] [<payload>] [hdr <name> <fmt>]*`.

    `action` is "deny", "tarpit", "return" or "http-error" (which allows neither
    `deny_status` nor a missing status).
    """
    words = list(args)
    reply: dict[str, Any] = {"status": default_status}
    status_word = status_keyword = ""
    headers: list[tuple[str, str]] = []
    while words:
        word = words.pop(0)
        if word == "status" or (word == "deny_status" and action in ("deny", "tarpit")):
            status_word = _take(words, word, "a status code")
            status_keyword = word
        elif word == "content-type":
            reply["content_type"] = _take(words, word, "a content type")
        elif word in _PAYLOADS:
            if "payload" in reply:
                raise ConfigError(
                    f"unexpected '{word}' argument, '{reply['payload']}' already defined."
                )
            reply["payload"] = word
            if word != "default-errorfiles":
                reply["source"] = _take(words, word, "a value")
        elif word == "hdr":
            if len(words) < 2:
                raise ConfigError("'hdr' expects <name> and <value> as arguments.")
            headers.append((words.pop(0), words.pop(0)))
        else:
            raise ConfigError(
                "expects 'status', 'content-type', 'default-errorfiles', 'errorfile', 'errorfiles',"
                f" 'file', 'lf-file', 'string', 'lf-string' or 'hdr' (was '{word}')."
            )
    if action == "http-error" and not status_word:
        raise ConfigError("expects 'status <code>' first.")
    payload = reply.get("payload")
    if payload is None and action in ("deny", "tarpit") and status_keyword != "status":
        payload = reply["payload"] = "default-errorfiles"  # HAProxy's compatibility rule
    if status_word:
        reply["status"] = status_code(status_word)
        if (payload in _ERRORFILE_BASED or action == "http-error") and (
            reply["status"] not in HANDLED_STATUSES
        ):
            listed = ", ".join(str(code) for code in HANDLED_STATUSES)
            raise ConfigError(
                f"status code '{status_word}' has no error page to start from (error pages"
                f" exist for {listed})."
            )
    if payload in ("string", "lf-string") and reply.get("source") and "content_type" not in reply:
        raise ConfigError("a content type must be set ('content-type') when a payload is given.")
    reply["headers"] = tuple(headers)
    return reply


def parse_redirect(args: Sequence[str], in_rule: bool) -> dict[str, Any]:
    """`location|prefix|scheme <target> [code <n>] [<option>]...`, words in any order.

    `in_rule` is True for `http-request redirect`/`http-response redirect`, where the target
    is a log-format string and `ignore-empty` has a meaning.
    """
    words = list(args)
    result: dict[str, Any] = {"code": 302}
    while words:
        word = words.pop(0)
        if word in REDIRECT_TYPES:
            result["type"] = word
            result["target"] = _take(words, word, "a target")
        elif word == "code":
            text = _take(words, word, "a status code")
            if not text.isdigit() or int(text) not in REDIRECT_CODES:
                raise ConfigError(
                    f"'code' : unsupported redirect code '{text}' (expects 301, 302, 303, 307"
                    " or 308)."
                )
            result["code"] = int(text)
        elif word in ("drop-query", "append-slash", "ignore-empty"):
            result[word] = True
        elif word in ("set-cookie", "clear-cookie"):
            result[word] = _take(words, word, "NAME[=value]" if word == "set-cookie" else "NAME")
        else:
            raise ConfigError(
                "expects 'location', 'prefix', 'scheme', 'code', 'drop-query', 'append-slash',"
                f" 'ignore-empty', 'set-cookie' or 'clear-cookie' (was '{word}')."
            )
    if "type" not in result:
        raise ConfigError("a redirection type is required ('location', 'prefix' or 'scheme').")
    if not in_rule:
        result.pop("ignore-empty", None)  # only meaningful with a log-format target
    return result


def check_http_errors_later(name: str, user: str, where: Where, ctx: ParseContext) -> None:
    """Report, after reading everything, a reference to an http-errors section never declared."""
    section, sections, diagnostics = ctx.section, ctx.sections, ctx.diagnostics

    def check() -> None:
        if name not in sections.get("http-errors", {}):
            diagnostics.alert(
                f"{section.label} : unknown http-errors section '{name}' referenced by {user}.",
                where,
            )

    ctx.deferred.append(check)
