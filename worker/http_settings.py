"""What an HTTP frontend needs at run time, compiled once from the configuration.

`HttpSettings` is built at start-up for each frontend in `mode http` together with the backend
it routes to, so that the request path reads plain attributes and calls precompiled functions
(house rule: nothing parsed or formatted per request that could be done once). It owns:
- the connection mode, merged as HAProxy 2.6 does: `option httpclose` on either side closes
  both connections after each response; else `option http-server-close` on either side closes
  the server connection only; else keep-alive on both sides (the default);
- the parser limits (tune.bufsize - 1024 bytes of head, tune.http.maxhdr, accept-invalid-*);
- the HTTP timeouts: `http-request` (the whole head), `http-keep-alive` (idle between
  requests; HAProxy's default is http-request, then `client`), `client`, `server`;
- `option forwardfor` / `option originalto` (the backend's when it sets one, else the
  frontend's), `monitor-uri`, `option http-ignore-probes`, `option prefer-last-server`;
- the load-balancing key function of `balance uri|url_param|hdr|source`.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from haproxy_py.config.model import Config, Proxy
from haproxy_py.proto.http1 import H1Limits, Request
from worker.http_errors import DEFAULT_ERROR_PAGES, ErrorPages

KEEP_ALIVE, SERVER_CLOSE, CLOSE = "keep-alive", "server-close", "close"
DEFAULT_BUFSIZE = 16384
MAXREWRITE = 1024  # tune.maxrewrite: the part of a buffer kept free for header rewriting
DEFAULT_MAXHDR = 101

KeyFunction = Callable[[Request, object], "bytes | None"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddedHeader:
    """`option forwardfor` or `option originalto`: which header, and for whom not."""

    name: bytes
    except_network: Network | None
    if_none: bool

    def applies_to(self, address: str) -> bool:
        if self.except_network is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.version != self.except_network.version or ip not in self.except_network


@dataclass(eq=False, slots=True)
class HttpSettings:
    mode: str
    request_limits: H1Limits
    response_limits: H1Limits
    http_request_timeout: float  # seconds; inf when no timeout applies
    keep_alive_timeout: float
    client_timeout: float
    server_timeout: float
    forwardfor: AddedHeader | None
    originalto: AddedHeader | None
    monitor_uri: bytes | None
    ignore_probes: bool
    prefer_last_server: bool
    lb_key: KeyFunction | None
    frontend_pages: ErrorPages
    backend_pages: ErrorPages
    stats_page: Any = None  # worker/stats_page.py StatsPage serving this pair; None: no page
    abort_on_close: bool = False  # `option abortonclose`: a queued client that left gives up


def _seconds(ms: int | None) -> float:
    return ms / 1000 if ms else math.inf


def _option(frontend: Proxy, backend: Proxy | None, name: str) -> Any:
    value = backend.options.get(name) if backend is not None else None
    return value if value is not None else frontend.options.get(name)


def connection_mode(frontend: Proxy, backend: Proxy | None) -> str:
    proxies = [frontend] if backend is None else [frontend, backend]
    if any(p.options.get("httpclose") for p in proxies):
        return CLOSE
    if any(p.options.get("http-server-close") for p in proxies):
        return SERVER_CLOSE
    return KEEP_ALIVE


def _added_header(value: object, default_name: str) -> AddedHeader | None:
    if not value:
        return None
    options: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    network = options.get("except")
    return AddedHeader(
        str(options.get("header") or default_name).encode(),
        ipaddress.ip_network(network, strict=False) if network else None,
        bool(options.get("if-none")),
    )


def limits_for(config: Config, proxy: Proxy, option: str) -> H1Limits:
    bufsize = config.global_.setting("tune.bufsize") or DEFAULT_BUFSIZE
    return H1Limits(
        max_head_size=bufsize - MAXREWRITE,
        max_headers=config.global_.setting("tune.http.maxhdr") or DEFAULT_MAXHDR,
        accept_invalid=bool(proxy.options.get(option)),
    )


def build_http_settings(
    config: Config,
    frontend: Proxy,
    backend: Proxy | None,
    pages: Mapping[str, ErrorPages],
    source_key: Callable[[object], bytes | None] | None,
) -> HttpSettings:
    front_t = frontend.timeouts
    back_t = backend.timeouts if backend is not None else {}
    client = _seconds(front_t.get("client"))
    http_request = _seconds(front_t.get("http-request")) if front_t.get("http-request") else client
    keep_alive = (
        _seconds(front_t.get("http-keep-alive")) if front_t.get("http-keep-alive") else http_request
    )
    monitor = frontend.setting("monitor-uri")
    return HttpSettings(
        mode=connection_mode(frontend, backend),
        request_limits=limits_for(config, frontend, "accept-invalid-http-request"),
        response_limits=limits_for(config, backend or frontend, "accept-invalid-http-response"),
        http_request_timeout=http_request,
        keep_alive_timeout=keep_alive,
        client_timeout=client,
        server_timeout=_seconds(back_t.get("server")),
        forwardfor=_added_header(_option(frontend, backend, "forwardfor"), "X-Forwarded-For"),
        originalto=_added_header(_option(frontend, backend, "originalto"), "X-Original-To"),
        monitor_uri=monitor.encode() if monitor else None,
        ignore_probes=bool(frontend.options.get("http-ignore-probes")),
        prefer_last_server=bool(backend is not None and backend.options.get("prefer-last-server")),
        abort_on_close=bool(backend is not None and backend.options.get("abortonclose")),
        lb_key=lb_key_function(backend.balance, source_key) if backend is not None else None,
        frontend_pages=pages.get(frontend.name, DEFAULT_ERROR_PAGES),
        backend_pages=pages.get(backend.name, DEFAULT_ERROR_PAGES)
        if backend is not None
        else DEFAULT_ERROR_PAGES,
    )


# -- load-balancing keys ----------------------------------------------------------------------


def uri_key(target: bytes, whole: bool, length: int, depth: int) -> bytes:
    """The part of the URI `balance uri` hashes: up to '?' unless whole, at most `length`
    bytes, and no deeper than `depth` directories (a slash beyond that ends it)."""
    end = len(target)
    if not whole:
        query = target.find(b"?")
        if query >= 0:
            end = query
    if length:
        end = min(end, length)
    if depth:
        slashes = 0
        position = target.find(b"/", 0, end)
        while position >= 0:
            if slashes == depth:
                end = position
                break
            slashes += 1
            position = target.find(b"/", position + 1, end)
    return target[:end]


def url_param_key(target: bytes, name: bytes) -> bytes | None:
    """The value of query parameter `name` (its first occurrence), or None."""
    _, found, query = target.partition(b"?")
    if not found:
        return None
    for pair in query.split(b"&"):
        key, equals, value = pair.partition(b"=")
        if key == name and equals:
            return value
    return None


def header_key(request: Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value
    return None


def lb_key_function(
    balance: Mapping[str, Any], source_key: Callable[[object], bytes | None] | None
) -> KeyFunction | None:
    algorithm = balance.get("algorithm", "roundrobin")
    if algorithm == "uri":
        whole = bool(balance.get("whole"))
        length = int(balance.get("len") or 0)
        depth = int(balance.get("depth") or 0)
        return lambda request, peer: uri_key(request.target, whole, length, depth)
    if algorithm == "url_param":
        param = str(balance["param"]).encode()
        return lambda request, peer: url_param_key(request.target, param)
    if algorithm == "hdr":
        header = str(balance["header"]).lower().encode()
        return lambda request, peer: header_key(request, header)
    if algorithm == "source" and source_key is not None:
        key = source_key
        return lambda request, peer: key(peer)
    return None
