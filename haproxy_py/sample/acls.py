"""ACLs and `if|unless` conditions compiled into plain callables `ctx -> bool`.

An ACL is a sample expression, a match method, and patterns (from the line and from -f
files). The match method comes from `-m`, else from a derived keyword (`path_beg` is
`path` matched with `beg`), else from the expression's output type; a type with no obvious
method (binary, variables) needs `-m`, as in HAProxy. A named ACL declared on several lines
matches when any declaration matches. A condition is OR-ed groups of AND-ed terms,
evaluated left to right with short-circuit, and inverted by `unless`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from haproxy_py.config.diagnostics import Where
from haproxy_py.config.keywords.acl import DERIVED, parse_acl_body
from haproxy_py.config.model import Acl, AclTerm, Condition
from haproxy_py.sample.args import Call, split_expression
from haproxy_py.sample.context import SampleContext
from haproxy_py.sample.env import CompileEnv, Loader
from haproxy_py.sample.expr import caster, compile_expression
from haproxy_py.sample.maps import MapCache
from haproxy_py.sample.matchers import METHODS, with_operators
from haproxy_py.sample.types import (
    ADDR,
    BOOL,
    IPV4,
    IPV6,
    METH,
    SINT,
    STR,
    SampleError,
    can_cast,
    text_bytes,
)

Predicate = Callable[[SampleContext], bool]

# The default match method of a fetch's output type.
_TYPE_METHODS = {
    BOOL: "bool",
    SINT: "int",
    ADDR: "ip",
    IPV4: "ip",
    IPV6: "ip",
    STR: "str",
    METH: "str",
}

# Predefined ACLs (manual 7.4): name -> the equivalent ACL body.
PREDEFINED: Mapping[str, tuple[str, ...]] = {
    "TRUE": ("always_true",),
    "FALSE": ("always_false",),
    "HTTP": ("req.proto_http",),
    "HTTP_1.0": ("req.ver", "1.0"),
    "HTTP_1.1": ("req.ver", "1.1"),
    "HTTP_2.0": ("req.ver", "2.0"),
    "HTTP_CONTENT": ("req.hdr_val(content-length)", "gt", "0"),
    "HTTP_URL_ABS": ("url_reg", "^[^/:]*://"),
    "HTTP_URL_SLASH": ("url_beg", "/"),
    "HTTP_URL_STAR": ("url", "*"),
    "LOCALHOST": ("src", "127.0.0.1/8", "::1"),
    "METH_CONNECT": ("method", "CONNECT"),
    "METH_DELETE": ("method", "DELETE"),
    "METH_GET": ("method", "GET", "HEAD"),
    "METH_HEAD": ("method", "HEAD"),
    "METH_OPTIONS": ("method", "OPTIONS"),
    "METH_POST": ("method", "POST"),
    "METH_PUT": ("method", "PUT"),
    "METH_TRACE": ("method", "TRACE"),
    "REQ_CONTENT": ("req.len", "gt", "0"),
    "WAIT_END": ("wait_end",),
}
_REFUSED_PREDEFINED = {"RDP_COOKIE": "RDP cookies (req.rdp_cookie_cnt) are not supported yet"}
_NOWHERE = Where("<rules>", 0)


def _flags(acl: Acl) -> tuple[str, bool, bool, list[str]]:
    """(-m method or "", -i, -M, -f files) from the flags as written."""
    method, fold, as_map = "", False, False
    words = list(acl.flags)
    index = 0
    while index < len(words):
        flag = words[index]
        if flag == "-m":
            method = words[index + 1]
            index += 1
        elif flag == "-f":
            index += 1
        fold = fold or flag == "-i"
        as_map = as_map or flag == "-M"
        index += 1
    return method, fold, as_map, list(acl.files)


def _keyword(acl: Acl) -> tuple[list[Call], str]:
    """The calls of the ACL's expression with a derived keyword replaced by its fetch."""
    calls = split_expression(acl.fetch)
    derived = DERIVED.get(calls[0].name)
    if derived is None:
        return calls, ""
    base, method = derived
    return [Call(base, calls[0].args), *calls[1:]], method


def _auth_group(acl: Acl, env: CompileEnv, maps: MapCache) -> Predicate:
    """http_auth_group(ul) G...: the authenticated user belongs to one of the groups."""
    expression = compile_expression(acl.fetch, env, maps)
    userlist = env.userlist(split_expression(acl.fetch)[0].args[0], "http_auth_group")
    for group in acl.values:
        if group not in userlist.groups:
            raise SampleError(f"invalid group '{group}'")
    wanted = frozenset(acl.values)

    def match(ctx: SampleContext) -> bool:
        user = expression.get(ctx)
        if user is None:
            return False
        entry = userlist.users.get(user.decode("utf-8", "surrogateescape"))
        return entry is not None and not wanted.isdisjoint(entry.groups)

    return match


