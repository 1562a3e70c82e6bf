"""A sample context for the rules engine's tests, and small shortcuts."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from haproxy_py.sample import (
    CompileEnv,
    HttpRequest,
    HttpResponse,
    SampleContext,
    compile_expression,
)


class Backends:
    def usable_servers(self, backend: str) -> int:
        return {"be": 2}.get(backend, 0)

    def connections(self, backend: str) -> int:
        return 7

    def free_slots(self, backend: str) -> int:
        return 93

    def server_is_up(self, backend: str, server: str) -> bool:
        return (backend, server) == ("be", "s1")


def make_ctx(**changes: Any) -> SampleContext:
    request = HttpRequest(
        b"GET",
        b"/img/logo.png?x=1&lang=fr;y=2",
        b"HTTP/1.1",
        [
            (b"Host", b"WWW.Example.com"),
            (b"Accept", b"text/html, application/json"),
            (b"Accept", b"*/*"),
            (b"Cookie", b"SERVERID=s1; theme=dark"),
            (b"Cookie", b"SERVERID=s2"),
            (b"Content-Length", b"12"),
        ],
        b"hello world!",
    )
    response = HttpResponse(
        302, b"HTTP/1.1", [(b"Set-Cookie", b"SID=abc; Path=/"), (b"Location", b"/x")]
    )
    ctx = SampleContext(
        src=ip_address("192.168.1.10"),
        src_port=40000,
        dst=ip_address("10.0.0.1"),
        dst_port=80,
        so_id=3,
        frontend="fe",
        backend="be",
        server="s1",
        request=request,
        response=response,
        environment={"ZONE": "eu"},
        clock=lambda: 1_700_000_000.25,
        random=lambda n: n - 1,
        backends=Backends(),
    )
    for name, value in changes.items():
        setattr(ctx, name, value)
    return ctx


def sample(text: str, ctx: SampleContext | None = None, env: CompileEnv | None = None) -> Any:
    return compile_expression(
        text, env or CompileEnv(backends={"be": frozenset({"s1"})}, proxy="be")
    ).get(ctx or make_ctx())
