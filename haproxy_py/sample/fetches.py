"""The sample fetch table: name, arguments, output type and how to read the context.

Each entry's `make(args, env)` runs once at compile time (checking references, folding
header names to lower case) and returns the run-time callable `ctx -> sample | None`.
Fetches that HAProxy iterates over in ACLs (every header occurrence, every cookie of that
name) also have `make_all`, returning `ctx -> list of samples`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from types import MappingProxyType
from typing import Any

from haproxy_py.sample import http_parts as hp
from haproxy_py.sample.args import INT, STRING, UINT, ArgSpec
from haproxy_py.sample.context import SampleContext
from haproxy_py.sample.env import CompileEnv, basic_credentials
from haproxy_py.sample.types import (
    ADDR,
    ANY,
    BIN,
    BOOL,
    IPV4,
    IPV6,
    METH,
    SINT,
    STR,
    SampleError,
    text_bytes,
)  # fmt: skip

Getter = Callable[[SampleContext], Any]
Maker = Callable[[tuple[Any, ...], CompileEnv], Getter]


@dataclass(frozen=True, slots=True)
class Fetch:
    name: str
    usage: str
    out: str
    make: Maker
    args: tuple[ArgSpec, ...] = ()
    mandatory: int = 0
    make_all: (
        Callable[[tuple[Any, ...], CompileEnv], Callable[[SampleContext], list[Any]]] | None
    ) = None


# -- argument types ---------------------------------------------------------------------------

VAR_SCOPES = ("proc", "sess", "txn", "req", "res", "check")


def parse_var_name(text: str) -> str:
    scope, dot, name = text.partition(".")
    if not dot or scope not in VAR_SCOPES or not name:
        raise SampleError(
            f"invalid variable name '{text}'. A variable name must be start by its scope."
            " The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
        )
    return text


def _unit(text: str) -> str:
    if text not in ("s", "ms", "us"):
        raise SampleError(f"expects 's', 'ms' or 'us', got '{text}'")
    return text


VAR = ArgSpec("variable name", parse_var_name)
UNIT = ArgSpec("string", _unit)


# -- layer 4 and internal state ---------------------------------------------------------------


def _const(value: Any) -> Maker:
    return lambda args, env: lambda ctx: value


def _attr(name: str) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        return lambda ctx: getattr(ctx, name)

    return make


def _unique_id(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    def get(ctx: SampleContext) -> Any:
        make = ctx.unique_id
        return (make() or None) if make is not None else None

    return get


def _name_attr(name: str) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        return lambda ctx: getattr(ctx, name).encode() or None

    return make


def _env(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    name = args[0]
    return lambda ctx: text_bytes(ctx.environment[name]) if name in ctx.environment else None


def _date(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    offset = args[0] or 0
    scale = {None: 1, "s": 1, "ms": 1000, "us": 1000000}[args[1]]
    return lambda ctx: int(ctx.clock() * scale) + offset


def _rand(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    size = args[0] if args[0] else 1 << 32
    return lambda ctx: ctx.random(size)


def _var(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    name, default = args
    fallback = None if default is None else text_bytes(default)

    def get(ctx: SampleContext) -> Any:
        value = ctx.get_var(name)
        return fallback if value is None else value

    return get


def _backend_state(method: str) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        backend = env.backend(args[0] if args else None, method)

        def get(ctx: SampleContext) -> Any:
            return None if ctx.backends is None else getattr(ctx.backends, method)(backend)

        return get

    return make


def _srv_is_up(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    backend, server = env.server(args[0], "srv_is_up")
    return lambda ctx: None if ctx.backends is None else ctx.backends.server_is_up(backend, server)


def _tls(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    raise SampleError("fetch method 'req.ssl_sni' is refused by haproxy-py until TLS lands")


def _payload(args: tuple[Any, ...], env: CompileEnv, response: bool = False) -> Getter:
    offset, length = args
    read = _response_buffer if response else _buffer

    def get(ctx: SampleContext) -> Any:
        buffer = read(ctx)
        end = len(buffer) if length == 0 else offset + length
        if not ctx.content_final and (length == 0 or end > len(buffer)):
            ctx.missing = True  # more may come: a rule that does not match waits for it
        return buffer[offset:end] if end <= len(buffer) else None

    return get


def _length(response: bool) -> Getter:
    read = _response_buffer if response else _buffer

    def get(ctx: SampleContext) -> Any:
        if not ctx.content_final:
            ctx.missing = True  # the length may still grow
        return len(read(ctx))

    return get


def _buffer(ctx: SampleContext) -> bytes:
    if ctx.request_buffer or ctx.request is None:
        return ctx.request_buffer
    return ctx.request.body


def _response_buffer(ctx: SampleContext) -> bytes:
    """What res.len/res.payload read: the peeked server bytes (tcp-response rules), else the
    buffered body of an HTTP response; empty in request rules (HAProxy: "never matches")."""
    if ctx.response_buffer or ctx.response is None:
        return ctx.response_buffer
    return ctx.response.body


def _typed_const(parse: Callable[[str], Any]) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        value = parse(args[0])
        return lambda ctx: value

    return make


def _ip_const(text: str) -> Any:
    try:
        return ip_address(text)
    except ValueError:
        raise SampleError(f"'{text}' is not a valid IP address") from None


# -- HTTP -------------------------------------------------------------------------------------


def _request(getter: Callable[[Any], Any]) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        def get(ctx: SampleContext) -> Any:
            request = ctx.request
            return None if request is None else getter(request)

        return get

    return make


def _base(request: Any) -> Any:
    path = hp.path_and_query(request.target)[0]
    hosts = hp.field_values(request.headers, b"host", split=False)
    return (hosts[0] + path) if hosts else path


def _pathq(request: Any) -> Any:
    path, query = hp.path_and_query(request.target)
    return path if query is None else path + b"?" + query


def _headers_of(side: str, env: CompileEnv) -> Callable[[SampleContext], Any]:
    if side == "auto":
        side = "res" if env.response_side else "req"
    if side == "req":
        return lambda ctx: None if ctx.request is None else ctx.request.headers
    return lambda ctx: None if ctx.response is None else ctx.response.headers


def _header_values(side: str, split: bool) -> Callable[[tuple[Any, ...], CompileEnv], Any]:
    def make_all(args: tuple[Any, ...], env: CompileEnv) -> Callable[[SampleContext], list[Any]]:
        headers_of = _headers_of(side, env)
        name = text_bytes(args[0]).lower() if args and args[0] else None
        occ = args[1] if len(args) > 1 else None

        def values(ctx: SampleContext) -> list[Any]:
            headers = headers_of(ctx)
            if headers is None:
                return []
            found = (
                hp.all_values(headers, split)
                if name is None
                else hp.field_values(headers, name, split)
            )
            if occ:
                one = hp.occurrence(found, occ)
                return [] if one is None else [one]
            return found

        return values

    return make_all


def _last_of(make_all: Callable[[tuple[Any, ...], CompileEnv], Any]) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        values = make_all(args, env)

        def get(ctx: SampleContext) -> Any:
            found = values(ctx)
            return found[-1] if found else None

        return get

    return make


def _count_of(make_all: Callable[[tuple[Any, ...], CompileEnv], Any]) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        values = make_all(args, env)
        return lambda ctx: len(values(ctx))

    return make


def _convert_last(
    make_all: Callable[[tuple[Any, ...], CompileEnv], Any], cast: Callable[[bytes], Any]
) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        values = make_all(args, env)

        def get(ctx: SampleContext) -> Any:
            found = values(ctx)
            return cast(found[-1]) if found else None

        return get

    return make


def _to_int(value: bytes) -> int | None:
    digits = value.lstrip(b" ")
    sign = 1
    if digits[:1] in (b"-", b"+"):
        sign, digits = (-1 if digits[:1] == b"-" else 1), digits[1:]
    end = 0
    while end < len(digits) and 48 <= digits[end] <= 57:
        end += 1
    return sign * int(digits[:end]) if end else 0


def _to_ip(value: bytes) -> Any:
    try:
        return ip_address(value.decode("ascii"))
    except ValueError:
        return None


def _cookies(side: str) -> Callable[[tuple[Any, ...], CompileEnv], Any]:
    def make_all(args: tuple[Any, ...], env: CompileEnv) -> Callable[[SampleContext], list[Any]]:
        headers_of = _headers_of(side, env)
        read = (
            hp.response_cookies
            if side == "res" or (env.response_side and side == "auto")
            else hp.request_cookies
        )
        name = text_bytes(args[0]) if args and args[0] else None

        def values(ctx: SampleContext) -> list[Any]:
            headers = headers_of(ctx)
            if headers is None:
                return []
            return [value for cookie, value in read(headers) if name is None or cookie == name]

        return values

    return make_all


def _cookie_value(make_all: Callable[[tuple[Any, ...], CompileEnv], Any]) -> Maker:
    """The last cookie of that name, or the first cookie when no name is given."""

    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        values = make_all(args, env)
        named = bool(args and args[0])

        def get(ctx: SampleContext) -> Any:
            found = values(ctx)
            return (found[-1] if named else found[0]) if found else None

        return get

    return make


def _url_params(args: tuple[Any, ...], env: CompileEnv) -> Callable[[SampleContext], list[Any]]:
    name = text_bytes(args[0]) if args and args[0] else None
    delimiter = text_bytes(args[1])[:1] if len(args) > 1 and args[1] else None

    def values(ctx: SampleContext) -> list[Any]:
        if ctx.request is None:
            return []
        params = hp.url_params(ctx.request.target, delimiter)
        return [value for param, value in params if name is None or param == name]

    return values


def _first_of(make_all: Callable[[tuple[Any, ...], CompileEnv], Any]) -> Maker:
    def make(args: tuple[Any, ...], env: CompileEnv) -> Getter:
        values = make_all(args, env)

        def get(ctx: SampleContext) -> Any:
            found = values(ctx)
            return found[0] if found else None

        return get

    return make


def _auth_user(ctx: SampleContext, userlist: Any) -> str | None:
    """The user whose Basic credentials are valid in `userlist`, cached per request."""
    key = "userlist:" + userlist.name
    if key not in ctx.auth_cache:
        user = None
        if ctx.request is not None:
            headers = hp.field_values(ctx.request.headers, b"authorization", split=False)
            credentials = basic_credentials(headers[-1]) if headers else None
            if credentials is not None and userlist.check(*credentials):
                user = credentials[0]
        ctx.auth_cache[key] = user
    return ctx.auth_cache[key]


def _http_auth(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    userlist = env.userlist(args[0], "http_auth")
    return lambda ctx: _auth_user(ctx, userlist) is not None


def _http_auth_group(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    userlist = env.userlist(args[0], "http_auth_group")

    def get(ctx: SampleContext) -> Any:
        user = _auth_user(ctx, userlist)
        return None if user is None else text_bytes(user)

    return get


def _status(args: tuple[Any, ...], env: CompileEnv) -> Getter:
    return lambda ctx: None if ctx.response is None else ctx.response.status


def _version(request: Any) -> Any:
    version = request.version
    return version[5:] if version.startswith(b"HTTP/") else version


def _url_port(request: Any) -> Any:
    """The port of an absolute URL whose host is an IP address (80 when none is written);
    no sample otherwise, as HAProxy (it resolves no name)."""
    if _url_ip(request) is None:
        return None
    authority = request.target.split(b"://", 1)[1].split(b"/", 1)[0].split(b"?", 1)[0]
    host, colon, port = authority.rpartition(b":")
    return int(port) if colon and port.isdigit() and not host.endswith(b"]") else 80


def _url_ip(request: Any) -> Any:
    target = request.target
    if b"://" not in target:
        return None
    authority = target.split(b"://", 1)[1].split(b"/", 1)[0].split(b"?", 1)[0]
    host = authority.rsplit(b":", 1)[0] if authority.count(b":") == 1 else authority
    return _to_ip(host.strip(b"[]"))


_HDR = _header_values("auto", split=True)
_REQ_HDR = _header_values("req", split=True)
_RES_HDR = _header_values("res", split=True)
_REQ_FHDR = _header_values("req", split=False)
_RES_FHDR = _header_values("res", split=False)
_REQ_COOK = _cookies("req")
_RES_COOK = _cookies("res")
_COOK = _cookies("auto")
_HDR_ARGS = (STRING, INT)
_OPT_BE = (STRING,)


def _headers(name: str, make_all: Any, out: str = STR) -> list[Fetch]:
    return [
        Fetch(
            name, f"{name}([<name>[,<occ>]])", out, _last_of(make_all), _HDR_ARGS, make_all=make_all
        )
    ]


def _table() -> dict[str, Fetch]:
    entries = [
        # internal states
        Fetch("always_true", "always_true", BOOL, _const(True)),
        Fetch("always_false", "always_false", BOOL, _const(False)),
        Fetch("env", "env(<name>)", STR, _env, (STRING,), 1),
        Fetch("date", "date([<offset>],[<unit>])", SINT, _date, (INT, UNIT)),
        Fetch("rand", "rand([<range>])", SINT, _rand, (UINT,)),
        Fetch("var", "var(<var-name>[,<default>])", ANY, _var, (VAR, STRING), 1),
        Fetch("nbsrv", "nbsrv([<backend>])", SINT, _backend_state("usable_servers"), _OPT_BE),
        Fetch("connslots", "connslots([<backend>])", SINT, _backend_state("free_slots"), _OPT_BE),
        Fetch("be_conn", "be_conn([<backend>])", SINT, _backend_state("connections"), _OPT_BE),
        Fetch("srv_is_up", "srv_is_up([<backend>/]<server>)", BOOL, _srv_is_up, (STRING,), 1),
        Fetch("str", "str(<string>)", STR, _typed_const(text_bytes), (STRING,), 1),
        Fetch("int", "int(<integer>)", SINT, _typed_const(int), (INT,), 1),
        Fetch(
            "bool",
            "bool(<bool>)",
            BOOL,
            _typed_const(lambda t: t not in ("0", "false")),
            (STRING,),
            1,
        ),
        Fetch("ipv4", "ipv4(<ipv4>)", IPV4, _typed_const(_ip_const), (STRING,), 1),
        Fetch("ipv6", "ipv6(<ipv6>)", IPV6, _typed_const(_ip_const), (STRING,), 1),
        Fetch("meth", "meth(<method>)", METH, _typed_const(text_bytes), (STRING,), 1),
        # layer 4
        Fetch("src", "src", ADDR, _attr("src")),
        Fetch("src_port", "src_port", SINT, _attr("src_port")),
        Fetch("dst", "dst", ADDR, _attr("dst")),
        Fetch("dst_port", "dst_port", SINT, _attr("dst_port")),
        Fetch("so_id", "so_id", SINT, _attr("so_id")),
        Fetch("fe_name", "fe_name", STR, _name_attr("frontend")),
        Fetch("be_name", "be_name", STR, _name_attr("backend")),
        Fetch("srv_name", "srv_name", STR, _name_attr("server")),
        Fetch("unique-id", "unique-id", STR, _unique_id),
        # layer 6
        Fetch("req.len", "req.len", SINT, lambda a, e: _length(False)),
        Fetch("req.payload", "req.payload(<offset>,<length>)", BIN, _payload, (UINT, UINT), 2),
        Fetch("res.len", "res.len", SINT, lambda a, e: _length(True)),
        Fetch(
            "res.payload",
            "res.payload(<offset>,<length>)",
            BIN,
            lambda a, e: _payload(a, e, response=True),
            (UINT, UINT),
            2,
        ),
        Fetch("req.ssl_sni", "req.ssl_sni", STR, _tls),
        Fetch("req_ssl_sni", "req_ssl_sni", STR, _tls),
        Fetch(
            "req.proto_http",
            "req.proto_http",
            BOOL,
            lambda a, e: lambda ctx: ctx.request is not None,
        ),
        Fetch("wait_end", "wait_end", BOOL, _const(True)),
        # layer 7
        Fetch("method", "method", METH, _request(lambda r: r.method)),
        Fetch("path", "path", STR, _request(lambda r: hp.path_and_query(r.target)[0])),
        Fetch("pathq", "pathq", STR, _request(_pathq)),
        Fetch("query", "query", STR, _request(lambda r: hp.path_and_query(r.target)[1])),
        Fetch("url", "url", STR, _request(lambda r: r.target)),
        Fetch("url_port", "url_port", SINT, _request(_url_port)),
        Fetch("url_ip", "url_ip", ADDR, _request(_url_ip)),
        Fetch("base", "base", STR, _request(_base)),
        Fetch("req.ver", "req.ver", STR, _request(_version)),
        Fetch(
            "res.ver",
            "res.ver",
            STR,
            lambda a, e: lambda ctx: None if ctx.response is None else _version(ctx.response),
        ),
        Fetch("status", "status", SINT, _status),
        Fetch(
            "url_param",
            "url_param([<name>[,<delim>]])",
            STR,
            _first_of(_url_params),
            (STRING, STRING),
            make_all=_url_params,
        ),
        Fetch(
            "urlp_val",
            "urlp_val([<name>[,<delim>]])",
            SINT,
            _convert_last(_url_params, _to_int),
            (STRING, STRING),
        ),
        *_headers("hdr", _HDR),
        *_headers("req.hdr", _REQ_HDR),
        *_headers("res.hdr", _RES_HDR),
        *_headers("req.fhdr", _REQ_FHDR),
        *_headers("res.fhdr", _RES_FHDR),
        *_headers("req.hdr_ip", _REQ_HDR, ADDR),
        Fetch("req.hdr_cnt", "req.hdr_cnt([<name>])", SINT, _count_of(_REQ_HDR), (STRING,)),
        Fetch("res.hdr_cnt", "res.hdr_cnt([<name>])", SINT, _count_of(_RES_HDR), (STRING,)),
        Fetch("req.fhdr_cnt", "req.fhdr_cnt([<name>])", SINT, _count_of(_REQ_FHDR), (STRING,)),
        Fetch(
            "req.hdr_val",
            "req.hdr_val([<name>[,<occ>]])",
            SINT,
            _convert_last(_REQ_HDR, _to_int),
            _HDR_ARGS,
        ),
        Fetch(
            "res.hdr_val",
            "res.hdr_val([<name>[,<occ>]])",
            SINT,
            _convert_last(_RES_HDR, _to_int),
            _HDR_ARGS,
        ),
        Fetch(
            "req.cook",
            "req.cook([<name>])",
            STR,
            _cookie_value(_REQ_COOK),
            (STRING,),
            make_all=_REQ_COOK,
        ),
        Fetch(
            "res.cook",
            "res.cook([<name>])",
            STR,
            _cookie_value(_RES_COOK),
            (STRING,),
            make_all=_RES_COOK,
        ),
        Fetch("req.cook_cnt", "req.cook_cnt([<name>])", SINT, _count_of(_REQ_COOK), (STRING,)),
        Fetch("res.cook_cnt", "res.cook_cnt([<name>])", SINT, _count_of(_RES_COOK), (STRING,)),
        Fetch(
            "req.cook_val",
            "req.cook_val([<name>])",
            SINT,
            _convert_last(_REQ_COOK, _to_int),
            (STRING,),
        ),
        Fetch(
            "res.cook_val",
            "res.cook_val([<name>])",
            SINT,
            _convert_last(_RES_COOK, _to_int),
            (STRING,),
        ),
        Fetch("http_auth", "http_auth(<userlist>)", BOOL, _http_auth, (STRING,), 1),
        Fetch(
            "http_auth_group", "http_auth_group(<userlist>)", STR, _http_auth_group, (STRING,), 1
        ),
    ]
    table = {entry.name: entry for entry in entries}
    # HAProxy's older names of the same fetches.
    aliases = {
        "hdr_cnt": "req.hdr_cnt", "hdr_val": "req.hdr_val", "hdr_ip": "req.hdr_ip",
        "shdr": "res.hdr", "shdr_cnt": "res.hdr_cnt", "shdr_val": "res.hdr_val",
        "cook": "req.cook", "cookie": "req.cook", "cook_cnt": "req.cook_cnt",
        "cook_val": "req.cook_val", "scook": "res.cook", "scook_cnt": "res.cook_cnt",
        "scook_val": "res.cook_val", "urlp": "url_param", "req_len": "req.len",
        "req_ver": "req.ver", "resp_ver": "res.ver", "req_proto_http": "req.proto_http",
        "payload": "req.payload",
    }  # fmt: skip
    for alias, name in aliases.items():
        entry = table[name]
        table[alias] = Fetch(
            alias, entry.usage.replace(name, alias, 1), entry.out, entry.make, entry.args,
            entry.mandatory, entry.make_all,
        )  # fmt: skip
    return table


FETCHES: MappingProxyType[str, Fetch] = MappingProxyType(_table())


def sample_values(
    fetch: Fetch, args: tuple[Any, ...], env: CompileEnv
) -> Callable[[SampleContext], Iterable[Any]]:
    """Every value an ACL tests: all occurrences where HAProxy iterates, else the one value."""
    if fetch.make_all is not None:
        return fetch.make_all(args, env)
    get = fetch.make(args, env)

    def one(ctx: SampleContext) -> Iterable[Any]:
        value = get(ctx)
        return () if value is None else (value,)

    return one
