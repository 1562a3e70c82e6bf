"""`http-request use-service NAME`: the answers haproxy-py makes itself from its own state.

Only `prometheus-exporter` exists (Lua services are refused at configuration time). The rules
compiler (worker/rules.py) makes one `PrometheusExporter` per rule and returns it as the
rule's answer; it has what the session reads of a rules `Reply` (`status`, `kind`, `hold`,
`render(ctx, close)`), so the HTTP session sends it as it sends a `return`. Its page is
computed when it is rendered, from the shared stats table (every worker's counters summed)
and the worker's `show info` values; `bind_services()` gives every exporter of the worker
those sources once the state exists.
Rules of this file: nothing is read from disk here (it runs after the chroot); a bad query
gets the frontend's 400 page, as HAProxy answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from haproxy_py.stats.prometheus import CONTENT_TYPE, BadQuery, parse_query, render_metrics
from worker.http_errors import ErrorPages
from worker.rule_replies import INTERCEPT

InfoSource = Callable[[], Mapping[str, object]]


class PrometheusExporter:
    """The exporter's answer: a 200 with the metrics page (or the 400 page on a bad query)."""

    status = 200
    kind = INTERCEPT  # counted in `intercepted`, logged LR, as a `return`
    hold = 0.0

    def __init__(self, pages: ErrorPages) -> None:
        self.pages = pages
        self.state: Any = None  # worker/runtime.py WorkerState, once bound
        self.info: InfoSource = dict

    def bind(self, state: Any, info: InfoSource) -> None:
        self.state = state
        self.info = info

    def render(self, ctx: Any, close: bool) -> bytes:
        request = ctx.request
        target = request.target if request is not None else b"/"
        _, _, query = target.partition(b"?")
        try:
            wanted = parse_query(query.decode("latin-1"))
        except BadQuery:
            return self.pages.page(400, close=close)
        body = self.page(wanted).encode("utf-8", "surrogateescape")
        head = [
            b"HTTP/1.1 200 OK",
            b"cache-control: no-cache",
            b"content-type: " + CONTENT_TYPE,
            b"content-length: %d" % len(body),
        ]
        if close:
            head.append(b"connection: close")
        if request is not None and request.method == b"HEAD":
            body = b""
        return b"\r\n".join(head) + b"\r\n\r\n" + body

    def page(self, query: Any) -> str:
        state = self.state
        if state is None:  # not bound: a worker started by a test without serve()
            return ""
        shared = state.shared
        table = shared.table if shared is not None else state.counters.table
        return render_metrics(table, state.config, self.info(), query)


def make_service(name: str, pages: ErrorPages) -> PrometheusExporter:
    """The answer object of `use-service NAME`; ValueError for a service not built."""
    if name != "prometheus-exporter":
        raise ValueError(f"service '{name}' is not yet supported by this version of haproxy-py")
    return PrometheusExporter(pages)


def bind_services(state: Any, info: InfoSource) -> int:
    """Give every exporter of the worker's rules its sources; returns how many were bound."""
    bound = 0
    for frontend in state.frontends.values():
        rules = frontend.rules
        if rules is None:
            continue
        sets = [rules.own, *(route.rules for route in rules.routes.values())]
        if rules.default is not None:
            sets.append(rules.default.rules)
        seen: set[int] = set()
        for proxy_rules in sets:
            if proxy_rules is None or id(proxy_rules) in seen:
                continue
            seen.add(id(proxy_rules))
            for service in getattr(proxy_rules, "services", ()):
                service.bind(state, info)
                bound += 1
    return bound
