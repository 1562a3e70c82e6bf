"""The compiled rule runtime: a proxy's rules turned, once at start-up, into plain callables.

`compile_proxy_rules()` runs before the worker isolates itself: pattern and map files, and
the files of `return ... file F`, are read through the loader then. What it does not
implement is refused with file:line and "not yet supported" (never accepted and ignored).
At run time the sessions call:
- `ProxyRules.tcp_connection(ctx) -> bool` (accept), and the content-inspection rules
  `tcp_content` / `tcp_response` (`run(ctx, start)` -> verdict, None or Wait), run by
  worker/session.py and worker/tcp_inspect.py;
- `ProxyRules.http_request(ctx) -> Reply | None`: header and URI actions change
  `ctx.request` in place, the first deny/return/redirect answers (a Reply), `allow` stops;
- `ProxyRules.choose_backend(ctx) -> str | None` (use_backend, first match; runs of
  exact-string rules on one fetch are a dict, `ExactIndex`), and
  `ProxyRules.choose_server(ctx, up, forced) -> str | None` (use-server, first match whose
  server is up, or any with force-persist / `option persist`);
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
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from haproxy_py.config.model import Config, Proxy, Rule
from haproxy_py.sample import CompileEnv, MapCache, RulesCompiler, SampleContext, SampleError
from haproxy_py.sample.expr import compile_expression
from haproxy_py.sample.fmt import Formatted, compile_format
from worker.http_errors import ErrorPages
from worker.rule_actions import ALLOW, NOT_YET, YIELD, Action, ActionMakers, RulesError, Wait
from worker.rule_index import ExactIndex
from worker.rule_replies import REASONS, Redirect, Reply, const, reason_of
from worker.services import make_service

Predicate = Callable[[SampleContext], bool]
Loader = Callable[[str], Sequence[str]]
_NOT_YET = NOT_YET

__all__ = ["ALLOW", "REASONS", "Redirect", "Reply", "RulesError", "reason_of"]


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
    # tcp_content / tcp_response: run(ctx, start=0) -> verdict, None or Wait (_content_verdict)
    tcp_content: Callable[..., Any] | None = None
    inspect_delay: float = 0.0  # seconds; 0: content rules see what is there at once
    tcp_response: Callable[[SampleContext], Any] | None = None
    response_inspect_delay: float = 0.0  # seconds; 0: rules run once, on connect
    http_request: Callable[[SampleContext], Reply | None] | None = None
    http_response: Callable[[SampleContext], Reply | None] | None = None
    http_after_response: Callable[[SampleContext], None] | None = None
    choose_backend: Callable[[SampleContext], str | None] | None = None
    # use-server: choose_server(ctx, up, forced) -> name; `up(name)` says whether a server is
    # not DOWN/MAINT: a rule naming a stopped server is skipped unless force-persist matched
    # (`forced`) or `option persist` is set, as HAProxy does
    choose_server: Callable[..., str | None] | None = None
    # force-persist / ignore-persist, first match: "force-persist", "ignore-persist" or None
    choose_persistence: Callable[[SampleContext], str | None] | None = None
    reads_addresses: bool = True  # some rule may read src/dst (the context fills them lazily)
    services: list[Any] = field(default_factory=list)  # use-service answers (worker/services.py)

    @property
    def empty(self) -> bool:
        return not any(
            (self.tcp_connection, self.tcp_content, self.tcp_response, self.http_request,
             self.http_response, self.http_after_response, self.choose_backend, self.choose_server,
             self.choose_persistence)
        )  # fmt: skip


class _Compiler(ActionMakers):
    """Compiles one proxy's rules, collecting every refusal."""

    def __init__(
        self,
        config: Config,
        proxy: Proxy,
        loader: Loader,
        pages: ErrorPages,
        maps: MapCache | None = None,
    ) -> None:
        self.config = config
        self.proxy = proxy
        self.loader = loader
        self.pages = pages
        env = CompileEnv.for_proxy(config, proxy, loader=loader)
        self.maps = maps or MapCache(loader)  # the worker's one cache: runtime-API editable
        self.request_side = RulesCompiler(proxy.acls, env, self.maps)
        response_env = dataclasses.replace(env, response_side=True)
        self.response_side = RulesCompiler(proxy.acls, response_env, self.maps)
        self.errors: list[str] = []
        self.services: list[Any] = []

    def fail(self, where: object, text: str) -> None:
        self.errors.append(f"config : [{where}] : proxy '{self.proxy.name}': {text}")

    def condition(self, rule: Any, response: bool = False, partial: bool = False) -> Any:
        """The rule's predicate (None: unconditional); `partial`: a content-inspection rule's,
        which answers None when it must wait for more data (RulesCompiler.partial_condition)."""
        if rule.condition is None:
            return None
        compiler = self.response_side if response else self.request_side
        if partial:
            return compiler.partial_condition(rule.condition)
        return compiler.condition(rule.condition)

    def fmt(self, text: str, response: bool = False) -> Formatted:
        compiler = self.response_side if response else self.request_side
        return compile_format(text, compiler.env, self.maps)

    def expression(self, text: str, response: bool) -> Callable[[SampleContext], Any]:
        compiler = self.response_side if response else self.request_side
        return compile_expression(text, compiler.env, self.maps).get

    def ruleset(self, name: str, makers: dict[str, Callable[[Rule, bool], Action]]) -> list:
        compiled = []
        response = name not in ("http-request", "redirect") and not name.startswith("tcp-request")
        partial = name in _CONTENT_RULESETS
        for rule in self.proxy.rules.get(name) or ():
            maker = makers.get(rule.action)
            if maker is None:
                self.fail(rule.where, f"'{name} {rule.action}' is {_NOT_YET}.")
                continue
            self.maps.where = f"file '{rule.where.file}' line {rule.where.line}"  # `show map`
            try:
                compiled.append((self.condition(rule, response, partial), maker(rule, response)))
            except (SampleError, OSError, RulesError, re.error) as error:
                self.fail(rule.where, f"'{name} {rule.action}' rule: {error}")
        return compiled

    def service(self, rule: Rule, response: bool) -> Action:
        try:
            exporter = make_service(rule.options["service"], self.pages)
        except ValueError as error:
            raise RulesError([str(error)]) from None
        self.services.append(exporter)
        return lambda ctx: exporter