def compile_acl(acl: Acl, env: CompileEnv | None = None, maps: MapCache | None = None) -> Predicate:
    """One ACL line (named or anonymous) -> `ctx -> bool`; SampleError if it is wrong."""
    env = env or CompileEnv()
    maps = maps or MapCache(env.loader)
    calls, implied = _keyword(acl)
    if calls[0].name == "http_auth_group" and len(calls) == 1:
        return _auth_group(acl, env, maps)
    expression = compile_expression(acl.fetch, env, maps, calls=calls)
    forced, fold, as_map, files = _flags(acl)
    method = forced or implied or _TYPE_METHODS.get(expression.out, "")
    if not method:
        raise SampleError(
            "matching method must be specified first (using '-m') when using a sample fetch"
            f" of this type ('{calls[0].name}')"
        )
    if calls[0].name == "method" and not forced:
        fold = True  # "case insensitive method match"
    spec = METHODS[method]
    if method != "found" and not can_cast(expression.out, spec.input_type):
        raise SampleError(
            f"matching method '{method}' cannot be used with fetch keyword '{calls[0].name}'"
        )
    words = list(acl.values)
    if acl.operator:
        words.insert(0, acl.operator)
    texts = with_operators(words) if method in ("int", "len") else words
    # `-f` files stay editable at runtime (`add acl`...): their patterns live in the cache.
    if files and acl.where is not None:
        maps.where = f"file '{acl.where.file}' line {acl.where.line}"
    lookup = maps.acl_lookup(texts, files, method, fold, as_map)
    return _matcher(
        expression.values,
        caster(expression.out, spec.input_type),
        lookup,
        bool(texts) or bool(files) or not spec.takes_patterns,
    )


def _matcher(
    values: Callable[[SampleContext], Iterable[Any]],
    cast: Callable[[Any], Any] | None,
    lookup: Callable[[Any], Any],
    has_patterns: bool,
) -> Predicate:
    if not has_patterns:
        return lambda ctx: False
    if cast is None:

        def match(ctx: SampleContext) -> bool:
            return any(lookup(value) is not None for value in values(ctx))

        return match

    def match_cast(ctx: SampleContext) -> bool:
        for value in values(ctx):
            value = cast(value)
            if value is not None and lookup(value) is not None:
                return True
        return False

    return match_cast


def acl_from_words(words: Sequence[str], name: str = "") -> Acl:
    """An Acl model from `FETCH [FLAGS] [OPERATOR] VALUES...` (the config's own parser)."""
    from haproxy_py.config.diagnostics import ConfigError

    try:
        return parse_acl_body(list(words), _NOWHERE, name)
    except ConfigError as error:
        raise SampleError(str(error).rstrip(".")) from None


