"""The compiled rule runtime: a proxy's rules turned, once at start-up, into plain callables.

`compile_proxy_rules()` runs before the worker isolates itself: pattern and map files, and
the files of `return ... file F`, are read through the loader then. What it does not
implement is refused with file:line and "not yet supported" (never accepted and ignored).
At run time the sessions call:
- `ProxyRules.tcp_connection(ctx) -> bool` (accept) and `tcp_content`, run by worker/session.py;
- `ProxyRules.http_request(ctx) -> Reply | None`: header and URI actions change
  `ctx.request` in place, the first deny/return/redirect answers (a Reply), `allow` stops;
- `ProxyRules.choose_backend(ctx) -> str | None` (use_backend, first match), and
  `ProxyRules.choose_server(ctx) -> str | None` (use-server, first match);
- `ProxyRules.http_response(ctx) -> Reply | None` and `http_after_response(ctx)` on
  `ctx.response`.
A proxy without rules of a kind has None there, so the sessions' no-rules path is a single
attribute test.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from haproxy_py.config.model import Config, Proxy, Rule
from haproxy_py.sample import CompileEnv, MapCache, RulesCompiler, SampleContext, SampleError
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.fmt import Formatted, compile_format
from haproxy_py.sample.http_parts import path_and_query
from worker.http_errors import ErrorPages, with_close

Predicate = Callable[[SampleContext], bool]
Action = Callable[[SampleContext], Any]  # None: go on; ALLOW: stop the rule set; a Reply
Loader = Callable[[str], Sequence[str]]
ALLOW = object()
_NOT_YET = "not yet supported by this version of haproxy-py"

# HAProxy 2.6's reason phrases for the statuses a rule may produce.
REASONS = {
    100: b"Continue", 200: b"OK", 201: b"Created", 202: b"Accepted",
    203: b"Non-Authoritative Information", 204: b"No Content", 205: b"Reset Content",
    206: b"Partial Content", 300: b"Multiple Choices", 301: b"Moved Permanently",
    302: b"Found", 303: b"See Other", 304: b"Not Modified", 307: b"Temporary Redirect",
    308: b"Permanent Redirect", 400: b"Bad Request", 401: b"Unauthorized",
    402: b"Payment Required", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 406: b"Not Acceptable", 407: b"Proxy Authentication Required",
    408: b"Request Time-out", 409: b"Conflict", 410: b"Gone", 411: b"Length Required",
    412: b"Precondition Failed", 413: b"Request Entity Too Large",
    414: b"Request-URI Too Long", 415: b"Unsupported Media Type", 421: b"Misdirected Request",
    425: b"Too Early", 429: b"Too Many Requests", 500: b"Internal Server Error",
    501: b"Not Implemented", 502: b"Bad Gateway", 503: b"Service Unavailable",
    504: b"Gateway Time-out", 505: b"HTTP Version not supported",
}  # fmt: skip
_NO_CACHE_CODES = (302, 303, 307)  # redirects HAProxy marks `cache-control: no-cache`
_BODYLESS = (204, 304)


def reason_of(status: int) -> bytes:
    return REASONS.get(status, b"Unknown" if status >= 200 else b"")


class RulesError(Exception):
    """Rules this version cannot serve; `messages` are ALERT texts."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