_HEADERS = {
    "add-header": "header", "set-header": "header", "del-header": "header",
    "replace-header": "header", "replace-value": "header",
}  # fmt: skip
_VARS = {"set-var": "set_var", "set-var-fmt": "set_var", "unset-var": "set_var"}
_HTTP_REQUEST = {
    **_HEADERS, **_VARS, "allow": "allow", "deny": "reply", "tarpit": "reply", "reject": "reject",
    "return": "reply", "redirect": "redirect", "auth": "auth", "set-path": "uri_part",
    "set-pathq": "uri_part", "set-query": "uri_part", "set-uri": "uri_part",
    "set-method": "uri_part", "replace-path": "uri_replace", "replace-pathq": "uri_replace",
    "replace-uri": "uri_replace", "normalize-uri": "normalize", "silent-drop": "silent_drop",
    "set-src": "address", "set-src-port": "address", "set-dst": "address",
    "set-dst-port": "address", "capture": "capture", "use-service": "service",
    "set-log-level": "log_level",
}  # fmt: skip
_HTTP_RESPONSE = {
    **_HEADERS, **_VARS, "allow": "allow", "deny": "reply", "return": "reply",
    "redirect": "redirect", "set-status": "set_status", "capture": "capture",
    "silent-drop": "silent_drop", "set-log-level": "log_level",
}  # fmt: skip
_HTTP_AFTER = {**_HEADERS, **_VARS, "allow": "allow", "set-status": "set_status",
               "capture": "capture", "set-log-level": "log_level"}  # fmt: skip
_REDIRECT = {"redirect": "redirect"}
_TCP = {"accept": "accept", "reject": "reject", **_VARS, "silent-drop": "silent_drop"}
_TCP_CONNECTION = {**_TCP, "expect-proxy": "expect_proxy"}
_TCP_CONTENT = {**_TCP, "set-log-level": "log_level", "capture": "capture"}
_TCP_RESPONSE = {**_TCP, "close": "close", "set-log-level": "log_level"}


_CONTENT_RULESETS = ("tcp-request content", "tcp-response content")