class RulesCompiler:
    """Compiles one proxy's ACLs and conditions; named ACLs are compiled once and shared."""

    def __init__(
        self, acls: Sequence[Acl] = (), env: CompileEnv | None = None, maps: MapCache | None = None
    ) -> None:
        self.env = env or CompileEnv()
        self.maps = maps or MapCache(self.env.loader)
        self._declared: dict[str, list[Acl]] = {}
        for acl in acls:
            self._declared.setdefault(acl.name, []).append(acl)
        self._compiled: dict[str, Predicate] = {}

    def named(self, name: str) -> Predicate:
        if name not in self._compiled:
            self._compiled[name] = self._compile_named(name)
        return self._compiled[name]

    def _compile_named(self, name: str) -> Predicate:
        declared = self._declared.get(name)
        if declared:
            parts = [self._acl(acl) for acl in declared]
            if len(parts) == 1:
                return parts[0]
            return lambda ctx: any(part(ctx) for part in parts)
        if name in _REFUSED_PREDEFINED:
            raise SampleError(
                f"predefined ACL '{name}' is not supported: {_REFUSED_PREDEFINED[name]}"
            )
        if name in PREDEFINED:
            return self._acl(acl_from_words(PREDEFINED[name], name))
        raise SampleError(f"no such ACL : '{name}'")

    def _acl(self, acl: Acl) -> Predicate:
        try:
            return compile_acl(acl, self.env, self.maps)
        except SampleError as error:
            label = f"ACL '{acl.name}'" if acl.name else "anonymous ACL"
            where = f" (declared at {acl.where})" if acl.where is not _NOWHERE else ""
            raise SampleError(f"error detected while parsing {label}{where} : {error}") from None

    def term(self, term: AclTerm) -> Predicate:
        return self._acl(term.inline) if term.inline is not None else self.named(term.name)

    def condition(self, condition: Condition | str | Sequence[str]) -> Predicate:
        if not isinstance(condition, Condition):
            condition = parse_condition(condition)
        groups = [[(self.term(term), term.negated) for term in group] for group in condition.groups]
        unless = condition.unless
        if len(groups) == 1 and len(groups[0]) == 1:
            only, negated = groups[0][0]
            flip = negated != unless
            return (lambda ctx: not only(ctx)) if flip else only

        def evaluate(ctx: SampleContext) -> bool:
            for group in groups:
                for predicate, negated in group:
                    if predicate(ctx) == negated:
                        break
                else:
                    return not unless
            return unless

        return evaluate

    def exact_shape(self, condition: Condition) -> ExactShape | None:
        """The condition as an ExactShape when it is one non-negated `if` ACL matching a
        string fetch exactly against literal values (`if { hdr(host) -i a.com b.com }`),
        else None (it is then evaluated as it is)."""
        if condition.unless or len(condition.groups) != 1 or len(condition.groups[0]) != 1:
            return None
        term = condition.groups[0][0]
        acl = term.inline
        if acl is None:
            declared = self._declared.get(term.name) or []
            acl = declared[0] if len(declared) == 1 else None
        if term.negated or acl is None or acl.files or acl.operator or not acl.values:
            return None
        words = list(acl.flags)
        if any(word not in ("-i", "--", "-m", "str") for word in words):
            return None
        calls, implied = _keyword(acl)
        if implied not in ("", "str") or calls[0].name == "method":
            return None
        expression = compile_expression(acl.fetch, self.env, self.maps, calls=calls)
        if expression.out != STR:
            return None
        fold = "-i" in words
        patterns = tuple(text_bytes(v).lower() if fold else text_bytes(v) for v in acl.values)
        return ExactShape(acl.fetch, fold, patterns, expression.values)

    def partial_condition(self, condition: Condition) -> Callable[[SampleContext], bool | None]:
        """The condition of a content-inspection rule (tcp-request/tcp-response content),
        with HAProxy's third answer: None ("miss") when it did not match only because the
        buffer may still grow (a fetch set `ctx.missing`, see fetches.py). Terms combine as
        HAProxy's: a negated miss stays a miss, AND: fail > miss > pass, OR: pass > miss >
        fail, and `unless` turns pass/fail round but keeps a miss."""
        groups = [[(self.term(term), term.negated) for term in group] for group in condition.groups]
        unless = condition.unless

        def evaluate(ctx: SampleContext) -> bool | None:
            missed = False
            for group in groups:
                group_missed = False
                for predicate, negated in group:
                    ctx.missing = False
                    passed = predicate(ctx)
                    if not passed and ctx.missing:
                        group_missed = True
                    elif passed == negated:
                        break
                else:
                    if not group_missed:
                        return not unless
                    missed = True
            return None if missed else unless

        return evaluate


@dataclass(frozen=True, slots=True)
class ExactShape:
    """One exact-string ACL over literal values: `fetch` (as written), `-i` (`fold`), the
    patterns as bytes (already folded), and the fetch's values getter. Consecutive rules of
    this shape on the same fetch can share one dict (worker/rules.py's use_backend index)."""

    fetch: str
    fold: bool
    patterns: tuple[bytes, ...]
    values: Callable[[SampleContext], Iterable[Any]]


_TOKEN = re.compile(r"\{|\}|[^\s{}]+")


def parse_condition(condition: str | Sequence[str]) -> Condition:
    """`if|unless TERMS` (text or words) -> the config model's Condition, through the
    configuration's own grammar (names are resolved when compiling)."""
    from haproxy_py.config.diagnostics import ConfigError
    from haproxy_py.config.keywords.acl import condition_from_words

    words = _TOKEN.findall(condition) if isinstance(condition, str) else list(condition)
    if not words or words[0] not in ("if", "unless"):
        raise SampleError("a condition starts with 'if' or 'unless'")
    try:
        return condition_from_words(words, "condition", _NOWHERE)
    except ConfigError as error:
        raise SampleError(str(error).rstrip(".")) from None


def compile_condition(
    condition: Condition | str | Sequence[str],
    acls: Sequence[Acl] = (),
    loader: Loader | None = None,
    env: CompileEnv | None = None,
) -> Predicate:
    """`if|unless ...` (model or text) with the proxy's ACLs -> `ctx -> bool`."""
    if env is None:
        env = CompileEnv() if loader is None else CompileEnv(loader=loader)
    return RulesCompiler(acls, env).condition(condition)
