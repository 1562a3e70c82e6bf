"""The rules engine's pure core: sample fetches, converters, match methods, maps, ACLs and
conditions, compiled once at load time into plain callables over a `SampleContext`.

How the worker uses it, per proxy:

    env = CompileEnv.for_proxy(config, proxy, loader=read_lines)   # files read before chroot
    rules = RulesCompiler(proxy.acls, env)
    allowed = rules.condition(rule.condition)                      # ctx -> bool
    host = compile_expression("req.hdr(host),lower,map(/etc/h.map)", env, rules.maps).get

and, per request, fills a `SampleContext` and calls them.
"""

from haproxy_py.sample.acls import (
    DERIVED,
    PREDEFINED,
    RulesCompiler,
    compile_acl,
    compile_condition,
    parse_condition,
)
from haproxy_py.sample.context import (
    BackendState,
    HttpRequest,
    HttpResponse,
    SampleContext,
)
from haproxy_py.sample.converters import CONVERTERS
from haproxy_py.sample.env import CompileEnv, Userlist, basic_auth_user
from haproxy_py.sample.expr import Expression, compile_expression
from haproxy_py.sample.fetches import FETCHES
from haproxy_py.sample.maps import MapCache
from haproxy_py.sample.types import SampleError

__all__ = [
    "CONVERTERS",
    "DERIVED",
    "FETCHES",
    "PREDEFINED",
    "BackendState",
    "CompileEnv",
    "Expression",
    "HttpRequest",
    "HttpResponse",
    "MapCache",
    "RulesCompiler",
    "SampleContext",
    "SampleError",
    "Userlist",
    "basic_auth_user",
    "compile_acl",
    "compile_condition",
    "compile_expression",
    "parse_condition",
]
