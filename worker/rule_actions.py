"""What each rule action does, as makers: `ActionMakers.<method>(rule, response) -> Action`.

worker/rules.py's compiler inherits these and maps action names to them. A maker runs once,
at load time (files are read then, expressions compiled); the Action it returns runs per
request on a SampleContext and returns None to go on, ALLOW to stop the rule set, True/False
for a tcp verdict, or a Reply (worker/rule_replies.py) to answer instead of the server.
A maker raises RulesError for an option it cannot serve.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from haproxy_py.config.model import Proxy, Rule
from haproxy_py.proto.syslog import LEVELS as SYSLOG_LEVELS
from haproxy_py.sample import SampleContext
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.fmt import Formatted
from haproxy_py.sample.http_parts import path_and_query
from haproxy_py.sample.normalize import NORMALIZERS
from haproxy_py.sample.types import to_addr, to_bytes, to_int
from worker.http_errors import ErrorPages
from worker.rule_replies import (
    DENY,
    INTERCEPT,
    REJECTED,
    SILENT_DROP,
    TARPIT,
    Redirect,
    Reply,
    const,
    cookie_header,
    reason_of,
    with_header,
)

Action = Callable[[SampleContext], Any]
ALLOW = object()
CLOSE = object()  # tcp-response content close: forward what was read, then end both sides
YIELD = object()  # a content rule's action needs data not there yet: resume from it


@dataclass(frozen=True, slots=True)
class Wait:
    """Content inspection must wait for more data, then run the rules from `resume` (0: all
    again after a condition "missed"; a yielding action's own index otherwise)."""

    resume: int


NOT_YET = "not yet supported by this version of haproxy-py"


class RulesError(Exception):
    """Rules this version cannot serve; `messages` are ALERT texts."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class ActionMakers:
    """The action makers; the compiler provides the attributes and `fmt`/`expression`."""

    config: Any
    proxy: Proxy
    pages: ErrorPages
    loader: Callable[[str], Sequence[str]]

    def fmt(self, text: str, response: bool = False) -> Formatted:
        raise NotImplementedError

    def expression(self, text: str, response: bool) -> Callable[[SampleContext], Any]:
        raise NotImplementedError

    # -- verdicts and answers -----------------------------------------------------------------

    def allow(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: ALLOW

    def reject(self, rule: Rule, response: bool) -> Action:
        if rule.ruleset == "http-request":
            return lambda ctx: REJECTED  # closed without an answer
        return lambda ctx: False  # a tcp verdict

    def accept(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: True

    def close(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: CLOSE

    def silent_drop(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: SILENT_DROP

    def expect_proxy(self, rule: Rule, response: bool) -> Action:
        """expect-proxy layer4: not a verdict; the session reads a PROXY header next."""

        def apply(ctx: SampleContext) -> None:
            ctx.expect_proxy = True

        return apply

    def reply(self, rule: Rule, response: bool) -> Action:
        """deny, tarpit and return: an error page or a reply made of parts."""
        options = rule.options
        status = options.get("status", 200)
        payload = options.get("payload")
        kind = {"deny": DENY, "tarpit": TARPIT}.get(rule.action, INTERCEPT)
        hold = self.tarpit_delay() if kind == TARPIT else 0.0
        if payload == "default-errorfiles":
            fixed = Reply(status, page=self.pages.page(status, close=False), kind=kind, hold=hold)
            return lambda ctx: fixed
        if payload in ("errorfile", "errorfiles"):
            page = self.error_file(payload, options["source"], status)
            fixed = Reply(status, page=page, kind=kind, hold=hold)
            return lambda ctx: fixed
        headers = tuple(
            (name.lower().encode(), self.fmt(value, response))
            for name, value in options.get("headers", ())
        )
        body: Formatted | None = None
        source = options.get("source")
        if payload == "string":
            body = const(source.encode("utf-8", "surrogateescape"))
        elif payload == "lf-string":
            body = self.fmt(source, response)
        elif payload == "file":
            body = const("".join(self.loader(source)).encode("utf-8", "surrogateescape"))
        elif payload == "lf-file":
            body = self.fmt("".join(self.loader(source)), response)
        content_type = options.get("content_type")
        fixed = Reply(
            status, None, headers, content_type.encode() if content_type else None, body,
            kind=kind, hold=hold,
        )  # fmt: skip
        return lambda ctx: fixed

    def error_file(self, payload: str, source: str, status: int) -> bytes:
        """The whole response of `errorfile <file>`, or of `errorfiles <http-errors>` for the
        status (the proxy's page when that section has none), as the error pages are used."""
        path: str | None = source
        if payload == "errorfiles":
            sections = self.config.sections.get("http-errors", {})
            section = sections.get(source)
            entries = section.entries if section is not None else ()
            path = next((e.path for e in entries if e.status == status), None)
        if path is None:
            return self.pages.page(status, close=False)
        return "".join(self.loader(path)).encode("utf-8", "surrogateescape")

    def tarpit_delay(self) -> float:
        """`timeout tarpit`, else `timeout connect` as HAProxy falls back to (seconds)."""
        timeouts = self.proxy.timeouts
        delay = timeouts.get("tarpit") or timeouts.get("connect") or 0
        return delay / 1000

    def auth(self, rule: Rule, response: bool) -> Action:
        """401 with the 401 error page and `WWW-Authenticate: Basic realm="<realm>"`; the
        realm defaults to the name of the proxy holding the rule, as HAProxy's does."""
        realm = rule.options.get("realm", self.proxy.name)
        line = b'www-authenticate: Basic realm="' + realm.encode() + b'"'
        fixed = Reply(401, page=with_header(self.pages.page(401, close=False), line))
        return lambda ctx: fixed

    def redirect(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        target = options["target"]
        # The `redirect` keyword's target is a plain string; the rule actions' a log-format.
        formatted = (
            const(target.encode()) if rule.ruleset == "redirect" else self.fmt(target, response)
        )
        return Redirect(
            options["code"],
            options["type"],
            formatted,
            bool(options.get("drop-query")),
            bool(options.get("append-slash")),
            bool(options.get("ignore-empty")),
            cookie_header(options.get("set-cookie"), options.get("clear-cookie")),
        )

    # -- headers and the request line ---------------------------------------------------------

    def header(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        name = options["name"].encode()
        lname = name.lower()
        action = rule.action
        if action == "del-header":
            matches = header_matcher(options["name"], options.get("match", "str"))
            return lambda ctx: _delete_matching(_headers(ctx, response), matches)
        if action in ("replace-header", "replace-value"):
            return _replacer(lname, options["regex"], self.fmt(options["format"], response),
                             action == "replace-value", response)  # fmt: skip
        value = self.fmt(options["format"], response)
        name = lname  # HAProxy 2.6 sends the names it adds in lower case (HTX)
        if action == "add-header":
            return lambda ctx: _headers(ctx, response).append((name, value(ctx)))

        def set_header(ctx: SampleContext) -> None:
            text = value(ctx)  # evaluated before the old values go (it may read them)
            headers = _headers(ctx, response)
            _delete(headers, lname)
            headers.append((name, text))

        return set_header

    def uri_part(self, rule: Rule, response: bool) -> Action:
        value = self.fmt(rule.options["format"])
        action = rule.action

        def apply(ctx: SampleContext) -> None:
            request = ctx.request
            if request is None:
                return
            text = value(ctx)
            if action == "set-method":
                request.method = text
                return
            if action == "set-uri":
                request.target = text
                return
            path, query = path_and_query(request.target)
            if action == "set-path":
                path = text
            elif action == "set-pathq":
                path, query = path_and_query(text)
            else:  # set-query
                query = text[1:] if text.startswith(b"?") else text
            request.target = _rebuild(request.target, path, query or None)

        return apply

    def uri_replace(self, rule: Rule, response: bool) -> Action:
        """replace-path, replace-pathq, replace-uri: when the regex matches somewhere in the
        part, the whole part becomes the format with its \\N references expanded."""
        pattern = re.compile(rule.options["regex"].encode("utf-8", "surrogateescape"))
        value = self.fmt(rule.options["format"])
        action = rule.action

        def apply(ctx: SampleContext) -> None:
            request = ctx.request
            if request is None:
                return
            path, query = path_and_query(request.target)
            if action == "replace-uri":
                subject = request.target
            elif action == "replace-pathq":
                subject = path + (b"?" + query if query is not None else b"")
            else:
                subject = path
            match = pattern.search(subject)
            if match is None:
                return
            result = _expand(match, value(ctx))
            if action == "replace-uri":
                request.target = result
            elif action == "replace-pathq":
                path, query = path_and_query(result)
                request.target = _rebuild(request.target, path, query)
            else:
                request.target = _rebuild(request.target, result, query)

        return apply

    def normalize(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        name = options["normalizer"]
        normalizer = NORMALIZERS[name](bool(options.get("strict") or options.get("full")))
        bad = Reply(400, page=self.pages.page(400, close=False), kind=DENY)

        def apply(ctx: SampleContext) -> Reply | None:
            request = ctx.request
            if request is None or not request.target.startswith((b"/", b"http")):
                return None  # "*" and authority-form targets have no path to normalize
            path, query = path_and_query(request.target)
            done = normalizer(path, query)
            if done is None:
                return bad  # a `strict` normalizer met an invalid sequence
            request.target = _rebuild(request.target, *done)
            return None

        return apply

    def log_level(self, rule: Rule, response: bool) -> Action:
        """set-log-level LEVEL|silent: the transaction's log line goes at LEVEL, or not at all."""
        name = rule.options["level"]
        level = 8 if name == "silent" else SYSLOG_LEVELS.index(name)

        def apply(ctx: SampleContext) -> None:
            ctx.log_level = level

        return apply

    def set_status(self, rule: Rule, response: bool) -> Action:
        status = rule.options["status"]
        reason = rule.options.get("reason")
        reason_bytes = reason.encode() if reason is not None else reason_of(status)

        def apply(ctx: SampleContext) -> None:
            if ctx.response is not None:
                ctx.response.status = status
                ctx.response.reason = reason_bytes

        return apply

    # -- variables, addresses, captures -------------------------------------------------------

    def set_var(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        name = f"{options['scope']}.{options['name']}"
        if rule.action == "unset-var":
            scope, short = options["scope"], options["name"]

            def unset(ctx: SampleContext) -> None:
                ctx.variables.get(scope, {}).pop(short, None)

            return unset
        if rule.action == "set-var-fmt":
            get = self.fmt(options["format"], response)
        else:
            get = self.expression(options["expr"], response)
        allowed = var_conditions(options["scope"], options["name"], options.get("conditions"))

        def apply(ctx: SampleContext) -> None:
            value = get(ctx)
            if value is not None and (allowed is None or allowed(ctx, value)):
                ctx.set_var(name, value)

        return apply

    def address(self, rule: Rule, response: bool) -> Action:
        """set-src, set-dst, set-src-port, set-dst-port: what src/dst fetches and logs read
        from then on (no server follows the destination: see docs/MIGRATING.md)."""
        get = self.expression(rule.options["expr"], response)
        field = "src" if "src" in rule.action else "dst"
        port = rule.action.endswith("-port")

        def apply(ctx: SampleContext) -> None:
            value = get(ctx)
            if port:
                number = to_int(value)
                if number is not None and 0 <= number <= 65535:
                    setattr(ctx, field + "_port", number)
                return
            addr = to_addr(value)
            if addr is not None:
                setattr(ctx, field, addr)

        return apply

    def capture(self, rule: Rule, response: bool) -> Action:
        """`capture <sample> len N` (a slot of its own, numbered at parse time) or `id N` (a
        `declare capture` slot): the value goes to the capture slots %hr/%hs log."""
        options = rule.options
        get = self.expression(options["sample"], response)
        slot = options["slot"] if "slot" in options else options["id"]
        length = options.get("len")

        def apply(ctx: SampleContext) -> Any:
            ctx.missing = False
            value = to_bytes(get(ctx))
            if value is None:
                # HAProxy's capture waits for its sample while the buffer may grow
                return YIELD if ctx.missing and not ctx.content_final else None
            slots = ctx.response_captured if response else ctx.request_captured
            slots[slot] = value[:length] if length is not None else value

        return apply


def var_conditions(
    scope: str, short: str, conditions: Sequence[str] | None
) -> Callable[[SampleContext, Any], bool] | None:
    """set-var(name,cond...): all conditions must hold for the variable to be set. An
    unset variable does not exist here (ifexists and ifset agree), except that "proc"
    variables exist from the start as in HAProxy; ifgt/iflt compare integers only (true
    otherwise)."""
    if not conditions:
        return None

    def holds(condition: str, present: bool, old: Any, value: Any) -> bool:
        if condition in ("ifexists", "ifnotexists"):
            exists = present or scope == "proc"
            return exists if condition == "ifexists" else not exists
        if condition in ("ifset", "ifnotset"):
            return present if condition == "ifset" else not present
        if condition in ("ifempty", "ifnotempty"):
            empty = isinstance(value, bytes) and not value
            return empty if condition == "ifempty" else not empty
        both_int = isinstance(old, int) and isinstance(value, int)
        both_int = both_int and not isinstance(old, bool) and not isinstance(value, bool)
        if not both_int:
            return True
        return old > value if condition == "ifgt" else old < value

    def allowed(ctx: SampleContext, value: Any) -> bool:
        variables = ctx.variables.get(scope, {})
        present = short in variables
        old = variables.get(short)
        return all(holds(condition, present, old, value) for condition in conditions)

    return allowed


def header_matcher(name: str, method: str) -> Callable[[bytes], bool]:
    """del-header -m: does a header name match? str/beg/end/sub ignore case, as HAProxy."""
    if method == "reg":
        pattern = re.compile(name.encode("utf-8", "surrogateescape"))
        return lambda header: pattern.search(header) is not None
    wanted = name.lower().encode()
    tests: dict[str, Callable[[bytes], bool]] = {
        "str": lambda header: header.lower() == wanted,
        "beg": lambda header: header.lower().startswith(wanted),
        "end": lambda header: header.lower().endswith(wanted),
        "sub": lambda header: wanted in header.lower(),
    }
    return tests[method]


def _headers(ctx: SampleContext, response: bool) -> list[tuple[bytes, bytes]]:
    message = ctx.response if response else ctx.request
    return message.headers if message is not None else []


def _delete(headers: list[tuple[bytes, bytes]], lname: bytes) -> None:
    headers[:] = [pair for pair in headers if pair[0].lower() != lname]


def _delete_matching(headers: list[tuple[bytes, bytes]], matches: Callable[[bytes], bool]) -> None:
    headers[:] = [pair for pair in headers if not matches(pair[0])]


def _authority_prefix(target: bytes) -> bytes:
    """`http://host` of an absolute-form target, else empty."""
    scheme = target.find(b"://")
    if scheme < 0 or target.startswith(b"/"):
        return b""
    slash = target.find(b"/", scheme + 3)
    query = target.find(b"?", scheme + 3)
    ends = [i for i in (slash, query) if i >= 0]
    return target[: min(ends)] if ends else target


def _rebuild(old_target: bytes, path: bytes, query: bytes | None) -> bytes:
    return _authority_prefix(old_target) + path + (b"?" + query if query is not None else b"")


def _expand(match: re.Match[bytes], template: bytes) -> bytes:
    """HAProxy's \\N references in a replacement (other backslashes stay as written)."""

    def group(ref: re.Match[bytes]) -> bytes:
        index = int(ref.group(1))
        if index > (match.re.groups or 0):
            return b""
        return match.group(index) or b""

    return re.sub(rb"\\(\d)", group, template)


def _replacer(
    lname: bytes, regex: str, value: Formatted, per_value: bool, response: bool
) -> Action:
    pattern = re.compile(regex.encode("utf-8", "surrogateescape"))

    def replace(ctx: SampleContext) -> None:
        headers = _headers(ctx, response)
        replacement = value(ctx)
        for index, (name, text) in enumerate(headers):
            if name.lower() != lname:
                continue
            if per_value:
                parts = [_sub(pattern, replacement, part) for part in text.split(b",")]
                headers[index] = (name, b",".join(parts))
            else:
                headers[index] = (name, _sub(pattern, replacement, text))

    return replace


def _sub(pattern: Any, replacement: bytes, text: bytes) -> bytes:
    """As HAProxy: when the regex matches somewhere in the value (leading blanks left out),
    the whole value, blanks included, becomes the expanded replacement."""
    match = pattern.search(text.lstrip(b" \t"))
    return _expand(match, replacement) if match else text


def expression_getter(text: str, compiler: Any, maps: Any) -> Callable[[SampleContext], Any]:
    return compile_expression(text, compiler.env, maps).get