# -- answers made by rules --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """A response made by a rule: a fixed page (deny's error page) or parts to format."""

    status: int
    page: bytes | None = None  # the whole response, as an error page is
    headers: tuple[tuple[bytes, Formatted], ...] = ()
    content_type: bytes | None = None
    body: Formatted | None = None
    length_first: bool = False  # redirects: content-length before the other headers

    def render(self, ctx: SampleContext, close: bool) -> bytes:
        if self.page is not None:
            return with_close(self.page) if close else self.page
        status = self.status
        lines = [b"HTTP/1.1 %d %s" % (status, reason_of(status))]
        body = self.body(ctx) if self.body is not None else b""
        length = status not in _BODYLESS and status >= 200
        if self.length_first:
            lines.append(b"content-length: %d" % len(body))
            length = False
        lines += [name + b": " + value(ctx) for name, value in self.headers]
        if length:
            lines.append(b"content-length: %d" % len(body))
        if self.content_type is not None:
            lines.append(b"content-type: " + self.content_type)
        if close:
            lines.append(b"connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass(frozen=True, slots=True)
class Redirect:
    code: int
    kind: str  # location | prefix | scheme
    target: Formatted
    drop_query: bool = False
    append_slash: bool = False
    ignore_empty: bool = False
    cookie: bytes | None = None  # the whole set-cookie value

    def __call__(self, ctx: SampleContext) -> Reply | None:
        target = self.target(ctx)
        if not target and self.ignore_empty:
            return None
        location = target if self.kind == "location" else self._location(ctx, target)
        headers: list[tuple[bytes, Formatted]] = [(b"location", _const(location))]
        if self.code in _NO_CACHE_CODES:
            headers.append((b"cache-control", _const(b"no-cache")))
        if self.cookie is not None:
            headers.append((b"set-cookie", _const(self.cookie)))
        return Reply(self.code, headers=tuple(headers), length_first=True)

    def _location(self, ctx: SampleContext, target: bytes) -> bytes:
        request = ctx.request
        raw = request.target if request is not None else b"/"
        path, query = path_and_query(raw)
        if self.append_slash and not path.endswith(b"/"):
            path += b"/"
        if query is not None and not self.drop_query:
            path += b"?" + query
        if self.kind == "prefix":
            return path if target == b"/" else target + path
        hosts = [v for k, v in request.headers if k.lower() == b"host"] if request else []
        return target + b"://" + (hosts[0] if hosts else b"") + path


def _const(value: bytes) -> Formatted:
    return lambda ctx: value


# -- the compiled rules of one proxy ----------------------------------------------------------


def run_rules(rules: Sequence[tuple[Predicate | None, Action]], ctx: SampleContext) -> Any:
    for condition, action in rules:
        if condition is None or condition(ctx):
            result = action(ctx)
            if result is not None:
                return result
    return None


@dataclass(eq=False)
class ProxyRules:
    name: str
    tcp_connection: Callable[[SampleContext], bool | None] | None = None
    tcp_content: Callable[[SampleContext], bool | None] | None = None
    inspect_delay: float = 0.0  # seconds; 0: content rules see what is there at once
    http_request: Callable[[SampleContext], Reply | None] | None = None
    http_response: Callable[[SampleContext], Reply | None] | None = None
    http_after_response: Callable[[SampleContext], None] | None = None
    choose_backend: Callable[[SampleContext], str | None] | None = None
    choose_server: Callable[[SampleContext], str | None] | None = None
    reads_addresses: bool = True  # some rule may read src/dst (the context fills them lazily)

    @property
    def empty(self) -> bool:
        return not any(
            (self.tcp_connection, self.tcp_content, self.http_request, self.http_response,
             self.http_after_response, self.choose_backend, self.choose_server)
        )  # fmt: skip


class _Compiler:
    """Compiles one proxy's rules, collecting every refusal."""

    def __init__(self, config: Config, proxy: Proxy, loader: Loader, pages: ErrorPages) -> None:
        self.config = config
        self.proxy = proxy
        self.loader = loader
        self.pages = pages
        env = CompileEnv.for_proxy(config, proxy, loader=loader)
        self.maps = MapCache(loader)
        self.request_side = RulesCompiler(proxy.acls, env, self.maps)
        response_env = dataclasses.replace(env, response_side=True)
        self.response_side = RulesCompiler(proxy.acls, response_env, self.maps)
        self.errors: list[str] = []

    def fail(self, where: object, text: str) -> None:
        self.errors.append(f"config : [{where}] : proxy '{self.proxy.name}': {text}")

    def condition(self, rule: Any, response: bool = False) -> Predicate | None:
        if rule.condition is None:
            return None
        compiler = self.response_side if response else self.request_side
        return compiler.condition(rule.condition)

    def fmt(self, text: str, response: bool = False) -> Formatted:
        compiler = self.response_side if response else self.request_side
        return compile_format(text, compiler.env, self.maps)

    def ruleset(self, name: str, makers: dict[str, Callable[[Rule, bool], Action]]) -> list:
        compiled = []
        response = name != "http-request" and not name.startswith("tcp-request")
        for rule in self.proxy.rules.get(name) or ():
            maker = makers.get(rule.action)
            if maker is None:
                self.fail(rule.where, f"'{name} {rule.action}' is {_NOT_YET}.")
                continue
            try:
                compiled.append((self.condition(rule, response), maker(rule, response)))
            except (SampleError, OSError, RulesError) as error:
                self.fail(rule.where, f"'{name} {rule.action}' rule: {error}")
        return compiled

    # -- actions ------------------------------------------------------------------------------

    def allow(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: ALLOW

    def reject(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: False

    def accept(self, rule: Rule, response: bool) -> Action:
        return lambda ctx: True

    def reply(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        status = options.get("status", 200)
        payload = options.get("payload")
        if payload == "default-errorfiles":
            page = self.pages.page(status, close=False)
            fixed = Reply(status, page=page)
            return lambda ctx: fixed
        if payload in ("errorfile", "errorfiles", "lf-file"):
            raise RulesError([f"'{payload}' replies are {_NOT_YET}"])
        headers = tuple(
            (name.lower().encode(), self.fmt(value, response))
            for name, value in options.get("headers", ())
        )
        body: Formatted | None = None
        source = options.get("source")
        if payload == "string":
            body = _const(source.encode("utf-8", "surrogateescape"))
        elif payload == "lf-string":
            body = self.fmt(source, response)
        elif payload == "file":
            data = "".join(self.loader(source)).encode("utf-8", "surrogateescape")
            body = _const(data)
        content_type = options.get("content_type")
        fixed = Reply(status, None, headers, content_type.encode() if content_type else None, body)
        return lambda ctx: fixed

    def redirect(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        if options.get("clear-cookie"):
            raise RulesError([f"'clear-cookie' is {_NOT_YET}"])
        cookie = options.get("set-cookie")
        return Redirect(
            options["code"],
            options["type"],
            self.fmt(options["target"], response),
            bool(options.get("drop-query")),
            bool(options.get("append-slash")),
            bool(options.get("ignore-empty")),
            (cookie.encode() + b"; path=/;") if cookie else None,
        )

    def header(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        name = options["name"].encode()
        lname = name.lower()
        action = rule.action
        if action == "del-header":
            if options.get("match", "str") != "str":
                raise RulesError([f"'del-header -m {options['match']}' is {_NOT_YET}"])
            return lambda ctx: _delete(_headers(ctx, response), lname)
        if action in ("replace-header", "replace-value"):
            return _replacer(lname, options["regex"], self.fmt(options["format"], response),
                             action == "replace-value", response)  # fmt: skip
        value = self.fmt(options["format"], response)
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
            prefix = _authority_prefix(request.target)
            if action == "set-path":
                path = text
            else:  # set-query
                query = text[1:] if text.startswith(b"?") else text
            request.target = prefix + path + (b"?" + query if query else b"")

        return apply

    def set_status(self, rule: Rule, response: bool) -> Action:
        status = rule.options["status"]
        reason = rule.options.get("reason")
        reason_bytes = reason.encode() if reason is not None else None

        def apply(ctx: SampleContext) -> None:
            if ctx.response is not None:
                ctx.response.status = status
                ctx.response.reason = reason_bytes or reason_of(status)

        return apply

    def set_var(self, rule: Rule, response: bool) -> Action:
        options = rule.options
        if options.get("conditions"):
            raise RulesError([f"conditions on set-var are {_NOT_YET}"])
        compiler = self.response_side if response else self.request_side
        get = compile_expression(options["expr"], compiler.env, self.maps).get
        name = f"{options['scope']}.{options['name']}"

        def apply(ctx: SampleContext) -> None:
            value = get(ctx)
            if value is not None:
                ctx.set_var(name, value)

        return apply


def _headers(ctx: SampleContext, response: bool) -> list[tuple[bytes, bytes]]:
    message = ctx.response if response else ctx.request
    return message.headers if message is not None else []


def _delete(headers: list[tuple[bytes, bytes]], lname: bytes) -> None:
    headers[:] = [pair for pair in headers if pair[0].lower() != lname]


def _authority_prefix(target: bytes) -> bytes:
    """`http://host` of an absolute-form target, else empty."""
    scheme = target.find(b"://")
    if scheme < 0 or target.startswith(b"/"):
        return b""
    slash = target.find(b"/", scheme + 3)
    return target if slash < 0 else target[:slash]


def _replacer(
    lname: bytes, regex: str, value: Formatted, per_value: bool, response: bool
) -> Action:
    pattern = re.compile(regex.encode("utf-8", "surrogateescape"))

    def replace(ctx: SampleContext) -> None:
        headers = _headers(ctx, response)
        replacement = value(ctx).replace(b"\\", b"\\\\")
        replacement = re.sub(rb"\\\\(\d)", rb"\\\1", replacement)  # keep \1 back-references
        for index, (name, text) in enumerate(headers):
            if name.lower() != lname:
                continue
            if per_value:
                parts = [_full_sub(pattern, replacement, part.strip()) for part in text.split(b",")]
                headers[index] = (name, b", ".join(parts))
            else:
                headers[index] = (name, _full_sub(pattern, replacement, text))

    return replace


def _full_sub(pattern: Any, replacement: bytes, text: bytes) -> bytes:
    """HAProxy replaces only when the regex matches the whole value."""
    match = pattern.fullmatch(text)
    return match.expand(replacement) if match else text


_HTTP_REQUEST = {
    "allow": "allow", "deny": "reply", "return": "reply", "redirect": "redirect",
    "add-header": "header", "set-header": "header", "del-header": "header",
    "replace-header": "header", "replace-value": "header", "set-path": "uri_part",
    "set-query": "uri_part", "set-uri": "uri_part", "set-method": "uri_part",
    "set-var": "set_var",
}  # fmt: skip
_HTTP_RESPONSE = {
    "allow": "allow", "deny": "reply", "return": "reply", "add-header": "header",
    "set-header": "header", "del-header": "header", "replace-header": "header",
    "replace-value": "header", "set-status": "set_status", "set-var": "set_var",
}  # fmt: skip
_HTTP_AFTER = {
    "allow": "allow", "add-header": "header", "set-header": "header", "del-header": "header",
}  # fmt: skip
_TCP = {"accept": "accept", "reject": "reject"}


def _makers(compiler: _Compiler, table: dict[str, str]) -> dict[str, Any]:
    return {action: getattr(compiler, method) for action, method in table.items()}


def _verdict(rules: list) -> Callable[[SampleContext], bool | None] | None:
    """tcp-request rules: the first matching accept/reject decides (True: accept); None: no
    rule matched (the caller may wait for more data, then accepts)."""
    if not rules:
        return None
    return lambda ctx: run_rules(rules, ctx)


def _first(rules: list) -> Callable[[SampleContext], Any] | None:
    if not rules:
        return None

    def run(ctx: SampleContext) -> Any:
        result = run_rules(rules, ctx)
        return None if result is ALLOW else result

    return run


def compile_proxy_rules(
    config: Config, proxy: Proxy, loader: Loader, pages: ErrorPages
) -> ProxyRules | None:
    """The proxy's compiled rules, None when it has none; RulesError lists every refusal."""
    compiler = _Compiler(config, proxy, loader, pages)
    rules = ProxyRules(proxy.name)
    rules.tcp_connection = _verdict(
        compiler.ruleset("tcp-request connection", _makers(compiler, _TCP))
    )
    rules.tcp_content = _verdict(compiler.ruleset("tcp-request content", _makers(compiler, _TCP)))
    delay = proxy.timeouts.get("tcp-request inspect-delay")
    rules.inspect_delay = delay / 1000 if delay else 0.0
    for name in ("tcp-response content", "redirect"):
        for rule in proxy.rules.get(name) or ():
            compiler.fail(rule.where, f"'{name}' rules are {_NOT_YET}.")
    if proxy.mode == "http":
        rules.http_request = _first(
            compiler.ruleset("http-request", _makers(compiler, _HTTP_REQUEST))
        )
        rules.http_response = _first(
            compiler.ruleset("http-response", _makers(compiler, _HTTP_RESPONSE))
        )
        after = compiler.ruleset("http-after-response", _makers(compiler, _HTTP_AFTER))
        rules.http_after_response = _first(after)
    if proxy.is_frontend:
        rules.choose_backend = _backend_switch(compiler)
    rules.choose_server = _server_switch(compiler)
    if compiler.errors:
        raise RulesError(compiler.errors)
    return None if rules.empty else rules


def _backend_switch(compiler: _Compiler) -> Callable[[SampleContext], str | None] | None:
    switches = compiler.proxy.backend_switches
    if not any(s.dynamic or s.condition is not None for s in switches):
        return None  # static routing: resolved once at start-up
    compiled: list[tuple[Predicate | None, Formatted]] = []
    known = {p.name for p in compiler.config.proxies if p.is_backend and not p.disabled}
    for switch in switches:
        try:
            name = compiler.fmt(switch.backend) if switch.dynamic else None
            condition = compiler.condition(switch)
        except SampleError as error:
            compiler.fail(switch.where, f"'use_backend' rule: {error}")
            continue
        compiled.append((condition, name or _const(switch.backend.encode())))

    def choose(ctx: SampleContext) -> str | None:
        for condition, name in compiled:
            if condition is None or condition(ctx):
                chosen = name(ctx).decode("utf-8", "surrogateescape")
                if chosen in known:
                    return chosen  # a dynamic name that names no backend is skipped
        return None

    return choose


def _server_switch(compiler: _Compiler) -> Callable[[SampleContext], str | None] | None:
    switches = compiler.proxy.server_switches
    if not switches:
        return None
    compiled: list[tuple[Predicate | None, str]] = []
    servers = {server.name for server in compiler.proxy.servers}
    for switch in switches:
        if switch.server in ("force-persist", "ignore-persist"):
            compiler.fail(switch.where, f"'{switch.server}' is {_NOT_YET}.")
            continue
        if switch.server not in servers:
            compiler.fail(switch.where, f"'use-server' names no server '{switch.server}'.")
            continue
        try:
            compiled.append((compiler.condition(switch), switch.server))
        except SampleError as error:
            compiler.fail(switch.where, f"'use-server' rule: {error}")

    def choose(ctx: SampleContext) -> str | None:
        for condition, server in compiled:
            if condition is None or condition(ctx):
                return server
        return None

    return choose


# -- what the sessions hold -------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Route:
    """Where a frontend may send a request: the backend's runtime objects, prepared at
    start-up (worker/startup.py), and the backend's own rules (None for a `listen` section's
    own route, whose rules are the frontend's)."""

    name: str
    backend: Any  # BackendRuntime
    rules: ProxyRules | None
    servers: dict[str, Any]  # server name -> ServerRuntime (use-server)
    http: Any = None  # HttpSettings for this frontend/backend pair
    pools: Any = None  # ServerPools
    timeouts: Any = None  # RelayTimeouts (TCP mode)


@dataclass(eq=False, slots=True)
class FrontendRules:
    name: str  # the frontend's
    own: ProxyRules | None  # the frontend's rules
    default: Route | None  # the static route (first unconditional use_backend, default_backend)
    routes: dict[str, Route]  # every backend this frontend may choose by name


_FIELD_DEFAULTS: dict[str, Callable[[], Any]] = {
    "so_id": int, "backend": str, "server": str, "request": lambda: None,
    "response": lambda: None, "request_buffer": bytes, "environment": lambda: os.environ,
    "clock": lambda: time.time, "random": lambda: _RANDOM.randrange, "backends": lambda: None,
    "auth_cache": dict,
    "variables": lambda: {"proc": {}, "sess": {}, "txn": {}, "req": {}, "res": {}},
}  # fmt: skip
_RANDOM = random.Random()


class LiveContext(SampleContext):
    """A SampleContext made per connection whose fields are filled when first read: the
    addresses (a parse and a getsockname each), the variables... are built only if a rule
    reads them. Made with `LiveContext.open(sock, peer, frontend)`."""

    __slots__ = ("_peer", "_sock")

    @classmethod
    def open(cls, sock: socket.socket, peer: object, frontend: str) -> LiveContext:
        ctx = cls.__new__(cls)
        ctx._sock = sock
        ctx._peer = peer
        ctx.frontend = frontend
        ctx.request = None
        ctx.response = None
        return ctx

    def __getattr__(self, name: str) -> Any:  # only for a slot never set
        if name in ("src", "src_port"):
            self.src, self.src_port = _address(self._peer)
        elif name in ("dst", "dst_port"):
            try:
                local = self._sock.getsockname()
            except OSError:
                local = None
            self.dst, self.dst_port = _address(local)
        elif name in _FIELD_DEFAULTS:
            setattr(self, name, _FIELD_DEFAULTS[name]())
        else:
            raise AttributeError(name)
        return getattr(self, name)

    def next_transaction(self) -> None:
        """A new HTTP request on the connection: txn/req/res variables and caches go."""
        self.response = None
        try:
            variables = object.__getattribute__(self, "variables")
        except AttributeError:
            return
        for scope in ("txn", "req", "res"):
            variables[scope].clear()
        self.auth_cache = {}


def _address(sockaddr: object) -> tuple[Any, int]:
    if not isinstance(sockaddr, tuple):
        return None, 0
    try:
        return ip_address(sockaddr[0].partition("%")[0]), sockaddr[1]
    except ValueError:
        return None, 0