def _makers(compiler: _Compiler, table: dict[str, str]) -> dict[str, Any]:
    return {action: getattr(compiler, method) for action, method in table.items()}


def _verdict(rules: list) -> Callable[[SampleContext], bool | None] | None:
    """tcp-request rules: the first matching accept/reject decides (True: accept); None: no
    rule matched (the caller may wait for more data, then accepts)."""
    if not rules:
        return None
    return lambda ctx: run_rules(rules, ctx)


def _content_verdict(rules: list) -> Callable[..., Any] | None:
    """Content-inspection rules, as HAProxy evaluates them: `run(ctx, start)` gives the first
    deciding action's result (True accept, False reject, CLOSE, SILENT_DROP), None when the
    rules ran out (accept now, even with an inspect-delay), or Wait when a condition lacked
    data ("miss": everything again next time) or an action did (resume from it)."""
    if not rules:
        return None

    def run(ctx: SampleContext, start: int = 0) -> Any:
        for index in range(start, len(rules)):
            condition, action = rules[index]
            if condition is not None:
                passed = condition(ctx)
                if passed is None:
                    return Wait(0)
                if not passed:
                    continue
            result = action(ctx)
            if result is YIELD:
                return Wait(index)
            if result is not None:
                return result
        return None

    return run


def _first(rules: list) -> Callable[[SampleContext], Any] | None:
    if not rules:
        return None

    def run(ctx: SampleContext) -> Any:
        result = run_rules(rules, ctx)
        return None if result is ALLOW else result

    return run


def compile_proxy_rules(
    config: Config, proxy: Proxy, loader: Loader, pages: ErrorPages, maps: MapCache | None = None
) -> ProxyRules | None:
    """The proxy's compiled rules, None when it has none; RulesError lists every refusal."""
    compiler = _Compiler(config, proxy, loader, pages, maps)
    rules = ProxyRules(proxy.name)
    rules.tcp_connection = _verdict(
        compiler.ruleset("tcp-request connection", _makers(compiler, _TCP_CONNECTION))
    )
    rules.tcp_content = _content_verdict(
        compiler.ruleset("tcp-request content", _makers(compiler, _TCP_CONTENT))
    )
    delay = proxy.timeouts.get("tcp-request inspect-delay")
    rules.inspect_delay = delay / 1000 if delay else 0.0
    if proxy.mode == "http" and proxy.rules.get("tcp-response content"):
        where = proxy.rules["tcp-response content"][0].where
        compiler.fail(where, f"'tcp-response content' rules in 'mode http' are {_NOT_YET}.")
    else:
        rules.tcp_response = _content_verdict(
            compiler.ruleset("tcp-response content", _makers(compiler, _TCP_RESPONSE))
        )
    delay = proxy.timeouts.get("tcp-response inspect-delay")
    rules.response_inspect_delay = delay / 1000 if delay else 0.0
    if proxy.mode == "http":
        # `redirect` rules run after the http-request ones, as HAProxy evaluates them.
        rules.http_request = _first(
            compiler.ruleset("http-request", _makers(compiler, _HTTP_REQUEST))
            + compiler.ruleset("redirect", _makers(compiler, _REDIRECT))
        )
        rules.http_response = _first(
            compiler.ruleset("http-response", _makers(compiler, _HTTP_RESPONSE))
        )
        after = compiler.ruleset("http-after-response", _makers(compiler, _HTTP_AFTER))
        rules.http_after_response = _first(after)
    if proxy.is_frontend:
        rules.choose_backend = _backend_switch(compiler)
    rules.choose_server = _server_switch(compiler)
    rules.choose_persistence = _persist_switch(compiler)
    rules.services = compiler.services
    if compiler.errors:
        raise RulesError(compiler.errors)
    return None if rules.empty else rules


