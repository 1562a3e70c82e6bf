"""The stats page served by a worker: `stats enable` and friends on an HTTP proxy.

`attach_stats_pages(state)` runs at the end of `build_state()` (before the chroot): it makes a
`StatsPage` per proxy with `stats enable` (its `stats admin` condition compiled there) and
hangs it on the `HttpSettings` of every frontend/backend pair it applies to: the frontend's
own page when it has one, else the backend's. A frontend with a page but no backend gets an
empty backend of its own name, so its requests reach the page (and others get the 503 of a
proxy without servers, as in HAProxy). The one hook in worker/http_session.py (`forward`)
hands a request whose URI starts with the stats URI to `StatsPage.serve`.

The numbers are the whole process's (the shared table, summed over workers: the same records
as `show stat`); admin POSTs become runtime-API commands parsed by haproxy_py/runtime_api/
admin.py and written by the admin section's single writer (`SharedState.admin`: the master
under -W), exactly as `set server` on the stats socket. Rules: nothing blocks; the request
body is read under `timeout http-request`; no file is opened here after start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import resource
import socket
import time
from typing import TYPE_CHECKING, Any

import trio

from haproxy_py.config.model import Proxy
from haproxy_py.proto.http1 import NEED_DATA, Data, EndOfMessage, H1Error, Request, Response
from haproxy_py.runtime_api.admin import AdminOp, find_server, parse_admin
from haproxy_py.runtime_api.check_commands import configured
from haproxy_py.runtime_api.info import format_uptime
from haproxy_py.sample import CompileEnv, HttpRequest
from haproxy_py.sample.acls import compile_condition
from haproxy_py.stats.html import PageView, render_page
from haproxy_py.stats.layout import FDRAIN
from haproxy_py.stats.page import (
    MAX_POST,
    PageAction,
    PageRequest,
    PageSettings,
    admin_commands,
    authorized,
    form_status,
    match_uri,
    page_response,
    parse_form,
    redirect_location,
    redirect_response,
    unauthorized_response,
)
from haproxy_py.stats.records import csv_text, hide_legends, select, stat_records
from haproxy_py.stats.typed import json_stat
from haproxy_py.version import RELEASE_DATE, VERSION
from worker.backend import BackendRuntime
from worker.http_io import ClientGone, recv_some_or_gone
from worker.rate_limit import stat_limits
from worker.rules import LiveContext, Route
from worker.startup import StartupError, read_lines

if TYPE_CHECKING:
    from worker.http_session import HttpSession
    from worker.runtime import WorkerState

Predicate = Any  # SampleContext -> bool


class _CliParts:
    """The runtime API's pieces the admin form uses: imported when the pages are made
    (`attach_stats_pages`, before the chroot), since worker/runtime.py imports this module
    and those modules import worker/runtime.py."""

    def __init__(self) -> None:
        from worker.cli_sessions import run_everywhere
        from worker.cli_write import apply_write, check_write, to_wire

        self.run_everywhere = run_everywhere
        self.check_write = check_write
        self.apply_write = apply_write
        self.to_wire = to_wire


class StatsPage:
    """One proxy's page: its settings, its admin condition, and the worker it reads."""

    def __init__(
        self,
        state: WorkerState,
        settings: PageSettings,
        admin: Predicate | None,
        cli: _CliParts | None = None,
    ):
        self.state = state
        self.cli = cli or _CliParts()
        self.settings = settings
        self.admin = admin
        self.uri = settings.uri
        self.started = time.time()

    def match(self, request: Request) -> PageRequest | None:
        return match_uri(self.uri, request.target)

    async def serve(self, session: HttpSession, request: Request, options: PageRequest) -> bool:
        """Answer `request` with the page (or 401, or an admin POST's redirect); True when
        the connection may serve another request."""
        session.counters.intercepted += 1
        record = session.record
        if record is not None:  # logged as HAProxy logs its stats applet
            record.server = "<STATS>"
            record.termination = "LR"
            record.t_queue = record.t_connect = record.t_response = 0
        settings = self.settings
        if request.method != b"POST":
            _drain_no_body(session)
        if not authorized(settings, _header(request, b"authorization")):
            return await _send(session, 401, lambda close: unauthorized_response(
                settings.realm, close=close))  # fmt: skip
        if request.method == b"POST":
            if request.expects_continue:
                await session.to_client(session.front.send(Response(100, b"Continue")))
            body = await _read_body(session)
            location = redirect_location(
                self.uri, await self.apply_form(session, request, body), options
            )
            return await _send(session, 303, lambda close: redirect_response(location, close=close))
        content_type, body = self.render(session, request, options)
        refresh = None if options.norefresh else settings.refresh
        if request.method == b"HEAD":  # the head alone, with the page's length
            return await _send(session, 200, lambda close: _head_of(
                page_response(content_type, body, refresh, close=close)))  # fmt: skip
        return await _send(
            session, 200, lambda close: page_response(content_type, body, refresh, close=close)
        )

    # -- admin ---------------------------------------------------------------------------------

    def may_admin(self, session: HttpSession, request: Request) -> bool:
        if self.admin is None:
            return False
        ctx = session.ctx
        if ctx is None:
            ctx = session.ctx = LiveContext.open(session.client, session.peer, self.settings.proxy)
        elif session.rules is None:  # no rule set this request's context: a new transaction
            ctx.next_transaction()
        if session.rules is None or ctx.request is None:
            ctx.request = HttpRequest(
                request.method, request.target, request.version, request.headers
            )
        return bool(self.admin(ctx))

    async def apply_form(self, session: HttpSession, request: Request, body: bytes | None) -> str:
        """The status code (DONE, PART, NONE, DENY, ERRP, EXCD) of an admin POST, applied."""
        if not self.may_admin(session, request):
            return "DENY"
        if body is None:
            return "EXCD"
        shared = self.state.shared
        if shared is None:
            return "UNKN"
        planned = admin_commands(parse_form(body))
        if isinstance(planned, str):
            return planned
        action, commands = planned
        counted = altered = 0
        for _, words in commands:
            counts, done = await self._apply(action, words)
            counted += counts
            altered += done
        return form_status(counted, altered)

    async def _apply(self, action: PageAction, words: list[str]) -> tuple[bool, bool]:
        """One server's command: (whether it counts in the result, whether it was done),
        as HAProxy counts (haproxy_py/stats/page.py `PageAction`). The changes go through
        the runtime API's own checks and writers (the admin section's writer, or every
        worker for health, agent and session commands)."""
        state = self.state
        shared = state.shared
        assert shared is not None
        table = shared.table
        target = words[3] if words[0] == "shutdown" else words[2]
        found = find_server(table, target)
        if isinstance(found, str):  # no such backend or server: counted, not done
            return True, False
        if action.counts in ("always", "changed"):
            op = parse_admin(table, words)
            if isinstance(op, str):
                return True, False
            if action.drain_only:  # stop/start: the forced-drain bit alone
                bits = {"set_bits": 0, "clear_bits": 0}
                bits["clear_bits" if words[-1] == "ready" else "set_bits"] = FDRAIN
                op = dataclasses.replace(op, **bits)
            if action.counts == "changed" and not _changes(table, op):
                return False, False
            return True, not await shared.admin(op)
        if action.counts in ("check", "agent"):
            slot = table.layout.server(*found)
            if slot.dynamic:  # `add server` (a configured server of that name: deleted)
                check, agent = slot.checked, slot.agent
            else:
                check, agent, _ = configured(state.config, *found)
            if not (check if action.counts == "check" else agent):
                return False, False
        cli = self.cli
        if words[0] == "shutdown":
            return True, await cli.run_everywhere(state, words) == "\n"
        if cli.check_write(state, words) is not None:  # refused: e.g. a tracking server
            return False, False
        error = await shared.runtime_change(
            cli.to_wire(" ".join(words)), lambda text: cli.apply_write(state, text)
        )
        return True, not error

    # -- rendering -----------------------------------------------------------------------------

    def render(
        self, session: HttpSession, request: Request, options: PageRequest
    ) -> tuple[str, bytes]:
        state = self.state
        settings = self.settings
        shared = state.shared
        records = (
            stat_records(shared.table, state.config, limits=stat_limits(state))
            if shared is not None
            else []
        )
        records = select(records or [], up=options.up, scope=settings.scope)
        if not settings.legends:
            records = hide_legends(records)
        if options.csv:
            return "text/plain", csv_text(records).encode()
        if options.json:
            return "application/json", json_stat(records).encode()
        view = PageView(
            records,
            uri=self.uri,
            pid=os.getpid(),
            uptime=format_uptime(time.time() - self.started),
            version=None if settings.hide_version else VERSION,
            release_date=RELEASE_DATE,
            node=(settings.node or socket.gethostname()) if settings.node is not None else None,
            description=state.config.global_.setting("description"),
            limits=self.limits(),
            refresh=settings.refresh,
            up_only=options.up,
            norefresh=options.norefresh,
            admin=self.may_admin(session, request),
            legends=settings.legends,
            status=options.status,
        )
        return "text/html", render_page(view).encode("utf-8", "surrogateescape")

    def limits(self) -> dict[str, object]:
        state = self.state
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        pipes = state.pipes.info() if state.pipes is not None else {"Maxpipes": 0}
        return {
            "maxconn": state.fd_plan.maxconn,
            "ulimit-n": soft,
            "maxpipes": pipes.get("Maxpipes", 0),
            "current conns": state.global_limit.current,
            "stopping": "yes" if state.stopping else "no",
        }