def _backend_switch(compiler: _Compiler) -> Callable[[SampleContext], str | None] | None:
    switches = compiler.proxy.backend_switches
    if not any(s.dynamic or s.condition is not None for s in switches):
        return None  # static routing: resolved once at start-up
    known = {p.name for p in compiler.config.proxies if p.is_backend and not p.disabled}
    steps: list[Callable[[SampleContext], str | None]] = []
    index: ExactIndex | None = None  # the run of indexable rules being filled
    for switch in switches:
        try:
            shape = None
            if not switch.dynamic and switch.condition is not None:
                shape = compiler.request_side.exact_shape(switch.condition)
            if shape is not None:
                if index is None or not index.takes(shape):
                    index = ExactIndex(shape)
                    steps.append(index)
                if switch.backend in known:  # else skipped, as a name naming no backend is
                    index.add(shape, switch.backend)
                continue
            index = None
            compiler.maps.where = f"file '{switch.where.file}' line {switch.where.line}"
            name = compiler.fmt(switch.backend) if switch.dynamic else None
            condition = compiler.condition(switch)
        except SampleError as error:
            compiler.fail(switch.where, f"'use_backend' rule: {error}")
            continue
        steps.append(_switch_step(condition, name or const(switch.backend.encode()), known))

    def choose(ctx: SampleContext) -> str | None:
        for step in steps:
            chosen = step(ctx)
            if chosen is not None:
                return chosen
        return None

    return choose


def _switch_step(
    condition: Predicate | None, name: Formatted, known: set[str]
) -> Callable[[SampleContext], str | None]:
    def step(ctx: SampleContext) -> str | None:
        if condition is None or condition(ctx):
            chosen = name(ctx).decode("utf-8", "surrogateescape")
            if chosen in known:
                return chosen  # a dynamic name that names no backend is skipped
        return None

    return step


def _server_switch(compiler: _Compiler) -> Callable[[SampleContext], str | None] | None:
    switches = compiler.proxy.server_switches
    if not switches:
        return None
    compiled: list[tuple[Predicate | None, str]] = []
    servers = {server.name for server in compiler.proxy.servers}
    for switch in switches:
        if switch.server in _PERSIST_RULES:
            continue  # _persist_switch() compiles them
        if switch.server not in servers:
            compiler.fail(switch.where, f"'use-server' names no server '{switch.server}'.")
            continue
        try:
            compiled.append((compiler.condition(switch), switch.server))
        except SampleError as error:
            compiler.fail(switch.where, f"'use-server' rule: {error}")

    keep_down = compiler.proxy.options.get("persist") is True

    def choose(
        ctx: SampleContext, up: Callable[[str], bool] | None = None, forced: bool = False
    ) -> str | None:
        anyway = up is None or forced or keep_down
        for condition, server in compiled:
            if (condition is None or condition(ctx)) and (anyway or up(server)):  # type: ignore[misc]
                return server
        return None

    return choose if compiled else None


def server_up(servers: dict[str, Any]) -> Callable[[str], bool]:
    """use-server's test: the named server is not stopped (DOWN or MAINT); a draining
    server is still up (HAProxy looks at its state, not its weight)."""

    def up(name: str) -> bool:
        server = servers.get(name)
        return server is not None and (server.lb.usable or server.draining)

    return up


_PERSIST_RULES = ("force-persist", "ignore-persist")


def _persist_switch(compiler: _Compiler) -> Callable[[SampleContext], str | None] | None:
    """force-persist / ignore-persist rules (cookie persistence, worker/http_session.py)."""
    compiled: list[tuple[Predicate | None, str]] = []
    for switch in compiler.proxy.server_switches:
        if switch.server not in _PERSIST_RULES:
            continue
        try:
            compiled.append((compiler.condition(switch), switch.server))
        except SampleError as error:
            compiler.fail(switch.where, f"'{switch.server}' rule: {error}")
    if not compiled:
        return None

    def choose(ctx: SampleContext) -> str | None:
        for condition, kind in compiled:
            if condition is None or condition(ctx):
                return kind
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
    "response": lambda: None, "request_buffer": bytes,
    "response_buffer": bytes, "content_final": lambda: True, "missing": bool,
    "environment": lambda: os.environ,
    "clock": lambda: time.time, "random": lambda: _RANDOM.randrange, "backends": lambda: None,
    "auth_cache": dict, "request_captured": dict, "response_captured": dict,
    "log_level": lambda: -1, "unique_id": lambda: None,
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
        for name in ("request_captured", "response_captured"):
            try:
                if object.__getattribute__(self, name):
                    setattr(self, name, {})  # the log record of the last request keeps its own
            except AttributeError:
                pass
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