def _changes(table: Any, op: AdminOp) -> bool:
    admin = table.read_admin(table.layout.server(op.backend, op.server))
    state = (admin.admin_state | op.set_bits) & ~op.clear_bits
    return state != admin.admin_state or (op.weight >= 0 and op.weight != admin.uweight)


def _header(request: Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value
    return None


def _drain_no_body(session: HttpSession) -> None:
    """A GET has no body: let the protocol state see its end (as a rule's answer does)."""
    with contextlib.suppress(H1Error):
        session.front.next_event()


async def _read_body(session: HttpSession) -> bytes | None:
    """The request body (an admin form), or None when it is larger than MAX_POST."""
    front = session.front
    deadline = trio.current_time() + session.settings.http_request_timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            event = front.next_event()
        except H1Error:
            return None
        if event is NEED_DATA:
            data = await recv_some_or_gone(session.client, deadline)
            if not data:  # timeout or EOF: the form never came whole
                raise ClientGone
            front.receive_data(data)
            continue
        if isinstance(event, Data):
            size += len(event.data)
            if size > MAX_POST:
                return None
            chunks.append(event.data)
        elif isinstance(event, EndOfMessage):
            return b"".join(chunks)
        else:
            return b"".join(chunks)


def _head_of(response: bytes) -> bytes:
    return response[: response.index(b"\r\n\r\n") + 4]


async def _send(session: HttpSession, status: int, build: Any) -> bool:
    return bool(await session.answer(status, lambda _status, close: build(close)))


# -- start-up ----------------------------------------------------------------------------------


def attach_stats_pages(state: WorkerState) -> None:
    """Make the pages and hang them on the HTTP settings they serve (see the module text);
    StartupError when a `stats admin` condition cannot be compiled."""
    config = state.config
    pages: dict[str, StatsPage] = {}
    errors = []
    cli = _CliParts()
    for proxy in config.proxies:
        if proxy.disabled:
            continue
        settings = PageSettings.from_proxy(proxy)
        if settings is None:
            continue
        if proxy.mode != "http":
            state.reporter.warning(
                f"config : 'stats' statement ignored for proxy '{proxy.name}' as it requires"
                " HTTP mode."
            )
            continue
        try:
            admin = _compile_admin(config, proxy, settings)
        except Exception as exc:  # SampleError and friends: a clear line, no traceback
            errors.append(f"config : proxy '{proxy.name}': 'stats admin': {exc}.")
            continue
        pages[proxy.name] = StatsPage(state, settings, admin, cli)
    if errors:
        raise StartupError(errors)
    if not pages:
        return
    for frontend in state.frontends.values():
        proxy = frontend.proxy
        own = pages.get(proxy.name)
        if frontend.http is None:
            continue
        if own is not None and frontend.backend is None:
            _give_own_backend(state, frontend)
        backend = frontend.backend
        frontend.http.stats_page = own or (pages.get(backend.name) if backend else None)
        if frontend.rules is not None:
            for route in frontend.rules.routes.values():
                if route.http is not None:
                    route.http.stats_page = own or pages.get(route.name)


def _compile_admin(config: Any, proxy: Proxy, settings: PageSettings) -> Predicate | None:
    if settings.admin is None:
        return None
    env = CompileEnv.for_proxy(config, proxy, loader=read_lines)
    return compile_condition(settings.admin, proxy.acls, env=env)  # type: ignore[arg-type]


def _give_own_backend(state: WorkerState, frontend: Any) -> None:
    """A frontend with a page and no backend: an empty backend of its name serves it."""
    proxy = frontend.proxy
    runtime = BackendRuntime(
        proxy, [], state.counters.backend(proxy.name), fullconn=1, rng=random.Random()
    )
    frontend.backend = runtime
    rules = frontend.rules
    if rules is not None and rules.default is None:
        route = Route(proxy.name, runtime, None, {}, timeouts=frontend.timeouts)
        route.http = frontend.http
        rules.default = route
